"""convexpoison attack tgda: Lu et al.'s TGDA attack on a neural network, with label-flip baselines."""
from __future__ import annotations

import time

from ._common import add_dataset, bars, hidden_widths, import_nn, load_data, progress

HELP = "TGDA poisoning of a neural network (Lu et al. 2022) vs label-flip baselines (needs torch)"


def add_arguments(p):
    add_dataset(p)
    p.add_argument("--model", default="lr", help="defender network: lr, mlp or cnn (default lr)")
    p.add_argument("--epsilon", type=float, default=0.03, help="poison fraction of D_tr (default 0.03)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    p.add_argument("--attacker", default="mlp", help="attacker network: mlp or conv (autoencoder)")
    p.add_argument("--rounds", type=int, default=40, help="rounds T of Algorithm 1 (default 40)")
    p.add_argument("--attacker-steps", type=int, default=1, help="m: total-gradient steps per round")
    p.add_argument("--defender-steps", type=int, default=20, help="n: defender GD steps per round")
    p.add_argument("--attacker-lr", type=float, default=3e-5, help="α (default 3e-5 with adam)")
    p.add_argument("--attacker-optimizer", default="adam", choices=["adam", "sgd"],
                   help="adam (default) or sgd = Algorithm 1's plain ascent step")
    p.add_argument("--defender-lr", type=float, default=0.1, help="β (default 0.1)")
    p.add_argument("--pretrain-epochs", type=int, default=100,
                   help="defender schedule for pretraining and retraining (default 100)")
    p.add_argument("--pretrain-lr", type=float, default=0.1, help="defender's pretraining step size")
    p.add_argument("--batch-size", type=int, default=1000, help="defender schedule's batch (default 1000)")
    p.add_argument("--attack-batch-size", type=int, default=None,
                   help="clean rows per attack round (default: all; 1000 when D_tr > 10000 rows)")
    p.add_argument("--autoencoder-epochs", type=int, default=30, help="attacker pretraining epochs")
    p.add_argument("--hidden", default=None, help="MLP defender hidden widths, e.g. 784,784 (default)")
    p.add_argument("--cg-iters", type=int, default=16, help="conjugate-gradient iterations (default 16)")
    p.add_argument("--cg-damping", type=float, default=0.0,
                   help="damping added to the Hessian in conjugate gradient")
    p.add_argument("--cg-plain", action="store_true",
                   help="plain CG (positive definite Hessian) instead of CG on the normal equations")
    p.add_argument("--formulation", default="nonzero-sum", choices=["nonzero-sum", "zero-sum"],
                   help="the attacker maximises the validation loss (nonzero-sum, Lu et al.) or the "
                        "defender's own loss (zero-sum)")
    p.add_argument("--leader", default="attacker", choices=["attacker", "defender"],
                   help="which player of the Stackelberg game moves first")
    p.add_argument("--cold-start", action="store_true", help="defender restarts from w_pre each round")
    p.add_argument("--weight-decay", type=float, default=0.0, help="defender's L2 weight decay")
    p.add_argument("--val-fraction", type=float, default=0.3, help="share of the data used as D_v")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training rows")
    p.add_argument("--n-eval", type=int, default=1, help="retraining seeds averaged in the evaluation")
    p.add_argument("--baselines", default="reverse,max-loss",
                   help="label-flip baselines to evaluate alongside: reverse,max-loss or none")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="floating-point precision of the networks")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--checkpoint", default=None,
                   help="save attacker/defender state here every round; resume if it exists")
    p.add_argument("--out", default=None, help="poison set file (.npz with X, y, weight)")
    p.add_argument("--figure", default=None,
                   help="PNG of the first poisons under the training points they were made "
                        "from (Lu et al. Figure 3)")
    p.add_argument("--no-progress", action="store_true")


