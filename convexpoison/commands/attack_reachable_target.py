"""convexpoison attack reachable-target: the highest-error target whose certified minimum
poison fits the budget, realised by the minimum-poison attack (docs/reachable.md)."""
from __future__ import annotations

from ..errors import InputError
from ..validation import check_positive
from ._common import (add_dataset, add_defense, add_epsilon, add_no_progress, add_out, add_p,
                      add_quantile, add_reg, add_use, check_at_least, check_binary,
                      check_budget, fit_attack, load, numbers, parse_feasible, parse_list,
                      progress, show_errors, show_out)
from ._common import defender_for, defender_kw, source_fields

HELP = ("reachable-target attack: search targets priced by the minimum-poison program inside "
        "the defenses' feasible set, realise the most damaging one within the budget")


#: (flag, default, lowest value, help) of the search's widths, Python's parameters of the
#: same names
SEARCH_WIDTHS = (
    ("--n-search", 4, 0, "seeds whose segments from the clean model are searched"),
    ("--n-mix", 3, 0, "seed families whose best targets within the budget are averaged pairwise"),
    ("--n-climb", 4, 0, "priced models of higher error the climb steps toward"),
    ("--climb-rounds", 2, 0, "rounds of the climb"),
    ("--n-toward", 4, 1, "decoys of each toward round's KKT attack: the priced models of "
                         "highest error beyond the budget"),
    ("--n-screen", 8, 0, "candidates judged under the defenses with their fractional poison "
                         "before the realisation"),
)

#: the same for the sparse-text realisation's rounding (docs/reachable.md, step 5)
TEXT_ROUNDING = (
    ("--min-run", 1, 1, "sparse text: the fewest copies of a relaxed point that round a word up "
                        "together (2: no copy has a word of its own, which the SVD defense sees)"),
    ("--n-roundings", 1, 1, "sparse text: random roundings of the relaxed points per count "
                            "vector; above 1 each is judged under the defenses and the "
                            "highest-scoring kept (1: the one nearest the target)"),
)

#: the same for step 5e, the relocation (docs/reachable.md)
RELOCATION = (
    ("--relocate-trials", 0, 0, "relocation after the polish: the most poisons judged in a hill "
                                "climb from the chosen poison, each label's copies gathered on "
                                "its heaviest points, which move to neighbouring locations of the "
                                "domain (another category of a one-hot group, a continuous "
                                "coordinate to a quarter of its box) or trade copies, each move "
                                "kept when the minimum over the defenses rises (0: off; for "
                                "one-hot domains such as adult; docs/reachable.md)"),
    ("--relocate-points", 1, 1, "relocation: the heaviest points of each label it gathers "
                                "the copies on and moves"),
    ("--relocate-sweeps", 3, 1, "relocation: passes over the moves per climb"),
    ("--relocate-kicks", 0, 0, "relocation: restarts of an iterated local search, each a few "
                               "random point moves from the best poison so far and another "
                               "climb, while trials remain (0: one climb)"),
    ("--relocate-kick-moves", 3, 1, "relocation: the random point moves of each kick"),
    ("--relocate-wide-kicks", 0, 0, "relocation: after the kicks, this many more wide kicks "
                                    "from the best poison so far, each of "
                                    "--relocate-wide-moves random point moves (0: none)"),
    ("--relocate-wide-moves", 6, 1, "relocation: the random point moves of each wide kick"),
    ("--relocate-anneal", 0, 0, "relocation: trials of each simulated-annealing chain after the "
                                "climbs, random point, copy and split moves, a worse poison "
                                "kept with probability exp(delta/T) (0: off)"),
    ("--relocate-chains", 1, 1, "relocation: annealing chains, each from the best poison so far"),
    ("--relocate-locations", 1, 1, "relocation: the most points per label the annealing's split "
                                   "moves make (1: none)"),
    ("--relocate-trim", 4, 0, "relocation: when a chain's poison above the best has more points "
                              "than its model needs, the highest-scoring trimmed poisons (copies "
                              "off one point) certified until one is acceptable (0: off)"),
    ("--relocate-realise", 1, 0, "relocation: when a chain's poison above the best cannot be "
                                 "accepted or trimmed, its model realised with the fewest points "
                                 "(the integer minimum-poison attack) and the realisation kept "
                                 "when it scores above the best (0: off)"),
)


