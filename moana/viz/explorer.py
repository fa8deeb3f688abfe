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

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from moana.viz.figures import GT_COLOR, PRED_COLOR, denormalize, draw_boxes, overlay

ATTENTIONS = ("none", "c", "h", "w", "map")
#: what the attention menu calls each view ("none": the raw image, beside the overlay)
ATTENTION_LABELS = {"none": "raw image", "c": "channel c", "h": "height h", "w": "width w",
                    "map": "expanded map"}
#: the explorer's two rows of controls: what is shown, then how it is drawn
CONTROL_ROWS = (("image", "method", "class_index"), ("threshold", "opacity", "attention"))
#: colour-bar labels: what the colour means in each panel
SCORE_LABEL = "CAM score (min-max normalised)"
WEIGHT_LABEL = "attention weight"


@dataclass
class ExplorerData:
    """Everything the explorer shows, precomputed (no model needed to redraw).

    ``images`` HxWx3 uint8; ``gt_boxes[i]`` (n, 4) in the displayed image's pixels;
    ``class_maps[method]`` (N, K, h, w) unnormalized CAMs; ``attentions[method][i]`` the
    ``last_attention`` dict of MoANA (keys c, h, w, map; channel-first, batch removed).
    ``class_maps`` are the maps the evaluator scores: for a method whose maps depend on a class
    (ACoL erases at a class) they were computed at the ground-truth label of each image.
    """

    images: list[np.ndarray]
    image_ids: list[str]
    labels: list[int]
    gt_boxes: list[np.ndarray]
    class_maps: dict[str, np.ndarray]
    attentions: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)
    class_names: list[str] | None = None
    #: class indices left out of the explorer's class menu
    hidden_classes: tuple[int, ...] = ()
    #: what ``labels`` are ("true class"; "top-1 class" where the images have no class)
    label_kind: str = "true class"

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
        """The name of class ``k`` (``"class k"`` when the names are unknown)."""
        return self.class_names[k] if self.class_names and k < len(self.class_names) else f"class {k}"


def scoremap(cam: np.ndarray, size: tuple[int, int], normalization: str = "minmax") -> np.ndarray:
    """Unnormalized CAM (h, w) -> score map in [0, 1] at ``size`` = (height, width), resized and
    normalized as the evaluator does (:func:`moana.cam.scoremap_from_cam`)."""
    from moana.cam.extract import scoremap_from_cam

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


def _colorbar(fig: Figure, cax: Axes, label: str, lo: float = 0.0, hi: float = 1.0,
              cmap: str = "viridis") -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap), cax=cax)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)


def _draw_attention(ax: Axes, cax: Axes, image: np.ndarray,
                    attention: Mapping[str, np.ndarray] | None, which: str,
                    gt_boxes: np.ndarray) -> None:
    """The right panel: the raw image (``"none"``) or one attention, with its colour bar."""
    cax.set_axis_off()
    if which == "none":
        overlay(ax, image, None)
        draw_boxes(ax, gt_boxes, GT_COLOR)
        ax.set_title("raw image (red: ground truth)", fontsize=8)
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
        ranks = np.arange(len(c))  # one filled step curve: thousands of bars draw slowly
        ax.fill_between(ranks, c[order], step="mid", color="#377eb8", linewidth=0)
        ax.set_xlim(-0.5, len(c) - 0.5)
        ax.set_ylim(0, max(float(c.max()), 1e-12) * 1.05)
        ax.set(title="channel attention (sorted)", xlabel="channel rank", ylabel=WEIGHT_LABEL)
    elif which in ("h", "w"):
        grid = value.reshape(value.shape[0], -1)[order]
        lo, hi = float(grid.min()), float(grid.max())
        ax.imshow(grid.T if which == "h" else grid, aspect="auto", cmap="viridis", vmin=lo,
                  vmax=hi, interpolation="nearest")  # no antialiasing pass over C columns: fast
        if which == "h":
            ax.set(title="height attention", xlabel="channel (sorted by c)", ylabel="row")
        else:
            ax.set(title="width attention", xlabel="column", ylabel="channel (sorted by c)")
        cax.set_axis_on()
        _colorbar(ax.figure, cax, WEIGHT_LABEL, lo, hi if hi > lo else lo + 1e-6)
    else:
        mean = value.mean(axis=0) if value.ndim == 3 else value
        lo, hi = float(mean.min()), float(mean.max())
        overlay(ax, image, (mean - lo) / (hi - lo + 1e-12))
        ax.set_title("expanded attention (mean over C)", fontsize=9)
        cax.set_axis_on()
        _colorbar(ax.figure, cax, f"mean weight, {lo:.3g} (0) to {hi:.3g} (1)", cmap="jet")
    if which in ("c", "h", "w"):  # the same type sizes as the overlay's panel
        ax.title.set_fontsize(9)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)


