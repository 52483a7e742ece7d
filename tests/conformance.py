"""The attack contract's conformance checks (convexpoison.attacks.base), shared by the
convex and the neural-network conformance tests.

:func:`check_attack` asserts what every :class:`~convexpoison.attacks.base.PoisoningAttack`
promises: ``clone`` round-trips, ``__init__`` only stores, ``poison`` before ``fit`` raises,
``fit`` returns ``self``, the poisons lie in the domain, the budget is
``n_poisons(epsilon, n)`` exactly (for attacks with an ``epsilon``), ``poison(x, y)``
returns the fitted set for the fitted data and refuses other data, and a bad ``epsilon``
is one :class:`~convexpoison.errors.InputError` raised by ``fit``.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from convexpoison.attacks.base import PoisoningAttack, n_poisons
from convexpoison.errors import InputError
from convexpoison.poisons import PoisonSet


def check_attack(attack, data, budget_exact=True, fit_kw=None, n_clean=None):
    """Run every contract check of ``attack`` (unfitted) on ``data`` (a Dataset); return
    the fitted attack.  ``budget_exact``: the total copy count must equal
    ``n_poisons(attack.epsilon, n)`` (False for attacks whose size is not set by epsilon,
    e.g. the minimum-poison attack; their size must then be positive).  ``n_clean``: the
    ``n`` that epsilon is a fraction of, when it is not ``data.n_train`` (TGDA's is the
    training part left after holding out its validation set, Lu et al. section 4.2)."""
    fit_kw = fit_kw or {}
    assert isinstance(attack, PoisoningAttack)
    params = attack.get_params()
    # __init__ stores its arguments unchanged: clone reconstructs an equal, unfitted copy
    twin = clone(attack)
    assert type(twin) is type(attack)
    assert set(twin.get_params()) == set(params)
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(twin)), \
        "an unfitted attack has no fitted attributes"
    with pytest.raises(InputError):
        attack.poison(data.X_train, data.y_train)

    fitted = attack.fit(data, **fit_kw)
    assert fitted is attack, "fit returns self"
    ps = attack.poisons_
    assert isinstance(ps, PoisonSet)
    assert len(ps) > 0 and ps.d == data.d
    assert np.all(data.domain.contains(ps.X)), "every poison lies in the domain"
    if budget_exact:
        n = data.n_train if n_clean is None else n_clean
        assert ps.n_poisons == n_poisons(params["epsilon"], n)
    else:
        assert ps.n_poisons > 0
    d = attack.result_.to_dict()
    assert isinstance(d, dict) and "status" in d

    # ART's poison(x, y): the fitted set, copies expanded, only for the fitted data
    xp, yp = attack.poison(data.X_train, data.y_train)
    assert xp.shape == (int(round(ps.n_poisons)), data.d) and yp.shape == (xp.shape[0],)
    exp_x, exp_y = ps.expanded()
    np.testing.assert_array_equal(xp, exp_x)
    np.testing.assert_array_equal(yp, exp_y)
    with pytest.raises(InputError):
        attack.poison(data.X_train[1:], data.y_train[1:])

    # a bad epsilon is one InputError from fit (never a solver failure)
    if "epsilon" in params:
        for bad in (0.0, -0.1, 1.5, float("nan")):
            with pytest.raises(InputError, match="epsilon"):
                clone(attack).set_params(epsilon=bad).fit(data, **fit_kw)
    return attack
