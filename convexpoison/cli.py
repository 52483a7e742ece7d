"""The ``convexpoison`` command line.

Every command accepts ``--json`` and then prints exactly one JSON object on standard
output (strict JSON: a NaN is ``null``, an infinity ``null`` with a ``<key>_reason``
field); progress, notes and warnings go to standard error.

Exit status, the same for every command:

* 0 -- success;
* 2 -- bad input: one line naming the offending flag, found before any work (flag values
  at parse time, output paths before the run);
* 1 -- a solver (or an internal) failure, with the solver's status;
* 130 -- interrupted (Ctrl-C).  A partial result is not a success: a command that keeps
  what it had found (``attack mtp``, ``attack kkt``, ``attack reachable-target``, ...) still writes its
  files and prints its result, with ``"interrupted": true``, and then exits 130; any other
  command prints ``{"status": "interrupted", "interrupted": true}`` under ``--json``;
* 143 -- stopped by SIGTERM (``kill``, ``timeout``, a batch scheduler's time limit): the
  same as a Ctrl-C -- what was found is written -- with its own status.  A command run in
  the background ignores Ctrl-C (SIGINT), as every program started so does; SIGTERM is
  how to stop it and keep what it found.

Each command is a module of :mod:`convexpoison.commands` (see :data:`COMMANDS`);
:func:`main` does the parsing, the checks every command gets (flag values, output paths),
the printing and the error handling once for all of them, and
:mod:`convexpoison.commands._common` holds what several commands share.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

from .errors import InputError, SolverFailure

EXIT_OK, EXIT_FAILURE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class _Stop:
    """Which signal stopped a command: SIGTERM is handled as a Ctrl-C (a KeyboardInterrupt,
    so every part keeps what it found the same way) and then reported as itself."""

    def __init__(self):
        self.term = False

    @property
    def status(self) -> int:
        return EXIT_TERMINATED if self.term else EXIT_INTERRUPTED

    @property
    def what(self) -> str:
        return "terminated (SIGTERM)" if self.term else "interrupted"

    @contextlib.contextmanager
    def sigterm_as_interrupt(self):
        """SIGTERM raises KeyboardInterrupt while the command runs (only in the main
        thread, where a handler can be set; the handler before it is restored)."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def terminated(signum, frame):
            self.term = True
            raise KeyboardInterrupt

        before = signal.signal(signal.SIGTERM, terminated)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, before)


