"""The KKT attack: the program's residual is the training gradient at the decoy (checked
by direct numpy computation), its optimum is no worse than any feasible pair, a second
solver agrees, integer domains are respected, decoys and their Pareto pruning, the
epsilon grid, serial == parallel, and the attack beats random label flips."""
import json

import numpy as np
import pytest

from convexpoison.attacks.kkt import KKTAttack, bias_exact_split, epsilon_pairs
from convexpoison.attacks.labelflip import RandomLabelFlip
from convexpoison.datasets import from_arrays
from convexpoison.decoys import DecoyGenerator, pareto_prune
from convexpoison.defenses import evaluate
from convexpoison.domain import Domain
from convexpoison.errors import InputError
from convexpoison.feasible import make_feasible_set
from convexpoison.parallel import map_tasks
from convexpoison.poisons import PoisonSet
from convexpoison.programs.kkt import KKTProgram, clean_gradient, kkt_residual

REG = 0.05


def blobs(rng, n=160, d=5, shift=0.1):
    y = np.where(rng.random(n) < 0.5, -1, 1)
    X = 0.5 + 0.15 * rng.standard_normal((n, d)) + shift * y[:, None]
    return np.clip(X, 0, 1), y


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    Xtr, ytr = blobs(rng)
    Xte, yte = blobs(rng, n=100)
    return from_arrays(Xtr, ytr, Xte, yte, domain=Domain.box(5), reg=REG)


@pytest.fixture(scope="module")
def decoys(data):
    gen = DecoyGenerator(REG, repeats=(2, 8), quantiles=(0.1, 0.3))
    gen.fit(data.X_train, data.y_train, data.X_test, data.y_test)
    return gen


def eq17_residual(model, X, y, ps):
    """kkt_residual in equation (17)'s normalisation (the summed objective's over N)."""
    r = kkt_residual(model, X, y, REG, ps, tol=1e-7, subgradient="equation17")
    return np.linalg.norm(r) / len(y)


def direct_gradient(theta, Xc, yc, Xp, yp, wp, reg):
    """(W/N) x gradient of the training objective (docs/training.md) at theta, written out:
    (1/W) [sum_clean dl + sum_poison w_j dl_j] + C_R theta, hinge subgradient -y(x,1) on
    the active side (poison points on the margin count as active)."""
    N = len(yc)
    W = N + wp.sum()
    g = np.zeros_like(theta)
    for x, y in zip(Xc, yc):
        if y * (x @ theta[:-1] + theta[-1]) < 1:
            g -= y * np.append(x, 1.0)
    for x, y, w in zip(Xp, yp, wp):
        assert y * (x @ theta[:-1] + theta[-1]) <= 1 + 1e-6      # the program's constraint
        g -= w * y * np.append(x, 1.0)
    return (W / N) * (g / W + reg * theta)


def program(data, decoy, names=("domain", "l2", "slab", "loss"), quantile=0.9, solver=None):
    feas = make_feasible_set(list(names), data.domain, data.X_train, data.y_train,
                             quantile=quantile, decoy=decoy)
    prog = KKTProgram(feas, REG, solver=solver).set_decoy(decoy, data.X_train, data.y_train)
    return feas, prog


def test_program_residual_is_the_training_gradient_at_the_decoy(data, decoys):
    N = data.n_train
    for dec in decoys.decoys_[:3]:
        model = dec.model
        feas, prog = program(data, model)
        assert prog.problem.is_dcp(dpp=True)
        for n_pos, n_neg in [(0, 4), (2, 2), (4, 0), (1, 3)]:
            xp, xm, value, status = prog.solve(n_pos, n_neg, N)
            assert status == "optimal"
            # a label without copies has no point
            assert (xp is None) == (n_pos == 0) and (xm is None) == (n_neg == 0)
            rows = [(x, lab, n) for x, lab, n in ((xp, 1, n_pos), (xm, -1, n_neg)) if n]
            Xp = np.array([r[0] for r in rows])
            yp = np.array([r[1] for r in rows])
            wp = np.array([r[2] for r in rows], float)
            theta = np.append(model.w, model.b)
            g = direct_gradient(theta, data.X_train, data.y_train, Xp, yp, wp, REG)
            assert value == pytest.approx(np.linalg.norm(g), rel=1e-6, abs=1e-9)
            ps = PoisonSet(Xp, yp, wp)
            assert eq17_residual(model, data.X_train, data.y_train, ps) == pytest.approx(
                np.linalg.norm(g), rel=1e-6, abs=1e-9)
            # the points lie in their feasible sets (the constraints the defenses impose)
            assert feas.contains(Xp, yp, tol=1e-6).all()


