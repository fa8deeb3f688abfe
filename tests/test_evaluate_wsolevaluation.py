"""``moana evaluate --config C --checkpoint F`` on a checkpoint written by wsolevaluation's main.py:
the format is recognised, the weights load strictly into the config's model, and the reported
top-1 classification is that of wsolevaluation's own network (a re-statement of it with its key
names, tests/wsolevaluation_restated.py) on the same test images."""

from __future__ import annotations

import json

import pytest
import torch

from moana.cli import main
from moana.train import load_config
from moana.train.evaluate import checkpoint_format
from moana.train.prepare import prepare_data
from wsolevaluation_restated import randomize, wsol_model

K = 4
OVERRIDES = ["model.arch=vgg16", "model.large_feature_map=false", "model.extra={}",
             "runtime.quiet=true"]


def _data_overrides(tmp_path) -> list[str]:
    return [f"data.data_root={tmp_path / 'synth'}",
            "data.synthetic.per_class={train: 4, val: 4, test: 6}",
            "data.synthetic.train_background=0"]  # K-class checkpoints: no background class


def _save(path, arch, state):
    torch.save({"architecture": arch, "epoch": 7,
                "state_dict": {"module." + k: v for k, v in state.items()}}, path)


@pytest.mark.slow
def test_moana_evaluate_reads_a_wsolevaluation_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    ref = wsol_model("vgg16", "cam", K, False).eval()
    ckpt = tmp_path / "last_checkpoint.pth.tar"
    _save(ckpt, "vgg16", randomize(ref))
    assert checkpoint_format(ckpt) == "wsolevaluation"

    overrides = OVERRIDES + _data_overrides(tmp_path)
    out = tmp_path / "metrics.json"
    code = main(["evaluate", "--config", "smoke_cam", "--checkpoint", str(ckpt),
                 "--output", str(out), *overrides])
    assert code == 0
    metrics = json.loads(out.read_text())
    assert metrics["checkpoint_format"] == "wsolevaluation" and metrics["split"] == "test"

    config = load_config("smoke_cam", overrides)
    test = prepare_data(config).dataset("test")
    correct = 0
    with torch.no_grad():
        for image, label, _ in test:
            correct += int(ref(image[None]).argmax(1).item() == label)
    assert metrics["top1_cls"] == pytest.approx(100.0 * correct / len(test))


def test_checkpoint_format_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.pth"
    torch.save({"weights": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="neither a moana training checkpoint"):
        checkpoint_format(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint_format(tmp_path / "missing.pth")
