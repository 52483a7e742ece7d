"""convexpoison attack pgan: Muñoz-González et al.'s pGAN against the distance-based outlier detector."""
from __future__ import annotations

import time

from ._common import add_dataset, bars, hidden_widths, import_nn, load_data, progress

HELP = "pGAN poisoning (Muñoz-González et al. 2019) evaluated against an outlier detector (needs torch)"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--model", default="mlp", help="classifier C and the evaluated network: lr, mlp or cnn")
    p.add_argument("--epsilon", type=float, default=0.2,
                   help="poison fraction of the classifier's training set for the headline error (default 0.2)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    p.add_argument("--alpha", default="0.1",
                   help="α, detectability weight; a comma-separated list runs one pGAN per value")
    p.add_argument("--lam", type=float, default=None, help="λ, poison share in C's objective (0.9·Pr(Y_p))")
    p.add_argument("--poison-class", type=int, default=None,
                   help="label of the generated points (default: the last class, +1 for binary data)")
    p.add_argument("--fractions", default="0,0.1,0.2,0.3,0.4",
                   help="poison fractions of the test-error curve (Figure 2)")
    p.add_argument("--iterations", type=int, default=1000, help="pGAN training iterations (default 1000)")
    p.add_argument("--batch-size", type=int, default=200, help="minibatch size of the pGAN steps")
    p.add_argument("--d-steps", type=int, default=4, help="discriminator steps per iteration")
    p.add_argument("--c-steps", type=int, default=4, help="classifier steps per iteration")
    p.add_argument("--g-steps", type=int, default=1, help="generator steps per iteration")
    p.add_argument("--g-lr", type=float, default=1e-4, help="generator's Adam step (paper 1e-4)")
    p.add_argument("--d-lr", type=float, default=1e-3, help="discriminator's SGD step (paper 1e-3)")
    p.add_argument("--c-lr", type=float, default=1e-3, help="classifier's SGD step (paper 1e-3)")
    p.add_argument("--hidden", default="1024,512", help="hidden widths of D, C and the evaluated MLP")
    p.add_argument("--runs", type=int, default=1, help="independent evaluation splits (paper: 10)")
    p.add_argument("--per-class", type=int, default=500,
                   help="genuine points per class for the detector and for the classifier (500)")
    p.add_argument("--eval-epochs", type=int, default=100, help="epochs of the evaluated classifier")
    p.add_argument("--eval-lr", type=float, default=0.01, help="step size of the evaluated classifier")
    p.add_argument("--percentile", type=float, default=0.95, help="detector threshold quantile (0.95)")
    p.add_argument("--neighbours", type=int, default=5, help="k of the detector (5)")
    p.add_argument("--sample", type=int, default=20, help="s, trusted points sampled per score (20)")
    p.add_argument("--no-defense", action="store_true", help="train on all points (no outlier detector)")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training rows")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="floating-point precision of the networks")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint prefix: CHECKPOINT.alpha<α>.pt per α, saved every 100 iterations")
    p.add_argument("--out", default=None, help="poison set (first α, --epsilon) as .npz with X, y, weight")
    p.add_argument("--figure", default=None,
                   help="PNG of test error and detector removal rates against the poison fraction, "
                        "one line per α (the paper's Figures 2 and 4)")
    p.add_argument("--no-progress", action="store_true")


