"""The main job: audit how much an epsilon-fraction poisoner can hurt a model (docs/audit.md).

:func:`run_audit` trains the clean model, runs every available attack against every
data-sanitisation defense, computes the certificates, and writes ``report.md``,
``report.html``, ``results.json`` and figures into an output directory.  Attacks are
looked up in :data:`ATTACKS` and all run through the attack contract
(:mod:`convexpoison.attacks.base`: ``fit(data)``, ``poisons_``, ``result_``); one whose module is missing or that fails is recorded as
such and the audit goes on, so a report is always written.  Every intermediate result is
written to ``results.json`` as soon as it exists: an interrupted audit keeps what it found.

A progress bar on standard error counts the audit's steps (and each long attack draws
its own beneath it).  Ctrl-C stops the audit cleanly: the attack that was running keeps
and evaluates what it had found (its status reads 'interrupted'), ``results.json`` is
written, and the KeyboardInterrupt goes on to the caller (the command exits with 130).
The KKT sweep runs on ``workers`` local processes or on a Dask cluster (``scheduler``);
the reachable-target attack runs its KKT attacks, and solves of its searches and
realisations and judgements of poisons under the defenses ahead, in a second process when
``workers >= 2``.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .defenses import DEFENSES
from .errors import ConvexPoisonError, InputError
from .validation import is_sparse

DEFAULT_DATASET = "mnist17"


@dataclass
class AuditSettings:
    """What the audit runs; the defaults finish in a few minutes on 2 cores (mnist17).

    ``dataset``: a bundled set's name or a :class:`~convexpoison.datasets.Dataset` (the
    user's, e.g. from :func:`~convexpoison.datasets.from_csv`).  ``defender``: the model
    audited -- a :class:`~convexpoison.defender.Defender`, a spelling (``"svc:C=1"``) or a
    scikit-learn estimator (docs/defender.md); None: the package's SVM with ``C_R = reg``
    (or the data's), intercept penalised.
    """

    dataset: object = DEFAULT_DATASET
    model: str = "svm"
    defender: object = None
    epsilon: float = 0.03
    defenses: tuple = DEFENSES
    p: float = 0.05
    reg: float | None = None
    target_error: float | None = None     # None: default_target_error(clean test error)
    attacks: tuple | None = None          # None: DEFAULT_ATTACKS
    quick: bool = True                    # smaller grids so the audit takes minutes
    random_state: int = 0
    command: str = ""
    workers: int = 1                      # processes for the KKT sweep (and reachable's)
    scheduler: str | None = None          # or a Dask scheduler address for it


#: The audit's target aims at this test error ...
TARGET_ERROR = 0.10
#: ... or, when the clean model already errs nearly as much (text: fine-foods 22.3 %), at
#: this many points above the clean error -- a target no worse than the clean model would
#: make MTP and the lower bound trivial.
TARGET_MARGIN = 0.05


def default_target_error(clean_test_error) -> float:
    """``max(TARGET_ERROR, clean test error + TARGET_MARGIN)``."""
    return max(TARGET_ERROR, float(clean_test_error) + TARGET_MARGIN)


@dataclass
class AttackOutcome:
    name: str
    status: str                           # 'ok', 'unavailable', 'failed: ...'
    evaluation: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    seconds: float = 0.0
    poisons: object = None


# ----------------------------------------------------------------------- attacks
@dataclass(frozen=True)
class AuditAttack:
    """One attack of the audit: an attack class of the contract
    (:class:`~convexpoison.attacks.base.PoisoningAttack`, named by module and class so a
    missing module makes the attack 'unavailable', not the audit), what the report calls
    it, the settings the audit always gives it (``params``) and those of quick mode
    (``quick``)."""

    module: str
    cls: str
    description: str
    params: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)

    def attack_class(self):
        import importlib

        return getattr(importlib.import_module(self.module, __package__), self.cls)


#: name -> the attack.  Order: weakest baseline first, as tables show them.  Every attack
#: is built the same way (:func:`build_attack`): its parameters here plus the audit's
#: common settings it has a parameter for (epsilon, reg, target, defenses, ...).
ATTACKS = {
    "labelflip": AuditAttack(".attacks.labelflip", "RandomLabelFlip",
                             "random label flips (baseline)", {"use": "train"}),
    "mtp": AuditAttack(".attacks.mtp", "ModelTargetedPoisoning",
                       "model-targeted poisoning toward the Koh target (Suya et al.)",
                       {"eps_close": 0.01, "resume": True}),
    "kkt": AuditAttack(".attacks.kkt", "KKTAttack",
                       "KKT attack with decoys (Koh et al. Algorithm 4)",
                       quick={"grid": 3, "max_decoys": 3}),
    "minmax": AuditAttack(".attacks.minmax", "MinMaxAttack",
                          "min-max attack (Koh et al. Algorithm 5)"),
    # quick: 15 steps of 3 trial lengths (mnist17: the same objective as 50 x 4 at a third
    # of the time -- the ascent has flattened out by then)
    "influence": AuditAttack(".attacks.influence", "InfluenceAttack",
                             "influence attack (Koh et al. Algorithm 2)",
                             quick={"max_iter": 15, "n_steps": 3}),
    "reachable": AuditAttack(".attacks.reachable", "ReachableTargetAttack",
                             "reachable-target attack (minimum-poison-priced targets)",
                             quick={"seeds": ("decoys", "kkt", "influence"), "n_realise": 2}),
}

#: What an audit runs when no attacks are named: all but the reachable-target attack, which
#: is opt-in (``--attacks``): it adds about 60 s to the demo's audit on mnist17 (3.33%
#: there, above the influence attack's 2.00%; docs/reachable-history.md, measured).
DEFAULT_ATTACKS = tuple(name for name in ATTACKS if name != "reachable")


def _fit(ctx) -> dict:
    """What every attack, defence and certificate of the audit is given for the defender:
    ``{"reg": C_R}`` (the package's default) or ``{"reg": None, "defender": D}``."""
    return ctx.get("fit") or {"reg": ctx["reg"]}


def common_settings(ctx, name) -> dict:
    """What the audit gives every attack that has a parameter of that name (the defender
    is not among them: :func:`build_attack` gives it to every attack)."""
    s = ctx["settings"]
    target = ctx.get("target")
    # the poisons of the attacks run before (the reachable-target attack's seeds: the
    # models they induce, reachable by construction, and candidate realisations)
    found = {n: o.poisons for n, o in ctx.get("outcomes", {}).items()
             if o.status == "ok" and o.poisons is not None and o.poisons.n_poisons > 0}
    return {"epsilon": s.epsilon, "reg": _fit(ctx)["reg"], "random_state": s.random_state,
            "given_poisons": found or None,
            "defenses": tuple(s.defenses), "p": s.p, "workers": s.workers,
            "scheduler": s.scheduler, "progress": ctx["say"], "progress_bar": ctx["bars"],
            "target": None if target is None else target.model,
            "run_dir": ctx["out"] / f"{name}-run"}


def build_attack(name, ctx):
    """The attack ``name`` of :data:`ATTACKS`, unfitted, with the audit's settings."""
    spec = ATTACKS[name]
    cls = spec.attack_class()
    keys = set(cls().get_params())
    params = {k: v for k, v in common_settings(ctx, name).items() if k in keys}
    # the user's defender goes to every attack, unfiltered: one that does not take it yet
    # fails (recorded as failed) instead of attacking the package's default model
    params.update({k: v for k, v in _fit(ctx).items() if k != "reg"})
    params.update(spec.params)
    if ctx["settings"].quick:
        params.update(spec.quick)
    return cls(**params)


# ------------------------------------------------------------------- the audit
def run_audit(settings: AuditSettings, out_dir, progress=True) -> dict:
    """Run the audit and write its report; returns the results dictionary.

    ``progress``: True for progress lines on standard error and bars when it is a
    terminal, False for silence (``--no-progress``).
    """
    from .datasets import Dataset, load_dataset
    from .defender import Defender, resolve_defender
    from .defenses import evaluate, parse_defenses
    from .parallel import check_scheduler, check_workers
    from .progress import bar, write

    t_start = time.perf_counter()
    out = Path(out_dir)
    say = (lambda msg: write(f"[audit] {msg}")) if progress else (lambda m: None)
    data = (settings.dataset if isinstance(settings.dataset, Dataset)
            else load_dataset(settings.dataset))
    if not data.is_binary:
        raise InputError(f"--dataset: the audit covers binary datasets; {data.name} has "
                         f"{data.n_classes} classes (use the attack commands directly)")
    if settings.model != "svm":
        raise InputError("--model: the audit's attacks and certificates are for the hinge-loss SVM")
    if settings.defender is None:
        reg = data.reg if settings.reg is None else settings.reg
        D = Defender.from_model("svm", reg)
        fit = {"reg": reg}                   # today's code path, bit for bit
    else:
        D = resolve_defender(settings.defender, data, "svm", settings.reg)
        reg = D.reg_for(data.n_train)        # C_R on the clean set (C on the sum: 1/(C n))
        fit = {"reg": None, "defender": D}
    defenses = parse_defenses(settings.defenses)
    names = list(DEFAULT_ATTACKS) if settings.attacks is None else list(settings.attacks)
    for n in names:
        if n not in ATTACKS:
            raise InputError(f"--attacks: unknown attack {n!r}; choose from {', '.join(ATTACKS)}")
    check_workers(settings.workers)
    check_scheduler(settings.scheduler)
    bars = None if progress else False
    out.mkdir(parents=True, exist_ok=True)          # only once every setting is checked
    # steps: clean model, target, each attack, certificates, figures and report
    steps = bar(len(names) + 4, "audit", bars, unit="step")

    results = {"settings": {**settings.__dict__, "dataset": data.name, "defenses": defenses,
                            "reg": reg, "defender": D.spec()},
               "defender": {"spec": D.spec(), "source": D.source or (
                   "the package's default: hinge loss, C_R on the average loss, intercept "
                   "penalised"), "loss": D.loss, "convention": D.convention,
                            "penalize_intercept": D.penalize_intercept, "clean_reg": reg},
               "dataset": data.summary(), "environment": environment(), "attacks": {},
               "certificates": {}, "figures": {}}

    def save():
        results["seconds"] = time.perf_counter() - t_start
        from .fileio import dumps, write_text

        write_text(out / "results.json", dumps(results, indent=1, default=_json_default))

    with steps:
        return _run_steps(settings, data, defenses, (reg, D, fit), names, results, save, say,
                          bars, steps, out, evaluate)


def _run_steps(settings, data, defenses, defender, names, results, save, say, bars, steps, out,
               evaluate):
    """The audit's steps, each advancing the ``steps`` bar; results saved after each.
    ``defender``: ``(C_R on the clean set, the Defender, what each attack, defence and
    certificate is given: reg= for the package's default, defender= for the user's)``."""
    reg, D, fit = defender
    def step_done(name):
        steps.set_postfix_str(name, refresh=False)
        steps.update(1)

    say(f"training the clean model on {data.name} (n={data.n_train}, d={data.d}, defender "
        f"{D.spec()}, C_R={reg:g})")
    clean = D.train(data.X_train, data.y_train)
    results["clean"] = {"test_error": clean.error(data.X_test, data.y_test),
                        "train_error": clean.error(data.X_train, data.y_train),
                        "objective": clean.objective_, "duality_gap": clean.gap_}
    say("clean model under each defense (the defenses' own cost on clean data)")
    results["clean"]["per_defense"] = evaluate(data, None, defenses, p=settings.p, **fit,
                                               clean_model=clean).to_dict()["per_defense"]
    save()
    step_done("clean model")
    ctx = {"data": data, "settings": settings, "reg": reg, "fit": fit, "clean": clean,
           "out": out, "say": say, "bars": bars}

    target_error = settings.target_error
    if target_error is None:
        target_error = default_target_error(results["clean"]["test_error"])
    say(f"target model: Koh label-flip heuristic, test error >= {target_error:g}")
    try:
        from .targets import koh_target

        kw = dict(quantiles=(0.1, 0.2, 0.3, 0.5), repeats=(1, 2, 3, 5, 8)) if settings.quick else {}
        target = koh_target(data, error=target_error, clean_model=clean, **fit, **kw)
        ctx["target"] = target
        results["target"] = target.summary()
        results["target"]["requested_error"] = target_error
    except (ImportError, ConvexPoisonError) as exc:
        results["target"] = {"status": f"failed: {exc}"}
    save()
    step_done("target")

    for name in names:
        say(f"attack {name}: {ATTACKS[name].description}")
        t0 = time.perf_counter()
        outcome = AttackOutcome(name, "ok")
        try:
            attack = build_attack(name, ctx).fit(data)
            ctx.setdefault("fitted", {})[name] = attack
            poisons = attack.poisons_
            outcome.poisons = poisons
            outcome.evaluation = evaluate(data, poisons, defenses, p=settings.p, **fit,
                                          clean_model=clean).to_dict()
            outcome.extra = _scalars(attack.result_.to_dict(), outcome.evaluation)
            if outcome.extra["status"] == "interrupted":
                # Ctrl-C inside the attack: it returned what it had found; keep that, then stop
                outcome.status = "interrupted"
            poisons.save(out / f"poisons-{name}.npz")
        except ModuleNotFoundError as exc:
            outcome.status = f"unavailable ({exc.name} is not installed in this version)"
        except KeyboardInterrupt:
            outcome.status = "interrupted"
        except Exception as exc:  # an attack's failure must not lose the whole audit
            outcome.status = _failure_status(exc)
        results["attacks"][name] = _outcome_dict(outcome, time.perf_counter() - t0)
        ctx.setdefault("outcomes", {})[name] = outcome
        save()
        if outcome.status == "interrupted":
            results["status"] = "interrupted"
            save()
            say(f"interrupted during {name}; what was found is in {out / 'results.json'}")
            raise KeyboardInterrupt
        step_done(name)

    say("certificates")
    results["certificates"] = _certificates(ctx)
    save()
    step_done("certificates")
    say("figures and report")
    results["headline"] = headline(results)
    results["verdict"] = verdict(results)
    results["figures"] = _figures(ctx, results)
    save()
    from .report import write_reports

    write_reports(results, out)
    save()
    step_done("report")
    say(f"report written to {out / 'report.md'} and {out / 'report.html'}")
    return results


#: The start of the status of an attack or certificate that refused the user's defender
#: (its theory does not cover that loss or intercept): not a failure of the audit.
NOT_APPLICABLE = "not applicable: "


def _failure_status(exc) -> str:
    """An attack's or certificate's exception as its status: a refusal of the defender
    (an InputError naming ``defender``) is 'not applicable', anything else 'failed'."""
    msg = str(exc)
    if isinstance(exc, InputError) and msg.startswith("defender: "):
        return NOT_APPLICABLE + msg[len("defender: "):]
    return f"failed: {type(exc).__name__}: {msg}"


def _outcome_dict(o, seconds):
    d = {"status": o.status, "seconds": seconds, **o.evaluation, "extra": o.extra}
    d["description"] = ATTACKS[o.name].description
    return d


def _scalars(result, evaluation) -> dict:
    """An attack's own result (``result_.to_dict()``, its ``status`` first) without what
    the audit's evaluation already reports, without lists (histories, iterates) and with
    a number that is not finite (an accuracy never measured) as null: strict JSON."""
    out = {"status": result["status"]}
    for k, v in result.items():
        if k in evaluation or not (v is None or isinstance(v, (str, bool, int, float, np.generic))):
            continue
        if isinstance(v, (float, np.floating)) and not np.isfinite(v):
            v = None
        out[k] = v
    return out


def _mtp_history(ctx):
    """MTP's iterations when the audit ran it (its intermediate models' bounds, figures)."""
    mtp = ctx.get("fitted", {}).get("mtp")
    return None if mtp is None else mtp.result_.history


def _certificates(ctx) -> dict:
    """Upper bound on damage (docs/upper-bound.md) and lower bounds on poisons for the target.

    Each certificate that cannot be computed records its status instead of a number.
    """
    from .feasible import make_feasible_set

    data, s = ctx["data"], ctx["settings"]
    reg = _fit(ctx)["reg"]                       # None: the user's defender brings its own
    dkw = {k: v for k, v in _fit(ctx).items() if k != "reg"}
    X, y = data.X_train, data.y_train
    certs = {}

    def attempt(key, fn):
        try:
            return fn()
        except ModuleNotFoundError as exc:
            return {"status": f"unavailable ({exc.name})"}
        except Exception as exc:                 # recorded, never a number
            return {"status": _failure_status(exc)}

    def upper():
        from .certificates.upper_bound import certified_upper_bound

        feasible = make_feasible_set(["domain", "l2", "slab"], data.domain, X, y,
                                     quantile=1 - s.p)
        ub = certified_upper_bound(feasible, X, y, reg, s.epsilon, **dkw)
        return {"upper_bound": ub.upper_bound, "clean_loss": ub.clean_loss,
                "clean_objective": ctx["clean"].objective_, "status": ub.status,
                "solver": ub.solver, "seconds": ub.seconds,
                "feasible_set": "domain, l2, slab (thresholds: clean per-class quantile "
                                f"{1 - s.p:g})"}

    certs["upper_bound"] = attempt("upper", upper)
    target = ctx.get("target")
    lb = {}
    if _mtp_history(ctx):
        lb["intermediate"] = {"lower_bound": max(r.lower_bound for r in _mtp_history(ctx)),
                              "method": "best Theorem 4.2 bound over MTP's intermediate models"}
    if target is not None:
        def lp():
            from .certificates.lp import lp_lower_bound

            r = lp_lower_bound(target.model, data.domain, X, y, reg, **dkw)
            return {"lower_bound": r.certified, "value": r.value, "status": r.status,
                    "method": "minimum-poison KKT linear program (docs/minpoison.md)"}

        def optimal():
            from .certificates.optimal import optimal_lower_bound

            seeds = [ctx["clean"]]
            r = optimal_lower_bound(target.model, data.domain, X, y, reg, init_models=seeds,
                                    **dkw)
            return {"lower_bound": r.lower_bound, "value": r.value, "status": r.status,
                    "method": "optimal Theorem 4.2 bound (Dinkelbach, docs/lower-bound.md)"}

        lb["lp"] = attempt("lp", lp)
        if is_sparse(X):
            # text (d in the thousands): each Dinkelbach step is a QP as large as the upper
            # bound's program, and the LP just computed has the same optimum
            lb["optimal"] = {"status": NOT_APPLICABLE + "on sparse text the optimal Theorem 4.2 "
                             "bound is the minimum-poison LP's optimum, computed above "
                             "(docs/minpoison.md); `convexpoison certify lower-bound --method "
                             "optimal` runs its Dinkelbach form"}
        else:
            lb["optimal"] = attempt("optimal", optimal)
    certs["lower_bound"] = lb
    return certs


def _figures(ctx, results) -> dict:
    from . import plots

    out, data = ctx["out"], ctx["data"]
    figs = {}
    hist = _mtp_history(ctx)
    if hist:
        figs["mtp_convergence"] = Path(plots.mtp_convergence(hist, out / "mtp-convergence.png")).name
        # every certified bound as a line, so the plot's top is the headline's K
        lb = results["certificates"].get("lower_bound", {})
        names = {"lp": "minimum-poison LP, over all models",
                 "optimal": "optimal Theorem 4.2, over all models"}
        bounds = {names.get(m, m): v["lower_bound"] for m, v in lb.items() if m != "intermediate"
                  and isinstance(v.get("lower_bound"), (int, float)) and np.isfinite(v["lower_bound"])}
        t = results.get("target", {}).get("target_test_error")
        figs["lower_bound"] = Path(plots.lower_bound_curve(
            hist, out / "lower-bound.png", bounds=bounds,
            title="Poison points needed to induce the target model"
                  + ("" if t is None else f" (test error {100 * t:.1f}%)"))).name
        ok = {k: v for k, v in results["attacks"].items() if v.get("status") == "ok"}
        figs["error_vs_epsilon"] = Path(plots.error_vs_epsilon(
            [r.n_poisons / data.n_train for r in hist], [1 - r.test_accuracy for r in hist],
            out / "error-vs-epsilon.png", epsilon=ctx["settings"].epsilon,
            clean_error=results["clean"]["test_error"],
            at_budget={k: v["no_defense_test_error"] for k, v in ok.items()},
            title="Test error without a defense against the poison fraction:\n"
                  "MTP's iterates (line), each attack at the budget (markers)")).name
    if data.image_shape is not None:
        for name, o in ctx.get("outcomes", {}).items():
            if o.poisons is not None and len(o.poisons):
                figs[f"poisons_{name}"] = Path(plots.poison_images(
                    o.poisons, data.image_shape, out / f"poisons-{name}.png",
                    title=f"{name}: poison points")).name
    return figs


#: The label of the undefended model in the headline (the table's "no defense" column).
NO_DEFENSE = "no defense"


def _count(err, n):
    """A test error as a number of mistakes among ``n`` test points (errors are measured on
    ``n`` unweighted points, so ``err * n`` is an integer up to rounding)."""
    return None if err is None else int(round(err * n))


def _cells(results):
    """Every measured (attack, defense) test error with that defense's clean baseline; the
    defenses include ``NO_DEFENSE`` (the clean model / training on all of ``Dc u Dp``)."""
    clean = results["clean"]
    baseline = {k: v for k, v in {NO_DEFENSE: clean["test_error"],
                                  **clean.get("per_defense", {})}.items() if v is not None}
    cells = []
    for name, a in results["attacks"].items():
        if a.get("status") != "ok":
            continue
        for d, e in {NO_DEFENSE: a["no_defense_test_error"], **a["per_defense"]}.items():
            if e is not None and baseline.get(d) is not None:
                cells.append({"attack": name, "defense": d, "error": e,
                              "baseline": baseline[d], "rise": e - baseline[d]})
    return baseline, cells


def headline(results) -> dict:
    """The audit's verdict as numbers, in test errors (docs/audit.md#reading-the-report).

    * ``resolution``: the test set's size and what one test point is worth;
    * ``baselines``: each defense's clean test error (the clean model for ``no defense``,
      training on the sanitised clean set otherwise) -- the baseline of that defense;
    * ``worst``: the (attack, defense) cell of highest test error over *every* attack run
      and every defense including none, with its ``rise`` over that defense's own baseline;
      ``largest_rise``: the cell whose rise is largest (the same cell or another);
    * ``defender_choice``: the defense whose worst error over the attacks run is lowest
      (the defender picks before knowing the attack), beside the lowest clean error;
    * ``certified``: each certificate translated into errors only where the translation is
      proven, each labelled ``proven`` or ``approximate`` (docs/audit.md#certificates-in-errors).

    Every error comes with its count of mistakes out of ``n_test``.
    """
    d, s = results["dataset"], results["settings"]
    n = int(d["n_test"])
    if n < 1:
        raise InputError(f"the audit needs test points to measure errors; {d['name']} has none")
    baseline, cells = _cells(results)
    out = {"n_test": n, "resolution": 1.0 / n, "epsilon": s["epsilon"],
           "baselines": {k: {"error": v, "mistakes": _count(v, n)} for k, v in baseline.items()}}

    def cell(c):
        return {**c, "mistakes": _count(c["error"], n), "baseline_mistakes": _count(c["baseline"], n),
                "rise_mistakes": _count(c["error"], n) - _count(c["baseline"], n)}

    if cells:
        # ties: the larger rise, then the first in table order (max keeps the first maximum)
        out["worst"] = cell(max(cells, key=lambda c: (c["error"], c["rise"])))
        out["largest_rise"] = cell(max(cells, key=lambda c: (c["rise"], c["error"])))
        worst_per_def = {}
        for c in cells:
            if c["defense"] not in worst_per_def or c["error"] > worst_per_def[c["defense"]]["error"]:
                worst_per_def[c["defense"]] = c
        # ties: the lower clean error, then table order
        choice = min(worst_per_def.values(), key=lambda c: (c["error"], c["baseline"]))
        best_clean = min(baseline, key=lambda k: baseline[k])
        out["defender_choice"] = {
            "defense": choice["defense"], "worst_attack": choice["attack"],
            "error": choice["error"], "mistakes": _count(choice["error"], n),
            "clean_error": choice["baseline"], "clean_mistakes": _count(choice["baseline"], n),
            "best_clean_defense": best_clean, "best_clean_error": baseline[best_clean],
            "best_clean_mistakes": _count(baseline[best_clean], n)}
    out["certified"] = _certified_in_errors(results)
    return out


def _certified_in_errors(results) -> list:
    """The certificates as statements about errors, each ``proven`` or ``approximate``.

    Upper bound (Steinhardt et al. 2017; docs/upper-bound.md): for every poison set of at
    most eps*N points inside F, the defender's exactly trained model theta satisfies
    (1/N) sum_{i in Dc} hinge(theta; x_i, y_i) <= U (the other terms of the bounded
    objective are >= 0).  Pointwise hinge >= 1{y f(x) <= 0} (a mistake, or a tie, has
    margin <= 0 and hence hinge >= 1), so the number of clean *training* points theta
    misclassifies is at most floor(U N): proven.  The same figure for the *test* error rests
    on the poisoned model's test error being close to its training error -- concentration
    that nothing here proves for a data-dependent model: approximate.

    Lower bound (Suya et al. Theorem 4.2; the minimum-poison program): no poison set of
    fewer than K points makes exact training return the target model -- a statement about
    that one model, not about reaching its test error some other way.
    """
    s, d = results["settings"], results["dataset"]
    n_train = int(d["n_train"])
    eps = s["epsilon"]
    k = int(np.floor(eps * n_train + 1e-9))
    out = []
    ub = results.get("certificates", {}).get("upper_bound", {})
    if isinstance(ub.get("upper_bound"), (int, float)) and np.isfinite(ub["upper_bound"]):
        U = float(ub["upper_bound"])
        # floor(U N) with a slack that can only raise it (a larger ceiling stays sound)
        m = int(np.floor(U * n_train + 1e-9 * max(1.0, U * n_train)))
        where = ("F = domain, L2 and slab sets (thresholds from the clean data, "
                 f"quantile {1 - s['p']:g}), the defender keeping all {n_train} clean training points")
        if U >= 1:
            text = (f"The upper bound U = {U:.4f} on the training hinge loss is at least 1, so it "
                    f"bounds no error rate (vacuous in errors).")
            out.append({"status": "proven", "quantity": "clean training error", "value": None,
                        "mistakes": None, "of": n_train, "text": text})
        else:
            text = (f"For every poison set of at most {k} points (ε = {eps:g}) inside {where}, the "
                    f"exactly trained model misclassifies at most {m} of the {n_train} clean "
                    f"training points ({100 * m / n_train:.1f}%): their average training hinge loss is "
                    f"at most U = {U:.4f} (Steinhardt et al. 2017) and the hinge loss is at least "
                    f"the 0-1 loss at every point.")
            out.append({"status": "proven", "quantity": "clean training error", "value": U,
                        "mistakes": m, "of": n_train, "text": text})
            clean = results["clean"]
            n_test = int(d["n_test"])
            text = (f"Approximate, not proven: if the poisoned model's test error is close to its "
                    f"error on the clean training points, no such attack raises the test error "
                    f"above about {100 * U:.1f}% (about {int(np.floor(U * n_test))} of {n_test}); "
                    f"this rests on train/test concentration, which nothing here proves (the "
                    f"clean model: {100 * clean['train_error']:.1f}% training, "
                    f"{100 * clean['test_error']:.1f}% test error).")
            out.append({"status": "approximate", "quantity": "test error", "value": U,
                        "mistakes": int(np.floor(U * n_test)), "of": n_test, "text": text})
    lb = results.get("certificates", {}).get("lower_bound", {})
    K = _best_lower_bound(lb)
    t = results.get("target", {})
    if K is not None and "target_test_error" in t:
        method = max((m for m in lb if isinstance(lb[m].get("lower_bound"), (int, float))
                      and np.isfinite(lb[m]["lower_bound"])), key=lambda m: lb[m]["lower_bound"])
        n_test = int(d["n_test"])
        text = (f"No poison set of fewer than {K} points inside the domain makes exact training "
                f"return the target model (Koh label-flip heuristic; test error "
                f"{100 * t['target_test_error']:.1f}%, {_count(t['target_test_error'], n_test)} of "
                f"{n_test}) -- {lb[method].get('method', method)}.  This covers that one model "
                f"only: another model with the same test error may need fewer points.")
        out.append({"status": "proven", "quantity": "poison points to induce the target model",
                    "value": K, "method": method, "mistakes": None, "of": None, "text": text})
    return out


def _pp(v):
    return f"{100 * v:.1f}%"


def verdict(results) -> str:
    """The headline (:func:`headline`) in a few sentences a security engineer can act on."""
    h = results.get("headline") or headline(results)
    s = results["settings"]
    n = h["n_test"]
    text = (f"{results['dataset']['name']}: {n} test points, so one test point is "
            f"{100 * h['resolution']:.2f}% of test error.")
    if "worst" not in h:
        return text + " No attack completed; see the attack table for the reasons."
    w, c = h["worst"], h["defender_choice"]
    under = "without a defense" if w["defense"] == NO_DEFENSE else f"under the {w['defense']} defense"
    text += (f" Worst case measured: an attacker adding {100 * s['epsilon']:g}% poison points "
             f"({w['attack']}) raises the test error {under} from its clean "
             f"{_pp(w['baseline'])} ({w['baseline_mistakes']} of {n}) to {_pp(w['error'])} "
             f"({w['mistakes']} of {n}): +{100 * w['rise']:.1f} percentage points.")
    r = h["largest_rise"]
    if (r["attack"], r["defense"]) != (w["attack"], w["defense"]):
        text += (f" The largest rise is {r['attack']} under {r['defense']}: "
                 f"{r['baseline_mistakes']} -> {r['mistakes']} of {n} mistakes.")
    text += (f" The defender's best choice against the attacks run is {c['defense']}: at worst "
             f"{_pp(c['error'])} ({c['mistakes']} of {n}, {c['worst_attack']}), against "
             f"{_pp(c['clean_error'])} clean; the lowest clean error is {_pp(c['best_clean_error'])} "
             f"({c['best_clean_defense']}).")
    certs = results.get("certificates", {})
    statuses = [certs.get("upper_bound", {}).get("status", "")] + [
        v.get("status", "") for v in certs.get("lower_bound", {}).values()]
    if statuses and all(st.startswith(NOT_APPLICABLE) for st in statuses):
        text += (f" Nothing is proven for this defender ({results.get('defender', {}).get('spec', '?')}): the "
                 "certificates cover the hinge-loss SVM only; the figures above are the "
                 "attacks that ran, not bounds.")
    for cert in h["certified"]:
        if cert["quantity"] == "clean training error" and cert["value"] is not None:
            text += (f" Proven: against a defender that keeps every clean point and drops "
                     f"poisons outside the L2+slab feasible set, no {100 * s['epsilon']:g}%-attacker "
                     f"makes the model misclassify more than {cert['mistakes']} of the "
                     f"{cert['of']} clean training points ({_pp(cert['mistakes'] / cert['of'])}).")
        elif cert["status"] == "approximate":
            text += f" Approximate, not proven: test error at most about {_pp(cert['value'])}."
        elif cert["quantity"].startswith("poison points"):
            text += (f" Proven for one target model only: training returns the "
                     f"{_pp(results['target']['target_test_error'])}-error target only with at "
                     f"least {cert['value']} poison points.")
    return text


def _best_lower_bound(lb):
    """The largest finite certified bound among the methods that produced one."""
    vals = [v["lower_bound"] for v in lb.values()
            if isinstance(v.get("lower_bound"), (int, float)) and np.isfinite(v["lower_bound"])]
    return int(max(vals)) if vals else None


def environment() -> dict:
    import cvxpy
    import numpy
    import scipy

    from . import __version__

    return {"convexpoison": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__, "cvxpy": cvxpy.__version__,
            "platform": platform.platform()}


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)
