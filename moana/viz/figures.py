"""Figures of the paper's set (Sohn et al., "MoANA", Sci. Rep. 2023), drawn with matplotlib/seaborn.

Every function takes plain arrays / DataFrames and returns a :class:`matplotlib.figure.Figure`;
:func:`save_figure` writes it as PNG and PDF with a caption side file for results/README.md.
Boxes are ``(x0, y0, x1, y1)`` in the pixel grid of the image they are drawn on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.patches as mpatches
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from moana.io import atomic_write
from moana.viz._io import write_meta

Box = Sequence[float]
GT_COLOR = "#e41a1c"     # red: ground truth (as in the paper's qualitative figures)
PRED_COLOR = "#4daf4a"   # green: predicted


def save_figure(
    fig: Figure,
    name: str,
    output_dir: str | Path,
    *,
    caption: str,
    dataset: str,
    synthetic: bool,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 120,
    close: bool = True,
    show: bool | None = None,
) -> Path:
    """Write ``<output_dir>/figures/<name>.png`` (+ ``.pdf``) and ``<name>.meta.json``.

    The files carry no date (PDF ``CreationDate`` unset), so the same figure gives the same
    bytes on every run. ``show`` (default: when matplotlib's backend is the notebook's inline
    one) also displays the figure in the running notebook, which is how every saved figure
    appears in an executed copy; a shown figure is then closed (pyplot would show it twice).
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad figure name {name!r}")
    folder = Path(output_dir) / "figures"
    paths = [
        atomic_write(folder / f"{name}.{fmt}",
                     lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                                                      metadata=STABLE_METADATA.get(fmt)))
        for fmt in formats
    ]
    write_meta(paths[0], kind="figure", caption=caption, dataset=dataset, synthetic=synthetic,
               extra={"formats": list(formats)})
    if inline_backend() if show is None else show:
        from IPython.display import display

        display(fig)
        close = True
    if close:
        plt.close(fig)
    return paths[0]


#: savefig metadata per format that leaves out what changes between runs (the creation date)
STABLE_METADATA: dict[str, dict[str, None]] = {"pdf": {"CreationDate": None},
                                               "svg": {"Date": None}, "ps": {"CreationDate": None}}


def inline_backend() -> bool:
    """True when matplotlib draws into a notebook (the inline backend of a Jupyter kernel)."""
    import matplotlib

    return "inline" in str(matplotlib.get_backend()).lower()


