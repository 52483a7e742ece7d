"""Checkpoints of long neural-network runs: save every round, resume where a run stopped.

A checkpoint is one ``torch.save`` file holding plain containers of tensors and numbers
(the networks' ``state_dict``s, generator states, the history so far and a fingerprint
of the data and settings).  It is written to a temporary file and renamed, so a run
killed while saving leaves the previous checkpoint intact, and it is read back with
``weights_only=True`` (no arbitrary unpickling) onto whatever device the resumed run uses.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError

FORMAT = 1


def fingerprint(arrays=(), settings=None) -> str:
    """A short hash of the data arrays and the run's settings.

    Resuming is only correct when both are unchanged; the hash makes a mismatch an
    :class:`InputError` instead of a silently mixed run.
    """
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps(settings or {}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def save_checkpoint(path, state: dict):
    """Write ``state`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, device, expected_fingerprint=None, what="--checkpoint"):
    """The saved state (tensors mapped onto ``device``), or ``None`` when no file exists.

    Raises :class:`InputError` when the file is unreadable or belongs to other data or
    settings (its fingerprint differs from ``expected_fingerprint``).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is the user's input
        raise InputError(f"{what}: cannot read checkpoint {path} ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{what}: {path} is not a convexpoison checkpoint (format {FORMAT})")
    if expected_fingerprint is not None and state.get("fingerprint") != expected_fingerprint:
        raise InputError(f"{what}: {path} was written for other data or settings "
                         f"(fingerprint {state.get('fingerprint')} != {expected_fingerprint}); "
                         "delete it or choose another path")
    return state


def generator_state(gen):
    """A generator's state as a CPU tensor (what ``set_state`` accepts on every device)."""
    return gen.get_state().cpu()


def restore_generator(gen, state):
    gen.set_state(state.cpu())
    return gen
