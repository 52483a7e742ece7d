"""Progress bars for long runs, on standard error (standard output is kept for results).

One helper for every long loop of the package (MTP iterations, the KKT sweep, the min-max
and influence iterations, the audit's steps, TGDA rounds, pGAN iterations): :func:`bar`
returns a ``tqdm`` bar with the count, rate and ETA (when the total is known), or a
disabled bar that accepts the same calls and draws nothing.

Whether it draws (``enabled``):

* ``None`` (the default everywhere): only when standard error is a terminal -- a bar of
  carriage returns is noise in a log file or a captured stream;
* ``True``: always (also when standard error is redirected);
* ``False``: never (the commands' ``--no-progress``).

Lines of text printed while a bar is showing go through :func:`write`, so they appear
above the bar instead of breaking it.
"""
from __future__ import annotations

import sys

__all__ = ["bar", "write", "enabled_for"]


def enabled_for(enabled) -> bool:
    """Resolve the tri-state ``enabled`` (None: standard error is a terminal)."""
    if enabled is None:
        err = sys.stderr
        try:
            return bool(err is not None and err.isatty())
        except (AttributeError, ValueError):        # closed or replaced stream
            return False
    return bool(enabled)


def bar(total=None, desc=None, enabled=None, unit="it", initial=0, leave=True, **kw):
    """A progress bar on standard error (``tqdm``); see the module docstring for ``enabled``.

    ``total`` None: a counter with its rate (no ETA).  The bar supports ``update(n)``,
    ``set_postfix(...)``, ``set_description(...)`` and ``close()`` (also as a context
    manager) whether it draws or not; closed, it leaves its final line (count, elapsed
    time, rate) unless ``leave=False``.  Other keywords go to ``tqdm``.
    """
    from tqdm import tqdm          # in install_requires

    opts = {"dynamic_ncols": True, "mininterval": 0.2, "smoothing": 0.1, **kw}
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                file=sys.stderr, disable=not enabled_for(enabled), **opts)


def write(msg):
    """Print a line on standard error without breaking a progress bar that is showing."""
    from tqdm import tqdm

    tqdm.write(str(msg), file=sys.stderr)
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
