"""convexpoison train: the defender's model on a bundled dataset or the user's data."""
import time

from ._common import (add_dataset, add_model, add_out, add_reg, check_model_for, defender_for,
                      load, source_fields)

HELP = "train the defender's model exactly and report its errors"


def add_arguments(p):
    add_dataset(p)
    add_model(p)
    add_reg(p)
    p.add_argument("--method", default="fast", choices=["fast", "cvxpy"],
                   help="fast: exact dual coordinate descent / Newton; cvxpy: conic solve")
    p.add_argument("--solver", default=None, help="solver for --method cvxpy")
    add_out(p, "model (.npz with w, b)")


def run(args):
    data, reg = load(args)
    check_model_for(data, args.model)
    D = defender_for(args, data, reg, args.model)
    t0 = time.perf_counter()
    model = D.train(data.X_train, data.y_train, method=args.method, solver=args.solver)
    seconds = time.perf_counter() - t0
    if args.out:
        model.save(args.out)
    return {"dataset": data.name, "model": D.model, "reg": model.reg,
            **source_fields(data, D),
            "bias_regularized": model.bias_regularized, "objective": model.objective_,
            "duality_gap": model.gap_, "train_error": model.error(data.X_train, data.y_train),
            "clean_test_error": model.error(data.X_test, data.y_test),
            "solver": model.method_, "seconds": seconds,
            # AdaGrad's model is no optimum of anything (docs/defender.md)
            "status": ("optimal" if D.exact else "trained (AdaGrad: no optimum, no gap)"
                       if D.trainer == "adagrad" else f"trained to relative gap {D.gap:g}"),
            "n_train": data.n_train, "d": data.d, "out": args.out}