def test_program_optimum_beats_every_feasible_pair(data, decoys):
    """Minimality: no feasible pair of clean points gives a smaller residual."""
    N = data.n_train
    from convexpoison.errors import SolverFailure

    for dec in decoys.decoys_[::-1]:                # the most ambitious decoy that is feasible
        model = dec.model
        feas, prog = program(data, model)
        try:
            _, _, value, _ = prog.solve(3, 5, N)
            break
        except SolverFailure as exc:
            assert exc.status == "infeasible"
    X, y = data.X_train, data.y_train
    m = y * (X @ model.w + model.b)
    pos = X[(y == 1) & (m <= 1) & feas.contains(X, y)]
    neg = X[(y == -1) & (m <= 1) & feas.contains(X, y)]
    assert len(pos) and len(neg)
    for xp in pos[:15]:
        for xm in neg[:15]:
            ps = PoisonSet(np.vstack([xp, xm]), [1, -1], [3, 5])
            assert value <= eq17_residual(model, X, y, ps) + 1e-7


def test_second_solver_agrees(data, decoys):
    model = decoys.decoys_[0].model
    _, a = program(data, model)
    _, b = program(data, model, solver="ECOS")
    for pair in [(0, 8), (3, 5), (8, 0)]:
        va = a.solve(*pair, data.n_train)[2]
        vb = b.solve(*pair, data.n_train)[2]
        assert va == pytest.approx(vb, rel=1e-5, abs=1e-7)


def test_clean_gradient_matches_loop(data, decoys):
    model = decoys.decoys_[0].model
    theta = np.append(model.w, model.b)
    g = direct_gradient(theta, data.X_train, data.y_train, np.zeros((0, 5)), np.zeros(0),
                        np.zeros(0), 0.0)
    np.testing.assert_allclose(clean_gradient(model, data.X_train, data.y_train), g, atol=1e-12)


def test_integer_domain_points_are_rounded_into_the_domain():
    rng = np.random.default_rng(2)
    n = 160
    y = np.where(rng.random(n) < 0.5, -1, 1)
    cont = np.clip(0.5 + 0.15 * rng.standard_normal((n, 2)) + 0.1 * y[:, None], 0, 1)
    cat = rng.integers(0, 3, n)
    cat = np.where(rng.random(n) < 0.6, np.where(y > 0, 0, 2), cat)
    X = np.hstack([cont, np.eye(3)[cat]])
    dom = Domain(np.zeros(5), np.ones(5), integer=[0, 0, 1, 1, 1], onehot_groups=[[2, 3, 4]])
    ds = from_arrays(X[:120], y[:120], X[120:], y[120:], domain=dom, reg=REG)
    gen = DecoyGenerator(REG, repeats=(5,), quantiles=(0.3,)).fit(ds.X_train, ds.y_train,
                                                                 ds.X_test, ds.y_test)
    model = gen.decoys_[0].model
    feas, prog = program(ds, model, names=("domain", "l2"))
    for pair in [(2, 1), (1, 2), (0, 3)]:          # repeated solves: fixing is undone each time
        xp, xm, value, status = prog.solve(*pair, ds.n_train)
        assert status == "rounded"
        rows = [(x, lab, n) for x, lab, n in ((xp, 1, pair[0]), (xm, -1, pair[1])) if n]
        ps = PoisonSet(np.array([r[0] for r in rows]), [r[1] for r in rows], [r[2] for r in rows])
        assert dom.contains(ps.X, tol=1e-7).all()
        # fixed by diving and re-solved: the integral points still satisfy every constraint
        assert feas.contains(ps.X, ps.y, tol=1e-6).all()
        assert value == pytest.approx(eq17_residual(model, ds.X_train, ds.y_train, ps), rel=1e-6)