#: figure size (inches) and fixed axes rectangles: the view keeps its layout whatever the right
#: panel shows (an image, a heat map or a bar chart), so the left image never changes size
FIGSIZE = (9.0, 4.0)
DPI = 100
_LEFT_RECT = (0.01, 0.17, 0.38, 0.68)
_LEFT_BAR = (0.40, 0.17, 0.012, 0.68)
_RIGHT_RECT = (0.53, 0.17, 0.36, 0.68)
_RIGHT_BAR = (0.91, 0.17, 0.012, 0.68)


def default_method(data: ExplorerData) -> str:
    """The method to open on: one with recorded attention (``moana`` first), else the first."""
    with_attention = [m for m in data.class_maps if data.attentions.get(m)]
    for name in with_attention:
        if name.lower() == "moana":
            return name
    return with_attention[0] if with_attention else next(iter(data.class_maps))


def render_view(
    data: ExplorerData,
    *,
    image: int = 0,
    method: str | None = None,
    class_index: int | None = None,
    threshold: float = 0.5,
    attention: str = "map",
    opacity: float = 0.5,
    cache: dict | None = None,
) -> Figure:
    """Draw one explorer view: overlay + boxes (left) and the chosen attention or the raw image
    (right), each with a colour bar saying what its colours mean, the legend under the image.

    Returns a matplotlib ``Figure`` of size :data:`FIGSIZE`; ``axes[0]`` (overlay) and
    ``axes[1]`` (right panel) sit at fixed positions, then their colour bars (not registered
    with pyplot; nothing to close). ``method`` defaults to :func:`default_method`;
    ``class_index`` None or -1 means the true label (the map the evaluator scores);
    ``threshold`` is the CAM threshold in [0, 1) (fraction of the map's maximum,
    wsolevaluation's rule); ``opacity`` in [0, 1] is the overlay's (0: the image alone).
    ``cache`` (a dict kept by the caller) reuses score maps and boxes between views. Raises
    ValueError for an out-of-range image, class or threshold, or an unknown method/attention.
    """
    n = len(data.images)
    if not 0 <= image < n:
        raise ValueError(f"image index {image} out of range 0..{n - 1}")
    method = method or default_method(data)
    if method not in data.class_maps:
        raise ValueError(f"unknown method {method!r}; have {sorted(data.class_maps)}")
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"CAM threshold must be in [0, 1), got {threshold}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"overlay opacity must be in [0, 1], got {opacity}")
    k = data.labels[image] if class_index is None or class_index < 0 else int(class_index)
    if not 0 <= k < data.num_classes:
        raise ValueError(f"class {k} out of range 0..{data.num_classes - 1}")
    cache = {} if cache is None else cache
    picture = data.images[image]
    key = (method, image, k)
    if key not in cache:
        cache[key] = scoremap(data.class_maps[method][image, k], picture.shape[:2])
    score = cache[key]
    if (*key, threshold) not in cache:
        cache[(*key, threshold)] = predicted_boxes(score, threshold)
    boxes = cache[(*key, threshold)]
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    left, right = fig.add_axes(_LEFT_RECT), fig.add_axes(_RIGHT_RECT)
    left_bar, right_bar = fig.add_axes(_LEFT_BAR), fig.add_axes(_RIGHT_BAR)
    overlay(left, picture, score, alpha=opacity)
    _colorbar(fig, left_bar, SCORE_LABEL, cmap="jet")
    draw_boxes(left, data.gt_boxes[image], GT_COLOR, label="ground truth")
    draw_boxes(left, boxes, PRED_COLOR, label=f"predicted @ {threshold:.2f}")
    rows, cols = score.shape
    inside = score >= threshold
    if inside.any() and not inside.all():
        left.contour(np.arange(cols) + 0.5, np.arange(rows) + 0.5, inside.astype(float),
                     levels=[0.5], colors="white", linewidths=0.6)
    truth = data.class_name(data.labels[image])
    left.set_title(f"{data.image_ids[image]}\n{method}: {data.class_name(k)} map"
                   + (f" (the {data.label_kind})" if k == data.labels[image]
                      else f" ({data.label_kind.split()[0]}: {truth})"), fontsize=8)
    left.plot([], [], color="0.6", linewidth=0.8, label="white outline: score >= threshold")
    left.legend(loc="upper left", bbox_to_anchor=(0.0, -0.01), ncol=3, fontsize=7,
                frameon=False, handlelength=1.2, columnspacing=0.8)
    atts = data.attentions.get(method)
    _draw_attention(right, right_bar, picture, atts[image] if atts else None, attention,
                    data.gt_boxes[image])
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (what the explorer shows)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer, pil_kwargs={"compress_level": 1})  # fast to encode
    return buffer.getvalue()


