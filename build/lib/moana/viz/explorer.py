"""Interactive attention explorer for notebooks/03_attention_maps (ipywidgets).

Pick an image, a method, a class, a CAM threshold and one of MoANA's attentions (channel c,
height h, width w or the expanded map; Sohn et al., "MoANA", Sci. Rep. 2023, Fig. of attention
maps); the view redraws the score-map overlay, the ground-truth box (red) and the box predicted at
that threshold (green, wsolevaluation's contour rule from :mod:`moana.metrics.boxes`).

:func:`render_view` does all the drawing and is tested directly; :class:`Explorer` only wires
widgets to it. :func:`collect_explorer_data` runs trained models once over a few images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from moana.viz.figures import GT_COLOR, PRED_COLOR, denormalize, draw_boxes, overlay

ATTENTIONS = ("none", "c", "h", "w", "map")


@dataclass
class ExplorerData:
    """Everything the explorer shows, precomputed (no model needed to redraw).

    ``images`` HxWx3 uint8; ``gt_boxes[i]`` (n, 4) in the displayed image's pixels;
    ``class_maps[method]`` (N, K, h, w) unnormalized CAMs; ``attentions[method][i]`` the
    ``last_attention`` dict of MoANA (keys c, h, w, map; channel-first, batch removed).
    """

    images: list[np.ndarray]
    image_ids: list[str]
    labels: list[int]
    gt_boxes: list[np.ndarray]
    class_maps: dict[str, np.ndarray]
    attentions: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)
    class_names: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise ValueError("explorer needs at least one image")
        for name, seq in (("image_ids", self.image_ids), ("labels", self.labels), ("gt_boxes", self.gt_boxes)):
            if len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} entries for {n} images")
        if not self.class_maps:
            raise ValueError("explorer needs the class maps of at least one method")
        for method, maps in self.class_maps.items():
            if maps.ndim != 4 or maps.shape[0] != n:
                raise ValueError(f"class_maps[{method!r}] must be (N={n}, K, h, w), got {maps.shape}")
        for method, atts in self.attentions.items():
            if len(atts) != n:
                raise ValueError(f"attentions[{method!r}] has {len(atts)} entries for {n} images")

    @property
    def num_classes(self) -> int:
        return int(next(iter(self.class_maps.values())).shape[1])

    def class_name(self, k: int) -> str:
        return self.class_names[k] if self.class_names and k < len(self.class_names) else f"class {k}"


def scoremap(cam: np.ndarray, size: tuple[int, int], normalization: str = "minmax") -> np.ndarray:
    """Unnormalized CAM (h, w) -> score map in [0, 1] at ``size`` = (height, width), resized and
    normalized as the evaluator does (:func:`moana.cam.scoremap_from_cam`)."""
    from moana.cam import scoremap_from_cam

    return scoremap_from_cam(np.asarray(cam, dtype=np.float64), normalization, size=(size[1], size[0]))


def predicted_boxes(score: np.ndarray, threshold: float, *, multi_contour: bool = False) -> np.ndarray:
    """Boxes (n, 4) of the score map binarized at ``threshold`` for display, with
    wsolevaluation's rule: the uint8 map > int(t * max), contour bounding boxes (the largest one
    unless ``multi_contour``), x1/y1 exclusive and clipped to the image."""
    import cv2

    from moana.metrics.boxes import quantize

    image = quantize(score)
    height, width = image.shape
    level = int(threshold * int(image.max()))
    _, binary = cv2.threshold(image, level, 255, cv2.THRESH_BINARY)
    mode = cv2.RETR_TREE if multi_contour else cv2.RETR_EXTERNAL
    contours = cv2.findContours(binary, mode, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64)
    chosen = contours if multi_contour else [max(contours, key=cv2.contourArea)]
    boxes = []
    for contour in chosen:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
    return np.array(boxes, dtype=np.int64)


def _draw_attention(ax: plt.Axes, image: np.ndarray, attention: Mapping[str, np.ndarray] | None,
                    which: str) -> None:
    if which == "none":
        ax.set_axis_off()
        return
    if not attention:
        ax.text(0.5, 0.5, "no attention module\nin this method", ha="center", va="center")
        ax.set_axis_off()
        return
    if which not in attention:
        raise ValueError(f"attention {which!r} not recorded (have {sorted(attention)})")
    value = np.asarray(attention[which], dtype=float)
    c = np.asarray(attention.get("c", np.ones(value.shape[0])), dtype=float).reshape(-1)
    order = np.argsort(-c)
    if which == "c":
        ax.bar(np.arange(len(c)), c[order], width=1.0, color="#377eb8")
        ax.set(title="channel attention (sorted)", xlabel="channel rank", ylabel="weight")
    elif which == "h":
        ax.imshow(value.reshape(value.shape[0], -1)[order].T, aspect="auto", cmap="viridis")
        ax.set(title="height attention", xlabel="channel (sorted by c)", ylabel="row")
    elif which == "w":
        ax.imshow(value.reshape(value.shape[0], -1)[order], aspect="auto", cmap="viridis")
        ax.set(title="width attention", xlabel="column", ylabel="channel (sorted by c)")
    else:
        mean = value.mean(axis=0) if value.ndim == 3 else value
        lo, hi = float(mean.min()), float(mean.max())
        overlay(ax, image, (mean - lo) / (hi - lo + 1e-12))
        ax.set_title("expanded attention (mean over C)", fontsize=9)


def render_view(
    data: ExplorerData,
    *,
    image: int = 0,
    method: str | None = None,
    class_index: int | None = None,
    threshold: float = 0.5,
    attention: str = "map",
) -> Figure:
    """Draw one explorer view: overlay + boxes (left) and the chosen attention (right)."""
    n = len(data.images)
    if not 0 <= image < n:
        raise ValueError(f"image index {image} out of range 0..{n - 1}")
    method = method or next(iter(data.class_maps))
    if method not in data.class_maps:
        raise ValueError(f"unknown method {method!r}; have {sorted(data.class_maps)}")
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"CAM threshold must be in [0, 1), got {threshold}")
    k = data.labels[image] if class_index is None or class_index < 0 else int(class_index)
    if not 0 <= k < data.num_classes:
        raise ValueError(f"class {k} out of range 0..{data.num_classes - 1}")
    picture = data.images[image]
    score = scoremap(data.class_maps[method][image, k], picture.shape[:2])
    boxes = predicted_boxes(score, threshold)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    overlay(axes[0], picture, score)
    draw_boxes(axes[0], data.gt_boxes[image], GT_COLOR, label="ground truth")
    draw_boxes(axes[0], boxes, PRED_COLOR, label=f"predicted @ {threshold:.2f}")
    rows, cols = score.shape
    if (score >= threshold).any() and not (score >= threshold).all():
        axes[0].contour(np.arange(cols) + 0.5, np.arange(rows) + 0.5, (score >= threshold).astype(float),
                        levels=[0.5], colors="white", linewidths=0.6)
    axes[0].set_title(f"{data.image_ids[image]}\n{method}: {data.class_name(k)}"
                      f" (true: {data.class_name(data.labels[image])})", fontsize=8)
    axes[0].legend(loc="lower right", fontsize=6)
    atts = data.attentions.get(method)
    _draw_attention(axes[1], picture, atts[image] if atts else None, attention)
    fig.tight_layout()
    return fig


class Explorer:
    """ipywidgets front end: controls -> :func:`render_view` -> an Output area.

    ``explorer.widget`` is what a notebook displays; setting any control's ``value`` redraws
    (tests do this headless and read ``state`` / ``figure``).
    """

    def __init__(self, data: ExplorerData, *, threshold: float = 0.5, attention: str = "map"):
        import ipywidgets as widgets

        self.data = data
        classes = [("true label", -1)] + [(data.class_name(k), k) for k in range(data.num_classes)]
        self.image = widgets.IntSlider(value=0, min=0, max=len(data.images) - 1, description="image")
        self.method = widgets.Dropdown(options=list(data.class_maps), description="method")
        self.class_index = widgets.Dropdown(options=classes, value=-1, description="class")
        self.threshold = widgets.FloatSlider(value=threshold, min=0.0, max=0.99, step=0.01,
                                             description="CAM thr.", continuous_update=False)
        self.attention = widgets.ToggleButtons(options=list(ATTENTIONS), value=attention,
                                               description="attention")
        self.output = widgets.Output()
        self.controls = {"image": self.image, "method": self.method, "class_index": self.class_index,
                         "threshold": self.threshold, "attention": self.attention}
        for control in self.controls.values():
            control.observe(self.update, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.image, self.method, self.class_index]),
            widgets.HBox([self.threshold, self.attention]),
            self.output,
        ])
        self.figure: Figure | None = None
        self.renders = 0
        self.update()

    @property
    def state(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change: Any = None) -> None:
        from IPython.display import clear_output, display

        fig = render_view(self.data, **self.state)
        self.figure, self.renders = fig, self.renders + 1
        with self.output:
            clear_output(wait=True)
            display(fig)
        plt.close(fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def collect_explorer_data(
    models: Mapping[str, Any],
    dataset: Any,
    indices: Sequence[int],
    *,
    class_names: Sequence[str] | None = None,
    device: str = "cpu",
) -> ExplorerData:
    """Run each model (a ``CAMNet``) once over ``dataset[indices]`` and keep maps and attentions.

    ``dataset`` is a :class:`moana.data.wsol.WSOLDataset` (test transform); boxes come from its
    ``metadata`` and are scaled to the network input size.
    """
    import torch

    from moana.metrics.common import resize_box

    if not indices:
        raise ValueError("no image indices given")
    items = [dataset[i] for i in indices]
    batch = torch.stack([item[0] for item in items]).to(device)
    images = [denormalize(item[0].numpy()) for item in items]
    labels = [int(item[1]) for item in items]
    ids = [str(item[2]) for item in items]
    meta = dataset.metadata
    size = batch.shape[-1]
    gt = [np.array([resize_box(b, meta.image_sizes[i], size) for b in meta.boxes.get(i, [])],
                   dtype=float).reshape(-1, 4) for i in ids]
    class_maps: dict[str, np.ndarray] = {}
    attentions: dict[str, list[dict[str, np.ndarray]]] = {}
    for name, model in models.items():
        model.eval().to(device)
        modules = list(model.attention_modules()) if hasattr(model, "attention_modules") else []
        recording = [m for m in modules if hasattr(m, "record_attention")]
        for m in recording:
            m.record_attention = True
        try:
            with torch.no_grad():
                _, maps = model.forward_with_maps(batch)
        finally:
            for m in recording:
                m.record_attention = False
        class_maps[name] = maps.detach().float().cpu().numpy()
        last = getattr(recording[-1], "last_attention", None) if recording else None
        if last:
            attentions[name] = [{k: v[j].detach().float().cpu().numpy() for k, v in last.items()}
                                for j in range(len(items))]
    return ExplorerData(images=images, image_ids=ids, labels=labels, gt_boxes=gt,
                        class_maps=class_maps, attentions=attentions,
                        class_names=list(class_names) if class_names else None)
