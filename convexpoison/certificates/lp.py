"""The minimum-poison LP lower bound on the number of poison points (docs/minpoison.md).

The minimum-poison program (:class:`convexpoison.programs.minpoison.MinimumPoisonProgram`)
minimises the total poison weight over every poison set, with fractional copies, that
satisfies the optimality condition of training at the target; every real poison set
inducing the target is feasible, so its proven optimum bounds the number of poison points
from below.  It equals the optimal Theorem 4.2 bound
(:mod:`convexpoison.certificates.optimal`) up to fractional copies -- two independent
programs for one number.

With ``delta > 0`` it is the neighbourhood bound ``K(delta)``: no model within parameter
l2 distance ``delta`` of the target is induced by fewer points (docs/minpoison.md,
"Neighbourhood bound") -- the bound to compare an attack with, since an attack reaches its
target only approximately (:func:`lower_bound_at_achieved`).
"""
from __future__ import annotations

import numpy as np

from ..programs import minpoison as _minpoison
from .base import Certificate

__all__ = ["lp_lower_bound", "lp_certificate", "lp_statement", "induced_distance",
           "lower_bound_at_achieved"]

#: Relative allowance on a trainer's floating-point duality gap (as for ``--poisons``).
GAP_ALLOWANCE = 1e-12


def lp_lower_bound(target, feasible, X, y, reg, sample_weight=None, delta=0.0, **kw):
    """One-shot :class:`~convexpoison.programs.minpoison.MinimumPoisonProgram` for
    ``target``; returns its :class:`~convexpoison.programs.minpoison.MinPoisonResult`
    (``.certified`` is the certified integer, ``.lower_bound`` / ``.value`` the real bound
    and the optimum; :func:`lp_certificate` makes it a
    :class:`~convexpoison.certificates.base.Certificate`).  ``delta``: the neighbourhood
    radius (``K(delta)``, parameter l2 distance).  Keyword arguments go to the program
    (``tol``, ``integer``, ``solver``)."""
    prog = _minpoison.MinimumPoisonProgram(feasible, reg, **kw)
    return prog.fit(X, y, sample_weight).solve(target, delta=delta)


def induced_distance(model, target, reg, *, defender=None) -> float:
    """A proven upper bound on the parameter l2 distance between the *exact* training
    optimum that ``model`` approximates and ``target``: ``|theta - theta_p|_2`` plus
    ``sqrt(2 gap / C_R)`` (the training objective is ``C_R``-strongly convex, so a model
    with duality gap ``gap`` lies that close to the optimum), the gap widened by
    ``1e-12 |objective|`` for its own rounding.  ``nan`` when the model has no gap.

    ``defender`` (default: the package's SVM with ``C_R = reg``): under scikit-learn's
    ``C`` the ``C_R`` is the one the model was trained with (``model.reg``, ``1/(C W)``);
    with a free intercept the objective is not strongly convex in ``b``, so no distance is
    proven (``nan``)."""
    if defender is not None:
        from ..programs.regularizer import hinge_defender

        D = hinge_defender(defender, reg, "induced_distance")
        if not D.penalize_intercept:
            return float("nan")
        reg = D.reg if D.convention == "average" else float(getattr(model, "reg", float("nan")))
        if not (np.isfinite(reg) and reg > 0):
            return float("nan")
    gap = float(getattr(model, "gap_", float("nan")))
    obj = float(getattr(model, "objective_", 0.0))
    if not np.isfinite(gap):
        return float("nan")
    gap = max(gap, 0.0) + GAP_ALLOWANCE * abs(obj if np.isfinite(obj) else 0.0)
    dist = float(np.linalg.norm(np.append(model.w, model.b) - np.append(target.w, target.b)))
    return float(np.nextafter((dist + np.sqrt(2.0 * gap / reg)) * (1 + 1e-12), np.inf))


def lower_bound_at_achieved(model, target, feasible, X, y, reg, sample_weight=None,
                            program=None, *, defender=None) -> dict:
    """``K(delta)`` with ``delta`` the distance :func:`induced_distance` of an attack's
    induced ``model`` to its ``target``: no model as close to the target as the attack got
    is induced by fewer points, so ``n_poisons / lower_bound_at_achieved`` is a rigorous
    optimality ratio of the attack (an exact-target bound is not: the attack reached the
    target only approximately).  ``program``: a fitted MinimumPoisonProgram to reuse
    (otherwise one is built over the convex relaxation of ``feasible``).

    Returns the JSON fields ``lower_bound_at_achieved`` (an integer, or None with
    ``lower_bound_at_achieved_reason``), ``lower_bound_at_achieved_delta`` (the delta used,
    parameter l2 distance on ``(w, b)``), ``lower_bound_at_achieved_value`` (the real bound)
    and ``lower_bound_at_achieved_verified``."""
    from ..errors import InputError, SolverFailure

    none = {"lower_bound_at_achieved": None, "lower_bound_at_achieved_delta": None}
    if model is None:
        return {**none, "lower_bound_at_achieved_reason": "no induced model"}
    delta = induced_distance(model, target, reg, defender=defender)
    if not np.isfinite(delta):
        return {**none, "lower_bound_at_achieved_reason":
                "the induced model has no proven duality gap" if defender is None
                or getattr(_as_d(defender, reg), "penalize_intercept", True) else
                "no distance is proven with a free intercept (the objective is not strongly "
                "convex in b)"}
    try:
        if program is None:
            program = _minpoison.MinimumPoisonProgram(feasible, reg, integer="relax",
                                                      defender=defender)
            program.fit(X, y, sample_weight)
        r = program.solve(target, delta=delta)
    except (InputError, SolverFailure) as exc:
        return {**none, "lower_bound_at_achieved_delta": delta,
                "lower_bound_at_achieved_reason": f"not computed: {exc}"}
    lb = r.certified
    return {"lower_bound_at_achieved": None if not np.isfinite(lb) else int(lb),
            "lower_bound_at_achieved_delta": delta,
            "lower_bound_at_achieved_value": float(r.lower_bound),
            "lower_bound_at_achieved_verified": bool(r.verified)}


