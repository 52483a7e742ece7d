"""Declarative problem files (``problems/*.toml``, DESIGN §6) and how they run.

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

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

SECTIONS = {"problem", "data", "target", "attack", "certify", "defense", "solver", "seed"}


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


def _subparser(path):
    from .cli import build_parser

    parser = build_parser()
    for word in path:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        if word not in sub.choices:
            return None
        parser = sub.choices[word]
    return parser


def _check_section(where, values, path):
    parser = _subparser(path)
    if parser is None:
        raise InputError(f"{where}: '{' '.join(path)}' is not a command of this version")
    known = _flag_names(parser)
    for key in values:
        if key not in known:
            hint = ", ".join(sorted(k for k in known if k not in ("json", "help")))
            raise InputError(f"{where}: unknown field {key!r} for '{' '.join(path)}' (known: {hint})")
    return known


def load_problem(path) -> Problem:
    """Parse and validate a problem file; errors name the file, section and field."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"problem file not found: {path}")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    for key in doc:
        if key not in SECTIONS:
            raise InputError(f"{path}: unknown section or field {key!r} (known: {', '.join(sorted(SECTIONS))})")
    meta = doc.get("problem", {})
    data = dict(doc.get("data", {}))
    if "dataset" not in data:
        raise InputError(f"{path}: [data] needs a 'dataset' field")
    prob = Problem(path, str(meta.get("name", path.stem)), str(meta.get("description", "")),
                   bool(meta.get("slow", False)))
    common = dict(data)
    if "solver" in doc:
        common["solver"] = doc["solver"].get("name") if isinstance(doc["solver"], dict) else doc["solver"]
    if "target" in doc:
        tgt = {**{k: v for k, v in common.items() if k in ("dataset", "reg", "model")}, **doc["target"]}
        _check_section(f"{path} [target]", tgt, ["target"])
        prob.steps.append((["target"], tgt))
    if ("attack" in doc) == ("certify" in doc):
        raise InputError(f"{path}: give exactly one of [attack] or [certify]")
    kind = "attack" if "attack" in doc else "certify"
    section = dict(doc[kind])
    if "name" not in section:
        raise InputError(f"{path}: [{kind}] needs a 'name' field")
    name = section.pop("name")
    cmd = [kind, str(name)]
    known = _subparser(cmd)
    if known is None:
        raise InputError(f"{path} [{kind}]: unknown {kind} {name!r}")
    flags = _flag_names(known)
    values = {k: v for k, v in common.items() if k in flags}
    values.update(section)
    if "defense" in doc:
        names = doc["defense"].get("names")
        if names is not None:
            values["defense"] = ",".join(names) if isinstance(names, list) else str(names)
        if "p" in doc["defense"]:
            values["p"] = doc["defense"]["p"]
    if "seed" in doc and "random_state" in flags:
        values["random_state"] = doc["seed"]
    _check_section(f"{path} [{kind}]", values, cmd)
    prob.steps.append((cmd, values))
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


def run_problem(problem: Problem, out_dir) -> dict:
    """Run the steps; the target (if any) is written into ``out_dir`` and fed to the next."""
    from .cli import build_parser

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, target_file = {"problem": problem.name, "steps": []}, None
    for cmd, values in problem.steps:
        values = dict(values)
        flags = _flag_names(_subparser(cmd))
        if cmd == ["target"]:
            target_file = out / "target.npz"
            values.setdefault("out", str(target_file))
        elif target_file is not None and "target" in flags:
            values.setdefault("target", str(target_file))
        if "out" in flags and "out" not in values:
            values["out"] = str(out / f"{'-'.join(cmd)}.npz") if cmd[0] != "audit" else str(out)
        argv = _argv(cmd, values)
        print(f"[solve] convexpoison {' '.join(argv)}", file=sys.stderr, flush=True)
        args = build_parser().parse_args(argv)
        res = args._module.run(args)
        results["steps"].append({"command": "convexpoison " + " ".join(argv), "result": res})
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return results
