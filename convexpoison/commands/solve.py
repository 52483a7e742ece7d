"""convexpoison solve: run a declarative problem file (problems/*.toml)."""
HELP = "run a problem file (dataset, target recipe, attack, defenses, solver, seed)"


def add_arguments(p):
    p.add_argument("problem", help="path to a problems/*.toml file")
    p.add_argument("--out", default=None, help="output directory (default out/<problem name>)")
    p.add_argument("--check", action="store_true", help="validate the file and stop")


def run(args):
    import time

    from ..problems import load_problem, run_problem

    prob = load_problem(args.problem)
    if args.check:
        return {"problem": prob.name, "status": "valid",
                "steps": [" ".join(cmd) for cmd, _ in prob.steps]}
    t0 = time.perf_counter()
    res = run_problem(prob, args.out or f"out/{prob.name}")
    last = res["steps"][-1]["result"]
    return {"problem": prob.name, **last, "seconds": time.perf_counter() - t0,
            "steps": [s["command"] for s in res["steps"]]}
