"""Long runs (issue 9 part 6): progress bars with rate and ETA on standard error, off when
asked, plain periodic lines when standard error is not a terminal (issue 18); Ctrl-C stops the KKT sweep, the min-max
and the influence attacks cleanly and they return what they had found.

Ctrl-C is simulated by raising KeyboardInterrupt from inside the k-th step (a wrapper
around the real step function, which still runs the real solvers before that): exactly
what the interpreter does when the user presses it during that step."""
import re

import numpy as np
import pytest

import convexpoison.attacks.influence as influence_mod
import convexpoison.attacks.kkt as kkt_mod
from convexpoison.attacks.influence import InfluenceAttack
from convexpoison.attacks.kkt import KKTAttack
from convexpoison.attacks.minmax import MinMaxAttack
from convexpoison.datasets import from_arrays
from convexpoison.defenses import evaluate
from convexpoison.domain import Domain
from convexpoison.programs.inner import InnerMaximizer
from convexpoison.progress import bar, enabled_for

from conftest import interrupt_after, make_blobs

REG = 0.05


def blobs(rng, n, d=4, shift=0.1):
    return make_blobs(rng, n, d=d, shift=shift)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    Xtr, ytr = blobs(rng, 160)
    Xte, yte = blobs(rng, 100)
    return from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(4), reg=REG)


# ------------------------------------------------------------------------ progress bars
def test_bar_is_drawn_on_stderr_with_rate_and_eta(capfd):
    with bar(5, "demo", enabled=True, unit="task", mininterval=0) as b:
        for _ in range(5):
            b.update(1)
    out, err = capfd.readouterr()
    assert out == ""                                      # results alone go to stdout
    assert "demo" in err and "5/5" in err
    assert re.search(r"task/s|s/task", err)               # the rate
    assert re.search(r"<\d\d:\d\d", err)                  # the ETA (elapsed<remaining)


def test_plain_lines_when_not_a_terminal(capfd, monkeypatch):
    """Standard error captured (a log, a pipe): no bar of carriage returns but plain lines
    with the count, rate, ETA and postfix -- at most one every CONVEXPOISON_PROGRESS_EVERY
    seconds, and a last one when any was printed."""
    monkeypatch.setenv("CONVEXPOISON_PROGRESS_EVERY", "0")
    with bar(4, "demo", unit="task") as b:
        for i in range(4):
            b.set_postfix(best=i, refresh=False)
            b.update(1)
    err = capfd.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and len(lines) == 5
    assert lines[0].startswith("demo: 1/4 task, ") and "ETA" in lines[0] and "best=0" in lines[0]
    assert re.search(r"task/s|s/task", lines[0]) and lines[-1].startswith("demo: 4/4 task")
    monkeypatch.setenv("CONVEXPOISON_PROGRESS_EVERY", "3600")
    with bar(4, "quiet") as b:                            # a short run: nothing at all
        b.update(4)
    assert capfd.readouterr().err == ""


def test_bar_off_when_disabled_or_not_a_terminal(capfd):
    assert enabled_for(True) and not enabled_for(False)
    assert not enabled_for(None)                          # pytest captures stderr: no TTY
    for enabled in (False, None):
        with bar(3, "quiet", enabled=enabled) as b:
            b.update(3)
            b.set_postfix(x=1)
    assert capfd.readouterr().err == ""


def test_minmax_draws_its_iterations(data, capfd):
    MinMaxAttack(0.05, decoy=None, defenses="l2,slab", burn_in=10, progress_bar=True).fit(data)
    err = capfd.readouterr().err
    n_keep = int(np.floor(0.05 * data.n_train))
    total = 10 + n_keep                                   # burn-in + kept steps
    assert "minmax" in err and f"{total}/{total}" in err and re.search(r"step/s|s/step", err)
    MinMaxAttack(0.05, decoy=None, defenses="l2,slab", burn_in=10, progress_bar=False).fit(data)
    assert capfd.readouterr().err == ""


def test_kkt_sweep_draws_the_tasks_done(data, capfd):
    decoys = kkt_mod.KKTAttack(0.05, reg=REG, grid=1, repeats=(2,), quantiles=(0.2,),
                               defenses="l2", progress_bar=False).fit(data).decoys_
    capfd.readouterr()
    res = KKTAttack(0.05, reg=REG, grid=1, decoys=decoys, defenses="l2",
                    progress_bar=True).fit(data).result_
    err = capfd.readouterr().err
    n = len(res.candidates)
    assert "kkt sweep" in err and f"{n}/{n}" in err and "task" in err


