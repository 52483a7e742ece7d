"""Fuzzing the command line (issue 18): numeric flags and malformed model, poison, CSV and
TOML files.  Every case exits 0 or 2; exit 2 is exactly one line on standard error, never a
traceback, and leaves no output file behind.

Few examples per property and derandomised (the same cases every run); the commands run
on breast-cancer with budgets that stop at once, so the whole file takes seconds."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convexpoison.cli import main

BC = ["--dataset", "breast-cancer"]
FUZZ = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-inputs")
    assert main(["train", *BC, "--out", str(d / "model.npz")]) == 0
    assert main(["attack", "labelflip", *BC, "--epsilon", "0.05", "--out", str(d / "p.npz")]) == 0
    return {"model": str(d / "model.npz"), "poisons": str(d / "p.npz")}


def check_exit(capsys, argv, out_file=None):
    """Run; the case must exit 0, or 2 with one error line and no file at ``out_file``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("convexpoison: error: "), err
        assert out == ""
        if out_file is not None:
            assert not Path(out_file).exists()
    return code


numbers = st.one_of(
    st.floats(0, 2).map(repr), st.integers(0, 4).map(str),        # mostly valid: they run
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0", "1", "0.5", "1,2", "0x10",
                     "1_000", " 3", "", "abc", "5e-324", "2", "0.999999", "1e-9"]),
    st.text(max_size=6))

# (a cheap command line, a numeric flag) -- every command that takes the flag validates it
# the same way, at parse time
CASES = [
    (["train", *BC], "--reg"),
    (["attack", "labelflip", *BC, "--epsilon", "0.05"], "--p"),
    (["attack", "labelflip", *BC, "--epsilon", "0.05"], "--seed"),
    (["attack", "labelflip", *BC, "--method", "random"], "--epsilon"),
    (["evaluate", *BC, "--poisons", "{poisons}"], "--k"),
    (["evaluate", *BC, "--poisons", "{poisons}"], "--p"),
    (["attack", "mtp", *BC, "--target", "{model}", "--max-iter", "2"], "--budget"),
    (["attack", "mtp", *BC, "--target", "{model}", "--max-iter", "2"], "--eps-close"),
    (["attack", "mtp", *BC, "--target", "{model}", "--max-iter", "2"], "--copies"),
    (["attack", "mtp", *BC, "--target", "{model}", "--max-iter", "2"], "--goal-accuracy"),
    (["attack", "mtp", *BC, "--target", "{model}", "--budget", "2"], "--max-iter"),
    (["certify", "lower-bound", *BC, "--target", "{model}"], "--max-iter"),
    (["certify", "lower-bound", *BC, "--target", "{model}", "--max-iter", "1"], "--target-gap"),
]


@FUZZ
@given(case=st.sampled_from(CASES), value=numbers)
def test_numeric_flags_exit_0_or_2(files, tmp_path, capsys, case, value):
    prefix, flag = case
    argv = [a.format(**files) for a in prefix]
    out = tmp_path / "out.npz"
    out.unlink(missing_ok=True)
    outputs = [] if prefix[0] in ("evaluate", "certify") else ["--out", out]
    check_exit(capsys, [*argv, flag, value, *outputs, "--json"], out)


# ------------------------------------------------------------------ malformed files
def npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


arrays = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40).map(np.array),
    st.integers(-3, 3).map(lambda k: np.full((30,), k, dtype=np.int64)),
    st.integers(0, 40).map(lambda n: np.zeros((n, 30))),
    st.integers(0, 5).map(lambda n: np.ones((n, 29))),
    st.text(max_size=5).map(np.array),
    st.just(np.array([{"a": 1}], dtype=object)),
    st.just(np.zeros((2, 3, 30))),
)


def damaged(blob):
    """Truncations and byte flips of a valid file, random bytes and a zip of nothing."""
    return st.one_of(
        st.integers(0, len(blob)).map(lambda k: blob[:k]),
        st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)).map(
            lambda t: blob[:t[0]] + bytes([t[1]]) + blob[t[0] + 1:]),
        st.binary(max_size=200),
        st.just(_empty_zip()))


def _empty_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    return buf.getvalue()


def changed(blob, key, values):
    """The valid file with array ``key`` replaced by each of ``values``."""
    with np.load(io.BytesIO(blob)) as f:
        base = dict(f)
    return values.map(lambda v: npz_bytes({**base, key: v}))


