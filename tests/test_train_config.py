"""Training configs: shipped files, overrides, errors naming file and line, YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from moana.train.config import available_configs, load_config, save_config


def test_shipped_configs_load_and_official_setting():
    names = available_configs()
    for required in ("smoke_cam", "smoke_moana", "ilsvrc_resnet50_moana", "cub_resnet50_moana"):
        assert required in names
    for arch in ("resnet50", "vgg16", "inception_v3"):
        for dataset in ("ilsvrc", "cub"):
            assert f"{dataset}_{arch}_cam" in names
    for name in names:
        load_config(name)
    official = load_config("ilsvrc_resnet50_moana")
    o = official.optim
    assert (o.batch_size, o.epochs, o.momentum, o.weight_decay) == (256, 20, 0.9, 5e-4)
    assert (o.lr, o.backbone_lr, o.milestones, o.gamma) == (0.02, 0.002, [5, 10, 15], 0.1)
    assert (official.data.resize_size, official.data.crop_size) == (256, 224)
    assert official.model.method == "moana" and official.model.arch == "resnet50"
    assert load_config("ilsvrc_resnet50_cam").model.method == "cam"


def test_overrides_and_base_chain(tmp_path: Path):
    config = load_config("smoke_moana", ["optim.lr=0.5", "data.synthetic.num_classes=2",
                                         "model.attention_kw={axis_conv: depthwise}"])
    assert config.optim.lr == 0.5
    assert config.data.synthetic["num_classes"] == 2
    assert config.model.attention_kw == {"axis_conv": "depthwise"}
    assert config.model.arch == "small"  # inherited from smoke_cam
    child = tmp_path / "child.yaml"
    child.write_text("base: smoke_cam\noptim:\n  epochs: 3\n  weight_decay: 1e-4\n")
    loaded = load_config(child)
    assert loaded.optim.epochs == 3 and loaded.optim.weight_decay == 1e-4
    assert loaded.name == "child"


def test_round_trip(tmp_path: Path):
    config = load_config("ilsvrc_vgg16_cam", ["runtime.seed=3"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_errors_name_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: smoke_cam\noptim:\n  epochs: 2\n  lrr: 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:4: unknown key optim\.lrr"):
        load_config(bad)
    bad.write_text("optim:\n  epochs: two\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:2: optim\.epochs: expected an integer"):
        load_config(bad)
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config(bad)
    with pytest.raises(ValueError, match="unknown key optim.foo"):
        load_config("smoke_cam", ["optim.foo=1"])
    with pytest.raises(ValueError, match="runtime.amp"):
        load_config("smoke_cam", ["runtime.amp=fp8"])
    with pytest.raises(FileNotFoundError, match="shipped"):
        load_config("no_such_config")