def _dest(flag):
    return flag[2:].replace("-", "_")


def add_arguments(p):
    add_dataset(p)
    add_epsilon(p)
    add_defense(p)
    p.add_argument("--feasible", default=None,
                   help="feasible-set components for the poison points among domain,l2,slab,loss,svd "
                        "(default: domain plus the --defense ones among l2,slab,loss)")
    add_use(p, "the attacker knows the test set (default): candidates are ranked by test error",
            "the attacker only knows the training set: candidates are ranked by training error")
    add_reg(p)
    add_p(p)
    add_quantile(p, None, "feasible-set thresholds: this quantile of the clean scores "
                          "(default 1 - p)")
    p.add_argument("--seeds", default=None,
                   help="candidate sources, comma-separated among decoys,improved,kkt,minmax,"
                        "influence (default: all but minmax)")
    p.add_argument("--kkt-seed", choices=("small", "full"), default="small",
                   help="the KKT seed attack's settings: small (2 eps+ splits over 4 decoys, a few "
                        "seconds; default) or full (the KKT attack's whole grid: on adult 120 s "
                        "more, 19.49%% instead of 19.07%%)")
    p.add_argument("--given-poisons", default=None, metavar="[NAME=]FILE,...",
                   help="poison-set files found elsewhere (e.g. an audit's poisons-kkt.npz, or "
                        "'attack kkt --out'): the models they induce are seeds and the poisons "
                        "candidate realisations.  NAME defaults to the file's stem without "
                        "'poisons-'; a NAME among kkt,minmax,influence replaces that seed attack")
    p.add_argument("--decoy-quantiles", default=None,
                   help="label-flip fractions q of the decoys and improved targets "
                        "(default 0.05,0.1,0.2,0.3)")
    p.add_argument("--decoy-repeats", default=None,
                   help="label-flip repeat counts r (default 2,5,8)")
    p.add_argument("--n-realise", type=int, default=2,
                   help="candidate targets realised and judged under the defenses (default 2)")
    p.add_argument("--max-priced", type=int, default=200,
                   help="cap on the search's screening solves (default 200)")
    p.add_argument("--search-seconds", default=120.0,
                   help="the search's deadline in seconds (default 120; 'none': no deadline, "
                        "a search that does not depend on the machine's speed)")
    p.add_argument("--toward-rounds", type=int, default=3,
                   help="rounds of a KKT attack and MTP runs toward the priced models of highest "
                        "error beyond the budget, whose induced models are new seeds searched in "
                        "turn (default 3; 0: off; docs/reachable.md)")
    p.add_argument("--n-mtp", type=int, default=4,
                   help="MTP runs per toward round, each toward one of the priced models of "
                        "highest error beyond the budget within twice it (default 4; 0: only the "
                        "KKT attack)")
    # the search's widths (docs/reachable.md, steps 3, 3b and 4); adult's problem file
    # widens them (20.11% instead of 19.69%)
    for flag, default, _, what in SEARCH_WIDTHS:
        p.add_argument(flag, type=int, default=default, help=f"{what} (default {default})")
    p.add_argument("--no-seed-poisons", action="store_true",
                   help="do not judge the seed attacks' own poisons as realisations of the "
                        "models they induce (by default one that lies inside the feasible set "
                        "with at most its model's certified minimum + 2 points competes with the "
                        "minimum-poison realisations)")
    p.add_argument("--clean-kept-by", default=None, metavar="DEFENSES",
                   help="price the targets against the clean points these defenses (comma-"
                        "separated among l2,slab,loss,svd,knn), fitted on the clean training "
                        "set alone, keep: the model each of them trains (default: all the clean "
                        "points; fine-foods' problem file: knn,l2)")
    for flag, default, _, what in TEXT_ROUNDING + RELOCATION:
        p.add_argument(flag, type=int, default=default, help=f"{what} (default {default})")
    p.add_argument("--recycle-rounds", type=int, default=0,
                   help="compress-and-extend rounds from the KKT seed's poison: each round realises "
                        "the induced model with the fewest points and spends the points freed on a "
                        "KKT attack on top (default 0: off; docs/reachable.md)")
    p.add_argument("--polish-rounds", type=int, default=2,
                   help="rounds of the polish: the influence attack's ascent on the smoothed test "
                        "error under every defense, from the chosen poison; the model the "
                        "polished poison induces is a new seed, searched and realised (default 2; "
                        "0: off; docs/reachable.md)")
    p.add_argument("--keep-polished", action="store_true",
                   help="return the polished poison itself when it scores higher under the "
                        "defenses than every accepted realisation (status 'polished': it "
                        "induces its model, but is not an accepted target)")
    p.add_argument("--no-anchored", action="store_true",
                   help="skip step 5d: a polished poison that scores above every accepted "
                        "realisation without being one is not realised once more with its "
                        "points nearest the polished poison's (faster; docs/reachable.md)")
    p.add_argument("--topup", action="store_true",
                   help="spend the leftover budget on more copies of the realised points, each "
                        "kept only when it raises the minimum over the defenses (the poison then "
                        "no longer induces the target exactly)")
    p.add_argument("--solver", default=None, help="conic solver of the programs")
    p.add_argument("--seed", type=int, default=0, help="seed of the seed attacks")
    p.add_argument("--workers", type=int, default=1,
                   help="2 or more: the KKT attacks (the seed's and each toward round's, whose "
                        "sweep this process shares) run in a second process beside the other "
                        "work, which also makes the searches' and realisations' solves and "
                        "judges poisons under the defenses ahead, with the same result "
                        "(default 1; docs/reachable.md, Two cores)")
    add_out(p, "poison set (.npz with X, y, weight)")
    add_no_progress(p)