class Explorer:
    """ipywidgets front end: one row of controls -> :func:`render_view` -> a fixed-size image.

    Opens on :func:`default_method` (the method with attention, MoANA). Each method keeps its
    own CAM threshold: ``thresholds[method]`` (e.g. the one selected on val) or ``threshold``
    for methods without one; moving the slider changes the shown method's threshold only, and
    switching methods restores theirs. Score maps and boxes are cached between redraws.
    ``explorer.widget`` is what a notebook displays; setting any control's ``value`` redraws
    (tests do this headless and read ``state`` / ``figure`` / ``last_update_s``).
    """

    def __init__(self, data: ExplorerData, *, threshold: float = 0.5,
                 thresholds: Mapping[str, float] | None = None, attention: str = "map",
                 method: str | None = None):
        import ipywidgets as widgets

        self.data = data
        self.thresholds = {m: float((thresholds or {}).get(m, threshold)) for m in data.class_maps}
        start = method or default_method(data)
        short = {"description_width": "initial"}
        classes = [(data.label_kind, -1)] + [(data.class_name(k), k) for k in range(data.num_classes)
                                          if k not in data.hidden_classes]
        self.image = widgets.IntSlider(value=0, min=0, max=len(data.images) - 1,
                                       description="image", style=short,
                                       layout=widgets.Layout(width="300px"))
        self.method = widgets.Dropdown(options=list(data.class_maps), value=start,
                                       description="method", style=short,
                                       layout=widgets.Layout(width="170px"))
        self.class_index = widgets.Dropdown(options=classes, value=-1, description="class",
                                            style=short, layout=widgets.Layout(width="300px"))
        self.threshold = widgets.FloatSlider(value=self.thresholds[start], min=0.0, max=0.99,
                                             step=0.01, description="CAM threshold", style=short,
                                             continuous_update=False, readout_format=".2f",
                                             layout=widgets.Layout(width="300px"))
        self.opacity = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                           description="overlay opacity", style=short,
                                           continuous_update=False, readout_format=".2f",
                                           layout=widgets.Layout(width="300px"))
        self.attention = widgets.Dropdown(
            options=[(ATTENTION_LABELS[a], a) for a in ATTENTIONS], value=attention,
            description="right panel", style=short, layout=widgets.Layout(width="200px"))
        self.view = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{int(FIGSIZE[0] * DPI)}px", height=f"{int(FIGSIZE[1] * DPI)}px"))
        self.controls = {"image": self.image, "method": self.method, "class_index": self.class_index,
                         "threshold": self.threshold, "opacity": self.opacity,
                         "attention": self.attention}
        for name in ("image", "class_index", "attention", "opacity"):
            self.controls[name].observe(self.update, names="value")
        self.method.observe(self._method_changed, names="value")
        self.threshold.observe(self._threshold_changed, names="value")
        # two fixed rows (what is shown | how it is drawn), each narrower than a notebook's
        # output at 1280 px with JupyterLab's side panel open, so nothing wraps or shrinks
        row = widgets.Layout(display="flex", flex_flow="row", align_items="center")
        rows = [widgets.HBox([self.controls[n] for n in names], layout=row)
                for names in CONTROL_ROWS]
        self.widget = widgets.VBox([*rows, self.view])
        self.figure: Figure | None = None
        self.renders = 0
        self.last_update_s = self.last_update_cpu_s = 0.0
        self._cache: dict = {}
        self._switching = False
        self.update()

    @property
    def state(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def _method_changed(self, change: Any) -> None:
        self._switching = True  # restore the method's own threshold without a second redraw
        try:
            self.threshold.value = self.thresholds[change["new"]]
        finally:
            self._switching = False
        self.update()

    def _threshold_changed(self, change: Any) -> None:
        self.thresholds[self.method.value] = float(change["new"])
        if not self._switching:
            self.update()

    def update(self, change: Any = None) -> None:
        """Redraw the view from the widgets' state (``change``: the ipywidgets event, unused); records
        the wall and CPU seconds of the redraw in ``last_update_s`` / ``last_update_cpu_s``."""
        import time

        start, cpu = time.perf_counter(), time.process_time()
        fig = render_view(self.data, cache=self._cache, **self.state)
        self.view.value = figure_png(fig)
        self.figure, self.renders = fig, self.renders + 1
        self.last_update_s = time.perf_counter() - start
        self.last_update_cpu_s = time.process_time() - cpu

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, with the current view as a PNG beside it: a frontend that runs
        widgets shows the widget; a static copy (an executed notebook) shows the picture."""
        import base64

        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["image/png"] = base64.b64encode(self.view.value).decode("ascii")
        bundle["text/plain"] = (f"explorer view: image {self.image.value}, {self.method.value}, "
                                f"{ATTENTION_LABELS[self.attention.value]}")
        return bundle


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
            with torch.no_grad():  # at the true labels: the maps the evaluator scores
                _, maps = model.forward_with_maps(batch, torch.as_tensor(labels, device=device))
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
