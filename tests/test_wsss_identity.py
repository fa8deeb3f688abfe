"""A WSSS step's identity covers the files that decide its output, and a step restarted under
another identity never keeps outputs of the old one (tiny synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

from moana.data.voc import load_cls_labels, save_cls_labels
from moana.wsss.identity import labels_digest, stat_digest
from moana.wsss.make_cam import load_cam
from moana.wsss.pipeline import prepare_data, run_dirs, run_pipeline

from tests.test_wsss_pipeline import tiny_config

CAM_STEPS = ["train_cam", "make_cam", "eval_cam"]


def _ran(messages):
    return [m.split("] ")[1].split(":")[0] for m in messages if "running" in m]


def test_other_cls_labels_file_reruns_train_and_make_cam(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=CAM_STEPS)
    data = prepare_data(cfg)
    labels = load_cls_labels(data.root / "cls_labels.npy")
    other = {k: v.copy() for k, v in labels.items()}
    first = data.train_ids[0]
    other[first] = np.roll(other[first], 1)  # another class for one training image
    save_cls_labels(tmp_path / "other_labels.npy", other)
    changed = tiny_config(tmp_path, "methods=[cam]",
                          f"data.cls_labels={tmp_path / 'other_labels.npy'}")
    messages: list[str] = []
    run_pipeline(changed, steps=CAM_STEPS, echo=messages.append)
    assert _ran(messages) == CAM_STEPS
    cam = load_cam(run_dirs(changed, "cam")["cams"], first)
    assert sorted(cam["keys"].tolist()) == sorted(np.flatnonzero(other[first]).tolist())
    # the same labels saved again (another file, same content) change nothing
    save_cls_labels(tmp_path / "copy.npy", other)
    copy = tiny_config(tmp_path, "methods=[cam]", f"data.cls_labels={tmp_path / 'copy.npy'}")
    messages.clear()
    run_pipeline(copy, steps=CAM_STEPS, echo=messages.append)
    assert _ran(messages) == []


def test_changed_checkpoint_and_ground_truth_rerun_what_reads_them(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=CAM_STEPS)
    dirs = run_dirs(cfg, "cam")
    model = dirs["cam_model"]
    model.write_bytes(model.read_bytes() + b"\0")  # another checkpoint, same path
    messages: list[str] = []
    run_pipeline(cfg, steps=["make_cam", "eval_cam"], echo=messages.append)
    assert _ran(messages) == ["make_cam", "eval_cam"]
    data = prepare_data(cfg)
    gt = data.root / "SegmentationClass" / f"{data.eval_ids[0]}.png"
    from PIL import Image

    label = np.array(Image.open(gt))
    label[0, 0] = 255 if label[0, 0] != 255 else 0
    Image.fromarray(label).save(gt)
    messages.clear()
    run_pipeline(cfg, steps=CAM_STEPS, echo=messages.append)
    assert _ran(messages) == ["eval_cam"]


def test_upstream_input_change_stops_a_partial_rerun(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=CAM_STEPS)
    data = prepare_data(cfg)
    labels = load_cls_labels(data.root / "cls_labels.npy")
    first = data.train_ids[0]
    labels[first] = np.roll(labels[first], 1)
    save_cls_labels(data.root / "cls_labels.npy", labels)
    with pytest.raises(ValueError, match=r"'train_cam' ran with other parameters "
                                         r"\(changed: inputs\.cls_labels\)"):
        run_pipeline(cfg, steps=["eval_cam"])


def test_twice_interrupted_step_keeps_one_parameter_set(tmp_path, monkeypatch):
    """make_cam interrupted under scales A after 3 images, then under scales B after 2, then
    completed under B: every CAM file is B's (the old code kept image 3's A CAM)."""
    import moana.wsss.make_cam as make_cam

    real = make_cam.make_cams
    stop_after: list[int | None] = [3]

    def interrupted(model, *, image_ids, **kw):
        if stop_after[0] is None:
            return real(model, image_ids=image_ids, **kw)
        real(model, image_ids=image_ids[: stop_after[0]], **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(make_cam, "make_cams", interrupted)
    cfg_a = tiny_config(tmp_path, "methods=[cam]", "cam.scales=[1.0]")
    cfg_b = tiny_config(tmp_path, "methods=[cam]", "cam.scales=[1.0, 0.5]")
    run_pipeline(cfg_a, steps=["train_cam"])
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg_a, steps=["make_cam"])
    stop_after[0] = 2
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg_b, steps=["make_cam"])
    stop_after[0] = None
    run_pipeline(cfg_b, steps=["make_cam"])
    cams = run_dirs(cfg_b, "cam")["cams"]
    ids = prepare_data(cfg_b).cam_ids
    resumed = {i: load_cam(cams, i)["high_res"] for i in ids}
    run_pipeline(cfg_b, steps=["make_cam"], force=True)  # all of B's CAMs from scratch
    for i in ids:
        np.testing.assert_array_equal(resumed[i], load_cam(cams, i)["high_res"], err_msg=i)


def test_digests_follow_content(tmp_path):
    a = {"x": np.array([1, 0]), "y": np.array([0, 1])}
    assert labels_digest(a, ["x", "y"]) == labels_digest({k: v.copy() for k, v in a.items()},
                                                         ["x", "y"])
    assert labels_digest(a, ["x", "y"]) != labels_digest({**a, "y": np.array([1, 1])}, ["x", "y"])
    assert labels_digest(a, ["x"]) != labels_digest(a, ["x", "z"])
    path = tmp_path / "f.png"
    path.write_bytes(b"ab")
    before = stat_digest([path], mtime=False)
    path.write_bytes(b"abc")
    assert stat_digest([path], mtime=False) != before
    path.unlink()
    assert stat_digest([path]) != before


def test_changed_synthetic_knobs_regenerate_the_data_and_rerun(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=["train_cam"])
    first = prepare_data(cfg)
    assert len(first.train_ids) == 6
    changed = tiny_config(tmp_path, "methods=[cam]",
                          "data.synthetic={image_size: [24, 32], num_train: 4, num_val: 2, "
                          "num_classes: 3, objects: [1, 2]}")
    messages: list[str] = []
    run_pipeline(changed, steps=["train_cam"], echo=messages.append)
    assert _ran(messages) == ["train_cam"]
    assert len(prepare_data(changed).train_ids) == 4
    messages.clear()
    run_pipeline(changed, steps=["train_cam"], echo=messages.append)  # same knobs: kept
    assert _ran(messages) == []


def test_outputs_of_unknown_identity_are_not_kept(tmp_path):
    """CAMs with no marker saying what made them (markers deleted) are made again."""
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=["train_cam", "make_cam"])
    done = run_dirs(cfg, "cam")["done"]
    for name in ("make_cam.json", "make_cam.started.json"):
        (done / name).unlink()
    run_pipeline(cfg, steps=["make_cam"])
    import json

    marker = json.loads((done / "make_cam.json").read_text())
    assert marker["result"]["computed"] == len(prepare_data(cfg).cam_ids)