def _as_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = ((image - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
    return image.squeeze()


def denormalize(image: np.ndarray, mean: Sequence[float] = (0.485, 0.456, 0.406),
                std: Sequence[float] = (0.229, 0.224, 0.225)) -> np.ndarray:
    """A normalized CHW float image (ImageNet mean/std) -> HWC uint8 for display."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a 3xHxW image, got shape {image.shape}")
    out = image * np.asarray(std, np.float32)[:, None, None] + np.asarray(mean, np.float32)[:, None, None]
    return (np.clip(out, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)


def draw_boxes(ax: plt.Axes, boxes: Sequence[Box] | np.ndarray, color: str, lw: float = 1.5,
               label: str | None = None) -> None:
    """Draw ``boxes`` (N, 4) as ``(x0, y0, x1, y1)`` pixel rectangles on ``ax`` (``label`` on the
    first only, for the legend)."""
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(mpatches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                                        linewidth=lw, label=label if i == 0 else None))


def overlay(ax: plt.Axes, image: np.ndarray, scoremap: np.ndarray | None, *, alpha: float = 0.5,
            cmap: str = "jet") -> None:
    """Image with a score map (resized by matplotlib to the image extent) on top."""
    image = _as_image(image)
    h, w = image.shape[:2]
    ax.imshow(image, extent=(0, w, h, 0))
    if scoremap is not None:
        ax.imshow(np.asarray(scoremap, dtype=float), cmap=cmap, alpha=alpha, vmin=0, vmax=1,
                  extent=(0, w, h, 0), interpolation="bilinear")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()


def plot_box_accuracy_curves(curves: pd.DataFrame, *, iou: int | None = 50) -> Figure:
    """Box accuracy vs CAM threshold, one line per method (long table: method, threshold,
    iou, box_acc; optional backbone -> one panel each)."""
    required = {"method", "threshold", "iou", "box_acc"}
    missing = required - set(curves.columns)
    if missing:
        raise ValueError(f"curves table lacks columns {sorted(missing)}")
    data = curves if iou is None else curves[curves["iou"] == iou]
    if data.empty:
        raise ValueError(f"no curve at IoU {iou}")
    panels = sorted(data["backbone"].unique()) if "backbone" in data else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        sub = data if panel is None else data[data["backbone"] == panel]
        sns.lineplot(sub, x="threshold", y="box_acc", hue="method",
                     style="iou" if iou is None else None, ax=ax, errorbar=None)
        ax.set(xlabel="CAM threshold", ylabel="box accuracy (%)" + (f", IoU≥{iou/100:.1f}" if iou else ""),
               ylim=(0, 100), xlim=(0, 1), title=str(panel) if panel else None)
    fig.tight_layout()
    return fig


def plot_qualitative_grid(
    images: Sequence[np.ndarray],
    maps: Mapping[str, Sequence[np.ndarray]],
    gt_boxes: Sequence[Sequence[Box]],
    pred_boxes: Mapping[str, Sequence[Sequence[Box]]] | None = None,
    *,
    titles: Sequence[str] | None = None,
) -> Figure:
    """Rows = images; columns = the image with its ground-truth box, then each method's map with
    the ground truth (red) and its predicted boxes (green)."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    for method, values in maps.items():
        if len(values) != n:
            raise ValueError(f"{method}: {len(values)} maps for {n} images")
    cols = 1 + len(maps)
    fig, axes = plt.subplots(n, cols, figsize=(2.3 * cols, 2.3 * n), squeeze=False)
    for i, image in enumerate(images):
        overlay(axes[i, 0], image, None)
        draw_boxes(axes[i, 0], gt_boxes[i], GT_COLOR)
        if titles:
            axes[i, 0].set_title(titles[i], fontsize=8)
        for j, (method, values) in enumerate(maps.items(), start=1):
            overlay(axes[i, j], image, values[i])
            draw_boxes(axes[i, j], gt_boxes[i], GT_COLOR)
            if pred_boxes and method in pred_boxes:
                draw_boxes(axes[i, j], pred_boxes[method][i], PRED_COLOR)
            if i == 0:
                axes[i, j].set_title(method, fontsize=9)
    if n:
        axes[0, 0].set_title((titles[0] + "\n" if titles else "") + "image + GT box", fontsize=8)
    fig.tight_layout()
    return fig


def plot_photo_cams(
    images: Sequence[np.ndarray],
    maps: Mapping[str, Sequence[np.ndarray]],
    gt_boxes: Sequence[Sequence[Box]],
    *,
    titles: Sequence[str] | None = None,
    label: str | None = None,
) -> Figure:
    """Real photographs x CAM methods (:func:`plot_qualitative_grid`), with ``label`` (what the
    photos and the classifier are) as the figure's title."""
    fig = plot_qualitative_grid(images, maps, gt_boxes, titles=titles)
    if label:
        fig.suptitle(label, fontsize=9, wrap=True)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / max(len(images), 1)))
    return fig