def test_bias_exact_split_zeroes_the_bias_coordinate(data, decoys):
    model = decoys.decoys_[1].model
    N, n = data.n_train, 8
    n_pos = bias_exact_split(model, data.X_train, data.y_train, REG, n)
    theta = np.append(model.w, model.b)
    g = direct_gradient(theta, data.X_train, data.y_train, np.zeros((2, 5)), np.array([1, -1]),
                        np.array([n_pos, n - n_pos]), REG)
    assert abs(g[-1]) < 1e-12


def test_epsilon_pairs():
    pairs = epsilon_pairs(10, grid=4, bias_exact=3.4)
    assert pairs[:5] == [(0, 10), (2, 8), (5, 5), (8, 2), (10, 0)]
    assert pairs[5] == (3, 7) and len(pairs) == 6
    assert all(a + b == 10 for a, b in pairs)
    assert epsilon_pairs(10, grid=2, bias_exact=-4) == [(0, 10), (5, 5), (10, 0)]


def test_pareto_prune_against_brute_force():
    rng = np.random.default_rng(0)
    err = rng.integers(0, 6, 40) / 10
    loss = rng.integers(0, 6, 40) / 10
    keep = pareto_prune(err, loss)
    for i in range(40):
        dominated = any(err[j] > err[i] and loss[j] < loss[i] for j in range(40))
        assert keep[i] == (not dominated)


def test_decoy_generator(data, decoys):
    assert len(decoys.candidates_) == 4
    clean = decoys.clean_model_
    # q = 0.3 flips the 30% of the test set with the lowest margins under theta_c
    c = [c for c in decoys.candidates_ if c.quantile == 0.3][0]
    m = data.y_test * clean.decision_function(data.X_test)
    assert c.n_flipped == int(np.sum(m <= np.sort(m)[int(np.ceil(0.3 * len(m))) - 1]))
    for dec in decoys.candidates_:
        assert dec.clean_objective >= clean.objective_ - 1e-9      # theta_c is optimal on Dc
    errs = [d.eval_error for d in decoys.decoys_]
    assert errs == sorted(errs)
    tr = DecoyGenerator(REG, repeats=(3,), quantiles=(0.2,), use="train").fit(
        data.X_train, data.y_train)
    assert tr.decoys_[0].eval_error == tr.decoys_[0].model.error(data.X_train, data.y_train)


def _square(x):
    return x * x


def test_map_tasks_serial():
    # (the parallel path is exercised, with its ordering, by test_serial_equals_parallel)
    assert map_tasks(_square, range(7), workers=1) == [i * i for i in range(7)]


def _attack(data, workers, decoys=None, **kw):
    return KKTAttack(0.05, reg=REG, grid=2, decoys=decoys, workers=workers, **kw).fit(data)


def test_serial_equals_parallel(data, decoys):
    """Worker processes give exactly the serial sweep (same points, errors, order)."""
    models = [d.model for d in decoys.decoys_[1:3]]
    a = _attack(data, 1, models).result_
    b = _attack(data, 2, models).result_
    assert len(a.candidates) == len(b.candidates) > 2
    for ca, cb in zip(a.candidates, b.candidates):
        assert (ca.decoy, ca.n_pos, ca.n_neg, ca.status) == (cb.decoy, cb.n_pos, cb.n_neg, cb.status)
        np.testing.assert_array_equal(ca.x_plus, cb.x_plus)
        np.testing.assert_array_equal(ca.x_minus, cb.x_minus)
        assert ca.per_defense == cb.per_defense and ca.residual == cb.residual
    assert a.to_dict()["per_defense"] == b.to_dict()["per_defense"]


