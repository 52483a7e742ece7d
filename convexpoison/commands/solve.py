"""convexpoison solve: run a declarative problem file (problems/*.toml)."""
HELP = "run a problem file (dataset, target recipe, attack, defenses, solver, seed)"
OUTPUTS = {"out": "dir"}           # a folder: target.npz, the attack's files, results.json


def add_arguments(p):
    p.add_argument("problem", help="path to a problems/*.toml file")
    p.add_argument("--out", default=None, help="output directory (default out/<problem name>)")
    p.add_argument("--check", action="store_true",
                   help="validate the file (sections, fields, every step's flag values with the "
                        "commands' own checks) and stop")


def run(args):
    import time

    from ._common import check_output
    from ._problems import load_problem, run_problem

    prob = load_problem(args.problem)
    if args.check:
        return {"problem": prob.name, "status": "valid",
                "steps": [" ".join(cmd) for cmd, _ in prob.steps]}
    out = args.out or check_output(f"out/{prob.name}", "--out", "dir", default=True)
    t0 = time.perf_counter()
    res = run_problem(prob, out)
    last = res["steps"][-1]["result"]
    return {"problem": prob.name, **last, "seconds": time.perf_counter() - t0,
            "steps": [s["command"] for s in res["steps"]]}
