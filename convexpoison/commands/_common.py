"""Arguments and steps that several commands share.

Commands never import each other: what two of them need lives here -- the flags and their
checks (:data:`FLAG_CHECKS`, applied by the parser to every command that has the flag), the
output-path check every command gets before any work (:func:`check_outputs`), reading the
target, poison and model files (:func:`load_target`, :func:`read_poisons`), the feasible set
(:func:`feasible_for`), MTP's run-directory record (:func:`run_record`) and the torch
helpers of the neural-network commands.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import InputError


def add_dataset(p, required=True):
    p.add_argument("--dataset", required=required, help="a bundled dataset (see 'convexpoison datasets')")


def add_reg(p):
    p.add_argument("--reg", type=float, default=None,
                   help="regularisation C_R (default: the dataset's validated value)")


def add_model(p, default="svm"):
    p.add_argument("--model", default=default, help="svm, logreg or multisvm")


def add_out(p, what="results"):
    p.add_argument("--out", default=None, help=f"write the {what} to this file")


def add_defense(p, default="l2,slab,loss,svd,knn"):
    p.add_argument("--defense", default=default,
                   help=f"comma-separated defenses among l2,slab,loss,svd,knn (default {default})")


def load(args):
    """The dataset named by ``--dataset`` and the regularisation to use."""
    from ..datasets import load_dataset

    data = load_dataset(args.dataset)
    reg = data.reg if getattr(args, "reg", None) is None else args.reg
    if not reg > 0:
        raise InputError(f"--reg: must be a positive number, got {reg}")
    return data, reg


def check_model_for(data, model):
    from ..training import check_model_kind

    check_model_kind(model, "--model", data)


def parse_list(value, allowed, name):
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise InputError(f"{name}: unknown value {bad[0] if bad else value!r}; choose from {','.join(allowed)}")
    return items


def progress(msg):
    """A line of progress on standard error (standard output is kept for results), printed
    above any progress bar that is showing."""
    from ..progress import write

    write(msg)


def add_scheduler(p):
    """``--scheduler``: run the command's sweep on a Dask cluster (beside ``--workers``)."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the sweep on the Dask cluster at this scheduler address "
                        "(e.g. tcp://127.0.0.1:8786; needs the 'dask' extra) instead of "
                        "local worker processes; results equal the serial run's")


def add_no_progress(p):
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines or bars on standard error")


def bars(args):
    """The ``progress_bar`` setting for ``--no-progress``: off, or on when stderr is a terminal."""
    return False if getattr(args, "no_progress", False) else None


# ----------------------------------------------------------------- the attack commands
def add_epsilon(p):
    from ..attacks.base import EPSILON_RANGE

    p.add_argument("--epsilon", type=float, required=True, help=f"poison budget: {EPSILON_RANGE}")


def add_use(p, test_help, train_help):
    """``--test-known`` (the default) / ``--train-only``: what the attacker knows (``args.use``)."""
    known = p.add_mutually_exclusive_group()
    known.add_argument("--test-known", dest="use", action="store_const", const="test",
                       help=test_help)
    known.add_argument("--train-only", dest="use", action="store_const", const="train",
                       help=train_help)
    p.set_defaults(use="test")


def add_p(p):
    p.add_argument("--p", type=float, default=0.05, help="fraction each defense removes per class")


def add_quantile(p, default=0.9, help=None):
    p.add_argument("--quantile", type=float, default=default,
                   help=help or "feasible-set thresholds: this quantile of the clean scores "
                                f"(default {default})")


def check_epsilon(value):
    """``--epsilon`` in the one range every attack accepts (:data:`~convexpoison.attacks.base.EPSILON_RANGE`)."""
    from ..attacks.base import check_epsilon as check

    return check(value, "--epsilon")


def check_budget(epsilon, data):
    """At least one poison point: ``n_poisons(epsilon, n) >= 1``."""
    from ..attacks.base import n_poisons

    try:
        return n_poisons(epsilon, data.n_train)
    except InputError as exc:
        msg = str(exc)
        raise InputError("--" + msg if msg.startswith("epsilon:") else msg) from None


