"""Semantic segmentation metrics for WSSS (PASCAL VOC): mIoU from one confusion matrix over a
split, and the CAM-to-segmentation conversion with a background threshold of IRN (Ahn et al.,
CVPR 2019, jiwoon-ahn/irn ``eval_cam.py``): pad a constant background score, argmax over
[background, CAMs of the image's classes], map to class ids. :class:`ThresholdSweep` scores many
background thresholds in one pass over the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class SegmentationConfusion:
    """Confusion matrix (rows: ground truth, columns: prediction) accumulated over a split."""

    def __init__(self, num_classes: int = 21, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError("num_classes must be positive")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``pred`` and ``gt`` integer label maps of the same shape (H, W); pixels equal
        to ``ignore_index`` in ``gt`` are skipped.  Raises ValueError for different shapes or labels
        outside [0, num_classes)."""
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
        valid = gt != self.ignore_index
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        if g.size and (g.min() < 0 or g.max() >= self.num_classes):
            raise ValueError(f"ground-truth label outside [0, {self.num_classes}) "
                             f"and not {self.ignore_index}: {np.unique(g)}")
        if p.size and (p.min() < 0 or p.max() >= self.num_classes):
            raise ValueError(f"predicted label outside [0, {self.num_classes}): {np.unique(p)}")
        self.matrix += np.bincount(g * self.num_classes + p,
                                   minlength=self.num_classes ** 2).reshape(self.matrix.shape)

    def iou_per_class(self) -> np.ndarray:
        """IoU per class; NaN for a class absent from both prediction and ground truth."""
        return iou_from_confusion(self.matrix)

    def miou(self) -> float:
        """Mean IoU over the classes present in prediction or ground truth, as a fraction in [0, 1]
        (NaN classes are skipped; NaN if none)."""
        return float(np.nanmean(self.iou_per_class()))


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU (fraction) of a (C, C) confusion matrix: TP / (row + column - TP); NaN for a
    class absent from both prediction and ground truth.  jiwoon-ahn/irn ``step/eval_cam.py``."""
    tp = np.diag(matrix).astype(np.float64)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, tp / denominator, np.nan)


def cams_to_segmentation(cams: np.ndarray, class_ids: Sequence[int], bg_threshold: float) -> np.ndarray:
    """IRN's conversion: ``cams`` (k, H, W) of the image's k foreground classes (0-based ids in
    ``class_ids``, VOC without background) -> labels (H, W) with 0 = background, c + 1 = class c.
    Ties go to the background (argmax takes the first)."""
    cams = np.asarray(cams)
    keys = np.concatenate([[0], np.asarray(class_ids, dtype=np.int64) + 1])
    if cams.ndim != 3 or cams.shape[0] != len(class_ids):
        raise ValueError(f"cams must be (len(class_ids)={len(class_ids)}, H, W), got {cams.shape}")
    padded = np.concatenate([np.full((1, *cams.shape[1:]), bg_threshold, dtype=cams.dtype), cams])
    return keys[np.argmax(padded, axis=0)]


class ThresholdSweep:
    """Confusion matrices of :func:`cams_to_segmentation` at many background thresholds at once.

    Agrees with :func:`cams_to_segmentation` (and IRN) also on ties: thresholds are compared in
    the CAMs' floating dtype. Per pixel, the best foreground class and its score do not depend on
    the threshold; the pixel
    is foreground exactly for thresholds below that score. So each pixel is counted once, in the
    bin of its score among the sorted thresholds, and cumulative sums give every matrix.
    """

    def __init__(self, thresholds: Sequence[float], num_classes: int = 21, ignore_index: int = 255):
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        if self.thresholds.ndim != 1 or (np.diff(self.thresholds) <= 0).any():
            raise ValueError("thresholds must be a strictly increasing 1-D list")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        n = len(self.thresholds)
        # counts[k, g, c]: pixels of gt g whose best fg class is c and fg score lies in bin k
        self.counts = np.zeros((n + 1, num_classes, num_classes), dtype=np.int64)

    def update(self, cams: np.ndarray, class_ids: Sequence[int], gt: np.ndarray) -> None:
        """Add one image: ``cams`` (k, H, W) of its k foreground classes ``class_ids`` (0-based VOC
        ids) and ``gt`` (H, W) labels (``ignore_index`` skipped).  Raises ValueError for shape
        mismatches or ground-truth labels outside [0, num_classes)."""
        cams = np.asarray(cams)
        if not np.issubdtype(cams.dtype, np.floating):
            cams = cams.astype(np.float64)
        gt = np.asarray(gt)
        if cams.ndim != 3 or cams.shape[1:] != gt.shape or cams.shape[0] != len(class_ids):
            raise ValueError(f"cams {cams.shape} must be (len(class_ids), *gt.shape={gt.shape})")
        valid = gt != self.ignore_index
        g = gt[valid].astype(np.int64)
        if g.size and (g.min() < 0 or g.max() >= self.num_classes):
            raise ValueError(f"ground-truth label outside [0, {self.num_classes}): {np.unique(g)}")
        if len(class_ids) == 0:  # everything is background at every threshold
            c = np.zeros_like(g)
            k = np.zeros_like(g)
        else:
            keys = np.asarray(class_ids, dtype=np.int64) + 1
            fg = cams[:, valid]
            c = keys[np.argmax(fg, axis=0)]
            # foreground at threshold t iff score > t, compared in the CAMs' dtype as IRN pads
            # a background plane of that dtype (float32 CAMs: a CAM equal to float32(t) is
            # background): the number of thresholds strictly below the score
            k = np.searchsorted(self.thresholds.astype(cams.dtype), fg.max(axis=0), side="left")
        flat = (k * self.num_classes + g) * self.num_classes + c
        self.counts += np.bincount(flat, minlength=self.counts.size).reshape(self.counts.shape)

    def confusions(self) -> np.ndarray:
        """(num_thresholds, C, C) confusion matrices, one per threshold."""
        n = len(self.thresholds)
        # pixels in bin k are foreground for thresholds i < k
        above = self.counts[::-1].cumsum(axis=0)[::-1]  # above[k] = sum over bins >= k
        out = np.empty((n, self.num_classes, self.num_classes), dtype=np.int64)
        total_per_gt = self.counts.sum(axis=(0, 2))
        for i in range(n):
            fg = above[i + 1].copy()
            fg[:, 0] = 0
            out[i] = fg
            out[i, :, 0] += total_per_gt - fg.sum(axis=1)
        return out

    def miou(self) -> np.ndarray:
        """mIoU at each threshold."""
        return np.array([np.nanmean(iou_from_confusion(m)) for m in self.confusions()])

    def best(self) -> tuple[float, float]:
        """(best threshold, its mIoU)."""
        scores = self.miou()
        i = int(np.nanargmax(scores))
        return float(self.thresholds[i]), float(scores[i])
