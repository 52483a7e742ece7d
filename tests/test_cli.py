"""Command-line contract (docs/cli.md): JSON on stdout, exit status 2 for bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from convexpoison.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_datasets_json_lists_the_bundled_sets(capsys):
    code, out, _ = run_cli(capsys, "datasets", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["datasets"]}
    for name in ["mnist17", "mnist10", "fmnist-sneaker-boot", "spambase", "adult", "digits17",
                 "breast-cancer"]:
        assert name in rows
        for key in ("n_train", "n_test", "d", "classes", "domain"):
            assert key in rows[name]
    assert rows["mnist10"]["classes"] == 10 and rows["mnist17"]["d"] == 784


def test_datasets_table_marks_a_c_r_no_cross_validation_chose():
    from convexpoison.commands.datasets import show

    rows = [{"name": n, "n_train": 10, "n_test": 5, "d": 2, "classes": 2, "reg": 0.09,
             "reg_source": src, "domain": {"kind": "box", "lo": 0, "hi": 1}}
            for n, src in (("validated", "data/reg.json (cross-validation)"),
                           ("unvalidated", "fallback"))]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        show({"datasets": rows})
    lines = buf.getvalue().splitlines()
    assert "0.09 " in lines[1] and "0.09*" not in lines[1]
    assert "0.09*" in lines[2] and lines[-1].startswith("* C_R not chosen by cross-validation")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        show({"datasets": rows[:1]})
    assert "*" not in buf.getvalue()


def test_train_json_fields_and_model_file(capsys, tmp_path):
    out_file = tmp_path / "model.npz"
    code, out, _ = run_cli(capsys, "train", "--dataset", "mnist17", "--model", "svm", "--json",
                           "--out", str(out_file))
    assert code == 0
    res = json.loads(out)
    for key in ("clean_test_error", "objective", "reg", "bias_regularized", "seconds", "solver",
                "status"):
        assert key in res
    assert res["clean_test_error"] <= 0.03
    f = np.load(out_file)
    assert f["w"].shape == (784,)


@pytest.mark.parametrize("argv, word", [
    (["train", "--dataset", "nope"], "nope"),
    (["train", "--dataset", "mnist17", "--model", "tree"], "--model"),
    (["train", "--dataset", "mnist17", "--reg", "-1"], "--reg"),
    (["train", "--dataset", "mnist10", "--model", "svm"], "--model"),
    (["train"], "--dataset"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, word):
    code = None
    try:
        code = main(argv)
    except SystemExit as exc:       # argparse errors
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and word in lines[0]


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "convexpoison", "datasets", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["datasets"]


def test_json_output_is_strict_json(capsys):
    from convexpoison.fileio import jsonable
    assert jsonable({"a": float("nan"), "b": [float("inf"), 1.5], "c": float("-inf")}) == {
        "a": None, "b": [None, 1.5], "c": None, "c_reason": "-infinity"}


def test_problem_files_are_valid(capsys):
    import glob

    files = sorted(glob.glob("problems/*.toml"))
    assert files
    for f in files:
        code, out, _ = run_cli(capsys, "solve", f, "--check", "--json")
        assert code == 0, f
        assert json.loads(out)["status"] == "valid"


def test_malformed_problem_file_names_the_field(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\ndataset = "mnist17"\n[attack]\nname = "mtp"\neps_closse = 0.1\n')
    code, _, err = run_cli(capsys, "solve", str(bad), "--check")
    assert code == 2 and "eps_closse" in err and len(err.strip().splitlines()) == 1
    bad.write_text('[data]\n[attack]\nname = "mtp"\n')
    code, _, err = run_cli(capsys, "solve", str(bad), "--check")
    assert code == 2 and "dataset" in err


def test_quick_problem_runs_end_to_end(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "solve", "problems/quick-mtp-breast-cancer.toml", "--json",
                           "--out", str(tmp_path))
    assert code == 0
    res = json.loads(out)
    assert res["n_poisons"] == 20 and res["stop_reason"] == "budget"
    assert res["lower_bound"] >= 1          # Theorem 4.2 certified something for the target
    assert (tmp_path / "target.npz").exists() and (tmp_path / "attack-mtp.npz").exists()
