"""The programs of Steinhardt et al.'s certified upper bound (docs/upper-bound.md).

* :class:`UpperBoundProgram` -- the outer minimum, one SOCP in ``(w, b)``:

      min_theta  L(theta; Dc)/N + eps m + C_R (1 + eps) R(theta),
      m >= max(0, max_y  1 - y b + sigma_{F_y}(-y w)),

  (Steinhardt, Koh & Liang 2017, in the form of Koh et al. 2021 section 4.3) -- under
  scikit-learn's ``C`` on the sum the regulariser term is ``R(theta) / (C N)`` (no
  ``1 + eps``), with a free intercept ``R = 1/2 |w|^2`` (docs/defender.md) -- with the
  support function of ``F_y`` from
  :meth:`convexpoison.feasible.FeasibleSet.support_function` and ``eps`` a
  ``cp.Parameter`` (DPP): built once, re-solved for every ``eps``.  The split ``g_y = -y
  w`` is an explicit equality so that its multiplier recovers the attacker's points
  (:class:`convexpoison.certificates.upper_bound.CertifiedUpperBound`).
* :class:`WorstHingeProgram` -- ``max_{x in conv(F_y)} -y w.x`` for a model ``w`` (a
  Parameter), the inner maximum at a given model.
"""
from __future__ import annotations

from .. import solvers
from ..feasible import as_feasible

__all__ = ["UpperBoundProgram", "WorstHingeProgram"]

LABELS = (-1, 1)


class UpperBoundProgram:
    """The certificate's SOCP for clean data ``(X, y)`` with weights ``s``.

    Attributes: ``problem`` (variables ``w``, ``b``, ``max_hinge``, ``g_p``, ``g_m``),
    ``epsilon`` (the Parameter), ``w``, ``b``, ``label_cons`` (label -> the epigraph
    constraint ``m >= 1 - y b + sigma``; its multiplier is ``lambda_y``), ``split_cons``
    (label -> ``g_y == -y w``; its multiplier ``nu_y``), ``kind`` ('SOCP' or 'QP').
    """

    def __init__(self, feasible, reg, X, y, s, onehot=True, defender=None):
        import cvxpy as cp

        from .regularizer import RegTerms, hinge_defender

        T = RegTerms(hinge_defender(defender, reg, "the certified upper bound"))

        fs = as_feasible(feasible)
        self.kind = "SOCP" if fs.conic else "QP"
        d = X.shape[1]
        w = cp.Variable(d, name="w")
        b = cp.Variable(name="b")
        m = cp.Variable(nonneg=True, name="max_hinge")      # max(0, max_y max_x hinge)
        eps = cp.Parameter(nonneg=True, name="epsilon")
        cons, label_cons, split_cons = [], {}, {}
        for lab in LABELS:
            # g_y = -y w through an explicit equality: its multiplier is lambda_y times the
            # mean of the attacker's optimal distribution on F_y (the saddle point's x_y)
            g = cp.Variable(d, name=f"g_{'p' if lab > 0 else 'm'}")
            split_cons[lab] = g == (-lab) * w
            sig, extra = fs.support_function(lab, g, onehot=onehot)
            cons += extra + [split_cons[lab]]
            c = m >= 1 - lab * b + sig
            label_cons[lab] = c
            cons.append(c)
        N = float(s.sum())
        clean = (s / N) @ cp.pos(1 - cp.multiply(y.astype(float), X @ w + b))
        R = (0.5 * (cp.sum_squares(w) + cp.square(b)) if T.penalize_intercept
             else 0.5 * cp.sum_squares(w))
        if T.average:
            reg = T.D.reg
            obj = clean + eps * m + reg * R + reg * (eps * R)
        else:                   # the objective / (C N): R / (C N), whatever the poison count
            obj = clean + eps * m + T.clean_coef(1.0) / N * R
        prob = cp.Problem(cp.Minimize(obj), cons)
        solvers.assert_dpp(prob, "certified upper bound program")
        self.problem, self.w, self.b, self.epsilon = prob, w, b, eps
        self.label_cons, self.split_cons = label_cons, split_cons

    def solve(self, epsilon, solver=None, **options):
        """Solve at ``epsilon``; returns the :class:`~convexpoison.solvers.SolveInfo`."""
        self.epsilon.value = epsilon
        return solvers.solve(self.problem, self.kind, solver=solver, **options)


class WorstHingeProgram:
    """``max_{x in conv(F_y)} -y w.x`` with ``w`` a Parameter (one label; built once).

    ``solve(w)`` returns ``(SolveInfo, x)``: ``SolveInfo.upper_bound()`` is a proven upper
    bound on the maximum, ``x`` the maximiser (``None`` if the solver gave none).
    """

    def __init__(self, feasible, label, onehot=True):
        import cvxpy as cp

        fs = as_feasible(feasible)
        self.kind = "SOCP" if fs.conic else "LP"
        self.x = fs.hull_variable("x")
        self.w = cp.Parameter(fs.d, name="w")
        cons = fs.hull_constraints(self.x, label, onehot=onehot)
        self.problem = cp.Problem(cp.Maximize((-label) * (self.w @ self.x)), cons)
        solvers.assert_dpp(self.problem, "max-hinge program")

    def solve(self, w):
        self.w.value = w
        info = solvers.solve(self.problem, self.kind)
        return info, self.x.value