def check_attack_flags(args):
    """The flags the data-set attacks share, checked before any work: ``--epsilon``,
    ``--defense`` (returned as a list of names), ``--p`` and ``--quantile``."""
    from ..defenses import DEFENSES

    check_epsilon(args.epsilon)
    defenses = parse_list(args.defense, DEFENSES, "--defense")
    check_p(args.p)
    check_quantile(args.quantile)
    return defenses


def check_quantile(value):
    if value is not None and not 0 < value <= 1:
        raise InputError(f"--quantile: must be in (0, 1], got {value}")


def check_p(value):
    """``--p``: the fraction of each class a defense removes."""
    if not 0 <= value < 1:
        raise InputError(f"--p: the fraction removed per class must be in [0, 1), got {value}")
    return value


def check_at_least(args, *names, low=1):
    """``--name >= low`` for each attribute in ``names`` that is set (not None)."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < low:
            raise InputError(f"--{name.replace('_', '-')}: must be at least {low}, got {value}")


def numbers(value, name, cast=float):
    """Comma-separated numbers of option ``name`` (``cast=int``: whole numbers only)."""
    out = []
    for v in str(value).split(","):
        v = v.strip()
        if not v:
            continue
        try:
            f = float(v)
        except ValueError:
            raise InputError(f"{name}: not a number: {v!r}") from None
        if cast is int and f != int(f):
            raise InputError(f"{name}: give whole numbers, got {v!r}")
        out.append(cast(f))
    if not out:
        raise InputError(f"{name}: give at least one value")
    return out


def reporting(args):
    """The ``progress`` and ``progress_bar`` settings of an attack for ``--no-progress``."""
    return {"progress": None if args.no_progress else progress, "progress_bar": bars(args)}


def fit_attack(attack, data, args):
    """Run ``attack`` on ``data``, write its poison set to ``--out`` if given; its result."""
    attack.fit(data)
    res = attack.result_
    if args.out:
        res.poisons.save(args.out)
    return res


def show_evaluation(res):
    """The table of a poison set's test errors under each defense (``evaluate``'s output)."""
    print(f"dataset {res['dataset']}  (C_R = {res['reg']:g}, p = {res['p']:g}, "
          f"{res['n_poisons']:g} poison points)")
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    print(f"{'defense':10s} {'test error':>10s} {'poison removed':>15s} {'clean removed':>14s}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f} {r['poison']:15g} {r['clean']:14g}")
    if res["min_over_defenses"] is not None:
        print(f"min over defenses       {res['min_over_defenses']:.4f}  ({res['best_defense']})")


def solver_fields(args) -> dict:
    """The ``solver`` (the one named, else the default SOCP solver) and ``status`` fields."""
    from ..solvers import default_solver

    return {"solver": args.solver or default_solver("SOCP"), "status": "optimal"}


def check_binary(data, what):
    if not data.is_binary:
        raise InputError(f"--dataset: the {what} attack is for binary datasets; {data.name} has "
                         f"{data.n_classes} classes")


def parse_feasible(args, allowed=("domain", "l2", "slab", "svd")):
    """``--feasible`` as a list of component names among ``allowed`` (None when not given)."""
    return None if args.feasible is None else parse_list(args.feasible, list(allowed), "--feasible")


def show_errors(res):
    """The test errors of an attack's poison: clean, undefended, per defense, the minimum."""
    print(f"clean test error        {res['clean_test_error']:.4f}")
    print(f"no defense              {res['no_defense_test_error']:.4f}")
    for name, err in res["per_defense"].items():
        r = res["removed"][name]
        print(f"{name:10s} {err:10.4f}   (removed {r['poison']:g} poison, {r['clean']:g} clean)")
    print(f"min over defenses       {res['poisoned_test_error']:.4f}")


def show_out(res):
    if res.get("out"):
        print(f"poison set written to {res['out']}")


# ------------------------------------------------------------ flag values, at parse time
def _number_check(low=None, high=None, low_open=False, high_open=False, what=None):
    """A check that a (finite) number lies in a range; ``what`` words the range."""
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    words = what or (f"must be in {lo}, {hi}" if low is not None and high is not None else
                     f"must be {'>' if low_open else '>='} {low:g}" if low is not None else
                     f"must be {'<' if high_open else '<='} {high:g}")

    def check(value):
        bad = ((low is not None and (value < low or (low_open and value == low))) or
               (high is not None and (value > high or (high_open and value == high))))
        if bad:
            raise InputError(f"{words}, got {value:g}")
        return value
    return check


