"""Progress bars for long runs, on standard error (standard output is kept for results).

One helper for every long loop of the package (MTP iterations, the KKT sweep, the min-max
and influence iterations, the audit's steps, TGDA rounds, pGAN iterations): :func:`bar`
returns a ``tqdm`` bar with the count, rate and ETA (when the total is known), or a
disabled bar that accepts the same calls and draws nothing.

Whether it draws (``enabled``):

* ``None`` (the default everywhere): a bar when standard error is a terminal; otherwise
  (a log file, a pipe, a captured stream, where a bar of carriage returns is noise) plain
  lines, one every :data:`EVERY` seconds (environment variable
  ``CONVEXPOISON_PROGRESS_EVERY``; 10 by default, 0 for a line per step), each with the
  count, the rate, the ETA when the total is known and the bar's postfix, e.g.
  ``MTP: 120/400 it, 2.1 it/s, ETA 2m13s, maxloss=0.31, poisons=120, bound=57``;
* ``True``: always a bar (also when standard error is redirected);
* ``False``: nothing (the commands' ``--no-progress``).

Lines of text printed while a bar is showing go through :func:`write`, so they appear
above the bar instead of breaking it.
"""
from __future__ import annotations

import os
import sys
import time

__all__ = ["bar", "write", "enabled_for", "Lines"]


def _every() -> float:
    """Seconds between plain progress lines (``CONVEXPOISON_PROGRESS_EVERY``, default 10)."""
    try:
        return max(0.0, float(os.environ.get("CONVEXPOISON_PROGRESS_EVERY", "10")))
    except ValueError:
        return 10.0


def _duration(seconds) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Lines:
    """The bar's interface, drawn as a plain line on standard error at most every
    ``every`` seconds (and a last line on :meth:`close` when any was printed): progress
    that a log file or a pipe can hold."""

    def __init__(self, total=None, desc=None, unit="it", initial=0, every=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._start_n = initial
        self.every = _every() if every is None else every
        self._t0 = self._last = time.monotonic()
        self._postfix = ""
        self._printed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def set_description(self, desc=None, refresh=True):
        self.desc = desc

    def set_postfix(self, ordered_dict=None, refresh=True, **kw):
        items = dict(ordered_dict or {}, **kw)
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s="", refresh=True):
        self._postfix = str(s)

    def refresh(self):
        pass

    def line(self) -> str:
        elapsed = time.monotonic() - self._t0
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        parts = [f"{count} {self.unit}",
                 f"{rate:.3g} {self.unit}/s" if rate >= 1 or rate == 0 else
                 f"{1 / rate:.3g} s/{self.unit}", f"elapsed {_duration(elapsed)}"]
        if self.total is not None and rate > 0:
            parts.append(f"ETA {_duration(max(self.total - self.n, 0) / rate)}")
        if self._postfix:
            parts.append(self._postfix)
        return f"{self.desc or 'progress'}: " + ", ".join(parts)

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._printed = True
            write(self.line())

    def close(self):
        if self._printed:                 # the last state, when the run was long enough to show any
            write(self.line())
            self._printed = False


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
    """A progress bar on standard error (``tqdm``), or :class:`Lines` when ``enabled`` is
    None and standard error is not a terminal; see the module docstring.

    ``total`` None: a counter with its rate (no ETA).  The bar supports ``update(n)``,
    ``set_postfix(...)``, ``set_description(...)`` and ``close()`` (also as a context
    manager) whether it draws or not; closed, it leaves its final line (count, elapsed
    time, rate) unless ``leave=False``.  Other keywords go to ``tqdm``.
    """
    from tqdm import tqdm          # in install_requires

    if enabled is None and not enabled_for(None):
        return Lines(total, desc, unit=unit, initial=initial)
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