def run(args):
    nn = import_nn()
    from ..errors import InputError
    from ._common import parse_list

    t0 = time.perf_counter()
    nn.set_threads(args.threads)
    device = nn.resolve_device(args.device)
    data = load_data(args)
    if args.figure and data.image_shape is None:
        raise InputError(f"--figure: {data.name} has no image shape to draw poisons with")
    say = None if args.no_progress else progress
    baselines = [] if args.baselines.strip().lower() == "none" else parse_list(
        args.baselines, list(nn.FLIP_RULES), "--baselines")
    attack_batch = args.attack_batch_size
    n_tr = data.n_train - int(round(args.val_fraction * data.n_train))
    if attack_batch is None and n_tr > 10000:
        attack_batch = 1000
        if say:
            say(f"tgda: D_tr has {n_tr} rows; using --attack-batch-size 1000")
    if args.model not in nn.DEFENDERS:
        raise InputError(f"--model: unknown network {args.model!r}; choose one of {', '.join(nn.DEFENDERS)}")
    attack = nn.TGDAAttack(
        defender=args.model, attacker=args.attacker, epsilon=args.epsilon, rounds=args.rounds,
        attacker_steps=args.attacker_steps, defender_steps=args.defender_steps,
        attacker_lr=args.attacker_lr, attacker_optimizer=args.attacker_optimizer,
        defender_lr=args.defender_lr, pretrain_epochs=args.pretrain_epochs, pretrain_lr=args.pretrain_lr,
        batch_size=args.batch_size, attack_batch_size=attack_batch,
        autoencoder_epochs=args.autoencoder_epochs, hidden=hidden_widths(args.hidden), cg_iters=args.cg_iters,
        cg_damping=args.cg_damping, cg_normal=not args.cg_plain, formulation=args.formulation,
        leader=args.leader, cold_start=args.cold_start, weight_decay=args.weight_decay,
        val_fraction=args.val_fraction, device=device, dtype=args.dtype, random_state=args.seed,
        checkpoint=args.checkpoint, progress=say, progress_bar=bars(args))
    attack.fit(data)
    clean_cache = {}               # clean retrainings per seed, shared with the label-flip baselines
    res = attack.evaluate(data.X_test, data.y_test, n_eval=args.n_eval, cache=clean_cache)
    if say:
        say(f"tgda: test error {res['clean_test_error']:.4f} -> {res['poisoned_test_error']:.4f}")
    flips = {}
    for rule in baselines:
        # the flip of the rows TGDA's poisons are made from, evaluated under the same protocol
        lf = nn.LabelFlipAttack(rule, model=attack.defender_pre_, index=attack.poison_index_).fit(data)
        r = attack.evaluate(data.X_test, data.y_test, n_eval=args.n_eval, X_poison=lf.poisons_.X,
                            y_poison=lf.poisons_.y, cache=clean_cache)
        flips[rule] = {"poisoned_test_error": r["poisoned_test_error"], "accuracy_drop": r["accuracy_drop"],
                       "poisoned_errors": r["poisoned_errors"]}
        if say:
            say(f"label flip ({rule}): test error {r['clean_test_error']:.4f} -> {r['poisoned_test_error']:.4f}")
    if args.out:
        attack.poisons_.save(args.out)
        if say:
            say(f"poison set written to {args.out}")
    if args.figure:
        from ..plots import tgda_poisons

        tgda_poisons(data.X_train[attack.poison_index_], attack.poisons_.X, attack.poisons_.y, data.image_shape,
                     args.figure, title=f"TGDA poisons on {data.name} ({args.model} defender, "
                     f"attacker step {args.attacker_lr:g}, {len(attack.history_)} rounds)")
        if say:
            say(f"figure written to {args.figure}")
    last = attack.history_[-1] if attack.history_ else {}
    return {
        "dataset": data.name, "model": args.model, "attacker": args.attacker, "epsilon": args.epsilon,
        "n_poisons": int(attack.poisons_.n_poisons), "n_train": int(len(attack.train_index_)),
        "n_validation": int(len(attack.val_index_)),
        "clean_test_error": res["clean_test_error"], "poisoned_test_error": res["poisoned_test_error"],
        "accuracy_drop": res["accuracy_drop"], "clean_errors": res["clean_errors"],
        "poisoned_errors": res["poisoned_errors"], "label_flip": flips,
        "rounds": len(attack.history_), "final_validation_loss": last.get("validation_loss"),
        "autoencoder_mse": attack.autoencoder_mse_,
        "formulation": args.formulation, "leader": args.leader,
        "seconds": time.perf_counter() - t0, "seconds_pretrain": attack.seconds_["pretrain"],
        "interrupted": attack.interrupted_,
        "seconds_attack": attack.seconds_["attack"], "device": nn.describe(device),
        "status": attack.result_.status, "out": args.out, "checkpoint": args.checkpoint, "figure": args.figure,
    }