# ------------------------------------------------------------------------------ Ctrl-C
def test_interrupted_kkt_sweep_returns_the_best_candidate_found(data, monkeypatch):
    full = KKTAttack(0.05, reg=REG, grid=3, repeats=(2, 8), quantiles=(0.1, 0.3),
                     defenses="l2,slab", progress_bar=False).fit(data)
    decoys = full.decoys_
    full_res = full.result_
    assert len(full_res.candidates) >= 6 and not full_res.interrupted
    k = 4                                                 # Ctrl-C during the 4th task
    interrupt_after(monkeypatch, kkt_mod, "_run_task", k)
    part = KKTAttack(0.05, reg=REG, grid=3, decoys=decoys, defenses="l2,slab",
                     progress_bar=False).fit(data).result_
    assert part.interrupted and part.to_dict()["interrupted"]
    assert len(part.candidates) == k - 1                  # the tasks that finished
    for a, b in zip(part.candidates, full_res.candidates):   # ... are the serial run's first
        assert (a.decoy, a.n_pos, a.n_neg) == (b.decoy, b.n_pos, b.n_neg)
        assert a.per_defense == b.per_defense and a.residual == b.residual
    best = max((c for c in part.candidates if c.ok), key=kkt_mod._key)
    assert (part.best.decoy, part.best.n_pos) == (best.decoy, best.n_pos)
    # the reported table is the defender's exact evaluation of the poison returned
    assert part.to_dict()["per_defense"] == evaluate(data, part.poisons, "l2,slab").per_defense


def test_kkt_interrupted_before_any_candidate_propagates(data, monkeypatch):
    interrupt_after(monkeypatch, kkt_mod, "_run_task", 1)
    with pytest.raises(KeyboardInterrupt):
        KKTAttack(0.05, reg=REG, grid=1, repeats=(2,), quantiles=(0.2,), defenses="l2",
                  progress_bar=False).fit(data)


def test_interrupted_minmax_keeps_the_points_of_the_finished_steps(data, monkeypatch):
    kw = dict(decoy=None, defenses="l2,slab", burn_in=10, progress_bar=False)
    full = MinMaxAttack(0.05, **kw).fit(data).result_
    k = 15                                   # Ctrl-C in step 15: steps 11..14 kept a point
    interrupt_after(monkeypatch, InnerMaximizer, "maximize", k)
    part = MinMaxAttack(0.05, **kw).fit(data).result_
    assert part.interrupted and part.best.interrupted and part.to_dict()["interrupted"]
    assert part.poisons.n_poisons == k - 1 - 10 < full.poisons.n_poisons
    # the same trajectory as the full run up to the interruption
    np.testing.assert_array_equal(part.best.iterate_values, full.best.iterate_values[:k - 1])
    assert part.best.labels == full.best.labels[:k - 1]
    kept = {tuple(x) for x in full.best.continuous.X}
    assert all(tuple(x) in kept for x in part.best.continuous.X)
    assert part.to_dict()["per_defense"] == evaluate(data, part.poisons, "l2,slab").per_defense


def test_minmax_interrupted_during_burn_in_propagates(data, monkeypatch):
    interrupt_after(monkeypatch, InnerMaximizer, "maximize", 3)
    with pytest.raises(KeyboardInterrupt):
        MinMaxAttack(0.05, decoy=None, defenses="l2,slab", burn_in=10, progress_bar=False).fit(data)


def test_interrupted_influence_returns_the_last_accepted_step(data, monkeypatch):
    kw = dict(defenses="l2,slab", patience=50, progress_bar=False)
    k = 3                                    # Ctrl-C at the gradient of step 3
    ref = InfluenceAttack(0.05, max_iter=k - 1, **kw).fit(data).result_
    interrupt_after(monkeypatch, influence_mod, "influence_gradient", k)
    part = InfluenceAttack(0.05, max_iter=20, **kw).fit(data).result_
    assert part.stop_reason == "interrupted" and part.interrupted
    assert part.to_dict()["interrupted"] and not ref.interrupted
    assert len(part.history) == k - 1 and part.objective == ref.objective
    np.testing.assert_array_equal(part.poisons.X, ref.poisons.X)
    assert part.to_dict()["per_defense"] == ref.to_dict()["per_defense"]


def test_mtp_bar_shows_max_loss_difference_and_poisons(data, capfd):
    from convexpoison.attacks.mtp import ModelTargetedPoisoning
    from convexpoison.training import train

    # an attainable target: Dc plus copies of label-flipped test points
    Xt = np.vstack([data.X_train, data.X_test[:10]])
    yt = np.append(data.y_train, -data.y_test[:10])
    target = train(Xt, yt, "svm", REG, sample_weight=np.append(np.ones(data.n_train), np.full(10, 2.0)))
    res = ModelTargetedPoisoning(target, data.domain, REG, eps_close=0.0, budget=4,
                                 progress_bar=True).fit(data).result_
    err = capfd.readouterr().err
    n = len(res.history)
    assert res.stop_reason == "budget" and n == 5          # 4 points, then the budget stop
    assert "MTP" in err and f"{n}/{n}" in err and re.search(r"it/s|s/it", err)
    last = res.history[-1]
    assert f"maxloss={last.max_loss_difference:.4g}" in err and "poisons=4" in err
