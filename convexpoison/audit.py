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
The KKT sweep runs on ``workers`` local processes or on a Dask cluster (``scheduler``).
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .defenses import DEFENSES
from .errors import ConvexPoisonError, InputError

DEFAULT_DATASET = "mnist17"


@dataclass
class AuditSettings:
    """What the audit runs; the defaults finish in a few minutes on 2 cores (mnist17)."""

    dataset: str = DEFAULT_DATASET
    model: str = "svm"
    epsilon: float = 0.03
    defenses: tuple = DEFENSES
    p: float = 0.05
    reg: float | None = None
    target_error: float = 0.10
    attacks: tuple | None = None          # None: every available attack
    quick: bool = True                    # smaller grids so the audit takes minutes
    random_state: int = 0
    command: str = ""
    workers: int = 1                      # processes for the KKT sweep
    scheduler: str | None = None          # or a Dask scheduler address for it


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


def common_settings(ctx, name) -> dict:
    """What the audit gives every attack that has a parameter of that name."""
    s = ctx["settings"]
    target = ctx.get("target")
    return {"epsilon": s.epsilon, "reg": ctx["reg"], "random_state": s.random_state,
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
    from .datasets import load_dataset
    from .defenses import evaluate, parse_defenses
    from .parallel import check_scheduler, check_workers
    from .progress import bar, write
    from .training import train

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: write(f"[audit] {msg}")) if progress else (lambda m: None)
    data = load_dataset(settings.dataset)
    if not data.is_binary:
        raise InputError(f"--dataset: the audit covers binary datasets; {data.name} has "
                         f"{data.n_classes} classes (use the attack commands directly)")
    if settings.model != "svm":
        raise InputError("--model: the audit's attacks and certificates are for the hinge-loss SVM")
    defenses = parse_defenses(settings.defenses)
    reg = data.reg if settings.reg is None else settings.reg
    names = list(ATTACKS) if settings.attacks is None else list(settings.attacks)
    for n in names:
        if n not in ATTACKS:
            raise InputError(f"--attacks: unknown attack {n!r}; choose from {', '.join(ATTACKS)}")
    check_workers(settings.workers)
    check_scheduler(settings.scheduler)
    bars = None if progress else False
    # steps: clean model, target, each attack, certificates, figures and report
    steps = bar(len(names) + 4, "audit", bars, unit="step")

    results = {"settings": {**settings.__dict__, "defenses": defenses, "reg": reg},
               "dataset": data.summary(), "environment": environment(), "attacks": {},
               "certificates": {}, "figures": {}}

    def save():
        results["seconds"] = time.perf_counter() - t_start
        (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default))

    with steps:
        return _run_steps(settings, data, defenses, reg, names, results, save, say, bars, steps,
                          out, evaluate, train)