def _epsilon_value(value):
    from ..attacks.base import EPSILON_RANGE

    if not 0 < value <= 1:
        raise InputError(f"must satisfy {EPSILON_RANGE}; got {value:g}")
    return value


_POSITIVE = _number_check(0, low_open=True, what="must be positive")
_NON_NEGATIVE = _number_check(0, what="must be non-negative")
_AT_LEAST_1 = _number_check(1, what="must be at least 1")
_OPEN_UNIT = _number_check(0, 1, True, True)
_UNIT = _number_check(0, 1)
_HALF_OPEN_UNIT = _number_check(0, 1, True, False)      # (0, 1]

#: The value checks of the flags, by ``dest``: the parser applies them to every command that
#: has the flag (so ``convexpoison solve --check`` validates a problem file with exactly the
#: checks the command uses); every float flag must moreover be finite.  A command's own
#: checks that need the data (a binary dataset, at least one poison point) stay in its ``run``.
FLAG_CHECKS = {
    "epsilon": _epsilon_value, "reg": _POSITIVE, "budget": _POSITIVE,
    "eps_close": _NON_NEGATIVE, "p": _number_check(0, 1, False, True),
    "quantile": _HALF_OPEN_UNIT, "percentile": _HALF_OPEN_UNIT, "error": _OPEN_UNIT,
    "target_error": _OPEN_UNIT, "max_accuracy": _UNIT, "goal_accuracy": _UNIT,
    "val_fraction": _number_check(0, 1, False, True), "screen_tol": _OPEN_UNIT, "lam": _UNIT,
    "tol": _NON_NEGATIVE, "target_gap": _NON_NEGATIVE, "tau": _NON_NEGATIVE,
    "neighbourhood": _NON_NEGATIVE,
    "cg_damping": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE,
    **{name: _POSITIVE for name in ("delta", "eta", "step", "attacker_lr", "defender_lr",
                                    "pretrain_lr", "g_lr", "d_lr", "c_lr", "eval_lr")},
    **{name: _AT_LEAST_1 for name in (
        "copies", "max_iter", "grid", "iterations", "max_decoys", "repeat_points", "restarts",
        "n_steps", "patience", "workers", "k", "clusters", "min_test", "rounds",
        "attacker_steps", "defender_steps", "cg_iters", "batch_size", "attack_batch_size",
        "n_eval", "eval_epochs", "per_class", "runs", "sample", "neighbours", "d_steps",
        "c_steps", "g_steps", "threads")},
    **{name: _NON_NEGATIVE for name in ("burn_in", "max_extra", "seed", "random_state",
                                        "cluster", "autoencoder_epochs", "pretrain_epochs")},
}


def dataset_name(value):
    """``--dataset``: a bundled dataset's name (checked before any work)."""
    from ..datasets import list_datasets

    names = list_datasets(include_optional="available")
    if value not in names:
        raise InputError(f"unknown dataset {value!r}; choose one of {', '.join(names)}")
    return value


# ------------------------------------------------------------------------- output paths
#: Flags that name something a command writes, by ``dest``: ``file`` (its folder must exist
#: and be writable; the suffix of :data:`SUFFIXES` is completed), ``json`` (the same, the
#: name kept as given) or ``dir`` (created; its parent folder must exist and be writable).  A
#: command module overrides entries with its own ``OUTPUTS`` (``audit --out`` is a folder).
OUTPUT_FLAGS = {"out": "file", "run_dir": "dir", "figure": "file", "checkpoint": "file"}

#: The suffix a file flag's writer appends when it is missing (``numpy.savez`` appends
#: ``.npz``, a figure without one is a PNG): the path is completed before the run, so the
#: JSON ``out`` field names the file that is written.
SUFFIXES = {"out": ".npz", "figure": ".png"}


