"""The slow path: a direct re-statement of wsolevaluation's box and mask metrics.

Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020
(clovaai/wsolevaluation, ``evaluation.py``). For every image and *every* CAM threshold the
score map is binarized and its OpenCV contours are computed from scratch, exactly as the
reference does. It is kept as the equality oracle for the fast evaluators in
:mod:`moana.metrics.boxes` and :mod:`moana.metrics.masks` (tests, ``benchmarks/bench_eval.py``);
do not use it for real evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from moana.metrics.common import check_scoremap


def reference_boxes(
    scoremap: np.ndarray, thresholds: Iterable[float], multi_contour: bool
) -> list[np.ndarray]:
    """Estimated boxes (n, 4) [x0, y0, x1, y1] at each threshold, one findContours per threshold."""
    check_scoremap(scoremap)
    height, width = scoremap.shape
    image = (scoremap * 255).astype(np.uint8)
    peak = image.max()
    out: list[np.ndarray] = []
    for threshold in thresholds:
        _, binary = cv2.threshold(image, int(threshold * peak), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.asarray([[0, 0, 0, 0]]))
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        out.append(np.asarray(boxes))
    return out


def reference_iou(box_a: np.ndarray, box_b: np.ndarray) -> np.ndarray:
    """Inclusive-pixel IoU matrix (num_a, num_b), degenerate pairs give 0."""
    a = np.asarray(box_a)[:, None, :]
    b = np.asarray(box_b)[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    denominator = area_a + area_b - inter
    degenerate = denominator <= 0
    denominator = np.where(degenerate, 1, denominator)
    return np.where(degenerate, 0.0, inter / denominator)


def reference_box_correct(
    scoremap: np.ndarray,
    gt_boxes: Sequence[Sequence[int]],
    thresholds: Sequence[float],
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool = True,
) -> dict[int, np.ndarray]:
    """Per IoU threshold, a bool per CAM threshold: is the image correctly localized there?"""
    boxes = reference_boxes(scoremap, thresholds, multi_contour)
    gt = np.asarray(gt_boxes)
    best = np.array([reference_iou(b, gt).max() for b in boxes])
    return {delta: best >= delta / 100 for delta in iou_thresholds}


def reference_max_box_acc(
    scoremaps: Sequence[np.ndarray],
    gt_boxes: Sequence[Sequence[Sequence[int]]],
    thresholds: Sequence[float],
    iou_thresholds: Sequence[int] = (30, 50, 70),
    multi_contour: bool = True,
) -> dict[int, np.ndarray]:
    """Accuracy curves (percent) per IoU threshold over a list of maps with resized GT boxes."""
    counts = {delta: np.zeros(len(thresholds)) for delta in iou_thresholds}
    for scoremap, gt in zip(scoremaps, gt_boxes):
        correct = reference_box_correct(scoremap, gt, thresholds, iou_thresholds, multi_contour)
        for delta in iou_thresholds:
            counts[delta][correct[delta]] += 1
    return {delta: counts[delta] * 100.0 / len(scoremaps) for delta in iou_thresholds}


def reference_pxap(
    scoremaps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray], thresholds: Sequence[float]
) -> float:
    """PxAP as wsolevaluation's MaskEvaluator: gt masks are uint8 with 1 = fg, 0 = bg, 255 = ignore."""
    edges = np.append(np.asarray(thresholds, dtype=np.float64), [1.0, 2.0, 3.0])
    true_hist = np.zeros(len(edges) - 1)
    false_hist = np.zeros(len(edges) - 1)
    for scoremap, mask in zip(scoremaps, gt_masks):
        check_scoremap(scoremap)
        true_hist += np.histogram(scoremap[mask == 1], bins=edges)[0]
        false_hist += np.histogram(scoremap[mask == 0], bins=edges)[0]
    tp = true_hist[::-1].cumsum()
    fn = true_hist.sum() - tp
    fp = false_hist[::-1].cumsum()
    nonzero = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[nonzero[1:]].sum() * 100)
