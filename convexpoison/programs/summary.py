"""A readable summary of a cvxpy program, for notebooks and the REPL (docs/interactive.md).

Every attack and certificate on a convex model is a ``cvxpy.Problem`` that users may get
hold of (``MaxLossDifference.program``, ``InnerMaximizer.program``,
``MinimumPoisonProgram.problem``, ...).  :func:`describe` turns one into a
:class:`ProgramSummary`: its variables (shape, integrality), its parameters (whether a
value is loaded -- a DPP program cannot be solved with an unset parameter), its
constraints by type, the objective's sense, the problem class, whether it is DCP under
the DPP rules (re-solvable without recompilation) and the solver
:mod:`convexpoison.solvers` would choose for it, with its fallbacks.  The summary prints
as text (``str``/``repr``), Markdown and HTML (Jupyter's rich display).

Nothing here solves anything: the solver line is what :func:`convexpoison.solvers.solve`
*would* try, from the same preference table, so the two never disagree.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import solvers
from ..errors import InputError

__all__ = ["ProgramSummary", "VariableInfo", "ParameterInfo", "describe", "problem_class"]

#: Atoms whose canonical form needs the exponential cone (cvxpy class names).
_EXP_ATOMS = {"exp", "log", "log1p", "entr", "kl_div", "rel_entr", "log_sum_exp", "logistic",
              "xexp", "log_det", "von_neumann_entr"}
#: Constraints shown verbatim in a summary; the rest are only counted.
SHOW_CONSTRAINTS = 6
#: Longest printed form of one expression or constraint.
MAX_CHARS = 160


@dataclass
class VariableInfo:
    """One variable: ``integer`` / ``boolean`` count its integral entries."""

    name: str
    shape: tuple
    size: int
    integer: int = 0
    boolean: int = 0
    nonneg: bool = False
    bounded: bool = False

    @property
    def attributes(self) -> str:
        out = []
        if self.boolean:
            out.append("boolean" if self.boolean == self.size else f"boolean ({self.boolean})")
        if self.integer:
            out.append("integer" if self.integer == self.size else f"integer ({self.integer})")
        if self.nonneg:
            out.append("nonneg")
        if self.bounded:
            out.append("bounds")
        return ", ".join(out) or "continuous"


@dataclass
class ParameterInfo:
    """One parameter; ``value`` is shown for scalars only."""

    name: str
    shape: tuple
    size: int
    value_set: bool
    value: float | None = None


@dataclass
class ProgramSummary:
    """What :func:`describe` reports about a program (see the module docstring)."""

    title: str
    sense: str                          # 'minimize' or 'maximize'
    objective: str
    kind: str                           # the class the solver is chosen for
    inferred_kind: str                  # the class read off the program itself
    is_dcp: bool
    is_dpp: bool
    variables: list = field(default_factory=list)
    parameters: list = field(default_factory=list)
    constraint_counts: dict = field(default_factory=dict)   # type name -> number
    constraints: list = field(default_factory=list)          # the first few, printed
    n_constraints: int = 0
    n_scalar_variables: int = 0
    solver: str | None = None           # what convexpoison.solvers.solve tries first
    fallbacks: list = field(default_factory=list)            # then these, in order
    mosek: str = ""                     # 'licensed', 'installed, no licence', 'not installed'
    notes: list = field(default_factory=list)

    # -- queries -------------------------------------------------------------
    @property
    def variable_names(self) -> list:
        return [v.name for v in self.variables]

    @property
    def parameter_names(self) -> list:
        return [p.name for p in self.parameters]

    @property
    def unset_parameters(self) -> list:
        return [p.name for p in self.parameters if not p.value_set]

    def to_dict(self) -> dict:
        return asdict(self)

    # -- rendering -----------------------------------------------------------
    def _rows(self):
        vars_ = [(v.name, _shape(v.shape), v.attributes) for v in self.variables]
        pars = [(p.name, _shape(p.shape),
                 ("set" if p.value is None else f"{p.value:.6g}") if p.value_set else "UNSET")
                for p in self.parameters]
        return vars_, pars

    def _headline(self):
        dpp = "DCP and DPP" if self.is_dpp else ("DCP, not DPP" if self.is_dcp else "not DCP")
        kind = self.kind if self.kind == self.inferred_kind else (
            f"{self.kind} (reads as {self.inferred_kind})")
        return f"{self.sense} {kind}; {dpp}"

    def _solver_line(self):
        if self.solver is None:
            return "none available"
        fb = f"; fallbacks {', '.join(self.fallbacks)}" if self.fallbacks else "; no fallback"
        return f"{self.solver}{fb} (MOSEK: {self.mosek})"

    def __str__(self):
        vars_, pars = self._rows()
        lines = [f"{self.title}: {self._headline()}",
                 f"  objective: {self.sense} {self.objective}",
                 f"  variables ({len(vars_)}, {self.n_scalar_variables} scalars):"]
        lines += [f"    {n:<20} {s:<10} {a}" for n, s, a in vars_]
        lines.append(f"  parameters ({len(pars)}):")
        lines += [f"    {n:<20} {s:<10} {v}" for n, s, v in pars]
        counts = ", ".join(f"{k} {v}" for k, v in self.constraint_counts.items())
        lines.append(f"  constraints ({self.n_constraints}: {counts or 'none'}):")
        lines += [f"    {c}" for c in self.constraints]
        if self.n_constraints > len(self.constraints):
            lines.append(f"    ... and {self.n_constraints - len(self.constraints)} more")
        lines.append(f"  solver: {self._solver_line()}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_markdown_(self):
        vars_, pars = self._rows()

        def cell(s):
            return str(s).replace("|", "\\|")

        out = [f"**{cell(self.title)}**: {cell(self._headline())}", "",
               f"objective: `{self.sense} {self.objective}`", "",
               "| variable | shape | type |", "|---|---|---|"]
        out += [f"| `{cell(n)}` | {s} | {a} |" for n, s, a in vars_]
        out += ["", "| parameter | shape | value |", "|---|---|---|"]
        out += [f"| `{cell(n)}` | {s} | {v} |" for n, s, v in pars]
        counts = ", ".join(f"{k} {v}" for k, v in self.constraint_counts.items())
        out += ["", f"constraints ({self.n_constraints}: {counts or 'none'}):", ""]
        out += [f"* `{cell(c)}`" for c in self.constraints]
        if self.n_constraints > len(self.constraints):
            out.append(f"* ... and {self.n_constraints - len(self.constraints)} more")
        out += ["", f"solver: {cell(self._solver_line())}"]
        out += [f"note: {cell(n)}" for n in self.notes]
        return "\n".join(out)

    def _repr_html_(self):
        vars_, pars = self._rows()
        e = html.escape

        def table(head, rows):
            h = "".join(f"<th>{e(x)}</th>" for x in head)
            body = "".join("<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>"
                           for r in rows)
            return f"<table><tr>{h}</tr>{body}</table>"

        counts = ", ".join(f"{k} {v}" for k, v in self.constraint_counts.items())
        more = (f"<li>... and {self.n_constraints - len(self.constraints)} more</li>"
                if self.n_constraints > len(self.constraints) else "")
        return (f"<div><p><b>{e(self.title)}</b>: {e(self._headline())}</p>"
                f"<p>objective: <code>{e(self.sense)} {e(self.objective)}</code></p>"
                + table(("variable", "shape", "type"), vars_)
                + table(("parameter", "shape", "value"), pars)
                + f"<p>constraints ({self.n_constraints}: {e(counts or 'none')}):</p><ul>"
                + "".join(f"<li><code>{e(c)}</code></li>" for c in self.constraints) + more
                + f"</ul><p>solver: {e(self._solver_line())}</p>"
                + "".join(f"<p>note: {e(n)}</p>" for n in self.notes) + "</div>")


# ---------------------------------------------------------------------------- helpers
def _shape(shape):
    return "scalar" if tuple(shape) == () else "x".join(str(s) for s in shape)


def _short(obj, limit=MAX_CHARS):
    # cvxpy prints constants through numpy: abridge long arrays as numpy does
    with np.printoptions(threshold=6, edgeitems=2, precision=6):
        s = " ".join(str(obj).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _count_idx(leaf, attr):
    """Entries of ``leaf`` flagged integer/boolean (cvxpy keeps them as index lists)."""
    if not leaf.attributes.get(attr):
        return 0
    idx = getattr(leaf, f"{attr}_idx", None)
    mask = np.zeros(leaf.shape or (1,), bool)
    try:
        mask[idx if leaf.shape else ()] = True
    except (IndexError, TypeError, ValueError):
        return int(leaf.size)
    return int(mask.sum())


def problem_class(problem) -> str:
    """'LP', 'QP', 'SOCP', 'EXP' or 'MILP' (the keys of ``solvers.PREFERENCES``) as read
    off ``problem``; a mixed-integer program with cones reads 'MI' + its continuous class,
    which no solver in the preference table takes."""
    mixed = problem.is_mixed_integer()
    if problem.is_lp():
        return "MILP" if mixed else "LP"
    if problem.is_qp():
        cont = "QP"
    else:
        names = {type(a).__name__ for a in problem.atoms()} | {
            getattr(a, "__name__", "") for a in problem.atoms()}
        cont = "EXP" if names & _EXP_ATOMS else "SOCP"
    return "MI" + cont if mixed else cont


def _mosek_state() -> str:
    import cvxpy as cp

    if "MOSEK" not in cp.installed_solvers():
        return "not installed"
    return "licensed" if solvers.mosek_licensed() else "installed, no licence"


def describe(problem, kind=None, solver=None, title=None) -> ProgramSummary:
    """Summarise a ``cvxpy.Problem`` (or a ``(problem, variable, ...)`` tuple as the
    ``program(...)`` accessors return).

    ``kind``: the problem class the program is solved as ('LP', 'QP', 'SOCP', 'EXP',
    'MILP'; default: read off the program); ``solver``: a solver the owner was told to
    use (as ``solvers.solve(..., solver=)``); ``title``: the summary's first words.
    """
    import cvxpy as cp

    if isinstance(problem, tuple) and problem and isinstance(problem[0], cp.Problem):
        problem = problem[0]
    if not isinstance(problem, cp.Problem):
        raise InputError(f"problem: expected a cvxpy Problem, got {type(problem).__name__}")
    inferred = problem_class(problem)
    if kind is None:
        kind = inferred
    elif kind not in solvers.PREFERENCES:
        raise InputError(f"kind: unknown problem class {kind!r}; one of {sorted(solvers.PREFERENCES)}")
    notes = []

    variables = []
    for v in problem.variables():
        a = v.attributes
        variables.append(VariableInfo(
            name=v.name(), shape=tuple(v.shape), size=int(v.size),
            integer=_count_idx(v, "integer"), boolean=_count_idx(v, "boolean"),
            nonneg=bool(a.get("nonneg")), bounded=a.get("bounds") is not None))
    parameters = []
    for p in problem.parameters():
        val = p.value
        scalar = val is not None and np.size(val) == 1
        parameters.append(ParameterInfo(
            name=p.name(), shape=tuple(p.shape), size=int(p.size), value_set=val is not None,
            value=float(np.asarray(val).reshape(())) if scalar else None))
    unset = [p.name for p in parameters if not p.value_set]
    if unset:
        notes.append(f"parameters without a value (set them before solving): {', '.join(unset)}")

    counts = {}
    for c in problem.constraints:
        counts[type(c).__name__] = counts.get(type(c).__name__, 0) + 1
    shown = [_short(c) for c in problem.constraints[:SHOW_CONSTRAINTS]]

    is_dcp = bool(problem.is_dcp())
    is_dpp = bool(problem.is_dcp(dpp=True))
    if is_dcp and not is_dpp:
        notes.append("not DPP: every solve recompiles the program")
    if kind != inferred:
        notes.append(f"solved as {kind}; the program itself reads as {inferred}")

    chosen, fallbacks = None, []
    if kind in solvers.PREFERENCES:
        try:
            names = solvers.candidates(kind, solver)
            chosen, fallbacks = names[0], names[1:]
        except InputError as exc:
            notes.append(str(exc))
    else:
        notes.append(f"no solver in convexpoison.solvers.PREFERENCES takes {kind} programs")

    sense = "maximize" if isinstance(problem.objective, cp.Maximize) else "minimize"
    return ProgramSummary(
        title=title or "cvxpy program", sense=sense, objective=_short(problem.objective.expr),
        kind=kind, inferred_kind=inferred, is_dcp=is_dcp, is_dpp=is_dpp,
        variables=variables, parameters=parameters, constraint_counts=counts,
        constraints=shown, n_constraints=len(problem.constraints),
        n_scalar_variables=int(sum(v.size for v in variables)),
        solver=chosen, fallbacks=fallbacks, mosek=_mosek_state(), notes=notes)
