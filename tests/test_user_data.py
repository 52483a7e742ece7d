"""The user's own data and the user's own defender, end to end (issue 17, acceptance).

``convexpoison audit --data wine01.csv --label label --defender svc:C=1 --out OUT`` on a
CSV this file writes (scikit-learn's wine, classes 0 and 1, labels 0/1, features scaled to
[0, 1]); the flags' bad input (one line naming the flag, exit 2, no folder); an estimator
file and an ``.npz`` as ``--defender`` and ``--data``.  Real solvers and real data; the
defender's numbers are checked against scikit-learn's own fits."""
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from convexpoison.cli import build_parser, main
from convexpoison.datasets import DomainWarning


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("convexpoison: error: ")


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """wine01.csv: load_wine's classes 0 and 1 (labels 0/1, column 'label'), each feature
    min-max scaled to [0, 1] as a user would before training an SVM."""
    from sklearn.datasets import load_wine

    d = tmp_path_factory.mktemp("wine")
    frame = load_wine(as_frame=True).frame
    frame = frame[frame["target"] < 2]
    X = frame.drop(columns="target")
    X = (X - X.min()) / (X.max() - X.min())
    X["label"] = frame["target"].to_numpy()
    path = d / "wine01.csv"
    X.to_csv(path, index=False)
    return path