def _run_steps(settings, data, defenses, reg, names, results, save, say, bars, steps, out,
               evaluate, train):
    """The audit's steps, each advancing the ``steps`` bar; results saved after each."""
    def step_done(name):
        steps.set_postfix_str(name, refresh=False)
        steps.update(1)

    say(f"training the clean model on {data.name} (n={data.n_train}, d={data.d}, C_R={reg:g})")
    clean = train(data.X_train, data.y_train, "svm", reg)
    results["clean"] = {"test_error": clean.error(data.X_test, data.y_test),
                        "train_error": clean.error(data.X_train, data.y_train),
                        "objective": clean.objective_, "duality_gap": clean.gap_}
    say("clean model under each defense (the defenses' own cost on clean data)")
    results["clean"]["per_defense"] = evaluate(data, None, defenses, p=settings.p, reg=reg,
                                               clean_model=clean).to_dict()["per_defense"]
    save()
    step_done("clean model")
    ctx = {"data": data, "settings": settings, "reg": reg, "clean": clean, "out": out,
           "say": say, "bars": bars}

    say(f"target model: Koh label-flip heuristic, test error >= {settings.target_error:g}")
    try:
        from .targets import koh_target

        kw = dict(quantiles=(0.1, 0.2, 0.3, 0.5), repeats=(1, 2, 3, 5, 8)) if settings.quick else {}
        target = koh_target(data, reg, error=settings.target_error, clean_model=clean, **kw)
        ctx["target"] = target
        results["target"] = target.summary()
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
            outcome.evaluation = evaluate(data, poisons, defenses, p=settings.p, reg=reg,
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
            outcome.status = f"failed: {type(exc).__name__}: {exc}"
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
    results["figures"] = _figures(ctx, results)
    results["verdict"] = verdict(results)
    save()
    from .report import write_reports

    write_reports(results, out)
    save()
    step_done("report")
    say(f"report written to {out / 'report.md'} and {out / 'report.html'}")
    return results


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

    data, s, reg = ctx["data"], ctx["settings"], ctx["reg"]
    X, y = data.X_train, data.y_train
    certs = {}

    def attempt(key, fn):
        try:
            return fn()
        except ModuleNotFoundError as exc:
            return {"status": f"unavailable ({exc.name})"}
        except Exception as exc:                 # recorded, never a number
            return {"status": f"failed: {type(exc).__name__}: {exc}"}

    def upper():
        from .certificates.upper_bound import certified_upper_bound

        feasible = make_feasible_set(["domain", "l2", "slab"], data.domain, X, y,
                                     quantile=1 - s.p)
        ub = certified_upper_bound(feasible, X, y, reg, s.epsilon)
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

            r = lp_lower_bound(target.model, data.domain, X, y, reg)
            return {"lower_bound": r.certified, "value": r.value, "status": r.status,
                    "method": "minimum-poison KKT linear program (docs/minpoison.md)"}

        def optimal():
            from .certificates.optimal import optimal_lower_bound

            seeds = [ctx["clean"]]
            r = optimal_lower_bound(target.model, data.domain, X, y, reg, init_models=seeds)
            return {"lower_bound": r.lower_bound, "value": r.value, "status": r.status,
                    "method": "optimal Theorem 4.2 bound (Dinkelbach, docs/lower-bound.md)"}

        lb["lp"] = attempt("lp", lp)
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
        figs["lower_bound"] = Path(plots.lower_bound_curve(hist, out / "lower-bound.png")).name
        figs["error_vs_epsilon"] = Path(plots.error_vs_epsilon(
            [r.n_poisons / data.n_train for r in hist], [1 - r.test_accuracy for r in hist],
            out / "error-vs-epsilon.png", epsilon=ctx["settings"].epsilon)).name
    if data.image_shape is not None:
        for name, o in ctx.get("outcomes", {}).items():
            if o.poisons is not None and len(o.poisons):
                figs[f"poisons_{name}"] = Path(plots.poison_images(
                    o.poisons, data.image_shape, out / f"poisons-{name}.png",
                    title=f"{name}: poison points")).name
    return figs


def verdict(results) -> str:
    """One sentence a security engineer can act on."""
    s = results["settings"]
    clean = results["clean"]["test_error"]
    ok = {k: v for k, v in results["attacks"].items() if v.get("status") == "ok"}
    if not ok:
        return "No attack completed; see the attack table for the reasons."
    worst_name = max(ok, key=lambda k: ok[k]["min_over_defenses"])
    worst = ok[worst_name]
    best_def = worst.get("best_defense")
    text = (f"An attacker who adds {100 * s['epsilon']:.1f}% poison points to "
            f"{results['dataset']['name']} can raise the test error from {100 * clean:.1f}% to "
            f"{100 * worst['min_over_defenses']:.1f}% even against the best of the defenses "
            f"({best_def} holds best against the strongest attack, {worst_name}); "
            f"undefended it reaches {100 * max(v['no_defense_test_error'] for v in ok.values()):.1f}%.")
    ub = results["certificates"].get("upper_bound", {})
    if "upper_bound" in ub:
        text += (f" Certified ceiling: no {100 * s['epsilon']:.1f}%-attacker inside the L2+slab "
                 f"feasible set can push the defender's training loss above {ub['upper_bound']:.4f}.")
    lb = results["certificates"].get("lower_bound", {})
    best_lb = _best_lower_bound(lb)
    if best_lb is not None and "target" in results and "target_test_error" in results["target"]:
        text += (f" Inducing the {100 * results['target']['target_test_error']:.1f}%-error target "
                 f"model provably needs at least {best_lb} poison points.")
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