class _HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows every flag's default (unless its help text already states it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and "default" not in text.lower()
                and action.default not in (None, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with whole flag names only (no abbreviations: ``--eps`` is not
    ``--eps-close``), defaults in ``--help``, and a bad argument raised as
    :class:`InputError` ("--flag: what is wrong"), which :func:`main` prints as one line."""

    def __init__(self, *args, **kw):
        kw.setdefault("allow_abbrev", False)
        kw.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kw)

    def error(self, message):
        raise InputError(re.sub(r"^argument (-[\w-]+)(?:/-[\w-]+)*: ", r"\1: ", message))


def common(p):
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


#: Command modules in ``convexpoison/commands/``.  Each defines ``add_arguments(parser)``,
#: ``run(args) -> dict`` and optionally ``show(result)`` (human-readable output), ``HELP``
#: (one line) and ``OUTPUTS`` (``{dest: 'file' | 'dir'}`` for output flags other than
#: :data:`~convexpoison.commands._common.OUTPUT_FLAGS`).  Grouped commands (``attack mtp``)
#: live in ``attack_mtp.py``.  Modules are imported when the parser is built, so they import
#: heavy libraries (cvxpy, torch) inside ``run`` only.
COMMANDS = {
    "datasets": "datasets",
    "train": "train",
    "target": "target",
    "attack": {"mtp": "attack_mtp", "kkt": "attack_kkt", "minmax": "attack_minmax",
               "influence": "attack_influence", "labelflip": "attack_labelflip",
               "min-poison": "attack_min_poison", "tgda": "attack_tgda", "pgan": "attack_pgan",
               "reachable-target": "attack_reachable_target"},
    "certify": {"lower-bound": "certify_lower_bound", "upper-bound": "certify_upper_bound"},
    "evaluate": "evaluate",
    "audit": "audit",
    "solve": "solve",
}

#: Help of flags that several commands declare without one.
_FALLBACK_HELP = {"no_progress": "no progress lines or bars on standard error"}


def _module(name):
    import importlib

    try:
        return importlib.import_module(f"convexpoison.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"convexpoison.commands.{name}":
            return None                     # not implemented yet: the command is not offered
        raise


def _checked_type(base, check):
    """``base`` (float, int, str) followed by a finiteness check for floats and ``check``;
    a failed check is argparse's one-line error naming the flag."""
    def convert(text):
        value = base(text)                   # ValueError: argparse's "invalid float value"
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if check is not None:
            try:
                return check(value)
            except InputError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    convert.__name__ = getattr(base, "__name__", "value")
    return convert


def _add_checks(parser):
    """Attach :data:`~convexpoison.commands._common.FLAG_CHECKS` (and finiteness of every
    float flag, the known-dataset check of ``--dataset``, the file and spelling checks of
    :data:`~convexpoison.commands._common.TEXT_CHECKS`) to the parser's flags."""
    from .commands._common import FLAG_CHECKS, TEXT_CHECKS, dataset_name

    for action in parser._actions:
        if not action.option_strings:
            continue
        if not action.help and action.dest in _FALLBACK_HELP:
            action.help = _FALLBACK_HELP[action.dest]
        check = FLAG_CHECKS.get(action.dest)
        if action.dest == "dataset" and action.type is None:
            action.type = _checked_type(str, dataset_name)
        elif action.dest in TEXT_CHECKS and action.type is None:
            action.type = _checked_type(str, TEXT_CHECKS[action.dest])
        elif action.type in (float, int):
            action.type = _checked_type(action.type, check)


def _add(sub, cmd, modname):
    mod = _module(modname)
    if mod is None:
        return
    p = sub.add_parser(cmd, help=getattr(mod, "HELP", None), description=getattr(mod, "HELP", None))
    common(p)
    mod.add_arguments(p)
    if not any(a.dest == "out" for a in p._actions):
        # every command can write its result: the JSON object, to a file
        p.add_argument("--out", default=None, metavar="FILE.json",
                       help="also write the result (the JSON object) to this file")
        p.set_defaults(_result_file=True)
    _add_checks(p)
    p.set_defaults(_module=mod, _parser=p)


def build_parser():
    parser = _Parser(prog="convexpoison",
                     description="Data-poisoning attacks and certificates for convex models.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"convexpoison {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd, target in COMMANDS.items():
        if isinstance(target, dict):
            group = sub.add_parser(cmd, help=f"{cmd} commands: {', '.join(target)}")
            gsub = group.add_subparsers(dest="subcommand", metavar="NAME", parser_class=_Parser)
            for name, modname in target.items():
                _add(gsub, name, modname)
        else:
            _add(sub, cmd, target)
    return parser


def parse(argv, parser=None):
    """The parsed arguments of one command line (``InputError`` on a bad one): what
    :func:`main` runs and what ``solve --check`` validates a problem file's steps with."""
    args = (parser or build_parser()).parse_args(argv)
    if getattr(args, "_module", None) is None:
        raise InputError("missing command; see 'convexpoison --help'")
    return args


def show_result(res):
    def text(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "null"                                  # as in the JSON output
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    for key, value in res.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k:24s} {text(v)}")
        elif isinstance(value, float) and not math.isnan(value):
            print(f"{key:26s} {value:.6g}")
        else:
            print(f"{key:26s} {text(value)}")


def _flag_message(message, parser):
    """An error message that starts with a Python argument name (``eps_close: ...``) starts
    with the command's flag of that name instead (``--eps-close: ...``)."""
    m = re.match(r"([A-Za-z_]\w*): ", str(message))
    if m and parser is not None:
        for action in parser._actions:
            if action.dest == m.group(1) and action.option_strings:
                return action.option_strings[-1] + str(message)[len(m.group(1)):]
    return str(message)


def _say_error(message):
    print(f"convexpoison: error: {' '.join(str(message).split())}", file=sys.stderr)


@contextlib.contextmanager
def _warnings_as_messages():
    """Python warnings (a training stall, a solver's note) as one line each on standard
    error, ``convexpoison: warning: ...``, without the source line."""
    from .progress import write

    def show(message, category, filename, lineno, file=None, line=None):
        write(f"convexpoison: warning: {' '.join(str(message).split())}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _interrupted(res) -> bool:
    return bool(res.get("interrupted") is True or res.get("stop_reason") == "interrupted")


def _emit(args, mod, res):
    from .fileio import dumps, write_text

    if getattr(args, "_result_file", False) and args.out:
        write_text(args.out, dumps(res, indent=1, default=str) + "\n")
    if args.json:
        print(dumps(res, default=str))
    else:
        getattr(mod, "show", show_result)(res)
    sys.stdout.flush()


def _cleanup(created, everything):
    """Remove the output folders this command created: all of them after bad input, the
    empty ones after a failure."""
    for folder in created:
        path = Path(folder)
        if not path.is_dir():
            continue
        if everything:
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.rmdir()                                # only when empty


def main(argv=None) -> int:
    stop = _Stop()
    try:
        with stop.sigterm_as_interrupt():
            return _main(argv, stop)
    except KeyboardInterrupt:                               # while parsing or checking
        print(f"convexpoison: {stop.what}", file=sys.stderr)
        return stop.status
    except BrokenPipeError:                                 # `... | head`: the reader left
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _main(argv, stop) -> int:
    from .commands._common import check_outputs

    try:
        args = parse(argv)
        mod, parser = args._module, args._parser
        outputs = {"out": "json"} if getattr(args, "_result_file", False) else {}
        created = check_outputs(args, parser, {**outputs, **getattr(mod, "OUTPUTS", {})})
    except InputError as exc:
        _say_error(exc)
        return EXIT_INPUT
    try:
        with _warnings_as_messages():
            res = mod.run(args)
    except InputError as exc:
        _cleanup(created, everything=True)
        message = _flag_message(exc, parser)
        if getattr(args, "data", None) is not None and message.startswith("--dataset:"):
            message = "--data:" + message[len("--dataset:"):]   # the data came from --data
        _say_error(message)
        return EXIT_INPUT
    except SolverFailure as exc:
        _cleanup(created, everything=False)
        print(f"convexpoison: solver failure ({exc.solver}: {exc.status}): "
              f"{' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _cleanup(created, everything=False)
        if args.json:
            print('{"status": "interrupted", "interrupted": true}', flush=True)
        # (no result to print; a command that kept part of its work, as the audit its
        # results.json, said so above)
        print(f"convexpoison: {stop.what}; exit status {stop.status}", file=sys.stderr)
        return stop.status
    except Exception as exc:                                # a bug: one line, exit 1
        if os.environ.get("CONVEXPOISON_DEBUG"):
            raise
        _cleanup(created, everything=False)
        print(f"convexpoison: internal error ({type(exc).__name__}): "
              f"{' '.join(str(exc).split())} -- please report it (CONVEXPOISON_DEBUG=1 shows "
              "the traceback)", file=sys.stderr)
        return EXIT_FAILURE
    if _interrupted(res):
        res = {**res, "interrupted": True}
        _emit(args, mod, res)
        print(f"convexpoison: {stop.what}: the partial result above (and any output file) "
              f"holds what was found so far; exit status {stop.status}", file=sys.stderr)
        return stop.status
    _emit(args, mod, res)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
