"""One localization table across CAM sources: rows models x methods, scored with the kit's
evaluators on a WSOL split (wsolevaluation's protocol, Choe et al., CVPR 2020).

A *localizer* is a model with what CAM sources it offers: the kit's runs give their own
inference map (``cam``: CAM, or ACoL's / SPG's / ADL's map, :meth:`CAMNet.forward_with_maps`)
and the post-hoc methods of :mod:`moana.cam.sources` at the layer their classifier consumes; a
torchvision / timm / EfficientNet-Lite model (:mod:`moana.models.zoo`) gives ``cam`` through
:class:`~moana.cam.CAMExtractor` where its head is linear over pooled features, and the
post-hoc methods at its family's default layer (or ``target_layer``).

For each localizer and method the maps of the ground-truth class (``protocol="gt_known"``;
the predicted class with ``"predicted"``, the photo set's setting) are normalized to score
maps and scored: MaxBoxAcc at IoU 30/50/70 and their mean MaxBoxAccV2, PxAP where the split has
masks, top-1 and GT-known loc (IoU 50) at the CAM threshold chosen on the val split and at the
test split's own best threshold (the *oracle*, which uses the test labels and is reported only
for comparison). ``ms_per_image`` is the wall time of the maps (CAM source and score maps, not
the scoring), per image, after the val split has warmed everything up.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: the kit's CAM plus every post-hoc method of moana.cam.sources
ALL_METHODS = ("cam", "gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "ablationcam",
               "eigencam", "hirescam")
#: table columns, in order
COLUMNS = ("model", "method", "split", "images", "top1_loc", "gt_known_loc", "MaxBoxAcc@30",
           "MaxBoxAcc@50", "MaxBoxAcc@70", "MaxBoxAccV2", "PxAP", "threshold",
           "top1_loc_oracle", "gt_known_loc_oracle", "threshold_oracle", "ms_per_image", "device")


@dataclass
class Localizer:
    """A classifier in eval mode and how its CAM sources are made.

    ``cam_model``: a module with ``forward_with_maps`` (the kit's network, or a CAMExtractor),
    None when CAM does not apply (``cam_error`` says why); ``consumer``: the module whose input
    is the default post-hoc target layer (the kit's 1x1 classifier, a zoo model's global pool),
    unless ``target_layer`` names one.
    """

    name: str
    model: nn.Module
    cam_model: nn.Module | None = None
    cam_error: str = ""
    target_layer: str | None = None
    consumer: str | None = None
    reshape_transform: Any = None
    extractor_head: str | None = None
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def layer(self, images: torch.Tensor) -> str:
        """The post-hoc target layer (found on ``images`` the first time when not named)."""
        if self.target_layer is None:
            from moana.models.zoo import pooled_layer

            if self.consumer is None:
                raise ValueError(f"{self.name}: no default target layer; give --target-layer")
            self.target_layer = pooled_layer(self.model, self.consumer, images[:1])
        return self.target_layer


def kit_localizer(name: str, model: nn.Module, target_layer: str | None = None) -> Localizer:
    """A kit network (:class:`~moana.models.CAMNet`): its own maps, post-hoc at the classifier."""
    consumer = "classifier" if hasattr(model, "classifier") else None
    return Localizer(name, model.eval(), cam_model=model, target_layer=target_layer,
                     consumer=consumer)


def zoo_localizer(zoo: Any) -> Localizer:
    """A :class:`moana.models.zoo.ZooModel`; its CAM is made on the first batch (it needs the
    pooled layer)."""
    error = "" if zoo.head else (f"CAM needs a classifier linear over globally pooled features; "
                                 f"{zoo.name}'s is not")
    return Localizer(zoo.name, zoo.model, cam_error=error, target_layer=zoo.target_layer,
                     consumer=zoo.pool, reshape_transform=zoo.reshape_transform,
                     extractor_head=zoo.head, mean=zoo.mean, std=zoo.std)


def _cam_model(loc: Localizer, images: torch.Tensor) -> nn.Module:
    if loc.cam_model is None and not loc.cam_error and loc.extractor_head:
        from moana.cam.hooks import CAMExtractor

        try:
            loc.cam_model = CAMExtractor(loc.model, loc.layer(images), loc.extractor_head)
        except ValueError as err:
            loc.cam_error = (f"CAM needs a classifier linear over globally pooled features; "
                             f"{loc.name}'s {loc.extractor_head} is not ({err})")
    if loc.cam_model is None:
        posthoc = ", ".join(m for m in ALL_METHODS if m != "cam")
        raise ValueError(f"{loc.cam_error}; use a post-hoc method ({posthoc})")
    return loc.cam_model


def method_batches(loc: Localizer, method: str, loader: Iterable, *, protocol: str,
                   device: torch.device, timer: list[float]) -> Iterator[Any]:
    """:class:`moana.cam.CAMBatch` items of ``method``'s maps, one per batch of ``loader``; the
    seconds spent making the maps are added to ``timer[0]``."""
    if method == "cam":
        return _own_map_batches(loc, loader, protocol=protocol, device=device, timer=timer)
    return _posthoc_batches(loc, method, loader, protocol=protocol, device=device, timer=timer)


def _own_map_batches(loc: Localizer, loader: Iterable, *, protocol: str, device: torch.device,
                     timer: list[float]) -> Iterator[Any]:
    """The model's own maps (:func:`moana.cam.iter_cam_batches`), data loading not timed."""
    from moana.cam.extract import iter_cam_batches

    batches = iter(loader)
    first = next(batches, None)
    if first is None:
        return
    net = _cam_model(loc, first[0].to(device))
    loading = [0.0]  # time spent reading the data, left out of the map time
    source = iter_cam_batches(net, _timed(_chain(first, batches), loading), protocol=protocol,
                              device=device, nan_policy="warn")
    while True:
        start, loaded = time.perf_counter(), loading[0]
        with torch.no_grad():
            batch = next(source, None)
        timer[0] += time.perf_counter() - start - (loading[0] - loaded)
        if batch is None:
            return
        yield batch


def _posthoc_batches(loc: Localizer, method: str, loader: Iterable, *, protocol: str,
                     device: torch.device, timer: list[float]) -> Iterator[Any]:
    """A pytorch-grad-cam method's maps; the forward that gives the top-5 is not timed."""
    from moana.cam.extract import CAMBatch
    from moana.cam.sources import cam_source

    maps_fn = None
    for images, labels, image_ids in loader:
        images = images.to(device)
        with torch.no_grad():
            logits = loc.model(images)
        logits = (logits["logits"] if isinstance(logits, dict) else logits).float()
        topk = logits.topk(min(5, logits.shape[1]), dim=1).indices
        labels = torch.as_tensor(labels)
        classes = labels if protocol == "gt_known" else topk[:, 0].cpu()
        start = time.perf_counter()
        if maps_fn is None:
            maps_fn = cam_source(loc.model, method, loc.layer(images), loc.reshape_transform)
        cams = maps_fn(images, classes)
        timer[0] += time.perf_counter() - start
        yield CAMBatch([str(i) for i in image_ids], labels.numpy(), topk.cpu().numpy(), cams)


def _chain(first: Any, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _timed(batches: Iterator, seconds: list[float]) -> Iterator:
    """``batches``, adding the time each one takes to arrive to ``seconds[0]``."""
    while True:
        start = time.perf_counter()
        batch = next(batches, None)
        seconds[0] += time.perf_counter() - start
        if batch is None:
            return
        yield batch


def score_split(loc: Localizer, method: str, loader: Iterable, metadata: Any, settings: Any, *,
                protocol: str = "gt_known", thresholds: dict[str, float] | None = None,
                maps_out: list | None = None) -> dict[str, Any]:
    """Metrics of one method on one split (:func:`moana.train.evaluate._summarize`), with
    ``ms_per_image`` and, on a split with boxes, the oracle top-1 / GT-known loc. ``maps_out``,
    when given, receives the (B, H, W) score maps of each batch, in order."""
    from moana.metrics.boxes import topk_localization
    from moana.train.evaluate import _Scorer, _summarize, scoremaps_from_cams

    scorer = _Scorer(metadata, settings, None)
    timer = [0.0]
    cfg = settings.eval_cfg
    try:
        for batch in method_batches(loc, method, loader, protocol=protocol,
                                    device=settings.device, timer=timer):
            start = time.perf_counter()
            maps = scoremaps_from_cams(batch.cams, settings.image_size, cfg.cam_normalization)
            timer[0] += time.perf_counter() - start
            if maps_out is not None:
                maps_out.append(np.asarray(maps))
            scorer.add([(batch.image_ids, batch.labels, batch.topk, maps)])
    finally:
        scorer.close()
    metrics = _summarize(scorer.labels, scorer.predictions, scorer.box_eval, scorer.mask_eval,
                         thresholds, topk_localization)
    metrics["ms_per_image"] = 1000.0 * timer[0] / max(len(scorer.labels), 1)
    if scorer.box_eval is not None:
        oracle = float(metrics["best_threshold@50"])
        correct = scorer.box_eval.correct_at(oracle, iou=50)
        metrics["threshold_oracle"] = oracle
        metrics["gt_known_loc_oracle"] = 100.0 * sum(correct.values()) / len(correct)
        metrics["top1_loc_oracle"] = topk_localization(
            correct, scorer.labels, scorer.predictions, ks=(1,))["top1_loc"]
    return metrics


def table_row(name: str, method: str, split: str, metrics: dict[str, Any], device: str, *,
              has_classes: bool = True, val_selected: bool = True) -> dict[str, Any]:
    """One table row (:data:`COLUMNS`); NaN where a number does not exist (no masks: PxAP; no
    val split: the val-selected columns; no classes: top-1 loc)."""
    def get(key: str, ok: bool = True) -> float:
        value = metrics.get(key)
        return float(value) if ok and value is not None else math.nan

    return {"model": name, "method": method, "split": split, "images": metrics["num_images"],
            "top1_loc": get("top1_loc", has_classes and val_selected),
            "gt_known_loc": get("gt_known_loc", val_selected),
            **{f"MaxBoxAcc@{d}": get(f"MaxBoxAcc@{d}") for d in (30, 50, 70)},
            "MaxBoxAccV2": get("MaxBoxAccV2"), "PxAP": get("PxAP"),
            "threshold": get("box_threshold", val_selected),
            "top1_loc_oracle": get("top1_loc_oracle", has_classes),
            "gt_known_loc_oracle": get("gt_known_loc_oracle"),
            "threshold_oracle": get("threshold_oracle"),
            "ms_per_image": get("ms_per_image"), "device": device}


@dataclass
class Split:
    """What a table is computed on: for the test split and, when there is one, the val split
    that chooses the CAM threshold, ``(loaders, metadata)``; ``loaders(localizer)`` gives an
    iterable of ``(images, labels, image ids)`` batches in that localizer's input convention."""

    label: str
    test: tuple[Any, Any]  # (loader factory, metadata)
    val: tuple[Any, Any] | None
    settings: Any
    protocol: str = "gt_known"
    has_classes: bool = True
    split_name: str = "test"


def _val_thresholds(loc: Localizer, method: str, split: Split) -> dict[str, float] | None:
    """The CAM threshold chosen on the val split (best at IoU 50), None without val boxes."""
    make_val, val_meta = split.val
    val = score_split(loc, method, make_val(loc), val_meta, split.settings,
                      protocol=split.protocol)
    return {"box_threshold": val["box_threshold"]} if "box_threshold" in val else None


def _warm_up(loc: Localizer, method: str, split: Split) -> None:
    """Maps of one test image, so the timing leaves out imports and first allocations."""
    make_test, _ = split.test
    with contextlib.suppress(StopIteration):
        images, labels, ids = next(iter(make_test(loc)))
        list(method_batches(loc, method, [(images[:1], labels[:1], ids[:1])],
                            protocol=split.protocol, device=split.settings.device, timer=[0.0]))


def evaluate_cams(localizers: Sequence[Localizer], methods: Sequence[str], split: Split,
                  *, on_row: Any = None, maps_out: dict | None = None) -> list[dict[str, Any]]:
    """The table rows of every localizer x method on ``split`` (val first, when there is one:
    its threshold is applied to test; it also warms up). ``on_row(row)`` is called as each row
    is done; ``maps_out``, when given, receives ``{(model, method): (N, H, W)}`` test score
    maps."""
    rows = []
    for loc in localizers:
        for method in methods:
            thresholds = None
            if split.val is not None:
                thresholds = _val_thresholds(loc, method, split)
            else:
                _warm_up(loc, method, split)
            make_test, test_meta = split.test
            kept: list | None = [] if maps_out is not None else None
            test = score_split(loc, method, make_test(loc), test_meta, split.settings,
                               protocol=split.protocol, thresholds=thresholds, maps_out=kept)
            if kept:
                maps_out[(loc.name, method)] = np.concatenate(kept)
            row = table_row(loc.name, method, split.split_name, test,
                            str(split.settings.device), has_classes=split.has_classes,
                            val_selected=split.val is not None)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _cell(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def format_markdown(rows: Sequence[dict[str, Any]], label: str) -> str:
    """The table as Markdown under its label line (percent; thresholds as fractions of the
    normalized map; oracle = best threshold on the test split itself)."""
    header = ("| model | method | top-1 loc | GT-known loc | MaxBoxAcc@30 | @50 | @70 | "
              "MaxBoxAccV2 | PxAP | threshold (val) | top-1 loc (oracle) | GT-known loc "
              "(oracle) | threshold (oracle) | ms/image |")
    lines = [label, "", header, "|" + "---|" * header.count(" | ") + "---|"]
    keys = ("top1_loc", "gt_known_loc", "MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70",
            "MaxBoxAccV2", "PxAP")
    for r in rows:
        cells = [r["model"], r["method"], *(_cell(r[k]) for k in keys),
                 _cell(r["threshold"], 3), _cell(r["top1_loc_oracle"]),
                 _cell(r["gt_known_loc_oracle"]), _cell(r["threshold_oracle"], 3),
                 f"{_cell(r['ms_per_image'], 1)} ({r['device']})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[dict[str, Any]], label: str, prefix: str | Path) -> tuple[Path, Path]:
    """Write ``<prefix>.csv`` (:data:`COLUMNS`, with a ``# label`` first line) and
    ``<prefix>.md``, each atomically. Returns both paths."""
    import csv
    import io

    from moana.io import atomic_write_text

    prefix = Path(prefix)
    if prefix.suffix in (".csv", ".md"):
        prefix = prefix.with_suffix("")
    buffer = io.StringIO()
    buffer.write(f"# {label}\n")
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if isinstance(r[k], float) and math.isnan(r[k]) else
                             (round(r[k], 4) if isinstance(r[k], float) else r[k]))
                         for k in COLUMNS})
    csv_path = atomic_write_text(prefix.with_suffix(".csv"), buffer.getvalue())
    md_path = atomic_write_text(prefix.with_suffix(".md"), format_markdown(rows, label))
    return csv_path, md_path


def array_loader(images: torch.Tensor, labels: Sequence[int], ids: Sequence[str],
                 batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    """In-memory batches ``(images, labels, ids)`` of ``batch_size``."""
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return [(images[i:i + batch_size], labels[i:i + batch_size], list(ids[i:i + batch_size]))
            for i in range(0, len(ids), batch_size)]
