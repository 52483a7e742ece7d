"""Declarative problem files (``problems/*.toml``; docs/problems.md) and how they run.

Part of the command-line layer: a problem file is a sequence of command lines, parsed and
checked by the commands' own parser (:func:`convexpoison.cli.parse`), so
``convexpoison solve --check`` applies every value check a command applies at parse time.

A problem file is the declarative form of one or two command-line runs: an optional
``[target]`` recipe (run as ``convexpoison target``) followed by the ``[attack]`` (run
as ``convexpoison attack NAME``) or a ``[certify]`` step, on the ``[data]`` section's
dataset.  Every key of a section is a flag of that command (``eps_close`` is
``--eps-close``) and is validated against the command's own parser, so a problem file
can never drift from the command line::

    [problem]
    name = "mtp-mnist17"
    description = "Suya et al. indiscriminate MTP on MNIST 1-vs-7"
    slow = false                  # excluded from the default test suite when true

    [data]
    dataset = "mnist17"
    reg = 0.09                    # optional; the dataset's validated C_R otherwise

    [target]                      # optional
    method = "koh"
    error = 0.10

    [attack]
    name = "mtp"
    eps_close = 0.1

    [defense]                     # optional: defenses for attacks that take --defense
    names = ["l2", "slab", "loss"]

    seed = 0                      # optional (passed as --random-state where accepted)
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

SECTIONS = {"problem", "data", "target", "attack", "certify", "defense", "solver", "seed"}
TABLES = {"problem", "data", "target", "attack", "certify", "defense"}

#: A problem's name names its output folder ``out/<name>``: letters, digits, ``.``, ``_``,
#: ``-``, not starting with a dot (so never a path that leaves ``out/``).
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

#: Placeholder for the file an earlier step writes (the target), when only checking.
LATER = "<written by the target step>"


@dataclass
class Problem:
    path: Path
    name: str
    description: str = ""
    slow: bool = False
    steps: list = field(default_factory=list)      # [(command path, {flag: value})]


def _flag_names(parser):
    out = {}
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                out[opt[2:].replace("-", "_")] = action
    return out


def _subparser(root, path):
    parser = root
    for word in path:
        sub = next((a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"),
                   None)
        if sub is None or word not in sub.choices:
            return None
        parser = sub.choices[word]
    return parser


def _check_keys(where, values, parser, path):
    known = _flag_names(parser)
    for key in values:
        if key not in known or key in ("json", "help"):
            hint = ", ".join(sorted(k for k in known if k not in ("json", "help")))
            raise InputError(f"{where}: unknown field {key!r} for '{' '.join(path)}' (known: {hint})")
    return known


def load_problem(path) -> Problem:
    """Parse and validate a problem file: its structure, then every step's command line
    with the command's own parser (flag values, required flags), before anything runs.
    Errors name the file, section and field or flag."""
    from ..cli import build_parser

    path = Path(path)
    if not path.is_file():
        raise InputError(f"problem file not found: {path}")
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    for key, value in doc.items():
        if key not in SECTIONS:
            raise InputError(f"{path}: unknown section or field {key!r} (known: {', '.join(sorted(SECTIONS))})")
        if key in TABLES and not isinstance(value, dict):
            raise InputError(f"{path}: {key!r} must be a [{key}] section")
    meta = doc.get("problem", {})
    data = dict(doc.get("data", {}))
    if "dataset" not in data:
        raise InputError(f"{path}: [data] needs a 'dataset' field")
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InputError(f"{path} [problem] name: {name!r} must be a plain name (letters, digits, "
                         "'.', '_', '-'; it names the output folder out/<name>)")
    prob = Problem(path, name, str(meta.get("description", "")), bool(meta.get("slow", False)))
    root = build_parser()
    common = dict(data)
    if "solver" in doc:
        solver = doc["solver"]
        common["solver"] = solver.get("name") if isinstance(solver, dict) else solver
    if "target" in doc:
        tgt = {**{k: v for k, v in common.items() if k in ("dataset", "reg", "model")}, **doc["target"]}
        _check_keys(f"{path} [target]", tgt, _subparser(root, ["target"]), ["target"])
        prob.steps.append((["target"], tgt))
    if ("attack" in doc) == ("certify" in doc):
        raise InputError(f"{path}: give exactly one of [attack] or [certify]")
    kind = "attack" if "attack" in doc else "certify"
    section = dict(doc[kind])
    if "name" not in section:
        raise InputError(f"{path}: [{kind}] needs a 'name' field")
    cmd = [kind, str(section.pop("name"))]
    parser = _subparser(root, cmd)
    if parser is None:
        raise InputError(f"{path} [{kind}]: unknown {kind} {cmd[1]!r}")
    flags = _flag_names(parser)
    values = {k: v for k, v in common.items() if k in flags}
    values.update(section)
    defense = doc.get("defense", {})
    if defense.get("names") is not None:
        names = defense["names"]
        values["defense"] = ",".join(map(str, names)) if isinstance(names, list) else str(names)
    if "p" in defense:
        values["p"] = defense["p"]
    if "seed" in doc and "random_state" in flags:
        values["random_state"] = doc["seed"]
    _check_keys(f"{path} [{kind}]", values, parser, cmd)
    prob.steps.append((cmd, values))
    check_steps(prob, root)
    return prob


def _argv(cmd, values):
    argv = list(cmd)
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _commands(problem, out, root, check_only):
    """Each step's argv, with the target file passed on and the outputs placed in ``out``."""
    steps, target_file = [], None
    for cmd, values in problem.steps:
        values = dict(values)
        flags = _flag_names(_subparser(root, cmd))
        if cmd == ["target"]:
            target_file = str(out / "target.npz")
            values.setdefault("out", target_file)
        elif target_file is not None and "target" in flags:
            values.setdefault("target", LATER if check_only else target_file)
        if "out" in flags and "out" not in values:
            values["out"] = str(out / f"{'-'.join(cmd)}.npz")
        steps.append(_argv(cmd, values))
    return steps


