"""moana.viz.figures: every figure draws from plain arrays and saves PNG + PDF + caption."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from moana.viz import figures  # noqa: E402

RNG = np.random.default_rng(0)


def _image(size=32):
    return RNG.integers(0, 255, (size, size, 3), dtype=np.uint8)


def test_save_figure_png_pdf_and_meta(tmp_path):
    fig = figures.plot_samples([_image(), _image()], [[(2, 2, 20, 20)], [(0, 0, 5, 5), (6, 6, 9, 9)]],
                               titles=["a", "b"])
    path = figures.save_figure(fig, "samples", tmp_path, caption="Samples", dataset="toy", synthetic=True)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "figures" / "samples.pdf").read_bytes()[:4] == b"%PDF"
    meta = json.loads((tmp_path / "figures" / "samples.meta.json").read_text())
    assert meta["caption"] == "Samples" and meta["synthetic"] is True and meta["formats"] == ["png", "pdf"]


def test_box_accuracy_curves_one_line_per_method():
    t = np.linspace(0, 0.99, 10)
    rows = [pd.DataFrame({"threshold": t, "iou": iou, "box_acc": 100 * (1 - t) * k, "method": m,
                          "backbone": "small"})
            for m, k in (("cam", 0.5), ("moana", 0.8)) for iou in (30, 50, 70)]
    fig = figures.plot_box_accuracy_curves(pd.concat(rows), iou=50)
    ax = fig.axes[0]
    assert len(ax.get_lines()) >= 2
    assert ax.get_xlabel() == "CAM threshold"
    with pytest.raises(ValueError, match="lacks columns"):
        figures.plot_box_accuracy_curves(pd.DataFrame({"method": []}))
    with pytest.raises(ValueError, match="IoU 90"):
        figures.plot_box_accuracy_curves(pd.concat(rows), iou=90)


def test_qualitative_grid_shape_and_checks():
    images = [_image(), _image()]
    maps = {"cam": [RNG.random((8, 8)) for _ in images], "moana": [RNG.random((8, 8)) for _ in images]}
    boxes = [[(1, 1, 10, 10)], [(3, 3, 30, 30)]]
    fig = figures.plot_qualitative_grid(images, maps, boxes, {"cam": boxes, "moana": boxes})
    assert len(fig.axes) == 6
    assert len(fig.axes[1].patches) == 2  # GT + prediction
    with pytest.raises(ValueError, match="1 maps for 2 images"):
        figures.plot_qualitative_grid(images, {"cam": maps["cam"][:1]}, boxes)


def test_axis_attentions_panels():
    att = {"c": RNG.random((16, 1, 1)), "h": RNG.random((16, 4, 1)), "w": RNG.random((16, 1, 4)),
           "map": RNG.random((16, 4, 4))}
    fig = figures.plot_axis_attentions(_image(), att)
    assert len(fig.axes) == 5
    with pytest.raises(ValueError, match="lacks 'map'"):
        figures.plot_axis_attentions(_image(), {k: v for k, v in att.items() if k != "map"})


def test_training_curves_and_bars_and_masks():
    hist = pd.DataFrame({"epoch": [1, 2, 1, 2], "run": ["a", "a", "b", "b"],
                         "train_loss": [1.0, 0.5, 1.2, 0.7], "val_MaxBoxAccV2": [10, 20, 15, 25]})
    fig = figures.plot_training_curves(hist)
    assert len(fig.axes) == 2 and fig.legends and not fig.axes[0].get_legend()  # legend outside
    # a val metric computed after the last epoch only is a dot: no panel for it
    once = hist.assign(val_PxAP=[None, 50.0, None, 60.0])
    assert figures.curve_metrics(once, ["train_loss", "val_PxAP"]) == ["train_loss"]
    assert len(figures.plot_training_curves(once).axes) == 2
    one_epoch = hist[hist["epoch"] == 1]  # nothing has two epochs: each metric as dots
    assert figures.curve_metrics(one_epoch, ["train_loss", "val_MaxBoxAccV2"]) == [
        "train_loss", "val_MaxBoxAccV2"]
    with pytest.raises(ValueError, match="'epoch'"):
        figures.plot_training_curves(hist.drop(columns="epoch"))
    bars = pd.DataFrame({"class": ["a", "b"], "iou": [10.0, 20.0], "method": ["cam", "moana"]})
    assert figures.plot_metric_bars(bars, x="class", y="iou", hue="method").axes
    label = np.zeros((16, 16), np.uint8)
    label[4:8, 4:8] = 3
    label[0] = 255
    colored = figures.colorize(label)
    assert colored.shape == (16, 16, 3) and tuple(colored[0, 0]) == (255, 255, 255)
    assert tuple(colored[5, 5]) == tuple(figures.voc_palette()[3])
    fig = figures.plot_mask_grid([_image(16)], {"ground truth": [label], "pseudo": [label]})
    assert len(fig.axes) == 3


def test_denormalize_roundtrip():
    img = RNG.random((3, 4, 4)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalized = (img - mean[:, None, None]) / std[:, None, None]
    out = figures.denormalize(normalized)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(float) / 255 - img.transpose(1, 2, 0)).max() < 0.01
    with pytest.raises(ValueError, match="3xHxW"):
        figures.denormalize(np.zeros((4, 4)))


def test_saved_pdf_has_no_date(tmp_path):
    import matplotlib.pyplot as plt

    paths = []
    for name in ("a", "b"):
        fig = plt.figure()
        fig.gca().plot([0, 1])
        figures.save_figure(fig, name, tmp_path, caption="c", dataset="toy", synthetic=True,
                            show=False)
        paths.append(tmp_path / "figures" / f"{name}.pdf")
    first, second = (p.read_bytes() for p in paths)
    assert b"CreationDate" not in first and first == second
