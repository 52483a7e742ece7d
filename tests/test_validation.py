"""Input checks: valid input comes back converted, bad input is one InputError that names
the argument (the message the command line prints before exiting with status 2)."""
import numpy as np
import pytest

from convexpoison import InputError, LinearModel
from convexpoison.validation import (check_binary_model, check_fraction, check_positive,
                                     check_weights, check_X, check_y)


def _raises(name, fn, *args, **kw):
    """``fn`` raises one InputError whose one-line message starts with ``name:``."""
    with pytest.raises(InputError) as exc:
        fn(*args, **kw)
    msg = str(exc.value)
    assert msg.startswith(f"{name}:") and "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------- X
def test_check_X_converts_and_keeps_values():
    X = check_X([[1, 2], [3, 4]])
    assert X.dtype == float and X.shape == (2, 2) and np.array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
    assert check_X(np.ones((3, 4)), d=4).shape == (3, 4)


@pytest.mark.parametrize("X, kw, words", [
    (np.ones(3), {}, "2-D"),
    (np.ones((0, 3)), {}, "empty"),
    (np.ones((2, 3)), {"d": 4}, "expected 4 features, got 3"),
    ([["a", "b"]], {}, "not a numeric array"),
])
def test_check_X_rejects(X, kw, words):
    assert words in _raises("X_train", check_X, X, "X_train", **kw)


def test_check_X_locates_the_first_non_finite_entry():
    X = np.zeros((4, 3))
    X[2, 1] = np.inf
    X[3, 0] = np.nan
    assert "row 2, column 1" in _raises("X", check_X, X)


# ----------------------------------------------------------------------------- y
def test_check_y_binary_and_multiclass():
    y = check_y(np.array([[1.0], [-1.0], [1.0]]), 3)          # a column vector is flattened
    assert y.dtype.kind == "i" and np.array_equal(y, [1, -1, 1])
    assert np.array_equal(check_y([0, 2, 1], 3, binary=False, n_classes=3), [0, 2, 1])


@pytest.mark.parametrize("y, kw, words", [
    ([1, -1], {}, "expected 3 labels"),
    ([1, -1, 0.5], {}, "integers"),
    ([1, -1, np.nan], {}, "NaN"),
    ([1, -1, 0], {}, "outside {-1, +1}"),
    ([0, 1, -1], {"binary": False}, "0..k-1"),
    ([0, 1, 3], {"binary": False, "n_classes": 3}, "label 3 outside 0..2"),
])
def test_check_y_rejects(y, kw, words):
    assert words in _raises("y_eval", check_y, y, 3, "y_eval", **kw)


# ----------------------------------------------------------------------- weights
def test_check_weights():
    assert np.array_equal(check_weights(None, 3), np.ones(3))
    w = check_weights([0, 2, 1.5], 3)
    assert w.dtype == float and np.array_equal(w, [0.0, 2.0, 1.5])
    assert "expected 3 weights, got 2" in _raises("sample_weight", check_weights, [1, 1], 3)
    for bad in ([1, -1, 1], [1, np.inf, 1]):
        assert "non-negative" in _raises("sample_weight", check_weights, bad, 3)
    assert "all weights are zero" in _raises("sample_weight", check_weights, [0, 0, 0], 3)


# ------------------------------------------------------------------------ numbers
def test_check_positive_and_fraction():
    assert check_positive("0.5", "reg") == 0.5 and isinstance(check_positive(2, "reg"), float)
    assert check_positive(0, "tol", allow_zero=True) == 0.0
    for bad in (0, -1, np.inf, np.nan):
        assert "positive" in _raises("reg", check_positive, bad, "reg")
    assert "non-negative" in _raises("tol", check_positive, -1e-9, "tol", allow_zero=True)
    assert "expected a number" in _raises("reg", check_positive, "abc", "reg")
    assert check_fraction(0, "epsilon") == 0.0 and check_fraction(1, "epsilon") == 1.0
    assert "[0, 1]" in _raises("epsilon", check_fraction, 1.5, "epsilon")
    _raises("epsilon", check_fraction, -0.1, "epsilon")


# ---------------------------------------------------------------------- the model
class _Params:
    """A model given by its parameters only (not a LinearModel)."""

    def __init__(self, w, b):
        self.w, self.b = w, b


def test_check_binary_model_accepts_any_object_with_w_and_b():
    w, b = check_binary_model(_Params([1, 2, 3], np.array([0.5])), "target", d=3)
    assert w.dtype == float and np.array_equal(w, [1.0, 2.0, 3.0])
    assert isinstance(b, float) and b == 0.5
    lm = LinearModel(np.array([0.1, -0.2]), 0.3, "svm", 0.01)
    w, b = check_binary_model(lm)
    assert np.array_equal(w, lm.w) and b == 0.3


@pytest.mark.parametrize("model, d, words", [
    (object(), None, "with .w (d,) and scalar .b"),
    (_Params(np.ones((2, 3)), np.zeros(2)), None, "w of shape (d,)"),
    (LinearModel(np.ones(3), 0.0, "multisvm", 0.1), None, "binary"),
    (_Params(np.ones(3), 0.0), 4, "w has 3 coordinates but the data has 4"),
    (_Params(np.array([1.0, np.nan]), 0.0), None, "finite"),
    (_Params(np.ones(2), np.inf), None, "finite"),
])
def test_check_binary_model_rejects(model, d, words):
    assert words in _raises("decoy", check_binary_model, model, "decoy", d)
