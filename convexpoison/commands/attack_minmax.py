"""convexpoison attack minmax: Koh et al.'s min-max attack (Algorithm 5, decoy constraint (22))."""
from __future__ import annotations

from ._common import (add_dataset, add_defense, add_epsilon, add_no_progress, add_out, add_p,
                      add_quantile, add_reg, add_use, check_at_least, check_budget, fit_attack,
                      load, numbers, parse_feasible, reporting, show_errors, show_out,
                      solver_fields)
from ._common import defender_for, defender_kw, source_fields

HELP = ("min-max attack (Koh et al. section 4.3): online highest-loss points, decoy constraint, "
        "integer rounding; binary or multi-class")


def add_arguments(p):
    add_dataset(p)
    add_epsilon(p)
    p.add_argument("--decoy", default="auto",
                   help="'auto' (generate decoy models; binary data -- multi-class data runs "
                        "min-max-basic), 'none' (min-max-basic), or a model file (.npz with w, b)")
    p.add_argument("--tau", type=float, default=0.25,
                   help="decoy-loss threshold of the constraint l(theta_decoy; x, y) <= tau "
                        "(default 0.25)")
    add_defense(p)
    p.add_argument("--feasible", default=None,
                   help="feasible-set components among domain,l2,slab,svd (default: domain plus "
                        "the --defense ones among l2,slab)")
    p.add_argument("--model", default=None,
                   help="svm, logreg or multisvm (default: svm for binary data, multisvm otherwise)")
    add_use(p, "the attacker knows the test set (default; decoys and their choice use it)",
            "the attacker only knows the training set (section 6.1)")
    add_reg(p)
    add_p(p)
    add_quantile(p)
    p.add_argument("--copies", type=int, default=None,
                   help="copies of every kept point (default 1; --repeat-points on integer data)")
    p.add_argument("--burn-in", type=int, default=None,
                   help="steps before points are kept (default max(1, 0.1/eps - 1) x kept steps)")
    p.add_argument("--eta", type=float, default=0.03, help="step size (default 0.03, AdaGrad)")
    p.add_argument("--step", choices=("adagrad", "subgradient"), default="adagrad",
                   help="outer update: AdaGrad (default) or subgradient steps eta/sqrt(t)")
    p.add_argument("--repeat-points", type=int, default=2,
                   help="integer data: copies of every randomly rounded point (default 2)")
    p.add_argument("--no-integer", action="store_true",
                   help="integer data: skip the LP relaxation and rounding (points stay fractional)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised rounding")
    p.add_argument("--max-decoys", type=int, default=3,
                   help="--decoy auto: run the attack for at most this many decoys (default 3)")
    p.add_argument("--decoy-repeats", default=None,
                   help="--decoy auto: repeat counts r, comma-separated (default 1,3,8,25)")
    p.add_argument("--decoy-quantiles", default=None,
                   help="--decoy auto: flip fractions q, comma-separated (default 0.05,...,0.25)")
    p.add_argument("--method", choices=("auto", "cvxpy"), default="auto",
                   help="inner maximiser: exact fast path where it applies (default) or always cvxpy")
    p.add_argument("--solver", default=None, help="conic solver for the inner programs")
    p.add_argument("--screen-tol", type=float, default=1e-6,
                   help="training tolerance while comparing decoys; the chosen poison set is "
                        "re-evaluated exactly (default 1e-6)")
    p.add_argument("--clean-batch", type=int, default=None,
                   help="multi-class: the learner's clean gradient over this many random clean "
                        "rows per step (default: all of them; docs/minmax-multiclass.md)")
    p.add_argument("--learner-loss-quantile", type=float, default=None,
                   help="multi-class: keep every poison's loss under the current iterate at most "
                        "this quantile of its class's clean losses (default: off)")
    p.add_argument("--learner-rank", choices=("value", "push"), default="value",
                   help="with --learner-loss-quantile: choose the point by its capped loss "
                        "(value, default) or by its loss without its own cap (push)")
    p.add_argument("--learner-radius", type=float, default=None,
                   help="project the learner's iterate onto the ball of this many times the "
                        "clean model's norm (default: off; for a defender without an explicit "
                        "regulariser, e.g. multisvm-adagrad; docs/minmax-multiclass.md)")
    add_out(p, "poison set (.npz with X, y, weight)")
    add_no_progress(p)


