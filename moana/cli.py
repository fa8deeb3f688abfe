"""The ``moana`` command. Each subcommand is a thin call into the package.

Start-up is kept short: ``moana --help`` and ``moana --version`` import nothing beyond this file
and :mod:`argparse`; the module of a subcommand (which defines ``register(subparsers)`` and
imports torch, pandas, ... only inside its handlers) is imported only when that subcommand is
used. A subcommand whose module cannot be imported is an error, never silently skipped.

Errors: an exception raised by a handler reaches the terminal as one line
``moana <command>: error: <message>`` with exit status 1; ``--debug`` (anywhere on the command
line) or ``MOANA_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Sequence

import moana

#: command -> (module defining ``register(subparsers)``, one-line help for ``moana --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("moana.data.commands", "synthetic datasets, dataset checks and preparation"),
    "evaluate-scoremaps": ("moana.metrics.commands",
                           "MaxBoxAcc/MaxBoxAccV2 or PxAP/PIoU of saved score maps"),
    "train": ("moana.train.commands", "train a WSOL model (CAM / MoANA) and record the run"),
    "evaluate": ("moana.train.commands", "recompute a run's metrics on a split"),
    "search": ("moana.search.commands",
               "hyperparameter search of a config on train-fullsup (Optuna)"),
    "config": ("moana.train.config_commands", "list the shipped configs or show one resolved (YAML)"),
    "wsss": ("moana.wsss.commands", "weakly supervised semantic segmentation (IRN-style)"),
    "reproduce": ("moana.reproduce", "run notebooks/ with papermill and regenerate results/"),
    "localize-photos": ("moana.experiments.photos",
                        "CAM vs post-hoc CAM methods of EfficientNet-Lite on the real photos"),
    "evaluate-cams": ("moana.experiments.evaluate_cams",
                      "CAM, WSOL methods' maps and post-hoc CAM methods on one localization table"),
}
DEBUG_ENV = "MOANA_DEBUG"

#: optional packages -> the extra that installs them (for the message when one is missing)
OPTIONAL_PACKAGES = {
    "numba": "fast-eval", "optuna": "search", "pydensecrf": "crf", "pydensecrf2": "crf",
    **{name: "notebooks" for name in ("pandas", "matplotlib", "seaborn", "tabulate", "papermill",
                                      "jupytext", "nbformat", "ipykernel", "ipywidgets",
                                      "IPython", "nbclient")},
}

_REST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_REST_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """reST markup of docstrings (``code``, :func:`name`) as plain terminal text."""
    return _REST_LITERAL.sub(r"\1", _REST_ROLE.sub(r"\1", text))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default (unless its help already names one): ``none`` for an
    optional input left out, ``off`` for a switch; prints docstring text without reST markup."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = plain_text(action.help or "")
        if ("default" in text.lower() or f"({action.default})" in text
                or action.default is argparse.SUPPRESS or not action.option_strings
                or action.required):
            return text
        if action.default is None:  # an optional input: say that leaving it out is allowed
            return text + " (default: none)"
        if action.default is False and action.nargs == 0:  # a switch
            return text + " (default: off)"
        return text + " (default: %(default)s)"

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose help shows defaults; sub-parsers (any depth) inherit the class."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The first argument that names a command (options before it belong to ``moana``)."""
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def _import_command_module(name: str, command: str):
    try:
        return importlib.import_module(name)
    except Exception as err:  # a broken or missing command module is an error, not a skip
        missing = getattr(err, "name", None)
        if isinstance(err, ModuleNotFoundError) and missing in OPTIONAL_PACKAGES:
            raise CommandError(command, _missing_package_message(missing)) from err
        raise CommandError(command, f"cannot import {name} ({type(err).__name__}: {err})") from err


class CommandError(Exception):
    """An error to print as ``moana <command>: error: <message>``."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command


def _missing_package_message(package: str) -> str:
    extra = OPTIONAL_PACKAGES[package]
    return (f"this needs the optional package {package}: pip install 'moana[{extra}]' "
            f"(or pip install -e '.[{extra}]' in a checkout)")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``moana`` parser. Only the module of the command named in ``argv`` is imported (all
    of them when ``argv`` is None); the other commands appear in ``--help`` by name."""
    parser = Parser(prog="moana", description=moana.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"moana {moana.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback on errors (also {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = _chosen_command(argv) if argv is not None else None
    wanted = [COMMANDS[chosen][0]] if chosen else ([] if argv is not None else
                                                   list(dict.fromkeys(m for m, _ in COMMANDS.values())))
    for module_name in wanted:
        command = chosen or next(c for c, (m, _) in COMMANDS.items() if m == module_name)
        module = _import_command_module(module_name, command)
        if not hasattr(module, "register"):
            raise CommandError(command, f"{module_name} defines no register(subparsers)")
        module.register(subparsers)
    for command, (module_name, summary) in COMMANDS.items():
        if command not in subparsers.choices:  # listed in --help; its module loads when used
            subparsers.add_parser(command, help=summary, add_help=False)
    return parser


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    if isinstance(err, ModuleNotFoundError) and err.name in OPTIONAL_PACKAGES:
        return _missing_package_message(err.name)
    if isinstance(err, KeyError):  # str(KeyError) is the repr of the key
        text = f"missing key {text}"
    if not isinstance(err, (OSError, ValueError, LookupError, RuntimeError, ImportError,
                            CommandError)):
        text = f"{type(err).__name__}: {text} (unexpected; rerun with --debug for the traceback)"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _command_label(args: argparse.Namespace | None, fallback: str | None) -> str:
    if args is None:
        return fallback or ""
    parts = [getattr(args, "command", None) or fallback or ""]
    for key in ("data_command", "wsss_command"):
        if getattr(args, key, None):
            parts.append(getattr(args, key))
    return " ".join(p for p in parts if p)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``moana`` command line on ``argv`` (default ``sys.argv[1:]``) and return the exit
    code: 0 on success, 2 without a command; a command's bad input is reported as one line on
    stderr with exit code 1 (``--debug`` or ``MOANA_DEBUG=1`` prints the traceback instead)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes")
    if "--debug" in argv:  # accepted anywhere, not only before the command
        debug = True
        argv = [a for a in argv if a != "--debug"]
    command = _chosen_command(argv)
    args = None
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):  # no command given
            parser.print_help()
            return 2
        result = args.func(args)
    except KeyboardInterrupt:
        print(f"moana {_command_label(args, command)}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            traceback.print_exc()
        label = getattr(err, "command", None) or _command_label(args, command)
        print(f"{' '.join(['moana', label]).strip()}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
