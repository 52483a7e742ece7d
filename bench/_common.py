"""Shared helpers of the benchmark scripts (not a benchmark itself: ``make bench`` skips
files whose name starts with ``_``).

* single-threaded BLAS (the benchmark machines are shared 2-core boxes, and ratios
  measured with one thread per side are comparable between runs);
* :func:`write_result` -- ``bench/results/<name>.json`` with the machine and versions;
* :func:`table` -- the small stdout table every script prints;
* :func:`koh_target_cached`, :func:`subpop_targets_cached` -- target models built once
  with a reduced grid and cached under ``bench/results/cache/`` (``Target.save``); the
  cache is keyed by dataset and grid, delete the folder to rebuild.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import json                                   # noqa: E402
import platform                               # noqa: E402
import sys                                    # noqa: E402
import time                                   # noqa: E402
from pathlib import Path                      # noqa: E402

import numpy as np                            # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
CACHE = RESULTS / "cache"

#: the reduced Koh grid used for the indiscriminate targets (the package's full grid is
#: 9 x 10 trainings; on fmnist-sneaker-boot each is ~1-3 s)
KOH_QUANTILES = (0.1, 0.2, 0.3, 0.5)
KOH_REPEATS = (1, 2, 3, 5, 8)
#: reduced subpopulation grid (the package's is 6 x 11)
SUBPOP_QUANTILES = (0.5, 1.0)
SUBPOP_REPEATS = (1, 2, 3, 5, 8, 12, 20, 30, 50)


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def load_optional(name):
    """The bundled or optional dataset ``name``, or None (with the reason on stderr) when it
    is not installed here -- fmnist needs the Debian package (``make fmnist-data``)."""
    from convexpoison.datasets import load_dataset
    from convexpoison.errors import InputError

    try:
        return load_dataset(name)
    except InputError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return None


def machine() -> dict:
    import cvxpy
    import scipy
    import sklearn

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(),
            "cpus": os.cpu_count(), "loadavg_at_end": load, "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
            "cvxpy": cvxpy.__version__,
            "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                       "OPENBLAS_NUM_THREADS")}}


def _jsonable(o):
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    args = " ".join(sys.argv[1:])
    out = {"benchmark": name, "command": f"python bench/{name}.py {args}".strip(),
           "machine": machine()}
    out.update(payload)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=1, default=_jsonable, allow_nan=True) + "\n")
    print(f"wrote {path.relative_to(BENCH.parent)}")
    return path


def fmt(v, spec=".4g"):
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format(float(v), spec)
    return str(v)


def table(headers, rows, title=None):
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    sys.stdout.flush()


def warm_up():
    """One tiny cvxpy solve, convexpoison training (loads its compiled kernels) and
    LinearSVC fit, so no timed section pays imports or JIT loading."""
    import cvxpy as cp
    from sklearn.svm import LinearSVC

    from convexpoison import solvers
    from convexpoison.training import train

    x = cp.Variable(2)
    solvers.solve(cp.Problem(cp.Minimize(cp.sum(x)), [x >= 0, x <= 1]), "LP")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(40) > 0, 1, -1)
    train(X, y, "svm", 0.1)
    train(X, y, "svm", 0.1, sample_weight=np.ones(40), warm_start=train(X, y, "svm", 0.1))
    LinearSVC(loss="hinge", dual=True, fit_intercept=False).fit(X, y)


class Timer:
    """``with Timer() as t: ...``; ``t.s`` seconds (time.perf_counter)."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        return False


# ------------------------------------------------------------------------- targets
def _grid_tag(qs, rs):
    return "q" + "-".join(f"{q:g}" for q in qs) + "_r" + "-".join(str(r) for r in rs)


def koh_target_cached(ds, error=0.10):
    """Koh label-flip target (test error >= ``error``) on the reduced grid, cached."""
    from convexpoison.targets import Target, koh_target

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{ds.name}-koh{error:g}-{_grid_tag(KOH_QUANTILES, KOH_REPEATS)}.npz"
    if path.exists():
        return Target.load(path), 0.0, True
    t0 = time.perf_counter()
    tg = koh_target(ds, ds.reg, error=error, quantiles=KOH_QUANTILES, repeats=KOH_REPEATS)
    sec = time.perf_counter() - t0
    tg.save(path)
    return Target.load(path), sec, False


def subpop_targets_cached(ds, n_targets=3):
    """ClusterMatch subpopulation targets (k = 20, label -1) on the reduced grid, cached."""
    from convexpoison.targets import Target, subpopulation_targets

    CACHE.mkdir(parents=True, exist_ok=True)
    tag = _grid_tag(SUBPOP_QUANTILES, SUBPOP_REPEATS)
    paths = [CACHE / f"{ds.name}-subpop{i}-{tag}.npz" for i in range(n_targets)]
    if all(p.exists() for p in paths):
        return [Target.load(p) for p in paths], 0.0, True
    t0 = time.perf_counter()
    tgs = subpopulation_targets(ds, ds.reg, n_targets=n_targets, quantiles=SUBPOP_QUANTILES,
                                repeats=SUBPOP_REPEATS)
    sec = time.perf_counter() - t0
    for p, tg in zip(paths, tgs):
        tg.save(p)
    return [Target.load(p) for p in paths[:len(tgs)]], sec, False