def _probe(folder: Path, flag: str):
    """Create and remove a temporary file in ``folder``: the one sure test of writability
    (``os.access`` answers yes for root on read-only and virtual file systems like /proc)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".convexpoison-probe-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InputError(f"{flag}: cannot write in {folder}/ ({exc.strerror or exc})") from None


def _check_parent(path: Path, flag: str, create_parents: bool):
    parent = path.parent if str(path.parent) else Path(".")
    if create_parents:                     # the default folder: the nearest existing one counts
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.exists():
        raise InputError(f"{flag}: folder {parent}/ does not exist (create it first)")
    if not parent.is_dir():
        raise InputError(f"{flag}: {parent} is not a folder")
    _probe(parent, flag)


def check_output(path, flag, kind="file", default=False) -> str:
    """Check, before any work, that ``path`` can be written as a ``kind`` ('file', 'json' or
    'dir'); nothing is created.  ``default``: the path is the command's default or lies
    under :data:`OUT_ROOT`, so its missing parent folders may be created.  Returns the path
    as written (suffix completed)."""
    dest = flag.lstrip("-").replace("-", "_")
    path = os.fspath(path)
    if not path.strip():
        raise InputError(f"{flag}: empty path")
    if kind == "json":
        kind = "file"
    elif kind == "file":
        suffix = SUFFIXES.get(dest)
        if suffix == ".npz":
            from ..fileio import npz_path

            path = npz_path(path)
        elif suffix and not Path(path).suffix:
            path += suffix
    p = Path(path)
    if kind == "file":
        if p.is_dir():
            raise InputError(f"{flag}: {path} is a folder; give a file name")
        _check_parent(p, flag, default)
    else:
        if p.exists() and not p.is_dir():
            raise InputError(f"{flag}: {path} exists and is not a folder")
        if p.is_dir():
            _probe(p, flag)
        else:
            _check_parent(p, flag, default)
    return path


#: The output root: output folders below it (``out/audit``, ``out/<problem>``) are created
#: with their parents; anywhere else an output's parent folder must exist (a typo such as
#: ``/nonexistent_dir/x`` is an error, not a new folder tree).
OUT_ROOT = "out"


def _under_out_root(path) -> bool:
    parts = Path(path).parts
    return (not Path(path).is_absolute() and len(parts) > 1 and parts[0] == OUT_ROOT
            and ".." not in parts)


def check_outputs(args, parser, outputs=None) -> list:
    """:func:`check_output` for every output flag of the command that is set (completing
    suffixes in ``args``); the folders among them that do not exist yet."""
    kinds = {**OUTPUT_FLAGS, **(outputs or {})}
    missing = []
    for action in parser._actions:
        kind = kinds.get(action.dest)
        value = getattr(args, action.dest, None)
        if kind is None or not action.option_strings or not isinstance(value, str):
            continue
        flag = action.option_strings[-1]
        path = check_output(value, flag, kind,
                            default=value == action.default or (kind == "dir" and
                                                                 _under_out_root(value)))
        setattr(args, action.dest, path)
        if kind == "dir" and not Path(path).exists():
            missing.append(path)
    return missing


# ---------------------------------------------------------------- reading the input files
def _check_npz(path, flag, what):
    """``path`` exists and is an ``.npz`` archive (a zip file); else a one-line error that
    says what the flag expects (never a suggestion to load pickles)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{flag}: file not found: {path}")
    if not p.is_file():
        raise InputError(f"{flag}: {path} is not a file")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(f"{flag}: cannot read {path} ({exc.strerror or exc})") from None
    if magic != b"PK\x03\x04":
        raise InputError(f"{flag}: {path} is not {what}")


#: What reading a damaged or foreign ``.npz`` may raise besides InputError: OSError,
#: ValueError, zipfile.BadZipFile, zlib.error, KeyError, EOFError, ... -- whatever numpy's
#: and zipfile's parsers meet in a file that is not what the flag expects.
_UNREADABLE = (Exception,)

MODEL_FILE = "a model file (an .npz with arrays w and b, as 'convexpoison train' or 'target' writes)"
POISON_FILE = "a poison-set file (an .npz with arrays X, y and weight)"


def _finite_model(model, flag):
    import numpy as np

    if not (np.all(np.isfinite(model.w)) and np.all(np.isfinite(model.b))):
        raise InputError(f"{flag}: the model's w and b must be finite numbers")
    return model