def _floats(value, name, lo, hi):
    from ..errors import InputError

    try:
        vals = [float(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated numbers, got {value!r}") from None
    if not vals or any(not lo <= v <= hi for v in vals):
        raise InputError(f"{name}: values must lie in [{lo}, {hi}], got {value!r}")
    return vals


def run(args):
    nn = import_nn()
    from ..attacks.base import check_epsilon, n_poisons
    from ..poisons import PoisonSet

    t0 = time.perf_counter()
    nn.set_threads(args.threads)
    device = nn.resolve_device(args.device)
    alphas = _floats(args.alpha, "--alpha", 0.0, 1.0)
    fractions = _floats(args.fractions, "--fractions", 0.0, 0.5)
    eps = check_epsilon(_floats(args.epsilon, "--epsilon", 0.0, 0.5)[0], "--epsilon")
    hidden = hidden_widths(args.hidden)
    data = load_data(args)
    X, y = data.X_train, data.y_train
    say = None if args.no_progress else progress
    grid = sorted(set(fractions) | {0.0, eps})
    spec = nn.DefenderSpec(args.model, data.d, data.n_classes, data.image_shape, hidden,
                           epochs=args.eval_epochs, lr=args.eval_lr, batch_size=args.batch_size,
                           momentum=0.9, dropout=0.5 if args.model == "mlp" else 0.0, negative_slope=0.1)
    detector = nn.DistanceOutlierDetector(args.neighbours, args.sample, args.percentile, args.seed)
    per_alpha, first = {}, None
    for a in alphas:
        ta = time.perf_counter()
        ckpt = f"{args.checkpoint}.alpha{a:g}.pt" if args.checkpoint else None
        attack = nn.PGAN(alpha=a, lam=args.lam, poison_class=args.poison_class, classifier=args.model,
                         discriminator_hidden=hidden, classifier_hidden=hidden, iterations=args.iterations,
                         batch_size=args.batch_size, d_steps=args.d_steps, c_steps=args.c_steps,
                         g_steps=args.g_steps, g_lr=args.g_lr, d_lr=args.d_lr, c_lr=args.c_lr,
                         epsilon=eps, device=device, dtype=args.dtype,
                         random_state=args.seed, checkpoint=ckpt, progress=say, log_every=100,
                         progress_bar=bars(args))
        attack.fit(data)
        curve = nn.evaluate_pgan(attack, X, y, data.X_test, data.y_test, fractions=grid, n_runs=args.runs,
                                 n_per_class=args.per_class, spec=spec, detector=detector,
                                 defense=not args.no_defense, random_state=args.seed, progress=say)
        at_eps = curve[f"{eps:g}"]
        per_alpha[f"{a:g}"] = {
            "lam": attack.lam_, "poison_label": attack.poison_label_,
            "curve": {k: v for k, v in curve.items() if float(k) in fractions or float(k) == 0.0},
            "poisoned_test_error": at_eps["test_error"], "poisons_removed": at_eps["poisons_removed"],
            "genuine_removed": at_eps["genuine_removed"], "seconds_training": attack.seconds_,
            "status": attack.result_.status,
            "interrupted": attack.result_.status == "interrupted",
            "seconds": time.perf_counter() - ta}
        if first is None:
            first = (attack, curve)
    attack, curve = first
    import numpy as np

    n_cls_train = sum(min(args.per_class, int(np.sum(y == c)) // 2) for c in np.unique(y))
    n_subst = n_poisons(eps, n_cls_train)          # substitutions in the classifier's training set
    if args.out:
        # --epsilon is a fraction of the evaluated classifier's training set, not of the
        # whole training data that attack.poisons_ is sized by
        PoisonSet(*attack.generate(n_subst), meta=attack.poisons_.meta).save(args.out)
        if say:
            say(f"poison set written to {args.out}")
    if args.figure:
        from ..plots import pgan_curves

        pgan_curves(per_alpha, args.figure, title=f"pGAN on {data.name} ({args.model}), "
                    f"{args.iterations} iterations, {args.runs} run(s)")
        if say:
            say(f"figure written to {args.figure}")
    return {
        "dataset": data.name, "model": args.model, "epsilon": eps, "alpha": alphas,
        "defense": "none" if args.no_defense else
        f"distance k={args.neighbours}, s={args.sample}, percentile {args.percentile}",
        "n_poisons": n_subst,
        "clean_test_error": curve["0"]["test_error"],
        "poisoned_test_error": curve[f"{eps:g}"]["test_error"],
        "per_alpha": per_alpha, "runs": args.runs, "iterations": args.iterations,
        "seconds": time.perf_counter() - t0, "device": nn.describe(device),
        "status": "interrupted" if any(r["status"] == "interrupted" for r in per_alpha.values()) else "done",
        "interrupted": any(r["interrupted"] for r in per_alpha.values()),
        "out": args.out, "figure": args.figure,
    }


def show(res):
    print(f"pGAN on {res['dataset']} ({res['model']}), defense: {res['defense']}, device {res['device']}")
    print(f"clean test error {res['clean_test_error']:.4f}; at ε={res['epsilon']:g}: "
          f"{res['poisoned_test_error']:.4f}  ({res['seconds']:.0f}s)")
    for a, r in res["per_alpha"].items():
        print(f"α = {a} (λ = {r['lam']:.3f}):")
        print(f"  {'fraction':>8s} {'test error':>10s} {'poisons removed':>16s} {'genuine removed':>16s}")
        for f, row in r["curve"].items():
            pr = "-" if row["poisons_removed"] is None else f"{row['poisons_removed']:.3f}"
            print(f"  {float(f):8.2f} {row['test_error']:10.4f} {pr:>16s} {row['genuine_removed']:16.3f}")
