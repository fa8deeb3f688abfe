"""The moana command: lazy subcommands, help texts with defaults, one-line errors, --debug."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from moana import cli

REPO = Path(__file__).resolve().parents[1]


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("moana",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_help_and_version_import_no_command_module():
    code = ("import sys\nfrom moana.cli import build_parser\nbuild_parser(['--help'])\n"
            "heavy = [m for m in ('torch', 'numpy', 'pandas', 'moana.train', 'moana.data') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "moana", "--help"], capture_output=True,
                               text=True, check=True, cwd=REPO).stdout
    for command in cli.COMMANDS:
        assert command in help_text


def test_every_command_module_registers_its_commands():
    parser = cli.build_parser()  # argv None: every command module is imported
    subparsers = parser._subparsers._group_actions[0]
    for command in cli.COMMANDS:
        assert subparsers.choices[command].get_default("func") is not None, command


def test_every_option_has_help_and_shows_its_default():
    missing = []
    for path, parser in _walk(cli.build_parser()):
        for action in parser._actions:
            if action.option_strings and not action.help:
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")
        assert isinstance(parser, cli.Parser), path
    assert not missing, missing
    text = cli.build_parser(["evaluate-scoremaps"])._subparsers._group_actions[0] \
        .choices["evaluate-scoremaps"].format_help()
    assert "``" not in text and ":func:" not in text
    assert "(default: 0.001)" in text or "(0.001)" in text
    prep = cli.build_parser(["reproduce"])._subparsers._group_actions[0].choices["reproduce"]
    assert "(default: smoke)" in prep.format_help()


def test_user_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    args = ["evaluate-scoremaps", "--scoremaps", str(tmp_path / "none"), "--metadata",
            str(tmp_path / "none"), "--quiet", "--workers", "1"]
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("moana evaluate-scoremaps: error: ")
    assert "Traceback" not in err
    assert cli.main([*args, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("moana evaluate-scoremaps")
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    assert cli.main(args) == 1
    assert "Traceback" in capsys.readouterr().err


def test_unexpected_error_and_broken_command_module(capsys, monkeypatch):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setitem(cli.COMMANDS, "broken", ("moana.no_such_commands", "a broken module"))
    assert cli.main(["broken"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moana broken: error: cannot import moana.no_such_commands")
    assert err.count("\n") == 1

    from moana.metrics import commands

    def boom(args):
        raise TypeError("bad\nthing")

    real = commands.register

    def register(subparsers):
        real(subparsers)
        subparsers.choices["evaluate-scoremaps"].set_defaults(func=boom)

    monkeypatch.setattr(commands, "register", register)
    assert cli.main(["evaluate-scoremaps", "--scoremaps", "x", "--metadata", "y"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TypeError: bad; thing" in err and "--debug" in err


def test_missing_optional_package_names_the_extra():
    text = cli._one_line(ModuleNotFoundError("No module named 'pandas'", name="pandas"))
    assert "moana[notebooks]" in text
    text = cli._one_line(ModuleNotFoundError("No module named 'numba'", name="numba"))
    assert "moana[fast-eval]" in text


def test_data_prepare_error_and_thin_script(tmp_path, capsys):
    assert cli.main(["data", "prepare", "cub", "--archive", str(tmp_path / "no.tgz"),
                     "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moana data prepare: error: archive") and "CUB_200_2011.tgz" in err
    out = subprocess.run([sys.executable, "data_prep/voc.py", "--help"], capture_output=True,
                         text=True, cwd=REPO, check=True).stdout
    assert "--irn-lists" in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--version"])