def check_steps(problem: Problem, root=None, out=Path("out/check")):
    """Parse every step's command line as the command itself would (flag values, required
    flags such as an attack's ``--target``), naming the file and section on an error."""
    from ..cli import build_parser, parse

    from ..datasets import load_dataset
    from ._common import check_budget

    root = root or build_parser()
    for (cmd, _), argv in zip(problem.steps, _commands(problem, Path(out), root, True)):
        where = f"{problem.path} [{cmd[0]}]"
        try:
            args = parse(argv, root)
            if cmd[0] == "attack" and getattr(args, "epsilon", None) is not None and \
                    cmd[1] not in ("tgda", "pgan"):        # (their budgets count other rows)
                if getattr(args, "data", None) is None:     # (--data is read by the step)
                    check_budget(args.epsilon, load_dataset(args.dataset))   # >= 1 poison point
        except InputError as exc:
            msg = str(exc)
            if "required: --target" in msg:
                msg += " (give a [target] section or a 'target' file)"
            raise InputError(f"{where}: {msg}") from None


def run_problem(problem: Problem, out_dir) -> dict:
    """Run the steps (checked again first); the target (if any) is written into
    ``out_dir`` and fed to the next step.  ``out_dir`` is created only then, and removed
    again when a step fails on bad input (or left empty by a failure)."""
    import shutil

    from ..cli import build_parser, parse
    from ..fileio import dumps, write_text
    from ._common import check_outputs

    root = build_parser()
    out = Path(out_dir)
    commands = _commands(problem, out, root, False)
    check_steps(problem, root, out)
    created = not out.exists()
    results = {"problem": problem.name, "steps": []}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for argv in commands:
            print(f"[solve] convexpoison {' '.join(argv)}", file=sys.stderr, flush=True)
            args = parse(argv, root)
            check_outputs(args, args._parser, getattr(args._module, "OUTPUTS", None))
            res = args._module.run(args)
            results["steps"].append({"command": "convexpoison " + " ".join(argv), "result": res})
    except InputError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    write_text(out / "results.json", dumps(results, indent=1, default=str))
    return results
