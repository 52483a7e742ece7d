"""Writing result files safely: atomic replacement and strict JSON.

Every file the package writes for a user (models, targets, poison sets, figures, reports,
``results.json``) goes through :func:`atomic_path` or :func:`write_text`: the content is
written to a temporary file in the destination's folder and renamed over the destination
only when complete, so an interrupted or failing write never leaves a truncated file (a
rename within one file system is atomic on POSIX and Windows).

JSON has no NaN or infinity (``json.dumps`` writes the non-standard ``NaN``/``Infinity``
unless told otherwise, and strict parsers reject them): :func:`jsonable` turns a NaN into
``null`` and an infinite value into ``null`` plus a ``<key>_reason`` field saying which
infinity it was; :func:`dumps` applies it and refuses anything else non-finite.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_text", "jsonable", "dumps", "npz_path", "floats_from_json"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of a written file: what ``open(path, "w")`` would give (mkstemp's are 0600).
_MODE = 0o666 & ~_umask()


def npz_path(path) -> str:
    """The file ``numpy.savez`` writes for ``path`` (it appends ``.npz`` when missing)."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to; renamed to ``path`` on success.

    The temporary name keeps ``path``'s suffix (writers such as ``numpy.savez`` and
    matplotlib choose the format or append an extension from it).  On an exception
    (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path, text: str):
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _number(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _reason(v) -> str:
    if math.isnan(v):
        return "not a number"
    return "+infinity" if v > 0 else "-infinity"


def jsonable(obj):
    """``obj`` with numpy scalars/arrays as Python values and non-finite floats as ``None``.

    In a mapping, an infinite value ``v`` of key ``k`` also adds ``k_reason``
    (``"+infinity"`` / ``"-infinity"``): an unattainable target's lower bound stays
    distinguishable from a missing one.  A NaN is ``null`` alone (a value that does not
    apply, e.g. the subpopulation accuracy of a run without a subpopulation).
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k] = jsonable(v)
            if isinstance(v, (float, np.floating)) and math.isinf(v):
                out[f"{k}_reason"] = _reason(float(v))
        return out
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return _number(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj, **kw) -> str:
    """Strict JSON text of ``obj`` (:func:`jsonable` first; never ``NaN`` or ``Infinity``)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)


def floats_from_json(record: dict) -> dict:
    """Undo :func:`jsonable` for a flat record of numbers: ``null`` is NaN again, or the
    infinity its ``<key>_reason`` names (the ``_reason`` keys are dropped)."""
    out = {}
    for k, v in record.items():
        if k.endswith("_reason") and k[:-len("_reason")] in record:
            continue
        if v is None:
            reason = record.get(f"{k}_reason")
            v = {"+infinity": math.inf, "-infinity": -math.inf}.get(reason, math.nan)
        out[k] = v
    return out
