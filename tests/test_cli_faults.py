"""The command line under bad input and faults (issue 18): nothing computed in vain, nothing
ambiguous, nothing written astray.

Every command is driven for real (bundled breast-cancer data, real solvers); budgets are
small so that the runs stop in seconds."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from convexpoison.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
QUICK = str(REPO / "problems" / "quick-mtp-breast-cancer.toml")
BC = ["--dataset", "breast-cancer"]


def strict_json(text):
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


#: What counts as "work": reading a dataset, training a model, solving a program.  A bad
#: flag must be refused before any of these is entered (checked by the calls themselves,
#: not by a wall-clock limit, which a loaded machine would break).
WORK = {("datasets.py", "_read_npz"), ("datasets.py", "_read_idx"), ("datasets.py", "from_csv"),
        ("training.py", "train"), ("problem.py", "solve")}


def run(capsys, argv):
    """Run the command line; return (exit code, stdout, stderr, the work functions entered)."""
    entered = []

    def spy(frame, event, arg):
        if event == "call":
            code = frame.f_code
            key = (Path(code.co_filename).name, code.co_name)
            if key in WORK:
                entered.append(key)

    sys.setprofile(spy)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:                  # --help / --version only
        code = exc.code
    finally:
        sys.setprofile(None)
    out, err = capsys.readouterr()
    return code, out, err, entered


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return (len(lines) == 1 and lines[0].startswith("convexpoison: error: ")
            and "Traceback" not in err)


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A model, a Koh target and a poison set on breast-cancer, made by the commands."""
    d = tmp_path_factory.mktemp("inputs")
    assert main(["train", *BC, "--out", str(d / "model.npz")]) == 0
    assert main(["target", *BC, "--error", "0.1", "--no-progress", "--out", str(d / "target")]) == 0
    assert main(["attack", "labelflip", *BC, "--epsilon", "0.05", "--out", str(d / "poisons.npz")]) == 0
    for name in ("model.npz", "target.npz", "poisons.npz"):
        assert (d / name).is_file()
    return {"model": str(d / "model.npz"), "target": str(d / "target.npz"),
            "poisons": str(d / "poisons.npz"), "dir": d}


def command_lines(f):
    """A valid command line of every command (without --out)."""
    T, P = f["target"], f["poisons"]
    eps = ["--epsilon", "0.03"]
    return {
        "datasets": ["datasets"],
        "train": ["train", *BC],
        "target": ["target", *BC],
        "attack mtp": ["attack", "mtp", *BC, "--target", T],
        "attack kkt": ["attack", "kkt", *BC, *eps],
        "attack minmax": ["attack", "minmax", *BC, *eps],
        "attack influence": ["attack", "influence", *BC, *eps],
        "attack labelflip": ["attack", "labelflip", *BC, *eps],
        "attack min-poison": ["attack", "min-poison", *BC, "--target", T],
        "attack reachable-target": ["attack", "reachable-target", *BC, *eps],
        "attack tgda": ["attack", "tgda", *BC],
        "attack pgan": ["attack", "pgan", *BC],
        "certify lower-bound": ["certify", "lower-bound", *BC, "--target", T],
        "certify upper-bound": ["certify", "upper-bound", *BC, *eps],
        "evaluate": ["evaluate", *BC, "--poisons", P],
        "audit": ["audit", *BC],
        "solve": ["solve", QUICK],
    }


def test_every_command_is_covered(files):
    names = set()
    for k, v in COMMANDS.items():
        names |= {f"{k} {sub}" for sub in v} if isinstance(v, dict) else {k}
    assert set(command_lines(files)) == names


BAD_OUT = ["afile/x.npz", "/nonexistent_dir/x.npz", "/proc/x.npz"]


