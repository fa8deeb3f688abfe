"""The ``moana`` command. Each subcommand is a thin call into the package.

Subpackages contribute subcommands through a ``commands`` module with a
``register(subparsers)`` function; this file only assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

import moana

# Modules that define ``register(subparsers)``; each adds its own subcommands.
COMMAND_MODULES = [
    "moana.data.commands",      # moana data synth | data check
    "moana.metrics.commands",   # moana evaluate-scoremaps
    "moana.train.commands",     # moana train | evaluate
    "moana.wsss.commands",      # moana wsss run
    "moana.reproduce",          # moana reproduce
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moana", description=moana.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"moana {moana.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (FileNotFoundError, ValueError) as err:  # bad input: a message, not a traceback
        print(f"moana {args.command}: error: {err}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
