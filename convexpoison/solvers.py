"""The one place that chooses solvers, applies tolerances and judges their answers.

Every convex or mixed-integer program in convexpoison is solved through :func:`solve`.
It knows, per problem class, the preferred solvers and the fallback order, detects an
installed-but-unlicensed MOSEK (and says so once, in one sentence, before falling
back), and turns any status other than ``optimal`` into a
:class:`~convexpoison.errors.SolverFailure` that carries the solver's status -- so a
certificate is never computed from an inaccurate or failed solve.

Why these defaults (measured with cvxpy 1.9.3; docs/interactive.md, "Solver facts"):

* cvxpy 1.9's HiGHS / SciPy / SCIP / CBC routes return silently wrong optima on programs
  with ``pos(affine)`` in unbounded variables, so they are *not* used for LPs; Clarabel
  (interior point, tight tolerances) is the default and ECOS / SCS the fallbacks.
* OSQP is inaccurate at the tolerances the theory needs (1e-5) and ECOS_BB reports
  ``optimal_inaccurate`` on MILPs: neither is ever used.
* MILPs go to CBC (through cylp), then HiGHS, with every variable bounded (cvxpy's bound
  propagation is then exact) and a zero relative MIP gap, so "optimal" means proven
  optimal.  Programs with integer variables must declare bounds (Domain.variable does).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache

from .errors import InputError, SolverFailure

#: Preference order per problem class; the first installed, licensed one is used.
PREFERENCES = {
    "LP": ["MOSEK", "CLARABEL", "ECOS", "SCS"],
    "QP": ["MOSEK", "CLARABEL", "ECOS", "SCS"],
    "SOCP": ["MOSEK", "CLARABEL", "ECOS", "SCS"],
    "EXP": ["MOSEK", "CLARABEL", "ECOS", "SCS"],
    "MILP": ["MOSEK", "CBC", "HIGHS"],
}

#: Tolerances handed to each solver: tight, because the attacks' theory needs exact optima.
TOLERANCES = {
    "CLARABEL": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9, "max_iter": 500},
    "ECOS": {"abstol": 1e-9, "reltol": 1e-9, "feastol": 1e-9, "max_iters": 500},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200000},
    "MOSEK": {},
    "CBC": {"allowableGap": 1e-9, "allowableFractionGap": 0.0},
    "HIGHS": {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9},
}

#: Clarabel's second try after ``optimal_inaccurate``, before the next solver (only where
#: a fall-back is allowed): the same tolerances, its linear solves refined further (its
#: defaults: 1e-13 relative, 1e-12 absolute, 10 steps).  Measured on the reachable
#: attack's exact price of its chosen target on spambase: optimal_inaccurate after 20
#: iterations, then optimal after 17 with these, 108.5331656016 against SCS's
#: 108.5331656177, in 0.04 s against SCS's 1.5 s plus its compile (ECOS: inaccurate).
CLARABEL_REFINED = {"iterative_refinement_reltol": 1e-14,
                    "iterative_refinement_abstol": 1e-14,
                    "iterative_refinement_max_iter": 50}

#: Clarabel's third try, when refined it still stops at ``optimal_inaccurate``: the same
#: tolerances, refined, and a static regularisation of its KKT matrix ten times its
#: default (1e-8).  Measured on the minimum-poison programs of models that adult's
#: relocated poisons induce (docs/reachable-history.md, *adult: relocation*): of three,
#: one optimal already, one optimal only with this (314.99999999966 against HiGHS's
#: 315.0000000000003), one still inaccurate.
CLARABEL_REGULARISED = {**CLARABEL_REFINED, "static_regularization_constant": 1e-7}

#: Relative and absolute slack added to an optimal value before it is used as a proven
#: bound in a certificate (a safety factor of 100 over the solvers' gap tolerances).
CERTIFICATE_SLACK = (1e-7, 1e-7)

_EXACT_STATUSES = {"optimal"}


@dataclass
class SolveInfo:
    """What a solve returned: the solver used, its status, the value and the time."""

    solver: str
    status: str
    value: float
    seconds: float

    def upper_bound(self) -> float:
        """A bound on the true optimum of a *maximisation* with the tolerance accounted for."""
        rel, ab = CERTIFICATE_SLACK
        return self.value + ab + rel * abs(self.value)

    def lower_bound(self) -> float:
        """A bound on the true optimum of a *minimisation* with the tolerance accounted for."""
        rel, ab = CERTIFICATE_SLACK
        return self.value - ab - rel * abs(self.value)


_warned = set()


def _say_once(key, message):
    if key not in _warned:
        _warned.add(key)
        print(f"convexpoison: {message}", file=sys.stderr)


@lru_cache(maxsize=1)
def mosek_licensed() -> bool:
    """True when MOSEK is importable *and* a licence can be checked out (checked once)."""
    try:
        import mosek
    except ImportError:
        return False
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
        return True
    except Exception:  # mosek.Error: err_missing_license_file (1008) and friends
        _say_once("mosek", "MOSEK is installed but has no usable licence; using the open-source solvers instead.")
        return False


@lru_cache(maxsize=1)
def installed() -> tuple:
    import cvxpy as cp

    names = set(cp.installed_solvers())
    if "MOSEK" in names and not mosek_licensed():
        names.discard("MOSEK")
    return tuple(sorted(names))


def candidates(kind: str, solver: str | None = None) -> list:
    """Solvers to try, in order, for a problem class ``kind`` (or the one named; or, for a
    tuple of names, those of them installed, in that order)."""
    if kind not in PREFERENCES:
        raise InputError(f"kind: unknown problem class {kind!r}; one of {sorted(PREFERENCES)}")
    have = installed()
    if isinstance(solver, (tuple, list)):
        out = [s.upper() for s in solver if s.upper() in have]
        if not out:
            raise InputError(f"solver: none of {', '.join(solver)} is installed; installed: "
                             f"{', '.join(have)}")
        return out
    if solver is not None:
        solver = solver.upper()
        if solver == "MOSEK" and not mosek_licensed():
            raise InputError("solver: MOSEK was requested but no MOSEK licence was found")
        if solver not in have:
            raise InputError(f"solver: {solver} is not installed; installed: {', '.join(have)}")
        if solver in ("OSQP", "ECOS_BB"):
            raise InputError(f"solver: {solver} is too inaccurate for convexpoison's programs")
        return [solver]
    out = [s for s in PREFERENCES[kind] if s in have]
    if not out:
        raise InputError(f"no solver installed for {kind} problems (tried {PREFERENCES[kind]})")
    return out


def default_solver(kind: str) -> str:
    return candidates(kind)[0]


#: Largest dimension for which a program keeps cvxpy's compiled (DPP) form.  A product of a
#: vector Parameter and a point variable (``w_d . x``, the sphere's ``mu_y . x``, the slab's
#: direction) is stored by cvxpy 1.9 as a tensor with ``~d^2`` entries: measured 0.6 GB per
#: product at d = 6000, and the upper bound's program was killed at 17 GB on the text set
#: (d = 6660 words).  Above this size a solve recompiles with the Parameters' current values
#: as constants (``ignore_dpp``, seconds) instead.
DPP_MAX_D = 2000


def dpp_options(d) -> dict:
    """The cvxpy ``solve`` option for a program over points of dimension ``d``: none up to
    :data:`DPP_MAX_D`, ``ignore_dpp=True`` above it."""
    return {} if d <= DPP_MAX_D else {"ignore_dpp": True}


def _solve_sparse(problem, name, verbose, opts):
    """``problem.solve`` with the explicit zeros of the solver's constraint matrix dropped.

    A DPP program stores a product ``Parameter x Variable`` (the minimum-poison program's
    clean multipliers ``free * delta`` under the dense ``G``) with every structural entry
    of the matrix, also those the current Parameter values make zero; the solver then
    factors them as nonzeros.  Measured on the minimum-poison program (docs/reachable.md,
    Time): 84% of the matrix's entries on spambase, 74% on mnist17, and a solve 10x / 25x
    faster without them (same optimum to 1e-11 relative).  Same problem, same solver,
    same tolerances: cvxpy's own ``get_problem_data`` / ``solve_via_data`` /
    ``unpack_results``."""
    opts = dict(opts)
    ignore_dpp = bool(opts.pop("ignore_dpp", False))       # a cvxpy option (dpp_options)
    data, chain, inverse = problem.get_problem_data(name, ignore_dpp=ignore_dpp,
                                                    verbose=verbose, solver_opts=opts)
    data = dict(data)
    for key in ("A", "P"):
        if data.get(key) is not None and hasattr(data[key], "eliminate_zeros"):
            mat = data[key].copy()
            mat.eliminate_zeros()
            data[key] = mat
    solution = chain.solve_via_data(problem, data, False, verbose, opts)
    problem.unpack_results(solution, chain, inverse)


def solve(problem, kind: str, solver: str | None = None, fallback: bool = True,
          verbose: bool = False, stop_if_infeasible: bool = False, drop_zeros: bool = False,
          inaccurate_ok: bool = False, **options) -> SolveInfo:
    """Solve a cvxpy ``problem`` of class ``kind`` ('LP', 'QP', 'SOCP', 'EXP', 'MILP').

    Tries the preferred solvers in order (only the named one when ``solver`` is given, those
    named in order for a tuple of names, or the first when ``fallback`` is false).  Raises
    :class:`SolverFailure` with the last solver's status unless one returns ``optimal``.

    A DPP program keeps its compiled form per solver (:func:`_compiled_for`): a fallback
    does not make the next solve with the first solver compile again.
    ``stop_if_infeasible``: a solver that *proves* infeasibility ends the fall-back (the
    failure's status is then ``infeasible``), for callers that treat an empty feasible set
    as an answer rather than a solver fault.
    ``drop_zeros``: hand the solver its matrices without the explicit zeros a DPP program's
    Parameter values leave in them (:func:`_solve_sparse`; the same problem, faster).
    ``inaccurate_ok``: ``optimal_inaccurate`` is accepted too (and reported in the
    returned status), only for a program whose answer is checked independently before it
    is used -- a placement of points that exact retraining then judges -- never for a
    value that bounds anything.
    """
    tried = []
    names = candidates(kind, solver)
    _check_parameters([problem])
    if not fallback:
        names = names[:1]
    last_status, last_name = "not run", names[0]
    for name in names:
        opts = dict(TOLERANCES.get(name, {}))
        opts.update(options)
        status, seconds = _attempt(problem, name, opts, verbose, drop_zeros)
        name_tried = name
        if (status == "optimal_inaccurate" and name == "CLARABEL" and fallback
                and not inaccurate_ok and not set(CLARABEL_REFINED) & set(options)):
            # Clarabel stalls short of its tolerances when its linear solves lose
            # precision; refined further (CLARABEL_REFINED), and then regularised
            # (CLARABEL_REGULARISED), it often finishes, in far less time than the next
            # solver takes to compile and solve
            for how, retry in (("refined", CLARABEL_REFINED),
                               ("regularised", CLARABEL_REGULARISED)):
                if status != "optimal_inaccurate":
                    break
                tried.append(f"{name_tried}={status}")
                status, more = _attempt(problem, name, {**opts, **retry}, verbose, drop_zeros)
                seconds += more
                name_tried = f"{name} {how}"
        tried.append(f"{name_tried}={status}")
        last_status, last_name = status, name
        if status in _EXACT_STATUSES or (inaccurate_ok and status == "optimal_inaccurate"):
            return SolveInfo(name, status, float(problem.value), seconds)
        if stop_if_infeasible and status == "infeasible":
            break
    raise SolverFailure(f"no solver reached an optimal solution ({', '.join(tried)})",
                        solver=last_name, status=last_status)


def _attempt(problem, name, opts, verbose, drop_zeros):
    """One solve of ``problem`` with solver ``name``: ``(status, seconds)``; an exception
    of the solver is a status, a Ctrl-C is not (:func:`ctrl_c_kept`)."""
    t0 = time.perf_counter()
    _compiled_for(problem, name)
    with ctrl_c_kept():
        status = _status_of(problem, name, opts, verbose, drop_zeros)
    return status, time.perf_counter() - t0


@contextlib.contextmanager
def ctrl_c_kept():
    """A Ctrl-C during the block is raised as :class:`KeyboardInterrupt` when it leaves,
    even if code inside turned it into another exception and that was handled.

    Clarabel's ``update`` (Rust) reads the new data through Python; a KeyboardInterrupt
    raised there comes out as ``Exception('Invalid A update data')``, which a solve takes
    for a solver's failure (:func:`_status_of`): the next solver is tried and the Ctrl-C
    is lost -- measured: a reachable-target run on mnist17 went on for 72 s and reported a
    complete run.  Here the handlers in place for SIGINT and SIGTERM (the command line
    makes SIGTERM a Ctrl-C) are wrapped for the block to note the signal (each still
    runs, raising as before).  Only in the main thread, and only for a signal with a
    Python handler in place (a process that ignores SIGINT keeps ignoring it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    before = {sig: h for sig, h in before.items() if callable(h)}
    pressed = []

    def noted(signum, frame):
        pressed.append(signum)
        before[signum](signum, frame)

    for sig in before:
        signal.signal(sig, noted)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if pressed:
        raise KeyboardInterrupt


def _status_of(problem, name, opts, verbose, drop_zeros) -> str:
    """One solve's status (an exception of the solver is a status)."""
    import cvxpy as cp

    try:
        with warnings.catch_warnings():
            # cvxpy warns "Solution may be inaccurate" with status optimal_inaccurate,
            # which is not accepted here (unless inaccurate_ok): the next solver is
            # tried, and a failure reports every status, so the warning would only
            # repeat it
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            if drop_zeros:
                _solve_sparse(problem, name, verbose, opts)
            else:
                problem.solve(solver=name, verbose=verbose, **opts)
        status = str(problem.status)
    except cp.error.SolverError as exc:
        status = f"solver error: {str(exc).splitlines()[0]}"
    except Exception as exc:  # e.g. mosek.Error for licence problems
        status = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return status


def compile_ahead(problem, kind: str, solver: str | None = None, ignore_dpp: bool = False,
                  drop_zeros: bool = False, **options) -> str:
    """Compile ``problem`` for the solver :func:`solve` tries first (or the one named),
    without solving, and return that solver's name.

    cvxpy keeps a DPP program's compiled form per solver, under the key that
    :func:`solve` uses too (solver, ``ignore_dpp``, ``use_quad_obj``), so the first solve
    after this call only loads the Parameters' values.  Compiling costs seconds on large
    programs (the realisation's fixed-count program on mnist17: 1.5-4 s); a caller that
    waits on another process pays it there.  The Parameters need values (any: the
    compiled form is the program's structure).  With ``ignore_dpp`` nothing is kept (a
    solve compiles anew with the values): a no-op.  ``drop_zeros`` changes only what a
    solve hands the solver; the tolerances among ``options`` nothing here."""
    name = candidates(kind, solver)[0]
    _check_parameters([problem])
    if not ignore_dpp:
        _compiled_for(problem, name)
        problem.get_problem_data(name, solver_opts=dict(options))
    return name


def _compiled_for(problem, name):
    """Make ``problem``'s compiled form the one for solver ``name``, keeping the form it
    holds now for the solver that compiled it.

    cvxpy keeps one compiled form per Problem: compiling for another solver discards the
    last one (``Problem._cache``, keyed by the solver).  A program re-solved many times
    with its first solver and once in a while with a fallback (the reachable attack's
    pricing program: Clarabel at the screening tolerance, the chosen target's exact solve
    falling back to SCS) would otherwise compile anew at the next solve: 2.2 s on
    spambase, per fallback.  Each solver's form is kept beside the Problem instead, and
    put back when that solver is next used.  (cvxpy's private cache: a cvxpy without it
    is left alone, and compiles as before.)"""
    try:
        from cvxpy.problems.problem import Cache
    except ImportError:
        return
    current = getattr(problem, "_cache", None)
    if not isinstance(current, Cache) or current.key is None or current.key[0] == name:
        return
    kept = problem.__dict__.setdefault("_compiled_by_solver", {})
    kept[current.key[0]] = current
    problem._cache = kept.pop(name, None) or Cache()


def _check_parameters(problems):
    """Every Parameter of the ``problems`` has a value (else the caller's omission, not a
    solver's failure: InputError)."""
    unset = sorted({p.name() for prob in problems for p in prob.parameters()
                    if p.value is None})
    if unset:
        raise InputError(f"parameters: {', '.join(unset)} have no value; set .value before "
                         "solving")


def stack_norm_cones(constraints):
    """``constraints`` with every group of two or more ``||v_i||_2 <= t_i`` (``v_i`` vectors
    of one length, ``t_i`` scalars) replaced by one second-order cone constraint
    ``SOC(s, [v_1 ... v_k], axis=0)`` and ``s <= t`` (``s`` a new variable,
    ``stacked_norms``, the epigraph variable cvxpy gives each cone apart: without it
    Clarabel stopped at ``optimal_inaccurate`` on exact solves it finishes this way): the
    same feasible set.

    Why: compiling a DPP program, cvxpy restructures its data per cone constraint with a
    sparse product whose width is (variables x Parameter entries) -- for a program whose
    clean gradient holds a Parameter per clean point, tens of millions of columns per
    cone, the same work for a cone of 4 rows as for one of 400.  One constraint holding
    the k cones does it once: the minimum-poison program on mnist17 compiled in 0.5-1.1 s
    with its four L2 cones stacked, 3.6 s apart.  Other constraints pass unchanged."""
    import cvxpy as cp
    from cvxpy.atoms.pnorm import Pnorm
    from cvxpy.constraints.nonpos import Inequality

    groups, out = {}, []
    for c in constraints:
        lhs, rhs = (c.args if isinstance(c, Inequality) else (None, None))
        if (isinstance(lhs, Pnorm) and lhs.p == 2 and lhs.axis is None
                and lhs.args[0].ndim == 1 and rhs.size == 1):
            groups.setdefault(lhs.args[0].size, []).append(c)
        else:
            out.append(c)
    for cs in groups.values():
        if len(cs) == 1:
            out += cs
            continue
        # the norms' epigraph variable and its bound, as cvxpy writes each cone apart
        t = cp.Variable(len(cs), name="stacked_norms")
        rhs = cp.hstack([cp.reshape(c.args[1], (1,), order="F") for c in cs])
        out += [cp.SOC(t, cp.vstack([c.args[0].args[0] for c in cs]).T, axis=0), t <= rhs]
    return out


def assert_dpp(program, what="program", hint=""):
    """Check that a program (a cvxpy ``Problem``, or a list of constraints) is DPP.

    Every program in convexpoison is built once with Parameters and re-solved; one that is
    not DCP under DPP rules would be recompiled at every solve (or not be solvable with
    its Parameters at all).  Raises :class:`InputError` naming ``what`` (and ``hint``: how
    the caller's input can cause it) -- the one DPP check of the package.
    """
    items = program if isinstance(program, (list, tuple)) else [program]
    for item in items:
        if not item.is_dcp(dpp=True):
            raise InputError(f"{what} is not DCP under DPP rules; it would be recompiled at "
                             f"every solve" + (f" ({hint})" if hint else ""))
