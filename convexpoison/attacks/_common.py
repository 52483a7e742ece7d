"""What several attacks check or build in ``fit``: the clean arrays, the evaluation-set
choice and the feasible set (the attack contract itself is :mod:`.base`)."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..feasible import FeasibleSet, feasible_names, make_feasible_set


def clean_arrays(data, what, binary=True):
    """``(Xc, yc, Xt, yt)`` of a dataset as arrays (``binary``: labels must be -1/+1;
    ``what`` names the attack in the message)."""
    from ..validation import check_X, is_sparse

    def rows(X):            # sparse text stays sparse: the clean matrix is never densified
        return check_X(X, accept_sparse=True) if is_sparse(X) else np.asarray(X, float)

    Xc, yc = rows(data.X_train), np.asarray(data.y_train)
    Xt, yt = rows(data.X_test), np.asarray(data.y_test)
    if binary and not np.all(np.isin(yc, (-1, 1))):
        raise InputError(f"data: the {what} attack is for binary labels {{-1, +1}}")
    return Xc, yc, Xt, yt


class DataFields:
    """The few dataset fields that evaluation needs (``X_train``, ``y_train``, ``X_test``,
    ``y_test``, ``domain``, ``reg``): picklable, no loaders -- what a worker process gets."""

    def __init__(self, X_train, y_train, X_test, y_test, domain, reg):
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self.domain, self.reg = domain, reg


def check_use(use):
    """The attacker's evaluation set: 'test' (it knows the test set) or 'train'."""
    if use not in ("test", "train"):
        raise InputError(f"use: expected 'test' or 'train', got {use!r}")
    return use


def resolve_feasible(feasible, what, defenses, domain, d, exclude=(), note=""):
    """An attack's ``feasible`` setting resolved: a ready :class:`FeasibleSet` (checked,
    used as it is) or the list of component names (:func:`~convexpoison.feasible.feasible_names`)."""
    if not isinstance(feasible, FeasibleSet):
        return feasible_names(feasible, defenses, domain, exclude, note)
    if feasible.d != d:
        raise InputError(f"feasible: the feasible set is for {feasible.d} features, the data "
                         f"has {d}")
    bad = [n for n in feasible.names if n in exclude]
    if bad:
        raise InputError(f"feasible: the {what} attack cannot use the {bad[0]!r} "
                         f"component" + (f" ({note})" if note else ""))
    return feasible


def fitted(feasible, domain, X, y, quantile):
    """``feasible`` as a fitted set: a ready one as it is, names fitted on ``(X, y)``."""
    if isinstance(feasible, FeasibleSet):
        return feasible
    return make_feasible_set(feasible, domain, X, y, quantile=quantile)

