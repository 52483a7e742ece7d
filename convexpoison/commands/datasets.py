"""convexpoison datasets: list the bundled datasets."""
HELP = "list the bundled datasets with sizes, domains and default C_R"


def add_arguments(p):
    pass


def run(args):
    from ..datasets import list_datasets, load_dataset

    return {"datasets": [load_dataset(name).summary() for name in list_datasets(include_optional="available")]}


def show(res):
    print(f"{'name':22s} {'n_train':>8s} {'n_test':>7s} {'d':>5s} {'classes':>7s} {'C_R':>8s}  domain")
    unvalidated = False
    for r in res["datasets"]:
        dom = r["domain"]
        # a C_R that no cross-validation chose is marked, not shown as if it were validated
        mark = "*" if r.get("reg_source") == "fallback" else " "
        unvalidated |= mark == "*"
        print(f"{r['name']:22s} {r['n_train']:8d} {r['n_test']:7d} {r['d']:5d} {r['classes']:7d} "
              f"{r['reg']:8.4g}{mark} {dom['kind']} [{dom['lo']:g}, {dom['hi']:g}]")
    if unvalidated:
        print("* C_R not chosen by cross-validation (the package's fallback); pass --reg or "
              "--defender to choose your own")
