"""Run a script on a sparse matrix too large to densify, in a subprocess whose address
space is limited (``resource.RLIMIT_AS``): any code path that densified the clean matrix
would fail with MemoryError.  Used by the "never densify" tests of the sparse text work.

A script is ``PRELUDE`` followed by its own body; the body calls ``dense_refused(n, d)``
first, which prints ``dense-refused`` when the limit really forbids the dense form.
"""
import os
import subprocess
import sys
import textwrap

LIMIT = 3 * 2 ** 30                      # 3 GiB of address space

PRELUDE = textwrap.dedent("""
    import resource, sys
    import numpy as np, scipy.sparse as sp
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def dense_refused(n, d):
        try:
            np.zeros((n, d))
        except MemoryError:
            print("dense-refused")

    def planted_counts(n=3000, d=400_000, per_row=40, seed=0):
        # dense: 9.6 GB; stored: 120 000 counts.  One planted signal word per class.
        rng = np.random.default_rng(seed)
        cols = rng.integers(0, d, (n, per_row))
        y = np.where(np.arange(n) % 2 == 0, 1, -1)
        cols[:, 0] = np.where(y > 0, 0, 1)
        X = sp.csr_matrix((rng.integers(1, 4, n * per_row).astype(float), cols.ravel(),
                           np.arange(0, n * per_row + 1, per_row)), shape=(n, d))
        return X, y, rng
""")


def run_limited(body, limit=LIMIT, timeout=600) -> list:
    """Run ``PRELUDE + body`` under the address-space ``limit``; assert it succeeded and
    that the dense form was refused; return the remaining lines of its output."""
    script = PRELUDE + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", script, str(limit)], capture_output=True,
                         text=True, env=dict(os.environ, OMP_NUM_THREADS="1",
                                             OPENBLAS_NUM_THREADS="1"), timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert lines[0] == "dense-refused"            # the limit really forbids the dense form
    return lines[1:]