def load_model(path, flag, data=None):
    """A linear model file given as ``flag``, checked (finite; ``w`` of the data's shape)."""
    from ..training import LinearModel

    _check_npz(path, flag, MODEL_FILE)
    try:
        model = LinearModel.load(path)
    except InputError as exc:
        raise InputError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None
    except _UNREADABLE:                 # a damaged archive, arrays of text or Python objects
        raise InputError(f"{flag}: {path} is not {MODEL_FILE}") from None
    _finite_model(model, flag)
    if data is not None:
        want = (data.d,) if data.is_binary else (data.n_classes, data.d)
        if model.w.shape != want:
            raise InputError(f"{flag}: the model has w of shape {model.w.shape}; {data.name} "
                             f"needs {want}")
    return model


def load_target(path, data, flag="--target"):
    """A target file: the binary model (checked against ``data``), plus the subpopulation
    ``(X_sub, y_sub)`` of the test set when the file records one (else None)."""
    from ..targets import Target

    model = load_model(path, flag)
    subpop = None
    try:
        t = Target.load(path)
        if getattr(t, "subpop", None) is not None:
            idx = t.subpop.get("test") if isinstance(t.subpop, dict) else t.subpop[1]
            if idx is not None and len(idx):
                subpop = (data.X_test[idx], data.y_test[idx])
    except InputError:
        pass                                    # a plain model file: no subpopulation
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is a model file with a damaged target record "
                         f"(settings or subpopulation indices that do not fit {data.name})") from None
    if model.w.shape != (data.d,):
        raise InputError(f"{flag}: the model has w of shape {model.w.shape}; {data.name} "
                         f"needs a binary model with w of shape ({data.d},)")
    return model, subpop


def read_poisons(path, data, flag="--poisons"):
    """A poison-set file checked against ``data`` (features, labels, copy counts)."""
    import numpy as np

    from ..poisons import PoisonSet

    _check_npz(path, flag, POISON_FILE)
    try:
        with np.load(path, allow_pickle=False) as f:       # the labels first: they are
            y = np.asarray(f["y"]).ravel() if "y" in f else None   # checked against the data
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is not {POISON_FILE}") from None
    if y is not None and y.size:
        allowed = [-1, 1] if data.is_binary else list(range(data.n_classes))
        labels = sorted(set(y.tolist()))
        if not set(labels) <= set(allowed):
            kind = "binary" if data.is_binary else f"{data.n_classes}-class"
            raise InputError(f"{flag}: {data.name} is {kind}, so labels must be among "
                             f"{', '.join(map(str, allowed))}; found "
                             f"{', '.join(str(v) for v in labels)}")
    try:
        ps = PoisonSet.load(path)
    except InputError as exc:
        raise InputError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None
    except _UNREADABLE:
        raise InputError(f"{flag}: {path} is not {POISON_FILE}") from None
    if len(ps) and ps.d != data.d:
        raise InputError(f"{flag}: poison points have {ps.d} features, {data.name} has {data.d}")
    return ps


def feasible_for(names, data, reg=None):
    """The feasible set of ``--feasible`` (comma-separated among domain,l2,slab,svd)."""
    from ..feasible import make_feasible_set

    names = parse_list(names, ["domain", "l2", "slab", "svd"], "--feasible")
    if names == ["domain"]:
        return data.domain                     # the pure domain: closed forms apply
    return make_feasible_set(names if "domain" in names else ["domain"] + names, data.domain,
                             data.X_train, data.y_train)


# --------------------------------------------------------- MTP's run-directory record
#: What defines an MTP problem, by the flag that sets it: a run directory continues only
#: the problem it was started for.
PROBLEM_FLAGS = {"dataset": "--dataset", "target": "--target", "reg": "--reg",
                 "defender": "--model", "feasible": "--feasible", "integer": "--integer"}