def model_files(blob):
    keys = st.sampled_from(["w", "b", "model", "reg", "settings", "subpop_test", "has_subpop"])
    w = np.load(io.BytesIO(blob))["w"]
    scaled = st.floats(-5, 5).map(lambda c: c * w)             # valid: MTP runs toward it
    return st.one_of(st.just(blob), changed(blob, "w", st.one_of(scaled, arrays)),
                     changed(blob, "b", st.one_of(st.floats(-3, 3).map(np.float64), arrays)),
                     st.dictionaries(keys, arrays, max_size=4).map(npz_bytes), damaged(blob))


def poison_files(blob):
    keys = st.sampled_from(["X", "y", "weight", "meta"])
    n = len(np.load(io.BytesIO(blob))["y"])
    labels = st.lists(st.sampled_from([-1, 1, 0, 2]), min_size=n, max_size=n).map(np.array)
    copies = st.lists(st.floats(0, 5), min_size=n, max_size=n).map(np.array)
    return st.one_of(st.just(blob), changed(blob, "y", st.one_of(labels, arrays)),
                     changed(blob, "weight", st.one_of(copies, arrays)),
                     changed(blob, "X", arrays),
                     st.dictionaries(keys, arrays, max_size=4).map(npz_bytes), damaged(blob))


def fresh(tmp_path, name, content, out_name):
    """The input file ``name`` holding ``content``; ``out_name`` and ``run/`` not there."""
    import shutil

    f = tmp_path / name
    f.write_bytes(content)
    out = tmp_path / out_name
    out.unlink(missing_ok=True)
    shutil.rmtree(tmp_path / "run", ignore_errors=True)
    return f, out


@FUZZ
@given(data=st.data())
def test_malformed_model_files_exit_0_or_2(files, tmp_path, capsys, data):
    content = data.draw(model_files(Path(files["model"]).read_bytes()))
    f, out = fresh(tmp_path, "target.npz", content, "p.npz")
    check_exit(capsys, ["attack", "mtp", *BC, "--target", f, "--budget", "1", "--no-progress",
                        "--run-dir", tmp_path / "run", "--out", out], out)


@FUZZ
@given(data=st.data())
def test_malformed_poison_files_exit_0_or_2(files, tmp_path, capsys, data):
    content = data.draw(poison_files(Path(files["poisons"]).read_bytes()))
    f, res = fresh(tmp_path, "poisons.npz", content, "r.json")
    check_exit(capsys, ["evaluate", *BC, "--poisons", f, "--defense", "l2", "--out", res], res)


TOML_LINES = ['[data]', 'dataset = "breast-cancer"', 'dataset = 3', 'dataset = "nosuch"',
              '[attack]', 'name = "labelflip"', 'name = "nosuch"', 'epsilon = 0.05',
              'epsilon = [1, 2]', 'epsilon = "x"', 'epsilon = -1', 'epsilon = nan',
              '[target]', 'method = "koh"', 'error = "high"', '[problem]', 'name = "../x"',
              'name = "ok"', '[defense]', 'names = ["l2"]', 'names = 5', 'p = 2', 'seed = 0',
              'seed = "a"', '[certify]', 'name = "upper-bound"', 'budget = -5', 'bogus = 1',
              'data = 5', '[[attack]]', 'x = {a = 1}', 'slow = "yes"', '= broken', '[solver]',
              'name = "CLARABEL"']


VALID = ['[data]', 'dataset = "breast-cancer"', '[attack]', 'name = "labelflip"',
         'epsilon = 0.05']


@FUZZ
@given(lines=st.one_of(
    st.lists(st.sampled_from(TOML_LINES), max_size=10),
    st.tuples(st.integers(0, len(VALID)), st.sampled_from(TOML_LINES + [""])).map(
        lambda t: VALID[:t[0]] + [t[1]] + VALID[t[0] + 1:])),       # one line changed
    junk=st.one_of(st.just(""), st.text(max_size=20)))
def test_malformed_problem_files_exit_0_or_2(tmp_path, capsys, lines, junk):
    f = tmp_path / "p.toml"
    f.write_text("\n".join(lines) + "\n" + junk)
    check_exit(capsys, ["solve", f, "--check", "--json"])


@FUZZ
@given(rows=st.lists(st.lists(st.one_of(st.floats(allow_nan=True), st.text(max_size=3),
                                        st.integers()), min_size=0, max_size=4), max_size=8),
       label=st.sampled_from(["label", "0", "missing"]))
def test_malformed_csv_files_are_input_errors(tmp_path, rows, label):
    """``from_csv`` (the Python API's way in for the user's data) returns a dataset or
    raises InputError, whatever the file holds."""
    from convexpoison.datasets import from_csv
    from convexpoison.errors import InputError

    f = tmp_path / "d.csv"
    f.write_text("label,a,b,c\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    try:
        from_csv(f, label_column=label)
    except InputError as exc:
        assert "\n" not in str(exc)