def test_a_sweep_shared_with_a_second_process_is_the_serial_one(data, decoys, monkeypatch):
    """SharedSweep: the sweep's tasks queued in a second process, the last first, and those
    not started there run here from the first; the candidates (in order, bit for bit) and
    the poison are the serial sweep's, both processes ran tasks, and every job is
    accounted for (none left out: this process's BLAS threads are restored)."""
    import functools
    import time

    from threadpoolctl import threadpool_limits

    from convexpoison.attacks import kkt
    from convexpoison.parallel import Beside

    here = []
    run_task = kkt._run_task

    @functools.wraps(run_task)       # (pickled by name: the second process runs the original)
    def counted(task):
        here.append(task)
        return run_task(task)

    models = [d.model for d in decoys.decoys_[1:3]]
    with threadpool_limits(limits=1, user_api="blas"):
        a = _attack(data, 1, models)
        monkeypatch.setattr(kkt, "_run_task", counted)
        with Beside(workers=2) as beside:
            beside.submit(abs, -1).result()              # the second process is up
            sweep = kkt.SharedSweep(KKTAttack(0.05, reg=REG, grid=2, decoys=models), data,
                                    beside)
            last = sweep.jobs[-1].future
            while not last.running() and not last.done():
                time.sleep(0.001)                         # the last task is taken there
            b = sweep()
            assert beside._out == 0
            _same_poisons(sweep.poison(), a.poisons_)
    ra, rb = a.result_, b.result_
    assert 0 < sweep.n_here == len(here) < len(rb.candidates) == len(ra.candidates)
    assert [t[2:] for t in here] == [(c.decoy, c.n_pos, c.n_neg) for c in ra.candidates[:len(here)]]
    for ca, cb in zip(ra.candidates, rb.candidates):
        assert (ca.decoy, ca.n_pos, ca.n_neg, ca.status) == (cb.decoy, cb.n_pos, cb.n_neg, cb.status)
        np.testing.assert_array_equal(ca.x_plus, cb.x_plus)
        np.testing.assert_array_equal(ca.x_minus, cb.x_minus)
        assert ca.per_defense == cb.per_defense and ca.residual == cb.residual
    _same_poisons(a.poisons_, b.poisons_)
    assert ra.to_dict()["per_defense"] == rb.to_dict()["per_defense"]


def test_attack_result_is_consistent(data, decoys):
    models = [d.model for d in decoys.decoys_]
    att = _attack(data, 1, models, screen_tol=1e-10)     # candidates judged exactly too
    res = att.result_
    n_total = int(np.floor(0.05 * data.n_train))
    assert res.poisons.n_poisons == n_total
    best = res.best
    # the best candidate maximises the min over defenses of the test error
    assert best.eval_score == max(c.eval_score for c in res.candidates if c.ok)
    # and its reported table is what the defender gets on re-evaluation
    ev = evaluate(data, res.poisons)
    assert ev.per_defense == res.to_dict()["per_defense"] == best.per_defense
    out = res.to_dict()
    # the reported residual is the training gradient at the decoy, written out in numpy
    ps = res.poisons
    dec = models[best.decoy]
    g = direct_gradient(np.append(dec.w, dec.b), data.X_train, data.y_train, ps.X, ps.y,
                        ps.weight, REG)
    assert out["kkt_residual"] == pytest.approx(np.linalg.norm(g), rel=1e-9, abs=1e-12)
    Xp, yp = att.poison(data.X_train, data.y_train)
    assert Xp.shape[0] == n_total and set(yp.tolist()) <= {-1, 1}


def test_train_only_attacker_judges_on_the_training_set(data, decoys):
    """Section 6.1: without the test set the candidates are ranked by their error on Dc."""
    models = [d.model for d in decoys.decoys_[:2]]
    res = _attack(data, 1, models, use="train", screen_tol=1e-10).result_
    best = res.best
    ps = best.poison_set()
    ev = evaluate(data, ps, X_eval=data.X_train, y_eval=data.y_train)
    assert best.eval_per_defense == ev.eval_per_defense          # errors on Dc ...
    assert best.per_defense == ev.per_defense                    # ... and on the test set
    assert best.eval_score == max(c.eval_score for c in res.candidates if c.ok)


