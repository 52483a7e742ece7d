"""Where the networks run: the device choice, threads, dtypes and seeded generators.

The backend runs on a GPU when one is present and on the CPU otherwise (docs/nn.md,
"Devices").  Nothing in :mod:`convexpoison.nn` names a device itself: every function
takes the ``torch.device`` chosen here and creates its tensors on it, so the same code
runs unchanged on a CUDA machine.
"""
from __future__ import annotations

import torch

from ..errors import InputError

#: Values accepted by ``--device``.
DEVICES = ("auto", "cpu", "cuda")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device="auto") -> torch.device:
    """The ``torch.device`` for ``auto`` / ``cpu`` / ``cuda`` (or ``cuda:N``).

    ``auto`` picks ``cuda`` when torch sees a CUDA device and ``cpu`` otherwise.  Asking
    for ``cuda`` on a machine without one is an :class:`InputError` (exit status 2),
    not a silent fall-back: a user who forces the GPU wants to know it is not used.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device: {device!r} requested but torch {torch.__version__} sees no "
                             "CUDA device; use --device auto or cpu")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device: {device!r} but only {torch.cuda.device_count()} CUDA "
                             "device(s) are visible")
        return dev
    raise InputError(f"--device: unknown device {device!r}; choose one of {', '.join(DEVICES)}")


def resolve_dtype(dtype="float32") -> torch.dtype:
    """``float32`` (default, fast) or ``float64`` (for derivative checks)."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise InputError(f"dtype: expected float32 or float64, got {dtype}")
        return dtype
    if dtype not in _DTYPES:
        raise InputError(f"dtype: expected float32 or float64, got {dtype!r}")
    return _DTYPES[dtype]


def set_threads(n=None):
    """Limit torch's CPU threads (the shared machines have few cores); ``None`` keeps them."""
    if n is not None:
        torch.set_num_threads(max(1, int(n)))


def generator(seed, device) -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device`` (batch order, noise, label sampling).

    Separate generators keep the runs reproducible without touching torch's global RNG.
    """
    dev = torch.device(device)
    g = torch.Generator(device=dev.type if dev.type != "cuda" else dev)
    g.manual_seed(int(seed) % (2 ** 63))
    return g


def seeded_init(seed, device=None):
    """Context manager: torch's global RNG seeded with ``seed`` inside, restored on exit.

    ``torch.nn`` layers draw their initial weights, and dropout its masks, from the global
    generators (the CPU one, and the CUDA one for tensors on a GPU).  Running those steps
    under a fork of that state makes them reproducible without changing the caller's RNG.
    Networks are built on the CPU and moved to the device afterwards, so the initial
    weights do not depend on the device.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return _Seeded(seed, dev)


class _Seeded:
    def __init__(self, seed, device):
        self.seed = int(seed) % (2 ** 63)
        self.devices = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []

    def __enter__(self):
        self._fork = torch.random.fork_rng(devices=self.devices)
        self._fork.__enter__()
        torch.manual_seed(self.seed)
        return self

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


def as_tensor(a, device, dtype=None):
    """A numpy array (or tensor) as a tensor on ``device``."""
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype if dtype is not None else a.dtype)
    t = torch.as_tensor(a)
    return t.to(device=device, dtype=dtype if dtype is not None else t.dtype)


def describe(device) -> str:
    """A short name for reports: ``cpu`` or ``cuda:0 (NVIDIA H100 ...)``."""
    dev = torch.device(device)
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return dev.type
