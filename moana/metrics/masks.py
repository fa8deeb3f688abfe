"""Mask localization metrics: PxAP as wsolevaluation computes it, plus PIoU.

PxAP (Choe et al., "Evaluating WSOL Methods Right", CVPR 2020; clovaai/wsolevaluation
``MaskEvaluator``): ground-truth masks are resized to 224x224 with nearest neighbour, the
foreground is any instance mask > 0.5, the ignore region is the ignore mask minus the foreground;
score histograms of foreground and background pixels are pooled over the split with the
threshold list plus [1, 2, 3] as bin edges; precision/recall come from reversed cumulative sums
and AP = sum(precision[1:] * diff(recall)) over bins with TP+FP != 0, times 100.
PIoU (not in wsolevaluation): the best pooled pixel IoU TP / (TP + FP + FN) over the same
thresholds, in percent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from moana.data.metadata import WSOLMetadata
from moana.metrics.common import cam_thresholds as default_thresholds
from moana.metrics.common import RESIZE_LENGTH, check_scoremap, check_size


def load_mask(path: str | os.PathLike, size: int = RESIZE_LENGTH) -> np.ndarray:
    """A grayscale PNG as float32, resized to size x size with nearest neighbour.

    Raises FileNotFoundError (missing) or ValueError (unreadable), naming the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"mask image {path} is missing")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"mask image {path} is corrupt or not an image")
    return cv2.resize(np.float32(image), (size, size), interpolation=cv2.INTER_NEAREST)


def ground_truth_mask(
    mask_root: str | os.PathLike,
    mask_paths: Sequence[str],
    ignore_path: str | None,
    size: int = RESIZE_LENGTH,
) -> np.ndarray:
    """uint8 (size, size): 1 = foreground, 0 = background, 255 = ignore (wsolevaluation's get_mask)."""
    if not mask_paths:
        raise ValueError("an image needs at least one mask")
    root = Path(mask_root)
    foreground = np.stack([load_mask(root / p, size) > 0.5 for p in mask_paths]).any(axis=0)
    if ignore_path:
        ignore = (load_mask(root / ignore_path, size) > 0.5) & ~foreground
    else:
        ignore = np.zeros_like(foreground)
    return foreground.astype(np.uint8) + 255 * ignore.astype(np.uint8)


class MaskEvaluator:
    """Streaming PxAP and PIoU; mask paths in ``metadata.masks`` are relative to ``mask_root``.

    ``accumulate(scoremap, image_id)`` per image (or ``accumulate_with_mask``), then
    ``compute()``, which refuses a partial accumulation unless ``allow_partial=True``.
    """

    def __init__(
        self,
        metadata: WSOLMetadata,
        mask_root: str | os.PathLike,
        cam_thresholds: Sequence[float] | np.ndarray | None = None,
        *,
        step: float = 0.001,
        image_size: int = RESIZE_LENGTH,
    ):
        if not metadata.masks:
            raise ValueError(f"{metadata.directory}: the metadata lists no masks")
        self.metadata = metadata
        self.mask_root = Path(mask_root)
        if not self.mask_root.is_dir():
            raise FileNotFoundError(f"mask root {self.mask_root} is not a directory")
        self.thresholds = (
            default_thresholds(step) if cam_thresholds is None
            else np.asarray(cam_thresholds, dtype=np.float64)
        )
        self.edges = mask_edges(self.thresholds)
        self.image_size = check_size("image_size", image_size)
        self.true_hist = np.zeros(len(self.edges) - 1)
        self.false_hist = np.zeros(len(self.edges) - 1)
        self.count = 0
        self.seen: set[str] = set()

    def accumulate_with_mask(self, scoremap: np.ndarray, gt_mask: np.ndarray,
                             name: str = "score map") -> None:
        """Add one map against a ready ground-truth mask (1 fg, 0 bg, 255 ignore)."""
        check_scoremap(scoremap, name)
        if scoremap.shape != gt_mask.shape:
            raise ValueError(f"{name} has shape {scoremap.shape} but the mask is "
                             f"{gt_mask.shape} (the evaluator's image_size={self.image_size})")
        true_hist, false_hist = mask_histograms(scoremap, gt_mask, self.edges)
        self.true_hist += true_hist
        self.false_hist += false_hist
        self.count += 1

    def accumulate(self, scoremap: np.ndarray, image_id: str) -> None:
        """Add the map of ``image_id`` (image_size x image_size, in [0, 1]) against its masks."""
        if image_id not in self.metadata.masks:
            raise KeyError(f"image id {image_id!r} has no mask in {self.metadata.directory}")
        if image_id in self.seen:
            raise ValueError(f"image id {image_id!r} accumulated twice")
        name = f"score map of {image_id}"
        check_scoremap(scoremap, name)
        gt = ground_truth_mask(self.mask_root, self.metadata.masks[image_id],
                               self.metadata.ignore.get(image_id), self.image_size)
        self.accumulate_with_mask(scoremap, gt, name)
        self.seen.add(image_id)

    def compute(self, *, allow_partial: bool = False) -> dict:
        """PxAP and PIoU in percent, the PIoU threshold and the precision/recall curve.

        Fewer maps than the metadata's images with masks raise ValueError unless
        ``allow_partial=True`` (then ``"partial": True`` and ``"num_expected"`` are added); see
        :meth:`moana.metrics.boxes.BoxEvaluator.compute`.
        """
        expected = sum(1 for paths in self.metadata.masks.values() if paths)
        if self.count == 0:
            raise ValueError("no score map was accumulated")
        if self.count < expected and not allow_partial:
            missing = [i for i in self.metadata.masks if i not in self.seen][:3]
            raise ValueError(
                f"only {self.count} of the {expected} images with masks in "
                f"{self.metadata.directory} were accumulated (missing e.g. {missing}); the "
                "numbers would cover a subset: pass allow_partial=True to score it anyway")
        return pxap_metrics(self.true_hist, self.false_hist, self.edges, self.count, expected)


