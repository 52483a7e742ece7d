"""What the data-set attacks (KKT, min-max, influence) share: progress lines, the checks
at the start of ``fit``, the poison budget, the feasible set and ``poison()``."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..feasible import FeasibleSet, feasible_names, make_feasible_set
from ..validation import check_fraction, check_positive


class Attack:
    """Mixin of :class:`~convexpoison.attacks.kkt.KKTAttack`,
    :class:`~convexpoison.attacks.minmax.MinMaxAttack` and
    :class:`~convexpoison.attacks.influence.InfluenceAttack`.

    Subclasses set ``_name`` (as in messages: 'KKT', 'min-max', ...) and ``_needs`` (what
    ``fit`` learns that :meth:`poison` depends on).
    """

    _name = "this"
    _needs = "Dc and the domain"

    def _say(self, msg):
        if self.progress is not None:
            self.progress(msg)

    def _data(self, data, binary=True):
        """``(epsilon, C_R, Xc, yc, Xt, yt)`` from the settings and a dataset, checked
        (``binary``: labels must be -1/+1); ``C_R`` defaults to the dataset's."""
        eps = check_fraction(self.epsilon, "epsilon")
        reg = check_positive(getattr(data, "reg", None) if self.reg is None else self.reg, "reg")
        Xc, yc = np.asarray(data.X_train, float), np.asarray(data.y_train)
        Xt, yt = np.asarray(data.X_test, float), np.asarray(data.y_test)
        if binary and not np.all(np.isin(yc, (-1, 1))):
            raise InputError(f"data: the {self._name} attack is for binary labels {{-1, +1}}")
        return eps, reg, Xc, yc, Xt, yt

    def _check_use(self):
        if self.use not in ("test", "train"):
            raise InputError(f"use: expected 'test' or 'train', got {self.use!r}")

    def _feasible(self, defenses, domain, d, exclude=(), note=""):
        """The ``feasible`` setting resolved: a ready :class:`FeasibleSet` (checked, used as
        it is) or the list of component names (:func:`~convexpoison.feasible.feasible_names`)."""
        fs = self.feasible
        if not isinstance(fs, FeasibleSet):
            return feasible_names(fs, defenses, domain, exclude, note)
        if fs.d != d:
            raise InputError(f"feasible: the feasible set is for {fs.d} features, the data "
                             f"has {d}")
        bad = [n for n in fs.names if n in exclude]
        if bad:
            raise InputError(f"feasible: the {self._name} attack cannot use the {bad[0]!r} "
                             f"component" + (f" ({note})" if note else ""))
        return fs

    def poison(self, X=None, y=None):
        """ART-style ``(X_poison, y_poison)`` with copies expanded (after :meth:`fit`)."""
        if not hasattr(self, "poisons_"):
            raise InputError(f"poison: call fit(data) first (the {self._name} attack needs "
                             f"{self._needs})")
        return self.poisons_.expanded()


def fitted(feasible, domain, X, y, quantile):
    """``feasible`` as a fitted set: a ready one as it is, names fitted on ``(X, y)``."""
    if isinstance(feasible, FeasibleSet):
        return feasible
    return make_feasible_set(feasible, domain, X, y, quantile=quantile)


def poison_count(eps, N) -> int:
    """``floor(epsilon N)`` poison points (at least one)."""
    n_total = int(np.floor(eps * N + 1e-9))
    if n_total < 1:
        raise InputError(f"epsilon: {eps} x {N} clean points is less than one poison point")
    return n_total
