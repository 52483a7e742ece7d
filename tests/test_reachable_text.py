"""The reachable-target attack on sparse word counts (docs/reachable.md, step 5; docs/text.md,
"Reachable target"): above solvers.DPP_MAX_D coordinates the pricing program is solved
without its compiled DPP form and the realisation rounds every copy of the relaxed points
to integer counts on its own.  The threshold is lowered here so that a small count set
takes that path (the path fine-foods' 6660 words take)."""
import numpy as np
import pytest
import scipy.sparse as sp

from convexpoison import solvers
from convexpoison.attacks.base import n_poisons
from convexpoison.attacks.reachable import ReachableTargetAttack
from convexpoison.datasets import Dataset
from convexpoison.domain import Domain


def _counts(seed=0, n=300, d=40, n_test=150):
    """Word counts (Poisson, most entries 0) with a planted linear signal and label noise;
    the domain is the non-negative integers up to each word's largest count."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.4, (n + n_test, d)).astype(float)
    w = rng.normal(size=d)
    s = X @ w + 0.5 * rng.normal(size=n + n_test)
    y = np.where(s > np.median(s), 1, -1)
    dom = Domain(np.zeros(d), np.maximum(X.max(axis=0), 1.0), integer=np.ones(d, bool))
    return Dataset("counts", sp.csr_matrix(X[:n]), y[:n], sp.csr_matrix(X[n:]), y[n:], dom,
                   reg=0.05, classes=["-1", "+1"])


def test_sparse_counts_realised_with_integer_points_and_a_sound_certificate(monkeypatch):
    from convexpoison.attacks import reachable
    from convexpoison.certificates.lp import lp_lower_bound
    from convexpoison.training import train

    data = _counts()
    monkeypatch.setattr(solvers, "DPP_MAX_D", 10)        # the text path at d = 40
    spread, rounded = reachable._spread_up, []            # the rounding used, recorded

    def recorded(rng, copies, fraction, min_run):
        rounded.append(copies)
        return spread(rng, copies, fraction, min_run)

    monkeypatch.setattr(reachable, "_spread_up", recorded)
    att = ReachableTargetAttack(epsilon=0.05, seeds=("decoys",), decoy_quantiles=(0.2,),
                                decoy_repeats=(3,), n_search=1, steps=2, n_mix=0,
                                climb_rounds=0, toward_rounds=0, n_screen=1, n_realise=1,
                                snap=False,
                                search_seconds=None).fit(data)
    assert att.feasible_ is not None and not solvers.dpp_options(40) == {}
    res = att.result_.to_dict()
    ps = att.poisons_
    budget = n_poisons(0.05, data.n_train)
    # integer word counts inside the domain, one row per copy, within the budget
    X = np.asarray(ps.X)
    assert np.all(X == np.round(X)) and data.domain.contains(X, tol=0).all()
    assert np.all(ps.weight == 1) and 0 < ps.n_poisons <= budget
    # its copies rounded with their per-word sum kept (test below), for every total tried
    tried = [r["n_poisons"] for r in att.result_.realisation.candidates]
    assert ps.n_poisons in tried and sum(rounded) >= sum(tried) > 0
    assert res["n_poisons"] <= res["target_lower_bound"] + 2
    # the certificate, recomputed by a program built here (relaxed counts cover integers)
    target = att.target_.model
    feas = att.feasible_
    feas["loss"].set_model(target)
    feas["loss"].fit(data.X_train, data.y_train)
    lb = lp_lower_bound(target, feas, data.X_train, data.y_train, data.reg)
    assert lb.certified == res["target_lower_bound"]
    # the reported model is what exact training on Dc u Dp returns, and it moved toward
    # the target: closer than the clean model is
    Xa, ya, wa, _ = ps.with_clean(data.X_train, data.y_train)
    model = train(Xa, ya, "svm", data.reg, sample_weight=wa)
    dist = np.linalg.norm(model.theta - target.theta)
    assert dist == pytest.approx(res["distance_to_target"], rel=1e-3, abs=1e-4)
    assert dist < np.linalg.norm(att.clean_model_.theta - target.theta)


def test_rounded_copies_keep_their_sum_within_one_of_the_relaxed_points():
    """The text realisation's rounding (_spread_up): every copy is rounded up with
    probability the fractional part, and the copies rounded up per word are count x that
    part rounded to a neighbour -- the copies' sum (what enters the KKT condition) within 1
    of count x the relaxed point, where rounding each copy on its own spreads it
    binomially (sd 3.4 here)."""
    from convexpoison.attacks.reachable import _spread_up

    rng = np.random.default_rng(0)
    copies, frac = 45, np.array([0.0, 0.02, 0.3, 0.5, 0.77, 0.999])
    draws = np.array([_spread_up(rng, copies, frac) for _ in range(4000)])
    assert draws.shape == (4000, copies, frac.size) and draws.dtype == bool
    sums = draws.sum(axis=1)
    assert np.all(np.abs(sums - copies * frac) < 1)
    # unbiased: each copy (not only the sum) is up with probability the fraction
    se = np.sqrt(frac * (1 - frac) / 4000) + 1e-9
    assert np.all(np.abs(draws.mean(axis=0) - frac) <= 5 * se)
    assert np.all(np.abs(sums.mean(axis=0) - copies * frac) <= 5 * np.sqrt(0.25 / 4000))
    # the copies up form one cyclic run per word: going round the copies, each word
    # changes at most twice (a random subset of the copies: about 2 copies f (1 - f)
    # times), so neighbouring copies differ in few words -- close neighbours for the k-NN
    # defense
    changes = (draws != np.roll(draws, 1, axis=1)).sum(axis=1)
    assert changes.max() <= 2 and changes[:, 3].mean() > 1.5
    # the runs follow one another round the copies: every copy rounds up the same number
    # of words to within one (random starts: a spread of sqrt(sum f (1 - f)) per copy)
    many = np.random.default_rng(1).random(300) * 0.3
    loads = np.array([_spread_up(rng, copies, many).sum(axis=1) for _ in range(200)])
    assert np.all(loads.max(axis=1) - loads.min(axis=1) <= 1)


def test_rounding_in_runs_of_at_least_min_run_copies():
    """``min_run``: a word whose count x fraction is below ``min_run`` is rounded up in a run
    of exactly ``min_run`` copies or in none (unbiased), the others as with runs of one;
    every word rounded up is then shared by at least ``min_run`` neighbouring copies (no
    copy has a word of its own, which the SVD defense sees), and the copies' loads stay
    within one of each other."""
    from convexpoison.attacks.reachable import _spread_up

    rng = np.random.default_rng(2)
    copies, run = 30, 3
    frac = np.array([0.0, 0.01, 0.05, 0.09, 0.12, 0.5, 0.95])
    draws = np.array([_spread_up(rng, copies, frac, run) for _ in range(4000)])
    sums = draws.sum(axis=1)
    rare = copies * frac < run
    assert np.all(np.isin(sums[:, rare], (0, run)))            # a run of min_run, or none
    assert np.all(np.abs(sums[:, ~rare] - copies * frac[~rare]) < 1)
    assert np.any(sums[:, rare][:, 1:] == run, axis=0).all()   # the rare words do go up
    # unbiased per copy and per word
    se = np.sqrt(frac * (1 - frac) / 4000) + 1e-9
    assert np.all(np.abs(draws.mean(axis=0) - frac) <= 5 * se)
    assert np.all(np.abs(sums.mean(axis=0) - copies * frac)
                  <= 5 * np.sqrt(np.maximum(copies * frac * run, 0.25) / 4000))
    # one cyclic run per word: at most two changes going round the copies
    assert (draws != np.roll(draws, 1, axis=1)).sum(axis=1).max() <= 2
    many = np.random.default_rng(3).random(300) * 0.1
    loads = np.array([_spread_up(rng, copies, many, run).sum(axis=1) for _ in range(200)])
    assert np.all(loads.max(axis=1) - loads.min(axis=1) <= 1)
    # fewer copies than min_run: all copies or none (identical copies)
    few = np.array([_spread_up(rng, 2, frac, run) for _ in range(500)])
    assert np.all(np.isin(few.sum(axis=1), (0, 2)))
    # min_run 1 is the rounding without it, draw for draw
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(_spread_up(a, copies, frac), _spread_up(b, copies, frac, 1))


def test_several_roundings_judged_under_the_defenses(monkeypatch):
    """``n_roundings``: every count vector is rounded that many times, each draw judged
    under the defenses, and the draw kept is the highest-scoring one -- the result's
    poison, whose exact evaluation agrees with its recorded score."""
    data = _counts(seed=1)
    monkeypatch.setattr(solvers, "DPP_MAX_D", 10)        # the text path at d = 40
    att = ReachableTargetAttack(epsilon=0.05, seeds=("decoys",), decoy_quantiles=(0.2,),
                                decoy_repeats=(3,), n_search=1, steps=2, n_mix=0,
                                climb_rounds=0, toward_rounds=0, n_screen=1, n_realise=1,
                                snap=False, seed_poisons=False, polish_rounds=0,
                                defenses=("l2", "svd", "knn"), n_roundings=3, min_run=2,
                                search_seconds=None).fit(data)
    res = att.result_.to_dict()
    draws = att.result_.realisation.candidates
    totals = sorted({r["n_poisons"] for r in draws})
    assert len(draws) == 3 * len(totals) and all(np.isfinite(r["score"]) for r in draws)
    scores = [r["score"] for r in draws]
    assert len(set(scores)) > 1                           # the draws differ
    if res["realisation_status"] != "eps_close":
        kept = max(scores)
        assert res["min_over_defenses"] == pytest.approx(kept, abs=1.5 / data.n_test)
        chosen = [r for r in draws if r["score"] == kept]
        assert res["distance_to_target"] in [r["distance_to_target"] for r in chosen]
