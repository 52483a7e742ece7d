"""The main job end to end (issue 9): ``convexpoison audit`` on a small bundled dataset
writes a report whose table is the numbers of ``results.json``, figures that are real
PNGs, and certificates consistent with the attacks it ran."""
import json

import numpy as np
import pytest

from convexpoison.cli import main
from convexpoison.report import _pct


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    code = main(["audit", "--dataset", "breast-cancer", "--out", str(out), "--no-progress"])
    assert code == 0
    return out, json.loads((out / "results.json").read_text())


def test_report_numbers_are_the_results_json_numbers(audit):
    out, res = audit
    report = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert res["verdict"] in report
    for name, a in res["attacks"].items():
        assert a["status"] == "ok", (name, a["status"])
        # every per-defense error of every attack appears, formatted, in both documents
        row = " | ".join(_pct(a["per_defense"][d]) for d in res["settings"]["defenses"])
        assert row in report, name
        assert _pct(a["min_over_defenses"]) in html
        assert a["min_over_defenses"] == min(a["per_defense"].values())


def test_figures_are_png_files_and_certificates_are_consistent(audit):
    out, res = audit
    assert res["figures"]
    for fig in res["figures"].values():
        path = out / fig
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n", path
    ub = res["certificates"]["upper_bound"]
    # U adds the attacker's non-negative terms to the clean objective: never below it
    assert ub["upper_bound"] >= ub["clean_objective"] - 1e-9
    lb = res["certificates"]["lower_bound"]
    # the optimal bound maximises over all models, MTP's intermediate ones included, and
    # the min-poison LP computes the same optimum by another program
    assert lb["intermediate"]["lower_bound"] <= lb["optimal"]["lower_bound"]
    assert abs(lb["lp"]["lower_bound"] - lb["optimal"]["lower_bound"]) <= 1


# --------------------------------------------------------------- the verdict in errors
def _table(res):
    """(attack, defense) -> test error, recomputed from the attack table of results.json,
    with "no defense" a column like the others; and each defense's clean baseline."""
    base = {"no defense": res["clean"]["test_error"], **res["clean"]["per_defense"]}
    cells = {}
    for name, a in res["attacks"].items():
        cells[(name, "no defense")] = a["no_defense_test_error"]
        for d, e in a["per_defense"].items():
            cells[(name, d)] = e
    return base, cells


def test_headline_is_the_table_recomputed(audit):
    _, res = audit
    h = res["headline"]
    n = res["dataset"]["n_test"]
    assert h["n_test"] == n and h["resolution"] == pytest.approx(1 / n)
    base, cells = _table(res)
    assert set(cells) == {(a, d) for a in res["attacks"] for d in base}
    # every error is a count of mistakes over the n test points
    for e in list(cells.values()) + list(base.values()):
        assert abs(e * n - round(e * n)) < 1e-9
    for d, b in h["baselines"].items():
        assert b["error"] == base[d] and b["mistakes"] == round(base[d] * n)
    # the worst cell is the max over the whole table, defenses (and none) included
    w = h["worst"]
    assert w["error"] == max(cells.values()) == cells[(w["attack"], w["defense"])]
    assert w["error"] >= max(a["no_defense_test_error"] for a in res["attacks"].values())
    assert w["baseline"] == base[w["defense"]]
    assert w["rise"] == pytest.approx(w["error"] - base[w["defense"]], abs=1e-15)
    assert (w["mistakes"], w["baseline_mistakes"]) == (round(w["error"] * n), round(w["baseline"] * n))
    assert w["rise_mistakes"] == w["mistakes"] - w["baseline_mistakes"]
    r = h["largest_rise"]
    assert r["rise"] == pytest.approx(max(e - base[d] for (a, d), e in cells.items()), abs=1e-15)
    # the defender's best choice: the lowest worst-over-attacks error of any defense
    c = h["defender_choice"]
    worst_of = {d: max(e for (a, dd), e in cells.items() if dd == d) for d in base}
    assert c["error"] == min(worst_of.values()) == worst_of[c["defense"]]
    assert c["error"] == cells[(c["worst_attack"], c["defense"])]
    assert c["clean_error"] == base[c["defense"]]
    assert c["best_clean_error"] == min(base.values()) == base[c["best_clean_defense"]]
    # and the sentences state these numbers, as percentages and counts
    assert f"{100 * w['error']:.1f}% ({w['mistakes']} of {n})" in res["verdict"]
    assert f"one test point is {100 / n:.2f}%" in res["verdict"]