def run(args):
    from ..attacks.reachable import SEEDS, ReachableTargetAttack
    from ..defenses import DEFENSES
    from ._common import check_attack_flags

    data, reg = load(args)
    D = defender_for(args, data, reg)
    check_binary(data, "reachable-target")
    defenses = check_attack_flags(args)
    check_at_least(args, "n_realise")
    check_at_least(args, "max_priced")
    check_at_least(args, "recycle_rounds", low=0)
    check_at_least(args, "polish_rounds", low=0)
    check_at_least(args, "toward_rounds", low=0)
    check_at_least(args, "n_mtp", low=0)
    for flag, _, low, _ in SEARCH_WIDTHS + TEXT_ROUNDING + RELOCATION:
        check_at_least(args, _dest(flag), low=low)
    search_seconds = _seconds(args.search_seconds, "--search-seconds")
    from ..feasible import COMPONENTS

    feasible = parse_feasible(args, COMPONENTS)
    kw = {}
    if args.seeds is not None:
        kw["seeds"] = parse_list(args.seeds, SEEDS, "--seeds")
    if args.clean_kept_by is not None:
        kw["clean_kept_by"] = parse_list(args.clean_kept_by, DEFENSES, "--clean-kept-by")
    if args.given_poisons is not None:
        kw["given_poisons"] = given_poisons(args.given_poisons, data)
    if args.decoy_quantiles is not None:
        kw["decoy_quantiles"] = numbers(args.decoy_quantiles, "--decoy-quantiles")
    if args.decoy_repeats is not None:
        kw["decoy_repeats"] = numbers(args.decoy_repeats, "--decoy-repeats", int)
    check_budget(args.epsilon, data)
    attack = ReachableTargetAttack(args.epsilon, defenses=defenses, **defender_kw(args, D, reg),
                                   feasible=feasible,
                                   p=args.p, quantile=args.quantile, use=args.use,
                                   n_realise=args.n_realise, max_priced=args.max_priced,
                                   search_seconds=search_seconds,
                                   solver=args.solver, topup=args.topup,
                                   seed_poisons=not args.no_seed_poisons,
                                   recycle_rounds=args.recycle_rounds,
                                   polish_rounds=args.polish_rounds,
                                   keep_polished=args.keep_polished,
                                   anchored=not args.no_anchored,
                                   toward_rounds=args.toward_rounds, n_mtp=args.n_mtp,
                                   kkt_seed=args.kkt_seed,
                                   **{_dest(f): getattr(args, _dest(f))
                                      for f, *_ in SEARCH_WIDTHS + TEXT_ROUNDING + RELOCATION},
                                   random_state=args.seed, workers=args.workers,
                                   progress=None if args.no_progress else progress, **kw)
    res = fit_attack(attack, data, args)
    return {"dataset": data.name, "attack": "reachable-target", "epsilon": args.epsilon,
            "reg": reg, **source_fields(data, D), "use": args.use, "defenses": defenses,
            **res.to_dict(),
            "out": args.out}