def plot_axis_attentions(
    image: np.ndarray, attention: Mapping[str, np.ndarray], *, title: str | None = None
) -> Figure:
    """MoANA's triple-view attentions for one image: channel (C,), height (C,H), width (C,W) and
    the expanded map (C,H,W), the last shown averaged over channels on top of the image."""
    for key in ("c", "h", "w", "map"):
        if key not in attention:
            raise ValueError(f"attention lacks {key!r} (got {sorted(attention)})")
    c = np.asarray(attention["c"], dtype=float).reshape(-1)
    h = np.asarray(attention["h"], dtype=float)
    w = np.asarray(attention["w"], dtype=float)
    h = h.reshape(h.shape[0], -1)
    w = w.reshape(w.shape[0], -1)
    expanded = np.asarray(attention["map"], dtype=float)
    expanded = expanded.mean(axis=0) if expanded.ndim == 3 else expanded
    fig, axes = plt.subplots(1, 5, figsize=(15, 3), gridspec_kw={"width_ratios": [1, 1.4, 1, 1, 1]})
    overlay(axes[0], image, None)
    axes[0].set_title(title or "image", fontsize=9)
    order = np.argsort(-c)
    axes[1].bar(np.arange(len(c)), c[order], color="#377eb8", width=1.0)
    axes[1].set(title="channel attention (sorted)", xlabel="channel rank", ylabel="weight")
    sns.heatmap(h[order].T, ax=axes[2], cmap="viridis", cbar=False)
    axes[2].set(title="height attention", xlabel="channel (sorted)", ylabel="row", xticks=[])
    sns.heatmap(w[order], ax=axes[3], cmap="viridis", cbar=False)
    axes[3].set(title="width attention", xlabel="column", ylabel="channel (sorted)", yticks=[])
    lo, hi = float(expanded.min()), float(expanded.max())
    overlay(axes[4], image, (expanded - lo) / (hi - lo + 1e-12))
    axes[4].set_title("expanded map (mean over C)", fontsize=9)
    fig.tight_layout()
    return fig


def curve_metrics(history: pd.DataFrame, metrics: Sequence[str], *, x: str = "epoch",
                  hue: str = "run") -> list[str]:
    """The ``metrics`` worth a curve: present, and computed at two or more epochs of some run
    (val metrics computed only after the last epoch would be a single dot). When none is (a
    one-epoch run), those computed at all."""
    present, keep = [], []
    for metric in metrics:
        if metric not in history or not history[metric].notna().any():
            continue
        present.append(metric)
        rows = history[history[metric].notna()]
        per_run = rows.groupby(hue)[x].nunique() if hue in rows else pd.Series([rows[x].nunique()])
        if int(per_run.max()) >= 2:
            keep.append(metric)
    return keep or present


def plot_training_curves(history: pd.DataFrame, *, x: str = "epoch",
                         metrics: Sequence[str] | None = None, hue: str = "run") -> Figure:
    """Training history (long or wide per-run table) -> one panel per metric, over the epochs
    where it was computed; a metric computed at fewer than two epochs gets no panel
    (:func:`curve_metrics`). The run legend sits outside the panels, at the right."""
    if x not in history:
        raise ValueError(f"history lacks the {x!r} column (columns: {list(history.columns)})")
    numeric = [c for c in history.columns if c not in (x, hue) and pd.api.types.is_numeric_dtype(history[c])]
    metrics = curve_metrics(history, metrics or numeric, x=x, hue=hue)
    if not metrics:
        raise ValueError("no numeric metric column to plot")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics) + 1.4, 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data = history[history[metric].notna()]
        sns.lineplot(data, x=x, y=metric, hue=hue if hue in data else None, ax=ax,
                     marker="o", errorbar=None, legend=ax is axes[0][0])
        ax.set_title(metric, fontsize=9)
    fig.tight_layout()
    legend = axes[0][0].get_legend()
    if legend is not None:
        handles, labels = axes[0][0].get_legend_handles_labels()
        legend.remove()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
                   frameon=False, title=hue)
    return fig


