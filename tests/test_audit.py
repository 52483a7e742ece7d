"""The main job end to end (issue 9): ``convexpoison audit`` on a small bundled dataset
writes a report whose table is the numbers of ``results.json``, figures that are real
PNGs, and certificates consistent with the attacks it ran."""
import json

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