def _as_d(defender, reg):
    from ..programs.regularizer import hinge_defender

    return hinge_defender(defender, reg, "the minimum-poison program")


def lp_statement(result, where, n_clean, reg, *, defender=None, kept_by=None) -> str:
    """What a :class:`~convexpoison.programs.minpoison.MinPoisonResult` proves, in words:
    model, neighbourhood (delta and the norm), defender (``defender``, default the
    package's SVM with ``C_R = reg``: its objective and ``--defender`` spelling), feasible
    set, and whether the number is verified in floating point.  ``kept_by``: the defenses
    whose kept clean points the program was given (the ``n_clean`` points)."""
    from ..programs.regularizer import defender_words, hinge_defender

    D = hinge_defender(defender, reg, "the minimum-poison program")
    lb, delta = result.certified, float(getattr(result, "delta", 0.0))
    if lb == float("inf"):
        head = "No poison set of any size"
    elif lb <= 0:
        head = None
    else:
        head = f"No poison set of fewer than {int(lb)} points"
    which = ("return the target model" if delta == 0 else
             f"return any model theta = (w, b) within parameter l2 distance {delta:.6g} of the "
             f"target (|theta - theta_p|_2 <= {delta:.6g})")
    clean = (f"{n_clean} clean training points" if not kept_by else
             f"{n_clean} clean training points that the {', '.join(kept_by)} defenses, fitted on "
             "the clean training set alone, keep")
    defender = (f"exact training of the binary hinge-loss SVM ({defender_words(D)}) on the "
                f"{clean} plus the poison points, each inside {where},")
    if head is None:
        claim = f"Nothing is certified (the bound is 0) for {defender} to {which}."
    else:
        claim = f"{head} makes {defender} {which}."
    method = ("  Method: the minimum-poison program (docs/minpoison.md)" +
              ("" if delta == 0 else
               ", neighbourhood form K(delta): clean points whose margin can equal 1 in the "
               "ball get free multipliers, the regulariser's gradient and the poison margin "
               "conditions range over it") +
              (", over the convex relaxation of integer coordinates" if not result.exact and
               not result.columns else "") + ".")
    if result.verified:
        proof = ("  The number is verified in floating point: a dual-feasible point repaired "
                 "from the solver's multipliers, evaluated with outward rounding (Neumaier & "
                 "Shcherbina 2004); no solver tolerance is assumed.")
    elif result.columns:
        proof = ("  NOT verified in floating point: the Lagrangian bound of column generation "
                 "uses the MILP pricing solver's bounds with a fixed relative+absolute slack "
                 "of 1e-7 (it assumes the solver met its tolerances).")
    else:
        proof = ("  NOT verified in floating point: the feasible set has cone components "
                 "(the l2 sphere, svd) the safe bound does not handle, so the bound is the "
                 "solver's optimum "
                 "minus a fixed relative+absolute slack of 1e-7 (it assumes the solver met "
                 "its tolerances).")
    return claim + method + proof


def lp_certificate(result, statement="") -> Certificate:
    """A :class:`~convexpoison.programs.minpoison.MinPoisonResult` as a Certificate: the
    certified integer as ``lower_bound``, the program's numbers in ``details``."""
    return Certificate(
        method="lp", statement=statement, lower_bound=result.certified, value=result.value,
        solver=getattr(result, "solver", ""), status=result.status, seconds=result.seconds,
        details={"lp_lower_bound": result.lower_bound,
                 "relaxed_lower_bound": result.relaxed_lower_bound, "margin_tol": result.tol,
                 "delta": float(getattr(result, "delta", 0.0)), "delta_norm": "l2 on (w, b)",
                 "verified": bool(getattr(result, "verified", False)),
                 "solver_value_bound": float(getattr(result, "solver_value_bound", float("nan"))),
                 "n_margin": int(result.n_margin),
                 "defender": getattr(result, "defender", "")})
