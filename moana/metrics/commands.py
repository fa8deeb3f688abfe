"""``moana evaluate-scoremaps``: wsolevaluation's metrics for any method's saved score maps.

Score maps follow wsolevaluation's heatmap contract (one float ``.npy`` in [0, 1] per image id,
see :mod:`moana.cam`), 224x224 there, or are 8-bit / 16-bit grayscale ``.png`` files in the same
place (scaled to [0, 1] by 255 / 65535); here any square size S works (``--image-size S``, or by
default the size of the first map), with the ground truth rescaled to S by wsolevaluation's
rules. The metadata folder is a wsolevaluation split. Every problem of a map names its
file. Box splits give MaxBoxAcc (largest contour, IoU 50) and MaxBoxAccV2 (all contours,
mean over IoU 30/50/70); mask splits (with ``--mask-root``) give PxAP and PIoU (percent).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from moana.io import to_jsonable, write_json
from moana.metrics.boxes import box_metrics
from moana.metrics.common import cam_thresholds
from moana.metrics.masks import mask_edges, pxap_metrics
from moana.metrics.streaming import CONTOUR_MODES, Counts, ScoringJob, score_split
from moana.scoremaps import read_scoremap, scoremap_file


def evaluate_scoremap_dir(
    scoremaps: str | os.PathLike,
    metadata_dir: str | os.PathLike,
    *,
    step: float | None = None,
    mask_root: str | os.PathLike | None = None,
    iou_thresholds: tuple[int, ...] = (30, 50, 70),
    workers: int | None = None,
    curves: bool = False,
    progress: bool = True,
    image_size: int | None = None,
) -> dict:
    """Evaluate a folder of saved score maps against a metadata split; returns the metrics
    (percent).

    ``step`` is the CAM threshold step (None: the one ``moana evaluate --save-cams`` recorded
    in the folder's ``protocol.json``, else wsolevaluation's 0.001), so both commands give one
    number for the same maps. ``image_size`` is the side S of the square maps (None: the first
    map's). The maps are scored in one streaming pass (:mod:`moana.metrics.streaming`) by
    ``workers`` processes (None: one for a small split, else one per CPU left idle by other
    jobs); the numbers are the same at any count. Raises
    FileNotFoundError for a missing folder or map and ValueError naming the file for a map that
    is not S x S, not floating point, not finite or not in [0, 1], a PNG map that is not 8-bit
    or 16-bit grayscale, and an image id with both a ``.npy`` and a ``.png`` map.
    """
    from moana.data.metadata import load_wsol_metadata

    scoremaps = Path(scoremaps)
    if not scoremaps.is_dir():
        raise FileNotFoundError(f"score-map folder {scoremaps} does not exist")
    recorded, step, step_source = _resolve_step(scoremaps, step)
    metadata = load_wsol_metadata(metadata_dir)
    image_size, source = _check_split(metadata, scoremaps, mask_root, image_size)
    job, num_maps = _job(metadata, scoremaps, mask_root, step, iou_thresholds, image_size, source)
    bar = None
    if progress:  # imported here: tqdm.auto costs start-up time that --quiet runs need not pay
        from tqdm.auto import tqdm

        bar = tqdm(total=num_maps, desc="score maps")
    try:
        counts = score_split(metadata, job, num_maps=num_maps, workers=workers,
                             progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    result = _header(scoremaps, metadata, step, step_source, image_size, recorded)
    result.update(_box_results(job, counts, sum(1 for i in metadata.image_ids
                                                    if metadata.boxes.get(i)), curves))
    if job.mask_edges is not None:
        expected = sum(1 for paths in metadata.masks.values() if paths)
        result.update(_mask_results(job, counts, expected, curves))
    return result


def _resolve_step(scoremaps: Path, step: float | None) -> tuple[dict, float, str]:
    """(the folder's recorded protocol, the step, where the step came from)."""
    from moana.scoremaps import DEFAULT_STEP, read_protocol

    recorded = read_protocol(scoremaps) or {}
    step_source = "--step" if step is not None else (
        "protocol.json" if "cam_step" in recorded else "default")
    step = float(step if step is not None else recorded.get("cam_step", DEFAULT_STEP))
    if not 0 < step < 1:
        raise ValueError(f"CAM threshold step must be in (0, 1), got {step} ({step_source})")
    return recorded, step, step_source


def _check_split(metadata, scoremaps: Path, mask_root, image_size: int | None
                 ) -> tuple[int, str]:
    """The maps' side and where it came from; ValueError for a split that cannot be scored."""
    if not metadata.image_ids:
        raise ValueError(f"{metadata.directory / 'image_ids.txt'} lists no image")
    if image_size is not None and image_size <= 0:
        raise ValueError(f"--image-size must be a positive number of pixels, got {image_size}")
    if image_size is None:
        image_size, source = _size_of_first(scoremaps, metadata.image_ids[0]), "the first map"
    else:
        source = "--image-size"
    if not metadata.boxes and not metadata.masks:
        raise ValueError(f"{metadata.directory}: no boxes or masks in localization.txt")
    if metadata.masks and not metadata.boxes and mask_root is None:
        raise ValueError(f"{metadata.directory} lists masks: pass --mask-root (the folder the "
                         "mask paths are relative to)")
    return image_size, source


def _job(metadata, scoremaps: Path, mask_root, step: float, iou_thresholds, image_size: int,
         source: str) -> tuple[ScoringJob, int]:
    """What every map is scored for (boxes, masks, thresholds) and how many maps there are."""
    thresholds = cam_thresholds(step)
    iou_thresholds = tuple(int(d) for d in iou_thresholds)
    if metadata.boxes and 50 not in iou_thresholds:
        raise ValueError("iou_thresholds must include 50 (MaxBoxAcc / GT-known loc)")
    masks = bool(metadata.masks) and mask_root is not None
    if masks and not Path(mask_root).is_dir():
        raise FileNotFoundError(f"mask root {mask_root} is not a directory")
    job = ScoringJob(scoremaps, image_size, source, thresholds, iou_thresholds,
                     bool(metadata.boxes), mask_edges(thresholds) if masks else None,
                     Path(mask_root) if masks else None)
    num_maps = sum(1 for i in metadata.image_ids
                   if (job.boxes and metadata.boxes.get(i)) or (masks and metadata.masks.get(i)))
    return job, num_maps


def _header(scoremaps: Path, metadata, step: float, step_source: str, image_size: int,
            recorded: dict) -> dict:
    """What was scored and under which protocol (step, normalisation, contour mode)."""
    from moana.scoremaps import protocol

    normalization = str(recorded.get("cam_normalization", "as saved (maps scored as given)"))
    return {"scoremaps": str(scoremaps), "metadata": str(metadata.directory),
            "num_images": len(metadata.image_ids), "step": step, "image_size": image_size,
            "protocol": {**protocol(step, normalization, None), "step_from": step_source}}


def _box_results(job: ScoringJob, counts: Counts, expected: int, curves: bool) -> dict:
    """MaxBoxAcc (largest contour, IoU 50), MaxBoxAccV2 (all contours) and both full results."""
    if not job.boxes:
        return {}
    out: dict = {}
    for m, (tag, multi) in enumerate(CONTOUR_MODES):
        r = box_metrics(counts.box[m], counts.box_maps, job.thresholds, job.iou_thresholds,
                        multi, expected)
        out[tag] = {k: v for k, v in r.items() if curves or k not in ("curves", "thresholds")}
    return {"MaxBoxAcc": out["largest_contour"]["MaxBoxAcc@50"],
            "MaxBoxAccV2": out["all_contours"]["MaxBoxAccV2"], **out}


def _mask_results(job: ScoringJob, counts: Counts, expected: int, curves: bool) -> dict:
    """PxAP, PIoU and its threshold (and the precision-recall curve with ``curves``)."""
    r = pxap_metrics(counts.true_hist, counts.false_hist, job.mask_edges, counts.mask_maps,
                     expected)
    out = {"PxAP": r["PxAP"], "PIoU": r["PIoU"], "PIoU_threshold": r["PIoU_threshold"]}
    if curves:
        out["mask_curves"] = {k: r[k] for k in ("precision", "recall", "thresholds")}
    return out


def _size_of_first(directory: Path, image_id: str) -> int:
    path = scoremap_file(directory, image_id)
    array = read_scoremap(path)
    if array.shape[0] != array.shape[1]:
        raise ValueError(f"{path}: score map is {array.shape[1]}x{array.shape[0]}; score maps "
                         "must be square (S x S)")
    return int(array.shape[0])


def _run(args: argparse.Namespace) -> int:
    result = evaluate_scoremap_dir(
        args.scoremaps, args.metadata, step=args.step, mask_root=args.mask_root,
        iou_thresholds=tuple(args.iou), workers=args.workers, curves=args.curves,
        progress=not args.quiet, image_size=args.image_size,
    )
    if args.output:
        write_json(Path(args.output), result)
    json.dump(to_jsonable(result), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()
    from moana.metrics._aot import build_once
    from moana.metrics._levelsets import JIT

    build_once(JIT, quiet=args.quiet)  # first run with numba: later runs load compiled kernels
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana evaluate-scoremaps`` to the CLI's ``subparsers`` (heavy modules are imported in
    the handler)."""
    parser = subparsers.add_parser(
        "evaluate-scoremaps",
        help="MaxBoxAcc/MaxBoxAccV2 or PxAP/PIoU of saved score maps (wsolevaluation numbers)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--scoremaps", required=True,
                        help="folder of score maps, one per image id: <image id>.npy (float in "
                        "[0, 1]) or <image id>.png (8-bit or 16-bit grayscale, divided by 255 or "
                        "65535)")
    parser.add_argument("--metadata", required=True, help="wsolevaluation split folder")
    parser.add_argument("--step", type=float, default=None,
                        help="CAM threshold step, a fraction of the map's range (default: the "
                             "step `moana evaluate --save-cams` recorded in the folder's "
                             "protocol.json, else wsolevaluation's step (0.001))")
    parser.add_argument("--mask-root", default=None,
                        help="folder the mask paths of localization.txt are relative to; giving "
                             "it switches on PxAP / PIoU for a split with masks (default: none)")
    parser.add_argument("--iou", type=int, nargs="+", default=[30, 50, 70],
                        help="IoU thresholds in percent (must include 50)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that read and score the maps (one pool for every "
                             "metric; default: 1 below 64 maps, else one per CPU that other jobs "
                             "leave idle by the load average); results are "
                             "identical at any count (docs/evaluation.md, 'Evaluator workers')")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the square score maps in px (default: read from the first "
                        "map; wsolevaluation's maps are 224, `moana evaluate --save-cams` writes "
                        "the run's data.image_size)")
    parser.add_argument("--curves", action="store_true", help="include accuracy/PR curves")
    parser.add_argument("--output", default=None, help="also write the JSON here (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
