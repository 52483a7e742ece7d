"""The one contract every poisoning attack follows.

Every attack of the package -- model-targeted poisoning, minimum poisoning, KKT, min-max,
influence, the label flips, TGDA and pGAN -- is a :class:`PoisoningAttack`:

* **scikit-learn's estimator conventions.**  ``__init__`` only stores its keyword
  arguments (so :func:`sklearn.base.clone`, ``get_params`` and ``set_params`` work);
  everything is checked and computed in :meth:`~PoisoningAttack.fit`, which returns
  ``self``; what ``fit`` learns ends in an underscore: ``poisons_`` (a
  :class:`~convexpoison.poisons.PoisonSet`: distinct rows with copy counts) and ``result_``
  (the attack's own result, whose ``to_dict()`` carries the solver's real status).
* **The Adversarial Robustness Toolbox's** ``attack.poison(x, y) -> (x_poison, y_poison)``:
  the adversarial points with copies expanded (``poisons_.weight`` keeps the copy counts),
  for the clean data the attack was fitted on.
* **Ctrl-C keeps what was found.**  An attack that can stop early returns normally at a
  Ctrl-C with what it had found and ``result_.status == "interrupted"`` (the command line
  then writes it and exits 130).  An attack run as one *part* of another (the
  reachable-target attack's seeds, MTP runs and polish) is fitted by
  :func:`fit_part`, which raises that Ctrl-C again: the run around it stops or keeps what
  *it* found, and never carries on from a part that was cut short.

The poison budget of an ``epsilon``-fraction attacker is :func:`n_poisons` -- the one place
that turns a fraction into a number of points -- and ``epsilon`` is checked by
:func:`check_epsilon` for every attack.

Example::

    from sklearn.base import clone
    from convexpoison import load_dataset
    from convexpoison.attacks.minmax import MinMaxAttack

    data = load_dataset("mnist17")
    attack = MinMaxAttack(epsilon=0.03).fit(data)
    x_p, y_p = attack.poison(data.X_train, data.y_train)   # len(x_p) == n_poisons(0.03, n)
    stronger = clone(attack).set_params(epsilon=0.05)
"""
from __future__ import annotations

import hashlib

import numpy as np
from sklearn.base import BaseEstimator

from ..datasets import resolve_reg
from ..errors import InputError
from ..validation import check_positive

__all__ = ["PoisoningAttack", "n_poisons", "check_epsilon", "as_dataset", "data_fingerprint",
           "fit_part", "DEFAULT_EPSILON"]

#: The poison fraction of an attack constructed without one (Koh et al.'s 3%).
DEFAULT_EPSILON = 0.03

#: The range of an attacker's poison fraction, in words (messages and ``--help`` say it so).
EPSILON_RANGE = "0 < epsilon <= 1 (a fraction of the clean training points; 1 adds as many poison points as there are clean ones)"


def check_epsilon(epsilon, name="epsilon") -> float:
    """The poison fraction ``epsilon`` as a float in ``(0, 1]``, or a one-line :class:`InputError`."""
    v = check_positive(epsilon, name)
    if v > 1:
        raise InputError(f"{name}: must satisfy {EPSILON_RANGE}; got {epsilon!r}")
    return v


def n_poisons(epsilon, n) -> int:
    """The number of poison points of an ``epsilon``-fraction attacker on ``n`` clean points.

    ``floor(epsilon n)`` -- Koh et al.'s ``|Dp| = eps |Dc|`` read as "at most" -- computed
    with a guard of 1e-9 so that a product that is an integer in exact arithmetic
    (0.29 x 100) is not floored below it by binary rounding.  At least one point.
    """
    eps = check_epsilon(epsilon)
    n = int(n)
    if n < 1:
        raise InputError(f"n: the clean training set is empty ({n} points)")
    count = int(np.floor(eps * n + 1e-9))
    if count < 1:
        raise InputError(f"epsilon: {eps:g} x {n} clean points is less than one poison point "
                         f"(the smallest useful epsilon here is {1 / n:.3g})")
    return count


def data_fingerprint(X, y) -> str:
    """A hash of the clean training data (shape, values, labels): ``poison(x, y)`` uses it
    to refuse data other than what the attack was fitted on."""
    h = hashlib.sha256()
    if hasattr(X, "tocsr"):                     # scipy.sparse: hash its CSR arrays
        X = X.tocsr()
        parts = (np.asarray(X.shape), X.indptr, X.indices, np.asarray(X.data, float))
    else:
        X = np.ascontiguousarray(np.asarray(X, float))
        parts = (np.asarray(X.shape), X)
    for a in (*parts, np.ascontiguousarray(np.asarray(y).astype(np.int64))):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def as_dataset(data, y=None, *, domain=None, X_test=None, y_test=None):
    """What ``fit`` accepts, as a :class:`~convexpoison.datasets.Dataset`.

    ``data`` is a ``Dataset`` (used as it is; ``domain`` may replace its domain) or the
    clean training points ``X`` with labels ``y``, an optional ``domain`` (default: the
    smallest box holding the data -- say it explicitly when the attacker's true domain is
    larger, e.g. ``Domain.box(d, 0, 1)`` for pixels) and an optional evaluation set.
    """
    from ..datasets import Dataset, from_arrays
    from ..domain import Domain

    if isinstance(data, Dataset):
        if y is not None or X_test is not None or y_test is not None:
            raise InputError("fit: give a Dataset alone, or X, y (and optionally X_test, y_test)")
        if domain is None:
            return data
        if not isinstance(domain, Domain) or domain.d != data.d:
            raise InputError(f"domain: expected a Domain with {data.d} coordinates")
        from dataclasses import replace

        return replace(data, domain=domain)
    if y is None:
        raise InputError("y: fit(X, y) needs the labels of the clean training points "
                         "(or pass a Dataset)")
    return from_arrays(data, y, X_test, y_test, domain=domain, name="user")


