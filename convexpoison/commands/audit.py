"""convexpoison audit: every attack against every defense, certificates, and a report."""
import sys

from ._common import (add_dataset, add_defense, add_no_progress, add_reg, add_scheduler,
                      defender_for, load, user_defender)

HELP = "audit a model's defensibility: attacks x defenses, certificates, report"
OUTPUTS = {"out": "dir"}          # a folder (results.json, report.md/.html, figures)


def add_arguments(p):
    from ..audit import ATTACKS, DEFAULT_ATTACKS, DEFAULT_DATASET

    add_dataset(p, required=False, default=DEFAULT_DATASET,
                help=f"bundled dataset (default {DEFAULT_DATASET}: a few minutes on 2 cores)")
    p.add_argument("--model", default="svm", help="the defender's model (svm)")
    p.add_argument("--epsilon", type=float, default=0.03, help="poison budget as a fraction of n")
    add_reg(p)
    add_defense(p)
    p.add_argument("--attacks", default=None,
                   help=f"comma-separated subset of {','.join(ATTACKS)} (default: {','.join(DEFAULT_ATTACKS)})")
    p.add_argument("--target-error", type=float, default=None,
                   help="test error of the target model MTP and the lower bound aim at "
                        "(default: 0.10, or the clean error + 0.05 if that is higher)")
    p.add_argument("--full", action="store_true", help="the papers' full grids (slower)")
    p.add_argument("--out", default="out/audit", help="output directory (default out/audit)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes for the KKT sweep; the reachable-target attack runs its "
                        "KKT attacks in a second process with 2 or more")
    add_scheduler(p)
    add_no_progress(p)


def run(args):
    from ..attacks.base import check_epsilon
    from ..audit import ATTACKS, AuditSettings, run_audit
    from ..defenses import DEFENSES
    from ..errors import InputError
    from ..validation import check_fraction
    from ._common import parse_list

    eps = check_epsilon(args.epsilon, "--epsilon")
    # the data and the defender first: a bad --data/--domain/--defender leaves no folder
    data, reg = load(args)
    if args.model != "svm":
        raise InputError("--model: the audit's attacks and certificates are for the hinge-loss SVM")
    D = defender_for(args, data, reg)
    settings = AuditSettings(
        dataset=data, model=args.model, epsilon=eps,
        defender=D if user_defender(args) is not None else None,
        defenses=tuple(parse_list(args.defense, DEFENSES, "--defense")),
        reg=None if user_defender(args) is not None else reg,
        target_error=(None if args.target_error is None
                      else check_fraction(args.target_error, "--target-error")),
        attacks=None if args.attacks is None else tuple(parse_list(args.attacks, list(ATTACKS), "--attacks")),
        quick=not args.full, command="convexpoison " + " ".join(sys.argv[1:]),
        workers=args.workers, scheduler=args.scheduler)
    res = run_audit(settings, args.out, progress=not args.no_progress)
    worst = [a for a in res["attacks"].values() if a.get("status") == "ok"]
    return {"dataset": res["dataset"]["name"],
            "data": {k: res["dataset"][k] for k in ("description", "n_train", "n_test", "d",
                                                    "reg", "reg_source")},
            "defender": res["defender"]["spec"], "defender_source": res["defender"]["source"],
            "verdict": res["verdict"],
            "headline": res["headline"],
            "clean_test_error": res["clean"]["test_error"],
            "poisoned_test_error": max((a["min_over_defenses"] for a in worst), default=None),
            "per_attack": {k: {"status": v["status"], "per_defense": v.get("per_defense"),
                               "min_over_defenses": v.get("min_over_defenses")}
                           for k, v in res["attacks"].items()},
            "upper_bound": res["certificates"].get("upper_bound", {}).get("upper_bound"),
            "lower_bound": res["certificates"].get("lower_bound"),
            "seconds": res["seconds"], "out": args.out, "status": "optimal"}


def show(res):
    d = res["data"]
    print(f"data: {d['description']} ({d['n_train']} training, {d['n_test']} test points; C_R "
          f"{d['reg']:.4g}: {d['reg_source']}); defender: {res['defender']} "
          f"({res['defender_source']})")
    print(res["verdict"])
    print(f"report: {res['out']}/report.md and report.html ({res['seconds']:.0f} s)")