def problem_fingerprint(data, target, reg, feasible, integer, defender="svm") -> dict:
    """The problem a run solves: the dataset's content hash, the target's hash, ``C_R``,
    the defender, the feasible set's components and the integer mode."""
    import hashlib

    import numpy as np

    from ..attacks.base import data_fingerprint

    h = hashlib.sha256()
    for a in (np.asarray(target.w, float), np.asarray(target.b, float)):
        h.update(np.ascontiguousarray(a).tobytes())
    names = parse_list(feasible, ["domain", "l2", "slab", "svd"], "--feasible")
    return {"dataset": f"{data.name} sha256:{data_fingerprint(data.X_train, data.y_train)}",
            "target": f"sha256:{h.hexdigest()}", "reg": float(reg),
            "defender": f"{defender} (hinge loss, bias regularised)",
            "feasible": ",".join(sorted(set(names) | {"domain"})), "integer": str(integer)}


class run_record:
    """Guard MTP's run directory: ``record = run_record(...)`` checks, before any work;
    ``with record:`` around the run writes the record and cleans up after a failure.

    With ``resume``, the directory's ``problem.json`` must describe ``problem``: a resume
    toward another target, ``C_R``, dataset, feasible set or integer mode is refused (one
    line naming the flag).  Without a run to continue, ``resume`` says it starts fresh.
    A fresh run writes ``problem.json`` first; if the run then fails before completing an
    iteration (no ``state.npz``), the directory it created is removed (no leftover folder).
    """

    def __init__(self, run_dir, problem: dict, resume: bool, say=None):
        import json

        note = say or (lambda m: None)
        self.run_dir, self.problem = (None if run_dir is None else Path(run_dir)), problem
        self.continues = self.write = False
        if self.run_dir is None:
            if resume:
                note("convexpoison: note: --resume without --out or --run-dir: there is no "
                     "run to continue; starting a fresh run")
            return
        path = self.run_dir / "problem.json"
        has_run = (self.run_dir / "state.npz").exists()
        if resume and not has_run:
            note(f"convexpoison: note: --resume: no run in {self.run_dir}/ yet; starting a "
                 "fresh run")
        self.continues = resume and has_run and path.exists()
        # the record is written for a fresh run (or adopted by a resumed run that predates
        # it) -- never over another run's, which MTP itself refuses to overwrite
        self.write = not (has_run or (self.run_dir / "history.jsonl").exists()) or (
            resume and has_run and not path.exists())
        if not self.continues:
            return
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise InputError(f"--resume: {path} is not valid JSON") from None

        def short(v):                     # a hash is recognisable by its first digits
            return re.sub(r"(sha256:[0-9a-f]{12})[0-9a-f]+", r"\1...", repr(v))

        for key, flag in PROBLEM_FLAGS.items():
            if key in old and old[key] != problem[key]:
                raise InputError(f"{flag}: differs from the problem the run in {self.run_dir}/ "
                                 f"was started for ({key}: {short(old[key])}, now "
                                 f"{short(problem[key])}); resume with the same problem or "
                                 "choose another --run-dir/--out")

    def __enter__(self):
        from ..fileio import dumps, write_text

        self.created = self.run_dir is not None and not self.run_dir.exists()
        if self.write:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.run_dir / "problem.json", dumps(self.problem, indent=1))
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and self.created and not (self.run_dir / "state.npz").exists():
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)
        return False


# ---------------------------------------------------- the neural-network commands (torch)
def import_nn():
    """``convexpoison.nn``, or an InputError telling how to install torch."""
    try:
        from .. import nn
    except ImportError as exc:
        raise InputError(f"torch: the neural-network attacks need PyTorch ({exc}); "
                         "pip install 'convexpoison[torch]'") from None
    return nn


def load_data(args):
    """The ``--dataset``, its training set cut to the first ``--n-train`` rows when given."""
    from dataclasses import replace

    from ..datasets import load_dataset

    data = load_dataset(args.dataset)
    if args.n_train is not None:
        if args.n_train < 10:
            raise InputError(f"--n-train: need at least 10 rows, got {args.n_train}")
        data = replace(data, X_train=data.X_train[:args.n_train], y_train=data.y_train[:args.n_train])
    return data


def hidden_widths(value):
    """``--hidden``: comma-separated positive layer widths (None: the default)."""
    if value is None:
        return None
    try:
        widths = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated widths, got {value!r}") from None
    if not widths or min(widths) < 1:
        raise InputError(f"--hidden: expected positive widths, got {value!r}")
    return widths