def mask_edges(thresholds: np.ndarray) -> np.ndarray:
    """wsolevaluation's histogram bin edges: the CAM thresholds plus [1, 2, 3]; ValueError
    unless they increase strictly."""
    edges = np.append(thresholds, [1.0, 2.0, 3.0])
    if (np.diff(edges) <= 0).any():
        raise ValueError("cam_thresholds must increase strictly within [0, 1)")
    return edges


def mask_histograms(scoremap: np.ndarray, gt_mask: np.ndarray, edges: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Score histograms (int64) of one map's foreground (mask 1) and background (mask 0) pixels."""
    return (np.histogram(scoremap[gt_mask == 1], bins=edges)[0],
            np.histogram(scoremap[gt_mask == 0], bins=edges)[0])


def pxap_metrics(true_hist: np.ndarray, false_hist: np.ndarray, edges: np.ndarray,
                 count: int, expected: int) -> dict:
    """:meth:`MaskEvaluator.compute`'s result from the pooled foreground / background score
    histograms of ``count`` maps (of ``expected`` images with masks)."""
    true_hist = np.asarray(true_hist, dtype=np.float64)
    false_hist = np.asarray(false_hist, dtype=np.float64)
    tp = true_hist[::-1].cumsum()
    fn = true_hist.sum() - tp
    fp = false_hist[::-1].cumsum()
    if ((tp + fn) <= 0).all():
        raise ValueError("no positive ground-truth pixel in the evaluated set")
    if ((tp + fp) <= 0).all():
        raise ValueError("no positive prediction in the evaluated set")
    nonzero = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
        iou = tp / (tp + fp + fn)
    pxap = float((precision[1:] * np.diff(recall))[nonzero[1:]].sum() * 100)
    # reversed index j counts pixels with score >= edges[-2 - j]
    thresholds_rev = edges[:-1][::-1]
    valid = thresholds_rev <= 1.0
    best = int(np.nanargmax(np.where(valid, iou, -1)))
    partial = {"partial": True, "num_expected": expected} if count < expected else {}
    return {
        "num_images": count,
        **partial,
        "PxAP": pxap,
        "PIoU": float(iou[best] * 100),
        "PIoU_threshold": float(thresholds_rev[best]),
        "precision": precision[::-1].tolist(),
        "recall": recall[::-1].tolist(),
        "thresholds": edges[:-1].tolist(),
    }
