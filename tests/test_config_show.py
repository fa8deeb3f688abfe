"""``moana config show``: the resolved config as YAML with every key, for train and WSSS configs;
bad keys are one-line errors."""

from __future__ import annotations

import dataclasses

import yaml

from moana.cli import main as cli_main
from moana.train.config import TrainConfig, load_config


def _keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key not in ("synthetic", "attention_kw", "method_kw",
                                                   "extra", "splits"):
            out |= _keys(value, f"{prefix}{key}.")
    return out


def test_show_train_config_has_every_key(capsys):
    assert cli_main(["config", "show", "smoke_moana", "optim.epochs=3"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    config = load_config("smoke_moana", ["optim.epochs=3"]).to_dict()
    synthetic = shown["data"].pop("synthetic")  # may add the generator's default knobs
    assert synthetic.items() >= config["data"].pop("synthetic").items()
    assert shown == config
    assert shown["optim"]["epochs"] == 3 and shown["model"]["method_kw"] == {}
    for section in dataclasses.fields(TrainConfig):
        assert section.name in shown
    assert _keys(TrainConfig().to_dict()) - {"data.synthetic"} == _keys(shown)


def test_show_wsss_config(capsys):
    from moana.wsss.config import load_wsss_config

    assert cli_main(["config", "show", "smoke"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    config = load_wsss_config("smoke").to_dict()
    if isinstance(config.get("data"), dict) and "synthetic" in config["data"]:
        synthetic = shown["data"].pop("synthetic")
        assert synthetic.items() >= config["data"].pop("synthetic").items()
    assert shown == config


def test_show_bad_key_is_one_line(capsys):
    assert cli_main(["config", "show", "smoke_cam", "optim.nope=1"]) == 1
    err = capsys.readouterr().err
    assert "unknown key optim.nope" in err and len(err.strip().splitlines()) == 1


def test_show_fills_the_generators_default_knobs(monkeypatch):
    from dataclasses import dataclass

    from moana.data import synthetic
    from moana.train.config_commands import show_config

    @dataclass
    class FakeSpec:
        num_classes: int = 10
        body_fraction: tuple = (0.4, 0.6)

    monkeypatch.setattr(synthetic, "WSOLSynthSpec", FakeSpec, raising=False)
    shown = yaml.safe_load(show_config("smoke_cam"))["data"]["synthetic"]
    assert shown["body_fraction"] == [0.4, 0.6]  # a default the config leaves out
    assert shown["num_classes"] == 4  # the config's value wins