def _decoy(value, data):
    import os

    from ..errors import InputError

    if value.lower() in ("auto", "none"):
        return value.lower()
    if not os.path.exists(value):
        raise InputError(f"--decoy: no such file {value!r} (or give 'auto' / 'none')")
    from ._common import load_model

    return load_model(value, "--decoy", data)       # checked: a model file, finite, its shape


def run(args):
    from ..attacks.minmax import DECOY_QUANTILES, DECOY_REPEATS, MinMaxAttack
    from ..errors import InputError
    from ._common import check_attack_flags

    data, reg = load(args)
    D = defender_for(args, data, reg)
    defenses = check_attack_flags(args)
    if not args.tau >= 0:
        raise InputError(f"--tau: must be a non-negative number, got {args.tau}")
    check_at_least(args, "copies")
    if args.burn_in is not None and args.burn_in < 0:
        raise InputError(f"--burn-in: must be non-negative, got {args.burn_in}")
    if not args.eta > 0:
        raise InputError(f"--eta: must be positive, got {args.eta}")
    check_at_least(args, "repeat_points", "max_decoys")
    if not 0 < args.screen_tol < 1:
        raise InputError(f"--screen-tol: must be in (0, 1), got {args.screen_tol}")
    model = args.model
    if model is not None:
        from ._common import check_model_for

        check_model_for(data, model)
    feasible = parse_feasible(args)
    repeats = (DECOY_REPEATS if args.decoy_repeats is None
               else numbers(args.decoy_repeats, "--decoy-repeats", int))
    quantiles = (DECOY_QUANTILES if args.decoy_quantiles is None
                 else numbers(args.decoy_quantiles, "--decoy-quantiles"))
    if min(repeats) < 1:
        raise InputError("--decoy-repeats: give positive integers")
    if min(quantiles) <= 0 or max(quantiles) > 1:
        raise InputError("--decoy-quantiles: give fractions in (0, 1]")
    check_budget(args.epsilon, data)
    decoy = _decoy(args.decoy, data)
    attack = MinMaxAttack(args.epsilon, **defender_kw(args, D, reg), model=model, defenses=defenses,
                          feasible=feasible, decoy=decoy, tau=args.tau, p=args.p,
                          quantile=args.quantile, copies=args.copies, burn_in=args.burn_in,
                          eta=args.eta, step=args.step, integer=not args.no_integer,
                          repeat_points=args.repeat_points, random_state=args.seed,
                          use=args.use, decoy_repeats=repeats, decoy_quantiles=quantiles,
                          max_decoys=args.max_decoys, method=args.method, solver=args.solver,
                          screen_tol=args.screen_tol, clean_batch=args.clean_batch,
                          learner_loss_quantile=args.learner_loss_quantile,
                          learner_rank=args.learner_rank, learner_radius=args.learner_radius,
                          **reporting(args))
    res = fit_attack(attack, data, args)
    return {"dataset": data.name, "attack": "minmax", "epsilon": args.epsilon, "reg": reg,
            **source_fields(data, D),
            "defenses": defenses, **solver_fields(args), **res.to_dict(),
            "decoy_source": args.decoy if isinstance(decoy, str) else "file",
            "out": args.out}


def show(res):
    print(f"{res['variant']} attack on {res['dataset']} ({res['model']}): epsilon {res['epsilon']:g}, "
          f"{res['n_poisons']:g} poison points ({res['n_distinct']} distinct; per label "
          f"{', '.join(f'{k}: {v:g}' for k, v in res['poisons_per_label'].items())})")
    if res["variant"] == "minmax":
        print(f"decoy constraint: loss under the decoy <= {res['tau']:g} "
              f"({res['n_decoys']} decoys tried)")
    if res["integer_path"]:
        print(f"integer data: LP relaxation, randomised rounding, {res['repeat_points']} copies "
              "of every rounded point")
    show_errors(res)
    print(f"iterate values U_t      first {res['upper_bound_iterates'][0]:.4f}, "
          f"best {res['best_iterate_value']:.4f}, last {res['final_iterate_value']:.4f} "
          f"({res['n_iterations']} steps, {res['burn_in']} burn-in)")
    print(f"{res['seconds']:.1f} s")
    show_out(res)
