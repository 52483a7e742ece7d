"""convexpoison target: build the target model an attacker wants (docs/mtp.md).

``--method koh`` (Koh et al. Algorithm 3 with Suya et al.'s lowest-clean-loss selection),
``improved`` (Suya et al. Appendix C.1) or ``subpop`` (ClusterMatch subpopulation, Suya et
al. section 5).  The target is written with ``--out`` as one ``.npz`` that holds the model
file format (``w``, ``b``) plus the settings and the subpopulation's indices, so that
``convexpoison attack mtp --target FILE`` and ``certify lower-bound --target FILE`` read it.
"""
import time

from ._common import add_dataset, add_model, add_out, add_reg, check_model_for, load, progress
from ._common import defender_for, defender_kw, source_fields

HELP = "build a target model: label-flip heuristic (koh, improved) or a subpopulation target"


def add_arguments(p):
    add_dataset(p)
    add_model(p)
    add_reg(p)
    p.add_argument("--method", default="koh",
                   help="koh (Koh et al. Alg. 3), improved (Suya et al. App. C.1) or subpop "
                        "(ClusterMatch subpopulation)")
    p.add_argument("--error", type=float, default=0.10,
                   help="koh/improved: the target's test error must be at least this (0 < E < 1)")
    p.add_argument("--use", default=None,
                   help="points to flip: test (default for koh/improved, as in Suya's code) or "
                        "train (default for subpop: the subpopulation's training points)")
    p.add_argument("--quantiles", default=None,
                   help="comma-separated fractions q of points flipped (default: the paper's grid)")
    p.add_argument("--repeats", default=None,
                   help="comma-separated copy counts r (default: the paper's grid)")
    p.add_argument("--clusters", type=int, default=20, help="subpop: k of k-means (default 20)")
    p.add_argument("--cluster", type=int, default=None,
                   help="subpop: target this cluster id (default: the best-ranked subpopulation)")
    p.add_argument("--subpop-label", type=int, default=-1,
                   help="subpop: true label of the subpopulation (default -1; 0 = cluster majority)")
    p.add_argument("--max-accuracy", type=float, default=0.0,
                   help="subpop: the target's accuracy on the subpopulation must be at most this")
    p.add_argument("--min-test", type=int, default=10,
                   help="subpop: least number of test points in a subpopulation (default 10)")
    p.add_argument("--random-state", type=int, default=0, help="subpop: k-means seed")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    add_out(p, "target (.npz with w, b, settings and subpopulation indices)")


def _floats(value, name):
    from ..errors import InputError

    try:
        return [float(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated numbers, got {value!r}") from None


def run(args):
    from .. import targets as T
    from ..errors import InputError

    if args.method not in T.METHODS:
        raise InputError(f"--method: unknown method {args.method!r}; choose one of "
                         f"{', '.join(T.METHODS)}")
    if args.method != "subpop" and not 0 < args.error < 1:
        raise InputError(f"--error: the error goal must lie in (0, 1), got {args.error:g}")
    if args.use is not None and args.use not in T.USES:
        raise InputError(f"--use: expected test or train, got {args.use!r}")
    if args.model not in T.BINARY_MODELS:
        raise InputError(f"--model: targets are built for svm or logreg, got {args.model!r}")
    data, reg = load(args)
    check_model_for(data, args.model)
    D = defender_for(args, data, reg, args.model)
    if D.model not in T.BINARY_MODELS:
        raise InputError(f"--defender: targets are built for svm or logreg, got {D.spec()}")
    kw = defender_kw(args, D, reg)
    R = kw.pop("reg")            # None with --defender: the defender brings its own
    subpop = args.method == "subpop"
    grid = {}
    if args.quantiles is not None:
        grid["quantiles"] = _floats(args.quantiles, "--quantiles")
    if args.repeats is not None:
        reps = _floats(args.repeats, "--repeats")
        if any(r != int(r) for r in reps):
            raise InputError(f"--repeats: expected integers, got {args.repeats!r}")
        grid["repeats"] = [int(r) for r in reps]

    def report(c):
        if not args.no_progress:
            what = "subpop accuracy" if subpop else "test error"
            progress(f"  q={c.quantile:.2f} r={c.repeats:3d}  {what} {c.goal_value:.4f}  "
                     f"clean loss {c.clean_loss:.5f}{'  (meets goal)' if c.meets else ''}")

    t0 = time.perf_counter()
    clean = D.train(data.X_train, data.y_train)
    try:
        if subpop:
            label = None if args.subpop_label == 0 else args.subpop_label
            target = T.subpopulation_targets(
                data, R, **kw, k=args.clusters, n_targets=1, random_state=args.random_state,
                label=label, use=args.use or "train", model=D.model,
                max_accuracy=args.max_accuracy, min_test=args.min_test, cluster=args.cluster,
                clean_model=clean, progress=report, **grid)[0]
        else:
            fn = T.koh_target if args.method == "koh" else T.improved_target
            target = fn(data, R, **kw, error=args.error, use=args.use or "test", model=D.model,
                        clean_model=clean, progress=report, **grid)
    except InputError as exc:
        # name the command-line flag rather than the Python argument
        msg = str(exc)
        for py, flag in (("error:", "--error:"), ("k:", "--clusters:"), ("cluster:", "--cluster:"),
                         ("max_accuracy:", "--max-accuracy:"), ("quantiles:", "--quantiles:"),
                         ("repeats:", "--repeats:"), ("label:", "--subpop-label:")):
            if msg.startswith(py):
                msg = flag + msg[len(py):]
                break
        raise InputError(msg) from None
    seconds = time.perf_counter() - t0
    if args.out:
        target.save(args.out)
    s = target.settings
    res = {"dataset": data.name, "method": args.method, "model": D.model, "reg": reg,
           **source_fields(data, D),
           "clean_test_error": target.clean_test_error, "target_test_error": target.test_error,
           "clean_loss": target.clean_loss, "clean_total_loss": s["n_train"] * target.clean_loss,
           "clean_loss_theta_c": s["clean_loss_theta_c"], "quantile": s["quantile"],
           "repeats": s["repeats_chosen"], "n_flipped": s["n_flipped"],
           "n_poison": s["n_poison"], "n_candidates": s["n_candidates"],
           "n_failed": len(s["failed_candidates"]), "use": s["use"],
           "seconds": seconds, "out": args.out}
    if subpop:
        res.update({"subpop_accuracy": target.subpop_accuracy, "goal_met": s["goal_met"],
                    "max_accuracy": s["max_accuracy"], "subpop": target.subpop.to_dict(),
                    "k": s["k"]})
    else:
        res["error_goal"] = s["error_goal"]
    return res
