"""Every shipped problem file runs end to end with ``convexpoison solve`` (issue 9).

The files marked ``slow = true`` reproduce paper-sized experiments (minutes to an hour
each on 2 cores), so they run only with ``pytest -m slow``; the quick one runs in the
default suite (tests/test_cli.py)."""
import glob
import json
import tomllib

import pytest

from convexpoison.cli import main

SLOW = [f for f in sorted(glob.glob("problems/*.toml"))
        if tomllib.load(open(f, "rb")).get("problem", {}).get("slow")]


@pytest.mark.slow
@pytest.mark.parametrize("path", SLOW)
def test_slow_problem_file_runs(path, tmp_path, capsys):
    code = main(["solve", path, "--json", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err[-2000:]
    res = json.loads(capsys.readouterr().out)
    # every attack reports the clean and poisoned figures it was asked for
    assert res.get("status", "ok") != "failed"
    assert any(k in res for k in ("poisoned_test_error", "n_poisons", "curve")), sorted(res)