def test_certified_errors_are_sound_and_labelled(audit):
    from convexpoison.datasets import load_dataset
    from convexpoison.feasible import make_feasible_set
    from convexpoison.poisons import PoisonSet
    from convexpoison.training import train

    out, res = audit
    certs = res["headline"]["certified"]
    assert {c["status"] for c in certs} == {"proven", "approximate"}
    U = res["certificates"]["upper_bound"]["upper_bound"]
    n_train, n_test = res["dataset"]["n_train"], res["dataset"]["n_test"]
    (train_err,) = [c for c in certs if c["quantity"] == "clean training error"]
    assert train_err["status"] == "proven" and train_err["value"] == U
    assert train_err["mistakes"] == int(U * n_train) and train_err["of"] == n_train
    (approx,) = [c for c in certs if c["status"] == "approximate"]
    assert approx["quantity"] == "test error" and approx["text"].startswith("Approximate, not proven")
    (lb,) = [c for c in certs if c["quantity"].startswith("poison points")]
    assert lb["status"] == "proven" and "that one model only" in lb["text"]
    assert lb["value"] == max(v["lower_bound"] for v in res["certificates"]["lower_bound"].values())

    # The proven ceiling, checked on every attack's poisons: keep those inside F (the
    # certificate's defender), train on all clean points plus them, count the clean
    # training points with margin <= 0.
    data = load_dataset(res["dataset"]["name"])
    s = res["settings"]
    F = make_feasible_set(["domain", "l2", "slab"], data.domain, data.X_train, data.y_train,
                          quantile=1 - s["p"])
    for name in res["attacks"]:
        P = PoisonSet.load(out / f"poisons-{name}.npz")
        keep = F.contains(P.X, P.y)
        X = np.vstack([data.X_train, P.X[keep]])
        y = np.concatenate([data.y_train, P.y[keep]])
        sw = np.concatenate([np.ones(n_train), P.weight[keep]])
        m = train(X, y, "svm", s["reg"], sample_weight=sw)
        margins = data.y_train * (data.X_train @ m.w + m.b)
        assert np.sum(margins <= 0) <= train_err["mistakes"], name

    # No approximate figure is labelled proven: in the report and the verdict, every line
    # or sentence stating the figure about the *test* error says it is approximate.
    pct = f"{100 * U:.1f}%"
    report = (out / "report.md").read_text()
    pieces = report.splitlines() + res["verdict"].split(". ")
    hits = [p for p in pieces if pct in p]
    assert any("Approximate" in p for p in hits) and any("Proven" in p for p in hits)
    for p in hits:
        if "test error" in p and "Approximate" not in p:
            raise AssertionError(f"the approximate test-error figure stated as proven: {p!r}")
    html = (out / "report.html").read_text()
    for doc in (report, html):
        assert "DESIGN" not in doc and "§" not in doc


def test_report_html_embeds_every_figure(audit, tmp_path):
    import base64
    import re
    import shutil

    out, res = audit
    # copied alone, the page still has every figure: each is a data: URI of its PNG
    shutil.copy(out / "report.html", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    for fig in res["figures"].values():
        uri = "data:image/png;base64," + base64.b64encode((out / fig).read_bytes()).decode()
        assert f'src="{uri}"' in html, fig
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]*)"', html)
    assert len(srcs) == len(res["figures"])
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