def fit_part(attack, data, **fit_params):
    """``attack.fit(data, **fit_params)`` run as one part of a larger attack; returns it.

    An attack that keeps what it found at a Ctrl-C returns normally then, its
    ``result_.status`` ``"interrupted"`` (the KKT attack with the best candidate that
    finished, MTP with its points so far).  As a part, that Ctrl-C was meant for the whole
    run: it is raised again here as :class:`KeyboardInterrupt`, so the caller stops (or
    keeps what *it* had found) instead of going on from a seed cut short and reporting a
    complete run."""
    attack.fit(data, **fit_params)
    if getattr(attack.result_, "status", None) == "interrupted":
        raise KeyboardInterrupt
    return attack


class PoisoningAttack(BaseEstimator):
    """Base class of every attack: see the module docstring for the contract.

    Subclasses store their keyword arguments in ``__init__`` unchanged, implement
    :meth:`_fit` (which sets ``poisons_`` and ``result_``), and set ``_name`` (as in
    messages: ``'KKT'``, ``'min-max'``) and ``_needs`` (what ``fit`` learns).
    """

    _name = "this"
    _needs = "the clean training data and the domain"

    # ------------------------------------------------------------------ the contract
    def fit(self, data, y=None, *, domain=None, X_test=None, y_test=None, **fit_params):
        """Run the attack on a :class:`~convexpoison.datasets.Dataset` (or ``X, y`` with an
        optional ``domain`` and evaluation set); return ``self``.

        ``fit_params``: further data an attack documents in its ``_fit`` (e.g. the
        model-targeted attacks' ``subpop``), passed on as keyword arguments.

        Sets ``poisons_`` (a :class:`~convexpoison.poisons.PoisonSet`), ``result_``,
        ``n_features_in_`` and ``data_fingerprint_``.
        """
        dataset = as_dataset(data, y, domain=domain, X_test=X_test, y_test=y_test)
        self._fit(dataset, **fit_params)
        if not hasattr(self, "poisons_"):
            raise NotImplementedError(f"{type(self).__name__}._fit must set poisons_")
        self.n_features_in_ = dataset.d
        self.data_fingerprint_ = data_fingerprint(dataset.X_train, dataset.y_train)
        return self

    def _fit(self, data, **fit_params):
        raise NotImplementedError

    def poison(self, x, y=None):
        """ART's ``poison``: the poison points and labels ``(x_poison, y_poison)`` (copies
        expanded; ``poisons_.weight`` has the copy counts) for the clean data ``x, y``
        this attack was fitted on.  Fit first: an attack's poisons are specific to the
        clean data, so other data raises :class:`InputError`."""
        if not hasattr(self, "poisons_"):
            raise InputError(f"poison: call fit first (the {self._name} attack needs "
                             f"{self._needs})")
        if y is None:
            raise InputError("y: poison(x, y) needs the labels of the clean training points")
        if data_fingerprint(x, y) != self.data_fingerprint_:
            raise InputError(f"x, y: the {self._name} attack was fitted on other data; "
                             "call fit(x, y) on this data first")
        return self.poisons_.expanded()

    # ---------------------------------------------------------------- for subclasses
    def _say(self, msg):
        """A progress line through the ``progress`` callable, when the attack has one."""
        progress = getattr(self, "progress", None)
        if callable(progress):
            progress(msg)

    def _budget(self, data) -> int:
        """``n_poisons(epsilon, n_train)`` for attacks with an ``epsilon`` parameter."""
        return n_poisons(self.epsilon, data.n_train)

    def _defender(self, data, model="svm"):
        """The :class:`~convexpoison.defender.Defender` this attack is about: the
        ``defender`` parameter (a Defender, a spelling such as ``"svc:C=1"`` or a
        scikit-learn estimator), else the package's default ``model`` with the ``reg``
        parameter or the dataset's ``C_R`` (:func:`~convexpoison.defender.resolve_defender`)."""
        from ..defender import resolve_defender

        return resolve_defender(getattr(self, "defender", None), data, model,
                                getattr(self, "reg", None))

    def _hinge_defender(self, data, why):
        """:meth:`_defender` for an attack whose theory is the binary hinge loss's; any
        other loss is an :class:`InputError` naming ``defender``, ``why`` saying what ties
        the attack to the hinge (e.g. ``"MTP is for the binary hinge loss"``).  Sets
        ``defender_``."""
        D = self.defender_ = self._defender(data)
        if D.loss != "hinge":
            raise InputError(f"defender: {why}, not {D.spec()}")
        return D.require_exact(f"the {self._name} attack")

    def _reg(self, data) -> float:
        """The defender's ``C_R``: the ``reg`` parameter, or the dataset's when it is None."""
        return resolve_reg(getattr(self, "reg", None), data)