def _seconds(value, flag):
    """A positive number of seconds, or None for ``none``."""
    if str(value).strip().lower() == "none":
        return None
    return check_positive(value, flag)


def given_poisons(spec, data, flag="--given-poisons"):
    """``{name: PoisonSet}`` of ``[NAME=]FILE,...`` (each file checked against ``data``)."""
    from pathlib import Path

    from ._common import read_poisons

    out = {}
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            raise InputError(f"{flag}: an empty file name in {spec!r}")
        name, _, path = item.rpartition("=")
        name = name or Path(path).stem.removeprefix("poisons-")
        if name in out:
            raise InputError(f"{flag}: two poison sets named {name!r}; name them NAME=FILE")
        out[name] = read_poisons(path, data, flag)
    return out


def show(res):
    print(f"reachable-target attack on {res['dataset']}: epsilon {res['epsilon']:g}, "
          f"{res['n_poisons']:g} of {res['budget']} poison points")
    print(f"target: {res['target_source']} (test error {res['target_test_error']:.4f}; "
          f"certified minimum {res['target_lower_bound']:g} points, program value "
          f"{res['target_lp_value']:.2f}); retrained model's max loss difference "
          f"{res['max_loss_difference']:.3g}")
    print(f"realised by: {res['realised_by']}")
    if res["status"] == "polished":
        print(f"kept polished: {res['n_poisons']:g} points for a model certified at "
              f"{res['target_lower_bound']:g} (not an accepted target)")
    for r in res["polish"] or []:
        print(f"polish round {r['round']}: {r['start']:.4f} -> polished poison "
              f"{r['polished']:.4f}, best realisation {r['score']:.4f}")
    r = res["relocation"]
    if r:
        print(f"relocation: {r['start']:.4f} -> {r['score']:.4f} under the defenses ({r['kept']} "
              f"of {r['trials']} moves kept), best realisation {r['best']:.4f}")
    rec = res["recycle"]
    if rec and rec["chosen"]:
        r = rec["rounds"][rec["best_round"]]
        print(f"recycle round {r['round']}: the target's {r['target_poisons']:g} realised points "
              f"plus {r['kkt_points']:g} KKT points")
    if res["topup_copies"]:
        print(f"top-up: {res['topup_copies']:g} copies beyond the target's "
              f"{res['target_poisons']:g} points (the poison no longer induces it exactly)")
    show_errors(res)
    print(f"{res['candidates_priced']} targets priced ({res['candidates_within_budget']} within "
          f"the budget), {res['candidates_realised']} realised, {res['seconds']:.1f} s")
    show_out(res)
