"""Help that helps: every synthetic-data flag says what it means and its default per kind,
flags of the other kind are refused, ``moana train --help`` points to ``moana config list``
(which lists train and WSSS configs), and ``moana train`` writes under one work directory."""

from __future__ import annotations

from pathlib import Path

from moana import cli
from moana.train.commands import work_dir_overrides
from moana.train.config import load_config


def _help(*command: str) -> str:
    parser = cli.build_parser(list(command))
    for name in command:
        parser = parser._subparsers._group_actions[0].choices[name]
    return parser.format_help()


def test_synth_flags_have_meaning_and_default():
    parser = cli.build_parser(["data"])._subparsers._group_actions[0].choices["data"]
    synth = parser._subparsers._group_actions[0].choices["synth"]
    for action in synth._actions:
        if action.option_strings and action.dest not in ("help", "kind", "out"):
            assert not action.help.startswith("knob "), action.dest
            assert "default: " in action.help, action.dest
    text = synth.format_help()
    assert "--kind voc only" in text and "--kind wsol only" in text


def test_flags_of_the_other_kind_are_refused(tmp_path, capsys):
    assert cli.main(["data", "synth", "--out", str(tmp_path / "w"), "--num-train", "3"]) == 1
    assert "--num-train: only for --kind voc, not --kind wsol" in capsys.readouterr().err
    assert cli.main(["data", "synth", "--kind", "voc", "--out", str(tmp_path / "v"),
                     "--per-class", "train=1"]) == 1
    assert "--per-class: only for --kind wsol" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "v").exists()


def test_train_help_points_to_config_list(capsys):
    text = _help("train")
    assert "moana config list" in text and "smoke_cam, " not in text
    assert cli.main(["config", "list"]) == 0
    out = capsys.readouterr().out
    assert "train  smoke_moana" in out and "\nwsss " in out


def test_train_writes_under_the_work_dir():
    config = load_config("smoke_moana")
    assert work_dir_overrides(config, "work") == [
        f"data.data_root={Path('work') / config.data.data_root}",
        f"runtime.output_dir={Path('work') / config.runtime.output_dir}"]
    absolute = load_config("smoke_moana", ["data.data_root=/d", "runtime.output_dir=/r"])
    assert work_dir_overrides(absolute, "work") == []