def test_audit_of_a_users_csv_against_svc(wine, tmp_path, capsys):
    """The acceptance command runs end to end; the verdict is in errors with each defense's
    own clean baseline; the clean model is scikit-learn's SVC(kernel='linear', C=1)."""
    from sklearn.svm import SVC

    from convexpoison.datasets import from_csv

    out = tmp_path / "OUT"
    code, stdout, err = run(capsys, ["audit", "--data", wine, "--label", "label",
                                     "--defender", "svc:C=1", "--out", out, "--json",
                                     "--no-progress"])
    assert code == 0, err
    res = json.loads(stdout)
    assert res["defender"] == "svm:C=1.0,intercept=free" and res["defender_source"] == "svc:C=1"
    assert res["data"]["description"] == f"CSV file {wine}"
    assert res["data"]["reg_source"].startswith("the defender's own")
    r = json.loads((out / "results.json").read_text())
    assert r["defender"]["spec"] == "svm:C=1.0,intercept=free"
    assert r["settings"]["defender"] == "svm:C=1.0,intercept=free"
    # every attack took the defender: it ran, or refused this defender in one line naming
    # it -- none was handed a default-defender model it did not ask for
    for name, a in r["attacks"].items():
        assert a["status"] == "ok" or a["status"].startswith("not applicable: "), \
            (name, a["status"])
    # the target and the certificates, too: computed for this defender, or refused by name
    assert "target_test_error" in r["target"], r["target"]
    certs = r["certificates"]
    for c in [certs["upper_bound"], *certs["lower_bound"].values()]:
        status = str(c.get("status", ""))
        assert not status.startswith("failed"), status
    # the clean baseline is scikit-learn's SVC(kernel="linear", C=1) on the same split
    with pytest.warns(DomainWarning):
        data = from_csv(wine, "label", reg=1.0)
    svc = SVC(kernel="linear", C=1.0, tol=1e-10).fit(data.X_train, data.y_train)
    n = data.n_test
    assert r["clean"]["test_error"] == pytest.approx(np.mean(svc.predict(data.X_test)
                                                             != data.y_test))
    h = r["headline"]
    assert h["n_test"] == n == 39 and h["resolution"] == pytest.approx(1 / n)
    base = h["baselines"]
    assert base["no defense"]["error"] == r["clean"]["test_error"]
    for d, e in r["clean"]["per_defense"].items():      # each defense's own clean baseline
        assert base[d]["error"] == e and base[d]["mistakes"] == round(e * n)
    w = h["worst"]
    assert w["baseline"] == base[w["defense"]]["error"]
    assert w["rise"] == pytest.approx(w["error"] - w["baseline"])
    attack = r["attacks"][w["attack"]]
    measured = (attack["no_defense_test_error"] if w["defense"] == "no defense"
                else attack["per_defense"][w["defense"]])
    assert w["error"] == measured and w["mistakes"] == round(measured * n)
    assert f"of {n}" in res["verdict"] and "percentage points" in res["verdict"]
    md = (out / "report.md").read_text()
    assert "svm:C=1.0,intercept=free" in md and "svc:C=1" in md and str(wine) in md
    # report.html alone, in another folder, still shows its figures
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(out / "report.html", alone / "report.html")
    page = (alone / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 1
    assert ".png\"" not in page


# ------------------------------------------------------------------ bad input, per flag
@pytest.fixture(scope="module")
def bad_files(wine, tmp_path_factory):
    from sklearn.svm import SVC, LinearSVC

    d = tmp_path_factory.mktemp("bad")
    (d / "empty.csv").write_text("")
    (d / "text.csv").write_text("a,b,label\n" + "1,x,0\n" * 6 + "1,2,1\n" * 6)
    (d / "short.json").write_text(json.dumps({"lower": [0, 0], "upper": 1}))
    (d / "noint.json").write_text(json.dumps({"lower": 0.2, "upper": 0.8, "integer": True}))
    (d / "notjson.json").write_text("{lower: 0")
    joblib.dump(SVC(kernel="rbf"), d / "rbf.joblib")
    joblib.dump(LinearSVC(), d / "sqhinge.joblib")          # the squared hinge: not mapped
    joblib.dump({"C": 1}, d / "dict.joblib")
    (d / "garbage.pkl").write_text("not a pickle")
    return d


BAD = [
    (["--data", "{d}/missing.csv", "--label", "label"], "--data"),
    (["--data", "{d}/empty.csv", "--label", "label"], "--data"),
    (["--data", "{d}/text.csv", "--label", "label"], "--data"),
    (["--data", "{d}", "--label", "label"], "--data"),                      # a folder
    (["--data", "{wine}"], "--label"),                                      # CSV without it
    (["--data", "{wine}", "--label", "nosuch"], "--label"),
    (["--dataset", "breast-cancer", "--label", "label"], "--label"),        # without --data
    (["--data", "{wine}", "--label", "label", "--positive", "7"], "--positive"),
    (["--data", "{wine}", "--dataset", "breast-cancer", "--label", "label"], "--dataset"),
    (["--data", "{wine}", "--label", "label", "--domain", "box:0"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "cube"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "box:1:0"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "box:0:0.5"], "--domain"),  # rows outside
    (["--data", "{wine}", "--label", "label", "--domain", "{d}/short.json"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "{d}/noint.json"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "{d}/notjson.json"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--domain", "{d}/missing.json"], "--domain"),
    (["--dataset", "breast-cancer", "--domain", "box:0:0.5"], "--domain"),
    (["--data", "{wine}", "--label", "label", "--defender", "svc:C=-1"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "rbf:C=1"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "svc:gamma=1"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "{d}/rbf.joblib"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "{d}/sqhinge.joblib"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "{d}/dict.joblib"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "{d}/garbage.pkl"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "{d}/missing.joblib"], "--defender"),
    (["--data", "{wine}", "--label", "label", "--defender", "svc:C=1", "--reg", "0.1"], "--reg"),
]


@pytest.mark.parametrize("argv,flag", BAD)
def test_bad_user_input_is_one_line_naming_the_flag_and_leaves_no_folder(
        wine, bad_files, tmp_path, capsys, argv, flag):
    out = tmp_path / "audit-out"
    argv = [a.format(d=bad_files, wine=wine) for a in argv]
    code, stdout, err = run(capsys, ["audit", *argv, "--out", out, "--no-progress"])
    assert code == 2 and one_error_line(err) and f"error: {flag}:" in err, err
    assert stdout == "" and not out.exists()


@pytest.mark.parametrize("command", [["train"], ["evaluate", "--poisons", "p.npz"],
                                     ["attack", "kkt", "--epsilon", "0.03"],
                                     ["certify", "upper-bound", "--epsilon", "0.03"],
                                     ["target"]])
def test_every_command_takes_the_new_flags(wine, bad_files, tmp_path, capsys, command):
    for argv, flag in [(["--defender", "svc:C=0"], "--defender"),
                       (["--domain", "box:2:1"], "--domain"),
                       (["--label", "label"], "--label")]:
        code, stdout, err = run(capsys, [*command, "--dataset", "breast-cancer", *argv])
        assert code == 2 and one_error_line(err) and f"error: {flag}:" in err, (command, err)
    code, stdout, err = run(capsys, [*command, "--data", bad_files / "text.csv", "--label",
                                     "label"])
    assert code == 2 and one_error_line(err) and "error: --data:" in err and "row 2" in err


def test_defender_help_says_a_pickle_file_runs_code():
    parser = build_parser()
    audit = parser._subparsers._group_actions[0].choices["audit"]
    text = " ".join(audit.format_help().split())
    assert "--defender SPEC" in text and "UNPICKLED" in text and "trust" in text
    assert "--data FILE" in text and "--domain SPEC" in text and "--label COL" in text


# ------------------------------------------------------------------ what works
def test_estimator_file_as_defender_trains_what_scikit_learn_fits(wine, tmp_path, capsys):
    """``--defender FILE``: the unpickled SVC(kernel='linear', C=0.5) is what ``train``
    trains: scikit-learn's own fit on the same split predicts the same test labels and has
    the same objective."""
    from sklearn.svm import SVC

    from convexpoison.datasets import from_csv

    est = tmp_path / "svc.joblib"
    joblib.dump(SVC(kernel="linear", C=0.5), est)
    model = tmp_path / "m.npz"
    code, stdout, err = run(capsys, ["train", "--data", wine, "--label", "label",
                                     "--defender", est, "--out", model, "--json"])
    assert code == 0, err
    res = json.loads(stdout)
    assert res["defender"] == "svm:C=0.5,intercept=free"
    assert res["defender_source"].endswith(f"from {est}") and "SVC(" in res["defender_source"]
    assert res["bias_regularized"] is False
    with pytest.warns(DomainWarning):               # the domain is the data's box
        data = from_csv(wine, "label", reg=1.0)
    ref = SVC(kernel="linear", C=0.5, tol=1e-12).fit(data.X_train, data.y_train)
    with np.load(model) as f:
        w, b = f["w"], float(f["b"])
    ours = np.where(data.X_test @ w + b > 0, 1, -1)
    assert np.array_equal(ours, ref.predict(data.X_test))
    # scikit-learn's objective 1/2 |w|^2 + C sum hinge, at both solutions
    def obj(w, b):
        return 0.5 * w @ w + 0.5 * np.maximum(0, 1 - data.y_train * (data.X_train @ w + b)).sum()
    ours_obj, ref_obj = obj(w, b), obj(ref.coef_.ravel(), float(ref.intercept_[0]))
    assert ours_obj <= ref_obj * (1 + 1e-6)


def test_csv_without_regularisation_gets_cross_validated_reg(wine, capsys):
    code, stdout, err = run(capsys, ["train", "--data", wine, "--label", "label", "--json"])
    assert code == 0, err
    res = json.loads(stdout)
    assert res["data"]["reg_source"] == "cross-validation"
    assert res["defender"] == f"svm:reg={res['reg']!r},intercept=penalized"
    assert "DomainWarning" not in err and err.count("convexpoison: warning:") == 1
    assert "--domain" in err                       # the inferred domain, said in one line


def test_npz_with_01_labels_and_a_domain_file(tmp_path, capsys):
    """An .npz of 0/1 labels is a binary set (the larger value +1); a JSON domain sets
    per-feature bounds and integer flags; C_R given by --reg is reported as given."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(60, 3)).astype(float)
    y = (X[:, 0] + rng.normal(0, 1, 60) > 2).astype(int)
    np.savez(tmp_path / "d.npz", X_train=X[:40], y_train=y[:40], X_test=X[40:], y_test=y[40:])
    (tmp_path / "dom.json").write_text(json.dumps({"lower": 0, "upper": [4, 4, 9],
                                                    "integer": True}))
    code, stdout, err = run(capsys, ["train", "--data", tmp_path / "d.npz", "--domain",
                                     tmp_path / "dom.json", "--reg", "0.05", "--json",
                                     "--out", tmp_path / "m.npz"])
    assert code == 0, err
    res = json.loads(stdout)
    assert res["data"]["n_train"] == 40 and res["data"]["n_test"] == 20
    assert res["data"]["reg_source"] == "given (--reg)" and res["data"]["domain"] == "integer"
    assert err == ""                                   # the domain was given: no warning
    with np.load(tmp_path / "m.npz") as f:             # binary: one weight vector
        assert f["w"].shape == (3,) and np.ndim(f["b"]) == 0
    # the same set as the package's labels {-1, +1}: the same model
    np.savez(tmp_path / "pm.npz", X_train=X[:40], y_train=2 * y[:40] - 1, X_test=X[40:],
             y_test=2 * y[40:] - 1)
    assert main(["train", "--data", str(tmp_path / "pm.npz"), "--reg", "0.05", "--domain",
                 str(tmp_path / "dom.json"), "--out", str(tmp_path / "m2.npz")]) == 0
    with np.load(tmp_path / "m.npz") as f, np.load(tmp_path / "m2.npz") as g:
        assert np.array_equal(f["w"], g["w"]) and float(f["b"]) == float(g["b"])


def test_run_audit_takes_a_dataset_and_checks_the_defender_before_writing(wine, tmp_path):
    from convexpoison.audit import AuditSettings, run_audit
    from convexpoison.datasets import from_csv
    from convexpoison.errors import InputError
    from sklearn.svm import SVC

    with pytest.warns(DomainWarning):
        data = from_csv(wine, "label", reg=0.01)
    out = tmp_path / "a"
    with pytest.raises(InputError, match="defender"):
        run_audit(AuditSettings(dataset=data, defender=SVC(kernel="rbf")), out, progress=False)
    assert not out.exists()


def test_audit_of_a_logistic_regression_runs_what_covers_it_and_proves_nothing(wine, tmp_path):
    """LogisticRegression(C=1): the attacks for any loss run against scikit-learn's own
    model; the hinge-only attacks and every certificate say they do not apply (never a
    number computed for another model), and the verdict says nothing is proven."""
    from sklearn.linear_model import LogisticRegression

    from convexpoison.audit import NOT_APPLICABLE, AuditSettings, run_audit
    from convexpoison.datasets import from_csv
    from convexpoison.defender import fit_estimator

    with pytest.warns(DomainWarning):
        data = from_csv(wine, "label", reg=0.01)
    r = run_audit(AuditSettings(dataset=data, defender=LogisticRegression(C=1.0),
                                attacks=("labelflip", "mtp", "minmax")), tmp_path / "a",
                  progress=False)
    assert r["defender"]["loss"] == "logistic"
    assert r["attacks"]["labelflip"]["status"] == "ok" == r["attacks"]["minmax"]["status"]
    assert r["attacks"]["mtp"]["status"].startswith(NOT_APPLICABLE)
    certs = r["certificates"]
    for c in [certs["upper_bound"], *certs["lower_bound"].values()]:
        assert c["status"].startswith(NOT_APPLICABLE) and "upper_bound" not in c
    assert "Nothing is proven for this defender" in r["verdict"]
    # the clean model is scikit-learn's: same test predictions
    ref = fit_estimator(LogisticRegression(C=1.0, tol=1e-10, max_iter=10000),
                        data.X_train, data.y_train)
    assert r["clean"]["test_error"] == ref.error(data.X_test, data.y_test)
    # the poisoned undefended error is scikit-learn's refit on train + poison
    ps = np.load(tmp_path / "a" / "poisons-minmax.npz")
    k = ps["weight"].astype(int) if "weight" in ps.files else np.ones(len(ps["y"]), int)
    X = np.vstack([data.X_train, ps["X"]])
    y = np.concatenate([data.y_train, ps["y"]])
    refit = fit_estimator(LogisticRegression(C=1.0, tol=1e-10, max_iter=10000), X, y,
                          np.concatenate([np.ones(data.n_train, int), k]))
    assert r["attacks"]["minmax"]["no_defense_test_error"] == refit.error(data.X_test,
                                                                           data.y_test)
