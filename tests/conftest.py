import signal

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def ctrl_c():
    """SIGINT handled as an interactive Python handles it (KeyboardInterrupt), in this
    process and in the commands it starts, for the tests that send a real one.  A suite
    started with SIGINT ignored (a background job: ``make test &``, or a CI runner that
    starts it so) would otherwise ignore it -- as Python rightly does, and every process
    started from it too."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def make_blobs(rng, n=120, d=5, sep=1.0, shift=None):
    """Two overlapping Gaussian classes in [0, 1]^d-ish, labels in {-1, +1}; the class
    means are ``0.5 -/+ shift`` (default ``0.1 * sep``)."""
    y = np.where(rng.random(n) < 0.5, -1, 1)
    shift = 0.1 * sep if shift is None else shift
    X = 0.5 + 0.15 * rng.standard_normal((n, d)) + shift * y[:, None]
    return np.clip(X, 0, 1), y


def interrupt_after(monkeypatch, owner, name, k):
    """The user's Ctrl-C in a test: make the k-th call (1-based) of ``owner.name`` raise
    KeyboardInterrupt; the calls before it run the real function.  Returns the list of
    calls made."""
    real = getattr(owner, name)
    calls = []

    def wrapped(*args, **kw):
        calls.append(1)
        if len(calls) == k:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, wrapped)
    return calls