def test_iterative_refit_runs(data, decoys):
    models = [d.model for d in decoys.decoys_[:2]]
    res = _attack(data, 1, models, iterations=2).result_
    assert {c.iteration for c in res.candidates} <= {0, 1}
    it0 = max(c.eval_score for c in res.candidates if c.iteration == 0 and c.ok)
    assert res.best.eval_score >= it0


def test_cli_attack_kkt(tmp_path, capsys):
    from convexpoison.cli import main

    out = tmp_path / "kkt.npz"
    code = main(["attack", "kkt", "--dataset", "breast-cancer", "--epsilon", "0.03",
                 "--repeats", "2,8", "--quantiles", "0.1,0.3", "--grid", "2",
                 "--defense", "l2,slab,loss", "--out", str(out), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("clean_test_error", "poisoned_test_error", "per_defense", "n_poisons",
                "seconds", "kkt_residual"):
        assert key in res
    assert set(res["per_defense"]) == {"l2", "slab", "loss"}
    assert res["poisoned_test_error"] == min(res["per_defense"].values())
    ps = PoisonSet.load(out)
    assert ps.n_poisons == res["n_poisons"] == int(0.03 * 398)
    # `evaluate` on the saved poison file reproduces the attack's table exactly
    assert main(["evaluate", "--dataset", "breast-cancer", "--poisons", str(out),
                 "--defense", "l2,slab,loss", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["per_defense"] == res["per_defense"]
    assert main(["attack", "kkt", "--dataset", "breast-cancer", "--epsilon", "0"]) == 2
    assert "--epsilon" in capsys.readouterr().err


@pytest.mark.slow
def test_kkt_beats_random_label_flips_under_defenses():
    from convexpoison.datasets import load_dataset

    data = load_dataset("breast-cancer")
    res = KKTAttack(0.05, max_decoys=8).fit(data).result_
    flips = []
    for seed in range(5):
        lf = RandomLabelFlip(0.05, random_state=seed).fit(data)
        flips.append(evaluate(data, lf.poisons_).min_over_defenses)
    assert res.evaluation.min_over_defenses > max(flips)


def _same_poisons(a, b):
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.weight, b.weight)


def test_ready_feasible_set_is_used_as_is(data, decoys):
    """``feasible=`` a FeasibleSet from make_feasible_set: fitted on Dc with the attack's
    quantile it gives exactly the attack's own result; fitted tighter (quantile 0.5) it
    is not refitted -- its thresholds stay and every poison point lies inside it, which
    the attack's own looser set does not force."""
    models = [d.model for d in decoys.decoys_[:2]]
    names = ["domain", "l2", "slab"]
    kw = dict(defenses=("l2", "slab"), progress_bar=False)
    own = _attack(data, 1, models, feasible=names, quantile=0.9, **kw).result_
    fs = make_feasible_set(names, data.domain, data.X_train, data.y_train, quantile=0.9)
    ready = _attack(data, 1, models, feasible=fs, **kw).result_
    _same_poisons(own.poisons, ready.poisons)
    assert own.to_dict()["per_defense"] == ready.to_dict()["per_defense"]

    tight = make_feasible_set(["domain", "l2"], data.domain, data.X_train, data.y_train,
                              quantile=0.5)
    before = tight.thresholds_
    res = _attack(data, 1, models, feasible=tight, **kw).result_
    assert tight.thresholds_ == before
    assert tight.contains(res.poisons.X, res.poisons.y).all()
    loose = _attack(data, 1, models, feasible=["domain", "l2"], **kw).result_
    assert not tight.contains(loose.poisons.X, loose.poisons.y).all()
    with pytest.raises(InputError, match="feasible: the feasible set is for 2 features"):
        box = make_feasible_set(["domain"], Domain.box(2), np.zeros((2, 2)), [-1, 1])
        _attack(data, 1, models, feasible=box, **kw)