def plot_metric_bars(table: pd.DataFrame, *, x: str, y: str, hue: str | None = None,
                     title: str | None = None, ylim: tuple[float, float] | None = (0, 100)) -> Figure:
    """Bar chart of one metric (per-class IoU, ablation variants, ...)."""
    for column in (x, y) + ((hue,) if hue else ()):
        if column not in table:
            raise ValueError(f"table lacks column {column!r}")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * table[x].nunique() + 2), 3.4))
    sns.barplot(table, x=x, y=y, hue=hue, ax=ax, errorbar=None)
    ax.tick_params(axis="x", rotation=60)
    if ylim:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def voc_palette() -> np.ndarray:
    """PASCAL VOC color map as (256, 3) uint8 (from :mod:`moana.data.voc`); 255 drawn white."""
    from moana.data.voc import voc_palette as flat_palette

    palette = np.zeros((256, 3), dtype=np.uint8)
    flat = np.asarray(flat_palette(), dtype=np.uint8).reshape(-1, 3)[:256]
    palette[: len(flat)] = flat
    palette[255] = (255, 255, 255)
    return palette


def colorize(label: np.ndarray) -> np.ndarray:
    """An (H, W) label map -> (H, W, 3) uint8 RGB with the PASCAL VOC palette (255, ignore, drawn white).
    Raises ValueError for a map that is not 2-D."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"expected an HxW label map, got shape {label.shape}")
    return voc_palette()[label.astype(np.int64).clip(0, 255)]


def plot_samples(images: Sequence[np.ndarray], boxes: Sequence[Sequence[Box]] | None = None, *,
                 titles: Sequence[str] | None = None, cols: int = 6) -> Figure:
    """A grid of images with their ground-truth boxes (red)."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, image in enumerate(images):
        ax = axes.ravel()[i]
        overlay(ax, image, None)
        if boxes is not None:
            draw_boxes(ax, boxes[i], GT_COLOR)
        if titles:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def plot_mask_grid(images: Sequence[np.ndarray], masks: Mapping[str, Sequence[np.ndarray]],
                   *, titles: Sequence[str] | None = None) -> Figure:
    """Rows = images; columns = image, then each label map (ground truth, CAM, pseudo mask...)."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    cols = 1 + len(masks)
    fig, axes = plt.subplots(n, cols, figsize=(2.2 * cols, 2.2 * n), squeeze=False)
    for i, image in enumerate(images):
        overlay(axes[i, 0], image, None)
        if titles:
            axes[i, 0].set_title(titles[i], fontsize=8)
        for j, (name, values) in enumerate(masks.items(), start=1):
            axes[i, j].imshow(colorize(values[i]), interpolation="nearest")
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


@contextmanager
def _seeded_global_rng(seed: int):
    """Seed numpy's global generator inside the block and restore its state after: seaborn's
    ``stripplot`` draws its jitter from it, so the figure's bytes then repeat from run to run."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def plot_ablation(
    results: pd.DataFrame,
    metric: str = "MaxBoxAccV2",
    *,
    reference: str | None = "cam",
    ax=None,
    title: str | None = None,
) -> Figure:
    """Mean ± std of ``metric`` per variant (points = seeds) of ablation results (one row per
    variant and seed, :func:`moana.experiments.ablation.load_results`); returns the Figure."""

    if metric not in results.columns:
        raise ValueError(f"metric {metric!r} not in results columns {list(results.columns)}")
    order = list(dict.fromkeys(results["variant"]))
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(order) + 2.0), 3.8))
    else:
        fig = ax.figure
    sns.pointplot(
        data=results, x="variant", y=metric, order=order, errorbar="sd", linestyle="none",
        capsize=0.3, color="black", markers="D", ax=ax,
    )
    with _seeded_global_rng(0):
        sns.stripplot(
            data=results, x="variant", y=metric, order=order, color="tab:blue", alpha=0.5, size=4,
            jitter=0.15, ax=ax,
        )
    if reference is not None and reference in order:
        ref_mean = results.loc[results["variant"] == reference, metric].mean()
        ax.axhline(
            ref_mean, color="tab:red", linestyle="--", linewidth=1, label=f"{reference} mean"
        )
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", rotation=60)
    for lbl in ax.get_xticklabels():
        lbl.set_horizontalalignment("right")
    n = results.groupby("variant")["seed"].nunique()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    ax.set_title(title or f"{metric}: mean ± std over {seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