@pytest.mark.parametrize("bad", BAD_OUT)
def test_unwritable_out_exits_2_before_any_work(files, tmp_path, capsys, monkeypatch, bad):
    """Every command: exit 2, one line naming --out, no traceback, before any data is read,
    model trained or program solved, nothing written anywhere."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a regular file, not a folder\n")
    (tmp_path / "adir").mkdir()
    before = tree(tmp_path)
    for name, argv in command_lines(files).items():
        code, out, err, work = run(capsys, [*argv, "--out", bad, "--json"])
        assert code == 2, (name, err)
        assert one_error_line(err) and "--out" in err, (name, err)
        assert out == "" and work == [], (name, work)
        assert tree(tmp_path) == before, name
        assert not Path("/nonexistent_dir").exists()
    # a regular file where a folder is expected (audit and solve write folders)
    for name in ("audit", "solve"):
        code, _, err, _ = run(capsys, [*command_lines(files)[name], "--out", "afile"])
        assert code == 2 and one_error_line(err) and "--out" in err
    assert tree(tmp_path) == before


def test_out_names_the_file_written(files, tmp_path, capsys):
    """``--out name`` writes ``name.npz`` and the JSON ``out`` says so; the file is complete
    (written to a temporary name and renamed) and no temporary file is left."""
    code, out, _, _ = run(capsys, ["train", *BC, "--out", tmp_path / "m", "--json"])
    assert code == 0
    res = strict_json(out)
    assert res["out"] == str(tmp_path / "m.npz")
    assert tree(tmp_path) == ["m.npz"]
    assert np.load(tmp_path / "m.npz")["w"].shape == (30,)


# ------------------------------------------------------------------ flag values
@pytest.mark.parametrize("argv, flag", [
    (["attack", "kkt", *BC, "--epsilon", "1.5"], "--epsilon"),
    (["attack", "kkt", *BC, "--epsilon", "nan"], "--epsilon"),
    (["certify", "upper-bound", *BC, "--epsilon", "0"], "--epsilon"),
    (["audit", *BC, "--epsilon", "2"], "--epsilon"),
    (["attack", "mtp", *BC, "--target", "t.npz", "--budget", "-5"], "--budget"),
    (["attack", "mtp", *BC, "--target", "t.npz", "--eps-close", "inf"], "--eps-close"),
    (["attack", "mtp", *BC, "--target", "t.npz", "--eps", "0.1"], "--eps"),    # no abbreviations
    (["target", *BC, "--error", "high"], "--error"),
    (["train", *BC, "--reg", "1e400"], "--reg"),
    (["evaluate", *BC, "--poisons", "p.npz", "--k", "0"], "--k"),
    (["train", "--dataset", "nosuch"], "--dataset"),
])
def test_bad_flag_values_are_one_line_before_any_work(capsys, argv, flag):
    code, out, err, work = run(capsys, argv)
    assert code == 2 and one_error_line(err) and flag in err and out == ""
    assert work == [], work


def test_epsilon_range_is_worded_once(capsys):
    from convexpoison.attacks.base import EPSILON_RANGE

    for argv in (["attack", "kkt", *BC, "--epsilon", "3"], ["audit", *BC, "--epsilon", "3"],
                 ["certify", "upper-bound", *BC, "--epsilon", "3"],
                 ["attack", "tgda", *BC, "--epsilon", "3"]):
        code, _, err, _ = run(capsys, argv)
        assert code == 2 and EPSILON_RANGE in err, argv


def test_help_shows_defaults_and_every_flag_has_help():
    import argparse

    from convexpoison.cli import build_parser

    def walk(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
        for a in subs:
            for name, p in a.choices.items():
                yield from walk(p, path + [name])

    for path, parser in walk(build_parser(), []):
        for action in parser._actions:
            if action.option_strings:
                assert action.help, (path, action.dest)
        text = parser.format_help()
        if path == ["attack", "mtp"]:
            assert "--eps-close" in text and "(default: 0.1)" in text
        if path == ["audit"]:
            assert "(default: 0.03)" in text


# ------------------------------------------------------------------ messages
def test_text_file_as_target_is_not_a_model_file(files, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("w,b\n1,2\n")
    code, _, err, _ = run(capsys, ["attack", "mtp", *BC, "--target", text])
    assert code == 2 and one_error_line(err) and "--target" in err
    assert "not a model file" in err and "pickle" not in err


def test_nan_target_names_the_flag_and_leaves_nothing(files, tmp_path, capsys):
    m = np.load(files["model"])
    np.savez(tmp_path / "nan.npz", w=np.full_like(m["w"], np.nan), b=m["b"])
    code, _, err, _ = run(capsys, ["attack", "mtp", *BC, "--target", tmp_path / "nan.npz",
                                   "--out", tmp_path / "p.npz"])
    assert code == 2 and one_error_line(err) and "--target" in err and "finite" in err
    assert tree(tmp_path) == ["nan.npz"]                 # no .run folder, no poison file


def test_poison_labels_of_another_label_set_are_named(files, tmp_path, capsys):
    ps = np.load(files["poisons"])
    np.savez(tmp_path / "p.npz", X=ps["X"], y=np.where(ps["y"] > 0, 2, 0), weight=ps["weight"])
    code, _, err, _ = run(capsys, ["evaluate", *BC, "--poisons", tmp_path / "p.npz"])
    assert code == 2 and one_error_line(err) and "--poisons" in err
    assert "-1, 1" in err and "found 0, 2" in err


def test_audit_with_a_bad_dataset_leaves_no_folder(tmp_path, capsys):
    code, _, err, _ = run(capsys, ["audit", "--dataset", "nosuch", "--out", tmp_path / "a1"])
    assert code == 2 and one_error_line(err)
    assert not (tmp_path / "a1").exists()


def test_unset_parameter_is_an_input_error():
    import cvxpy as cp

    from convexpoison.errors import InputError
    from convexpoison.solvers import solve

    x, a = cp.Variable(), cp.Parameter(name="a")
    with pytest.raises(InputError, match="parameters: a have no value"):
        solve(cp.Problem(cp.Minimize(cp.square(x - a))), "QP")


def test_warnings_are_one_line_messages(capsys):
    import warnings

    from convexpoison.cli import _warnings_as_messages

    with _warnings_as_messages():
        warnings.warn("training: coordinate descent stalled", RuntimeWarning)
    err = capsys.readouterr().err
    assert err == "convexpoison: warning: training: coordinate descent stalled\n"


# ------------------------------------------------------------------ problem files
@pytest.mark.parametrize("body, words", [
    ('[target]\nmethod = "koh"\nerror = "high"\n[attack]\nname = "mtp"\n', ["[target]", "--error"]),
    ('[attack]\nname = "kkt"\nepsilon = [1, 2]\n', ["[attack]", "--epsilon"]),
    ('[target]\nmethod = "koh"\n[attack]\nname = "mtp"\nbudget = -5\n', ["[attack]", "--budget"]),
    ('[attack]\nname = "mtp"\n', ["[attack]", "--target"]),
    ('[problem]\nname = "../../escape"\n[attack]\nname = "kkt"\nepsilon = 0.03\n', ["name"]),
    ('[attack]\nname = "kkt"\nepsilon = 1.5\n', ["--epsilon"]),
    ('[attack]\nname = "kkt"\nepsilon = 0.001\n', ["--epsilon", "less than one poison point"]),
])
def test_solve_check_validates_values_and_cross_field_rules(tmp_path, capsys, monkeypatch,
                                                            body, words):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "p.toml"
    f.write_text('[data]\ndataset = "breast-cancer"\n' + body)
    code, _, err, _ = run(capsys, ["solve", f, "--check"])
    assert code == 2 and one_error_line(err), err
    assert all(w in err for w in words), err
    # and the run itself stops before any step, leaving no folder
    code, _, err, _ = run(capsys, ["solve", f])
    assert code == 2 and one_error_line(err)
    assert tree(tmp_path) == ["p.toml"]


# ------------------------------------------------------------------ Ctrl-C
def _start(argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), CONVEXPOISON_PROGRESS_EVERY="0",
               OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "convexpoison", *map(str, argv)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _interrupt_after_progress(proc, word, timeout=120, sig=signal.SIGINT):
    """SIGINT (or ``sig``) once the command printed a progress line containing ``word``."""
    t0, seen = time.time(), ""
    while time.time() - t0 < timeout:
        line = proc.stderr.readline()
        seen += line
        if word in line or not line:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return out, seen + err


def test_ctrl_c_exits_130_for_every_command(files, tmp_path, ctrl_c):
    """The rule (README): an interrupted command exits 130.  MTP keeps what it found: it
    writes the partial poison set and prints its result with "interrupted": true; a
    command with no partial result to give (the audit) prints {"status": "interrupted",
    ...} under --json."""
    proc = _start(["attack", "mtp", *BC, "--target", files["target"], "--eps-close", "0",
                   "--budget", "5000", "--out", "p.npz", "--json"], tmp_path)
    out, err = _interrupt_after_progress(proc, "MTP: ")
    assert proc.returncode == 130, err
    res = strict_json(out)
    assert res["interrupted"] is True and res["stop_reason"] == "interrupted"
    assert 0 < res["n_poisons"] < 5000 and "Traceback" not in err
    assert np.load(tmp_path / "p.npz")["weight"].sum() == res["n_poisons"]

    proc = _start(["audit", *BC, "--out", "aud", "--json"], tmp_path)
    out, err = _interrupt_after_progress(proc, "[audit]")
    assert proc.returncode == 130, err
    assert strict_json(out) == {"status": "interrupted", "interrupted": True}
    assert "Traceback" not in err


def test_sigterm_is_a_ctrl_c_with_exit_status_143(files, tmp_path):
    """SIGTERM (kill, timeout, a batch scheduler; the way to stop a command run in the
    background, which ignores Ctrl-C): what was found is kept as at a Ctrl-C, and the exit
    status is 143."""
    proc = _start(["attack", "mtp", *BC, "--target", files["target"], "--eps-close", "0",
                   "--budget", "5000", "--out", "p.npz", "--json"], tmp_path)
    out, err = _interrupt_after_progress(proc, "MTP: ", sig=signal.SIGTERM)
    assert proc.returncode == 143, err
    res = strict_json(out)
    assert res["interrupted"] is True and 0 < res["n_poisons"] < 5000
    assert np.load(tmp_path / "p.npz")["weight"].sum() == res["n_poisons"]
    assert "terminated (SIGTERM)" in err and "exit status 143" in err
    assert "Traceback" not in err

    proc = _start(["audit", *BC, "--out", "aud", "--json"], tmp_path)
    out, err = _interrupt_after_progress(proc, "[audit]", sig=signal.SIGTERM)
    assert proc.returncode == 143, err
    assert strict_json(out) == {"status": "interrupted", "interrupted": True}
    assert "terminated (SIGTERM); exit status 143" in err and "Traceback" not in err


# ------------------------------------------------------------------ MTP resume
def _mtp(files, out, *extra, target=None):
    return ["attack", "mtp", *BC, "--target", target or files["target"], "--eps-close", "0",
            "--budget", "30", "--out", out, "--no-progress", "--json", *extra]


def test_resume_after_sigkill_is_bit_identical_and_refuses_another_problem(files, tmp_path,
                                                                           capsys):
    assert run(capsys, _mtp(files, tmp_path / "full.npz"))[0] == 0
    proc = _start(_mtp(files, tmp_path / "cut.npz"), tmp_path)
    history = tmp_path / "cut.run" / "history.jsonl"
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    proc.kill()                                        # SIGKILL: no chance to clean up
    proc.communicate()
    assert not (tmp_path / "cut.npz").exists()         # killed before it finished
    # a resume toward another target, C_R or integer mode: exit 2 naming the flag
    other = tmp_path / "other.npz"
    assert run(capsys, ["target", *BC, "--method", "improved", "--error", "0.15",
                        "--no-progress", "--out", other])[0] == 0
    for extra, flag, target in (([], "--run-dir", other),           # no --resume: refused
                                (["--resume"], "--target", other),
                                (["--resume", "--reg", "0.5"], "--reg", None),
                                (["--resume", "--integer", "relax"], "--integer", None),
                                (["--resume", "--feasible", "l2"], "--feasible", None)):
        code, out, err, _ = run(capsys, _mtp(files, tmp_path / "cut.npz", *extra, target=target))
        assert code == 2 and one_error_line(err) and err.split()[2] == flag + ":", err
    # the same problem resumes exactly
    code, out, _, _ = run(capsys, _mtp(files, tmp_path / "cut.npz", "--resume"))
    assert code == 0
    full, cut = np.load(tmp_path / "full.npz"), np.load(tmp_path / "cut.npz")
    for key in ("X", "y", "weight"):
        assert np.array_equal(full[key], cut[key]), key
    # history.jsonl is strict JSON (a run without a subpopulation records null, not NaN)
    for line in history.read_text().splitlines():
        assert strict_json(line)["subpop_accuracy"] is None


def test_resume_with_another_dataset_is_refused(tmp_path, capsys):
    """mnist17 and fmnist-sneaker-boot have the same dimension: only the content hash of
    the data tells them apart."""
    assert main(["train", "--dataset", "mnist17", "--out", str(tmp_path / "m.npz")]) == 0
    argv = ["--target", tmp_path / "m.npz", "--budget", "1", "--out", tmp_path / "p.npz",
            "--no-progress"]
    assert run(capsys, ["attack", "mtp", "--dataset", "mnist17", *argv])[0] == 0
    code, _, err, _ = run(capsys, ["attack", "mtp", "--dataset", "fmnist-sneaker-boot", *argv,
                                   "--resume"])
    assert code == 2 and one_error_line(err) and "--dataset:" in err


def test_resume_without_a_run_says_it_starts_fresh(files, tmp_path, capsys):
    code, out, err, _ = run(capsys, _mtp(files, tmp_path / "new.npz", "--resume", "--budget", "2"))
    assert code == 0 and "starting a fresh run" in err
    code, out, err, _ = run(capsys, ["attack", "mtp", *BC, "--target", files["target"],
                                     "--budget", "2", "--resume", "--no-progress"])
    assert code == 0 and "starting a fresh run" in err


# ------------------------------------------------------------------ progress and JSON
def test_mtp_json_writes_progress_lines_to_a_log_while_it_runs(tmp_path):
    """``attack mtp --json 2> log`` on mnist17: plain progress lines (rate, ETA, the best
    certified bound) reach the log before the run ends; stdout holds the JSON alone."""
    # a target: the SVM trained with another C_R (cheaper to make than a Koh target)
    assert main(["train", "--dataset", "mnist17", "--reg", "1", "--out", str(tmp_path / "t.npz")]) == 0
    log = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=str(REPO), CONVEXPOISON_PROGRESS_EVERY="0",
               OMP_NUM_THREADS="1")
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "convexpoison", "attack", "mtp",
                                 "--dataset", "mnist17", "--target", str(tmp_path / "t.npz"),
                                 "--budget", "8", "--json"], stdout=subprocess.PIPE,
                                stderr=fh, text=True, env=env)
        seen_while_running = False
        while proc.poll() is None:
            if "MTP: " in log.read_text():
                seen_while_running = True
            time.sleep(0.05)
        out = proc.stdout.read()
    assert proc.returncode == 0 and seen_while_running
    lines = [line for line in log.read_text().splitlines() if line.startswith("MTP: ")]
    assert len(lines) >= 8
    assert "ETA" in lines[0] and ("it/s" in lines[0] or "s/it" in lines[0])
    bounds = [int(line.rsplit("best_bound=", 1)[1].split(",")[0]) for line in lines]
    assert bounds == sorted(bounds)                    # the best so far never decreases
    res = strict_json(out)
    assert bounds[-1] == res["lower_bound"] and res["solver"]


def test_every_json_output_is_strict(files, tmp_path, capsys, monkeypatch):
    """No NaN/Infinity in any command's JSON; an infinite value is null plus a reason."""
    from convexpoison.fileio import dumps, jsonable

    assert jsonable({"lb": float("inf"), "a": float("nan"), "l": [float("-inf")]}) == {
        "lb": None, "lb_reason": "+infinity", "a": None, "l": [None]}
    assert strict_json(dumps({"x": np.float64("nan"), "y": [np.inf]})) == {"x": None, "y": [None]}
    with pytest.raises(TypeError):
        dumps({"x": object()})
    monkeypatch.chdir(tmp_path)
    T, P = files["target"], files["poisons"]
    for argv in (["datasets"], ["train", *BC], ["evaluate", *BC, "--poisons", P],
                 ["attack", "mtp", *BC, "--target", T, "--budget", "3", "--no-progress"],
                 ["attack", "labelflip", *BC, "--epsilon", "0.03"],
                 ["attack", "influence", *BC, "--epsilon", "0.03", "--max-iter", "1",
                  "--no-progress"],
                 ["certify", "upper-bound", *BC, "--epsilon", "0.03", "--no-progress"],
                 ["certify", "lower-bound", *BC, "--target", T, "--max-iter", "2",
                  "--no-progress", "--out", "lb.json"],
                 ["solve", QUICK, "--check"]):
        code, out, err, _ = run(capsys, [*argv, "--json"])
        assert code == 0, (argv, err)
        res = strict_json(out)
        assert isinstance(res, dict) and res, argv
    assert strict_json(Path("lb.json").read_text())["lower_bound"] >= 1


@pytest.mark.slow
def test_every_json_output_is_strict_slow_commands(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["attack", "kkt", *BC, "--epsilon", "0.03", "--grid", "1", "--repeats", "1",
                  "--quantiles", "0.1", "--max-decoys", "1"],
                 ["attack", "minmax", *BC, "--epsilon", "0.01", "--decoy", "none"],
                 ["attack", "min-poison", *BC, "--target", files["target"]],
                 ["target", *BC], ["audit", *BC, "--attacks", "labelflip", "--out", "aud"]):
        code, out, err, _ = run(capsys, [*argv, "--no-progress", "--json"])
        assert code == 0, (argv, err)
        strict_json(out)
    strict_json((tmp_path / "aud" / "results.json").read_text())
