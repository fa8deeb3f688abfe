"""Per-step tests of moana.wsss on a tiny synthetic VOC set: CAM files, IR labels, evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from moana.data.voc import load_cls_labels, read_id_list
from moana.models import build_model
from moana.wsss._io import load_png, save_npy_dict, save_png
from moana.wsss.eval_cam import eval_cams, threshold_grid
from moana.wsss.eval_sem_seg import eval_sem_seg, plot_pseudo_mask_grid
from moana.wsss.ir_label import ir_label_from_cam, make_ir_labels, resolve_crf
from moana.wsss.make_cam import infer_cams, load_cam, make_cams


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory):
    from moana.data.synthetic import make_voc_dataset

    root = make_voc_dataset(tmp_path_factory.mktemp("voc"), seed=0, image_size=(24, 36),
                            num_train=6, num_val=2, num_classes=3, objects=(1, 2))
    return root, read_id_list(root / "ImageSets" / "Segmentation" / "train.txt")


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return build_model("small", method="cam", num_classes=20).eval()


def test_infer_cams_shapes_and_normalization(small_model):
    image = np.random.default_rng(0).integers(0, 255, (37, 45, 3), dtype=np.uint8)
    label = np.zeros(20, np.float32)
    label[[3, 17]] = 1
    cams = infer_cams(small_model, image, label, scales=(1.0, 0.5), cam_stride=4)
    assert cams["keys"].tolist() == [3, 17]
    assert cams["cam"].shape == (2, math.ceil(37 / 4), math.ceil(45 / 4))
    assert cams["high_res"].shape == (2, 37, 45)
    for key in ("cam", "high_res"):
        assert cams[key].min() >= 0 and cams[key].max() <= 1
        maxima = cams[key].reshape(2, -1).max(axis=1)
        assert np.all((maxima > 0.99) | (maxima == 0))


@pytest.mark.parametrize("size", [(1, 1), (1, 3), (2, 5)])
def test_infer_cams_on_images_smaller_than_a_scale(small_model, size):
    # IRN's scale 0.5 rounds a 1-pixel side to 0 and PIL raises; every scale keeps >= 1 pixel
    image = np.random.default_rng(2).integers(0, 255, (*size, 3), dtype=np.uint8)
    cams = infer_cams(small_model, image, np.eye(20, dtype=np.float32)[4],
                      scales=(1.0, 0.5, 1.5, 2.0), cam_stride=4)
    assert cams["high_res"].shape == (1, *size)
    assert np.isfinite(cams["high_res"]).all()


def test_infer_cams_uses_batchnorm_running_statistics(small_model):
    image = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    label = np.eye(20, dtype=np.float32)[5]
    small_model.train()  # infer_cams must switch to eval mode itself
    a = infer_cams(small_model, image, label, scales=(1.0,))
    assert not small_model.training
    b = infer_cams(small_model, image, label, scales=(1.0,))
    np.testing.assert_allclose(a["high_res"], b["high_res"])


def test_make_cams_writes_irn_dicts_and_resumes(tiny_voc, small_model, tmp_path):
    root, ids = tiny_voc
    labels = load_cls_labels(root / "cls_labels.npy")
    out = tmp_path / "cams"
    assert make_cams(small_model, voc_root=root, image_ids=ids, cls_labels=labels, out_dir=out,
                     scales=(1.0,)) == len(ids)
    cam = load_cam(out, ids[0])
    assert set(cam) == {"keys", "cam", "high_res"}
    assert cam["keys"].tolist() == np.flatnonzero(labels[ids[0]]).tolist()
    # a rerun skips finished images; a missing one (interrupted run) is redone
    assert make_cams(small_model, voc_root=root, image_ids=ids, cls_labels=labels, out_dir=out,
                     scales=(1.0,)) == 0
    (out / f"{ids[1]}.npy").unlink()
    assert make_cams(small_model, voc_root=root, image_ids=ids, cls_labels=labels, out_dir=out,
                     scales=(1.0,)) == 1
    assert not list(out.glob("*.tmp"))
    with pytest.raises(ValueError, match="no class label"):
        make_cams(small_model, voc_root=root, image_ids=["2999_000000"], cls_labels=labels,
                  out_dir=out)


def _independent_confusion(preds, gts, n=21):
    """A plain loop over pixels, independent of moana.metrics."""
    matrix = np.zeros((n, n), np.int64)
    for pred, gt in zip(preds, gts):
        for p, g in zip(pred.ravel(), gt.ravel()):
            if g != 255:
                matrix[g, p] += 1
    return matrix


def _miou(matrix):
    tp = np.diag(matrix).astype(float)
    union = matrix.sum(0) + matrix.sum(1) - tp
    return float(np.mean(tp[union > 0] / union[union > 0]))


def _write_gt(root, image_id, gt):
    from moana.data.voc import voc_palette

    save_png(root / "SegmentationClass" / f"{image_id}.png", gt, palette=voc_palette())


def test_eval_cams_matches_an_independent_confusion(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"2000_00000{i}" for i in range(4)]
    cam_dir = tmp_path / "cams"
    preds = {t: [] for t in (0.1, 0.3)}
    gts = []
    for image_id in ids:
        keys = np.sort(rng.choice(20, size=rng.integers(0, 3), replace=False))
        high = rng.random((len(keys), 9, 11)).astype(np.float32)
        save_npy_dict(cam_dir / f"{image_id}.npy", {"keys": keys, "cam": high[:, ::4, ::4],
                                                    "high_res": high})
        gt = rng.choice([0, *(keys + 1), 255, 7], size=(9, 11)).astype(np.uint8)
        _write_gt(tmp_path, image_id, gt)
        gts.append(gt)
        for t in preds:  # IRN: background wins unless some CAM is above the threshold
            pred = np.zeros((9, 11), np.int64)
            if len(keys):
                best = high.argmax(0)
                pred = np.where(high.max(0) > t, keys[best] + 1, 0)
            preds[t].append(pred)
    result = eval_cams(cam_dir, voc_root=tmp_path, image_ids=ids, thresholds=[0.1, 0.3],
                       default_threshold=0.3)
    curve = result["curve"].set_index("threshold")["miou"]
    for t in preds:
        assert curve[t] == pytest.approx(_miou(_independent_confusion(preds[t], gts)))
    assert result["miou_at_default"] == pytest.approx(curve[0.3])
    assert result["best_miou"] == pytest.approx(curve.max())


def test_threshold_grid():
    grid = threshold_grid(0.0, 0.6, 0.01)
    assert len(grid) == 61 and 0.15 in grid and 0.16 in grid and grid[-1] == 0.6
    with pytest.raises(ValueError):
        threshold_grid(0.5, 0.1, 0.01)


def test_eval_sem_seg_matches_an_independent_confusion(tmp_path):
    rng = np.random.default_rng(1)
    ids = [f"2000_00001{i}" for i in range(3)]
    preds, gts = [], []
    for image_id in ids:
        gt = rng.choice([0, 1, 5, 255], size=(8, 10)).astype(np.uint8)
        pred = rng.choice([0, 1, 5, 9], size=(8, 10)).astype(np.uint8)
        _write_gt(tmp_path, image_id, gt)
        save_png(tmp_path / "pred" / f"{image_id}.png", pred)
        preds.append(pred)
        gts.append(gt)
    result = eval_sem_seg(tmp_path / "pred", voc_root=tmp_path, image_ids=ids)
    matrix = _independent_confusion(preds, gts)
    assert result["miou"] == pytest.approx(_miou(matrix))
    np.testing.assert_array_equal(result["confusion"].to_numpy(), matrix)
    assert list(result["iou_per_class"]["class"][:2]) == ["background", "aeroplane"]


def test_ir_label_from_cam_without_crf():
    cams = np.zeros((1, 20, 20), np.float32)
    cams[0, 5:15, 5:15] = 1.0  # confident class
    cams[0, 2:5, 2:18] = 0.1   # between the thresholds -> uncertain
    image = np.zeros((20, 20, 3), np.uint8)
    label = ir_label_from_cam({"keys": np.array([6]), "high_res": cams}, image, use_crf=False)
    assert label.dtype == np.uint8 and label.shape == (20, 20)
    assert (label[5:15, 5:15] == 7).all()
    assert (label[2:5, 2:18] == 255).all()
    assert label[18, 18] == 0
    empty = ir_label_from_cam({"keys": np.array([], int), "high_res": np.zeros((0, 20, 20))},
                              image, use_crf=False)
    assert (empty == 0).all()


def test_ir_label_crf_mode(monkeypatch):
    with pytest.warns(RuntimeWarning, match="not comparable"):
        assert resolve_crf("off") is False
    with pytest.raises(ValueError):
        resolve_crf("sometimes")
    monkeypatch.setattr("moana.wsss.ir_label.crf_available", lambda: False)
    with pytest.raises(ValueError, match="pydensecrf2"):
        resolve_crf("on")
    with pytest.warns(RuntimeWarning):
        assert resolve_crf("auto") is False


def test_ir_label_with_crf():
    pytest.importorskip("pydensecrf.densecrf")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 40, (24, 24, 3), dtype=np.uint8)
    image[6:18, 6:18] = 220
    cams = np.zeros((1, 24, 24), np.float32)
    cams[0, 7:17, 7:17] = 1.0
    label = ir_label_from_cam({"keys": np.array([2]), "high_res": cams}, image, use_crf=True)
    assert set(np.unique(label)) <= {0, 3, 255}
    assert (label[9:15, 9:15] == 3).all() and label[0, 0] == 0


def test_make_ir_labels_and_grid(tiny_voc, small_model, tmp_path):
    root, ids = tiny_voc
    labels = load_cls_labels(root / "cls_labels.npy")
    run = tmp_path / "cam"
    make_cams(small_model, voc_root=root, image_ids=ids[:2], cls_labels=labels,
              out_dir=run / "cams", scales=(1.0,))
    assert make_ir_labels(run / "cams", voc_root=root, image_ids=ids[:2],
                          out_dir=run / "ir_label", use_crf=False) == 2
    ir = load_png(run / "ir_label" / f"{ids[0]}.png")
    assert ir.shape == load_cam(run / "cams", ids[0])["high_res"].shape[1:]
    assert set(np.unique(ir)) <= {0, 255, *(np.flatnonzero(labels[ids[0]]) + 1)}
    assert make_ir_labels(run / "cams", voc_root=root, image_ids=ids[:2],
                          out_dir=run / "ir_label", use_crf=False) == 0
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_pseudo_mask_grid(root, ids[:2], {"cam": run}, {"cam": 0.15})
    assert len(fig.axes) == 2 * 3  # image, ground truth, CAM (no pseudo-masks yet)


def test_plot_cam_threshold_curves():
    import matplotlib
    import pandas as pd

    from moana.wsss.eval_sem_seg import plot_cam_threshold_curves

    matplotlib.use("Agg")
    curve = pd.DataFrame({"threshold": [0.1, 0.15, 0.2], "miou": [0.3, 0.4, 0.35]})
    ax = plot_cam_threshold_curves({"cam": curve, "moana": curve + 0.01},
                                   mark={"cam": 0.15, "moana": 0.16})
    assert len(ax.lines) == 4 and ax.get_legend() is not None
