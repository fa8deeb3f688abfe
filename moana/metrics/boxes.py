"""Box localization metrics: MaxBoxAcc and MaxBoxAccV2, number for number with wsolevaluation.

Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right" (CVPR 2020) and its
code (clovaai/wsolevaluation, ``evaluation.py``): a score map in [0, 1] is quantized to uint8,
binarized at ``> int(t * max)`` for every CAM threshold t, OpenCV contours (RETR_TREE,
CHAIN_APPROX_SIMPLE) give boxes (the largest by ``contourArea`` or all of them), and an image is
correct at t when the best inclusive-pixel IoU against its ground-truth boxes is >= delta/100.

Paper metrics: MaxBoxAcc = ``BoxEvaluator(multi_contour=False).compute()["MaxBoxAcc"]`` (largest
contour, IoU 50); MaxBoxAccV2 = ``BoxEvaluator(multi_contour=True).compute()["MaxBoxAccV2"]`` (all
contours, mean over IoU 30/50/70). ``compute()`` reports both keys for whichever contour mode the
evaluator uses, plus per-IoU maxima, best thresholds and curves.

Speed, same numbers: after quantization a map has at most 256 distinct binarizations however fine
the threshold step. All contours (V2): one union-find sweep over the pixels sorted by value gives
the boxes of every level at once (:mod:`moana.metrics._levelsets`, numba; compiled ahead of
time once, :mod:`moana.metrics._aot`, so that a run does not pay numba's start-up). Largest
contour: the same sweep keeps each component's outer-contour area (traced as OpenCV traces it)
and re-traces a component that grew only where it could still be the largest; a findContours
runs only where components tie for the largest area. Evaluating both contour modes of one map
(as ``moana evaluate-scoremaps`` does) sorts its pixels and sweeps its outer contours once.
Several processes can share the work (``workers``). Outputs equal the reference exactly (see
:mod:`moana.metrics.reference` and tests/test_metrics_boxes.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from moana.data.metadata import WSOLMetadata
from moana.metrics._levelsets import HAVE_NUMBA, best_iou_all_contours, largest_contour_boxes
from moana.metrics.common import cam_thresholds as default_thresholds
from moana.metrics.common import RESIZE_LENGTH, check_scoremap, check_size, resize_box

if TYPE_CHECKING:  # the process pool is imported when one is made (start-up of 1-worker runs)
    from concurrent.futures import Future, ProcessPoolExecutor


def _largest_contour_box(image: np.ndarray, level: int) -> np.ndarray:
    """Box (1, 4) of the largest contour of ``image > level``; [0, 0, 0, 0] when there is none.

    RETR_EXTERNAL replaces the reference's RETR_TREE: a hole or a nested contour lies inside its
    enclosing outer contour, so it never has a larger ``contourArea`` (and where a hole ties with
    its outer contour, both trace the same pixels and give the same box); the outer contours
    keep OpenCV's order, so ties between them resolve the same way (checked in the tests).
    """
    height, width = image.shape
    _, binary = cv2.threshold(image, level, 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64)
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return np.array([[x, y, min(x + w, width - 1), min(y + h, height - 1)]], dtype=np.int64)


def _all_contour_boxes(image: np.ndarray, level: int) -> np.ndarray:
    """Boxes (n, 4) of every RETR_TREE contour of ``image > level`` (fallback without numba)."""
    height, width = image.shape
    _, binary = cv2.threshold(image, level, 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.int64)
    lengths = np.array(list(map(len, contours)), dtype=np.int64)
    points = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    starts = np.zeros(len(contours), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    xs, ys = points[:, 0], points[:, 1]
    boxes = np.empty((len(contours), 4), dtype=np.int64)
    boxes[:, 0] = np.minimum.reduceat(xs, starts)
    boxes[:, 1] = np.minimum.reduceat(ys, starts)
    boxes[:, 2] = np.minimum(np.maximum.reduceat(xs, starts) + 1, width - 1)
    boxes[:, 3] = np.minimum(np.maximum.reduceat(ys, starts) + 1, height - 1)
    return boxes


def quantize(scoremap: np.ndarray) -> np.ndarray:
    """The reference's uint8 image ``(scoremap * 255).astype(uint8)`` (float64 arithmetic)."""
    return (np.asarray(scoremap, dtype=np.float64) * 255).astype(np.uint8)


def _iou_rows(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best inclusive IoU of each box (n, 4) against any ground-truth box (m, 4)."""
    a = boxes[:, None, :]
    b = gt[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    denominator = area_a + area_b - inter
    valid = denominator > 0
    iou = np.where(valid, inter / np.where(valid, denominator, 1), 0.0)
    return iou.max(axis=1)


def best_iou_per_threshold(
    image: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray, multi_contour: bool = True
) -> np.ndarray:
    """Best IoU at every CAM threshold for one quantized (uint8) map.

    With numba, all contours: every level from one union-find sweep; largest contour: one sweep
    that keeps each component's outer-contour area and re-traces only components that changed
    and could be the largest (:mod:`moana.metrics._levelsets`). Without numba: one findContours
    per distinct binarization that actually occurs.
    """
    gt = np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4)
    peak = int(image.max())
    levels = (thresholds * peak).astype(np.int64)  # == int(t * max) for t >= 0
    if multi_contour and HAVE_NUMBA:
        return best_iou_all_contours(image, gt)[levels]
    if HAVE_NUMBA:  # gt: the sweep keeps the outer contours' IoUs for the all-contours mode
        return _iou_rows(largest_contour_boxes(image, levels, gt), gt)
    present = np.bincount(image.ravel(), minlength=256) > 0
    # Two levels binarize identically iff the same number of present values lies at or below them.
    keys = np.cumsum(present)[np.clip(levels, 0, 255)]
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    best = np.empty(len(unique_keys))
    boxes_at = _all_contour_boxes if multi_contour else _largest_contour_box
    for i, level in enumerate(levels[first]):
        best[i] = _iou_rows(boxes_at(image, int(level)), gt).max()
    return best[inverse.reshape(-1)]


def correct_per_threshold(
    image: np.ndarray,
    gt_boxes: np.ndarray,
    thresholds: np.ndarray,
    iou_thresholds: tuple[int, ...],
    multi_contour: bool,
) -> np.ndarray:
    """Bool (len(iou_thresholds), T): the box of one quantized map is correct at each CAM
    threshold, per IoU level."""
    best = best_iou_per_threshold(image, gt_boxes, thresholds, multi_contour)
    return np.stack([best >= delta / 100 for delta in iou_thresholds])


def _evaluate_one(
    image: np.ndarray,
    gt_boxes: np.ndarray,
    thresholds: np.ndarray,
    iou_thresholds: tuple[int, ...],
    multi_contour: bool,
) -> np.ndarray:
    """Packed bits (len(iou_thresholds), ceil(T / 8)): correct at each threshold per IoU level."""
    correct = correct_per_threshold(image, gt_boxes, thresholds, iou_thresholds, multi_contour)
    return np.packbits(correct, axis=1)


def resized_gt_boxes(metadata: WSOLMetadata, image_id: str, image_size: int) -> np.ndarray:
    """Ground-truth boxes (n, 4) of ``image_id`` rescaled to the image_size x image_size grid;
    ValueError when the split gives no image size for it."""
    if image_id not in metadata.image_sizes:
        raise ValueError(f"{metadata.directory}: no image size for {image_id!r}")
    size = metadata.image_sizes[image_id]
    return np.array([resize_box(b, size, image_size) for b in metadata.boxes[image_id]],
                    dtype=np.int64)


def box_metrics(
    counts: np.ndarray,
    num_images: int,
    thresholds: np.ndarray,
    iou_thresholds: tuple[int, ...],
    multi_contour: bool,
    num_expected: int,
) -> dict:
    """:meth:`BoxEvaluator.compute`'s result from per-threshold counts: ``counts[k, t]`` images
    correct at CAM threshold t and IoU ``iou_thresholds[k]``, over ``num_images`` maps of the
    ``num_expected`` images with boxes."""
    result: dict = {"num_images": num_images, "multi_contour": multi_contour}
    if num_images < num_expected:
        result.update(partial=True, num_expected=num_expected)
    curves = {delta: counts[k] * 100.0 / float(num_images)
              for k, delta in enumerate(iou_thresholds)}
    for delta, curve in curves.items():
        best = int(np.argmax(curve))
        result[f"MaxBoxAcc@{delta}"] = float(curve[best])
        result[f"best_threshold@{delta}"] = float(thresholds[best])
        result[f"best_threshold_index@{delta}"] = best
    result["MaxBoxAcc"] = result["MaxBoxAcc@50"]
    result["GT-known loc"] = result["MaxBoxAcc@50"]
    result["MaxBoxAccV2"] = float(np.mean([result[f"MaxBoxAcc@{d}"] for d in iou_thresholds]))
    result["thresholds"] = thresholds.tolist()
    result["curves"] = {str(d): c.tolist() for d, c in curves.items()}
    return result


class BoxEvaluator:
    """Streaming MaxBoxAcc / MaxBoxAccV2 over one split (wsolevaluation's ``BoxEvaluator``).

    ``accumulate(scoremap, image_id)`` for each 224x224 map in [0, 1] (``image_size`` x
    ``image_size``; ground-truth boxes are rescaled to it), then ``compute()``, which refuses a
    partial accumulation unless ``allow_partial=True``.
    ``workers > 1`` evaluates maps in a process pool (results are identical); call ``close()``
    or use the evaluator as a context manager to shut it down early.
    """

    def __init__(
        self,
        metadata: WSOLMetadata,
        cam_thresholds: Sequence[float] | np.ndarray | None = None,
        *,
        step: float = 0.001,
        iou_thresholds: Sequence[int] = (30, 50, 70),
        multi_contour: bool = True,
        image_size: int = RESIZE_LENGTH,
        workers: int = 1,
    ):
        self.metadata = metadata
        self.thresholds = (
            default_thresholds(step) if cam_thresholds is None
            else np.asarray(cam_thresholds, dtype=np.float64)
        )
        if self.thresholds.ndim != 1 or len(self.thresholds) == 0:
            raise ValueError("cam_thresholds must be a non-empty 1-D list")
        if (self.thresholds < 0).any() or (self.thresholds >= 1).any():
            raise ValueError("cam_thresholds must lie in [0, 1)")
        self.iou_thresholds = tuple(int(d) for d in iou_thresholds)
        if 50 not in self.iou_thresholds:
            raise ValueError("iou_thresholds must include 50 (MaxBoxAcc / GT-known loc)")
        self.multi_contour = multi_contour
        self.image_size = check_size("image_size", image_size)
        self.gt_boxes: dict[str, np.ndarray] = {}
        for image_id in metadata.image_ids:
            boxes = metadata.boxes.get(image_id)
            if not boxes:
                continue
            self.gt_boxes[image_id] = resized_gt_boxes(metadata, image_id, image_size)
        self._packed: dict[str, np.ndarray] = {}
        self._pending: deque[tuple[str, Future]] = deque()
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None

    # -- streaming ------------------------------------------------------------------------
    def accumulate(self, scoremap: np.ndarray, image_id: str) -> None:
        """Add one score map (H=W=image_size, values in [0, 1]) for ``image_id``."""
        if image_id not in self.gt_boxes:
            raise KeyError(f"image id {image_id!r} has no ground-truth box in {self.metadata.directory}")
        check_scoremap(scoremap, f"score map of {image_id}")
        if scoremap.shape != (self.image_size, self.image_size):
            raise ValueError(
                f"score map of {image_id} has shape {scoremap.shape}, expected "
                f"{(self.image_size, self.image_size)} (the evaluator's image_size="
                f"{self.image_size}; build it with the maps' size)"
            )
        if image_id in self._packed or any(i == image_id for i, _ in self._pending):
            raise ValueError(f"image id {image_id!r} accumulated twice")
        args = (quantize(scoremap), self.gt_boxes[image_id], self.thresholds,
                self.iou_thresholds, self.multi_contour)
        if self.workers == 1:
            self._packed[image_id] = _evaluate_one(*args)
            return
        if self._pool is None:
            if HAVE_NUMBA:  # compile once here, forked workers inherit it
                if self.multi_contour:
                    best_iou_all_contours(np.zeros((2, 2), np.uint8), np.zeros((1, 4), np.int64))
                else:
                    largest_contour_boxes(np.zeros((2, 2), np.uint8), np.zeros(1, np.int64))
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers)
        self._pending.append((image_id, self._pool.submit(_evaluate_one, *args)))
        while len(self._pending) > 8 * self.workers:  # bound memory held in the queue
            self._collect_one()

    def accumulate_batch(self, scoremaps: Iterable[np.ndarray], image_ids: Iterable[str]) -> None:
        """Call :meth:`accumulate` for each (score map, image id) pair; the two must have equal
        length (ValueError otherwise)."""
        for scoremap, image_id in zip(scoremaps, image_ids, strict=True):
            self.accumulate(scoremap, image_id)

    def _collect_one(self) -> None:
        image_id, future = self._pending.popleft()
        self._packed[image_id] = future.result()

    def _drain(self) -> None:
        while self._pending:
            self._collect_one()

    def close(self) -> None:
        """Finish pending work and shut down the worker pool (if any); the counts stay readable."""
        self._drain()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> BoxEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- results --------------------------------------------------------------------------
    @property
    def count(self) -> int:
        self._drain()
        return len(self._packed)

    def correct_matrix(self, iou: int = 50) -> tuple[list[str], np.ndarray]:
        """Image ids and a bool matrix (images, thresholds): correct at IoU >= iou/100."""
        self._drain()
        k = self.iou_thresholds.index(iou)
        ids = list(self._packed)
        n = len(self.thresholds)
        if not ids:
            return ids, np.zeros((0, n), dtype=bool)
        rows = np.stack([self._packed[i][k] for i in ids])
        return ids, np.unpackbits(rows, axis=1, count=n).astype(bool)

    def threshold_index(self, threshold: float | int) -> int:
        """Index into the threshold list of a float threshold (nearest) or an int index."""
        if isinstance(threshold, (int, np.integer)):
            return int(threshold)
        return int(np.argmin(np.abs(self.thresholds - float(threshold))))

    def correct_at(self, threshold: float | int, iou: int = 50) -> dict[str, bool]:
        """Per-image box correctness at one CAM threshold (a float value or an index)."""
        idx = self.threshold_index(threshold)
        ids, matrix = self.correct_matrix(iou)
        return {i: bool(c) for i, c in zip(ids, matrix[:, idx])}

    def missing(self) -> list[str]:
        """Ids with ground-truth boxes that have not been accumulated (metadata order)."""
        self._drain()
        return [i for i in self.gt_boxes if i not in self._packed]

    def _check_complete(self, allow_partial: bool) -> None:
        if self.count == 0:
            raise ValueError("no score map was accumulated")
        missing = self.missing()
        if missing and not allow_partial:
            raise ValueError(
                f"only {self.count} of the {len(self.gt_boxes)} images with boxes in "
                f"{self.metadata.directory} were accumulated (missing e.g. {missing[:3]}); "
                "the numbers would cover a subset: pass allow_partial=True to score it anyway")

    def curves(self, *, allow_partial: bool = False) -> dict[int, np.ndarray]:
        """Accuracy (percent) vs. CAM threshold, per IoU threshold.

        Raises ValueError when nothing, or (unless ``allow_partial``) not every image with a
        ground-truth box, was accumulated.
        """
        self._check_complete(allow_partial)
        out = {}
        for delta in self.iou_thresholds:
            _, matrix = self.correct_matrix(delta)
            out[delta] = matrix.sum(axis=0) * 100.0 / float(len(matrix))
        return out

    def compute(self, *, allow_partial: bool = False) -> dict:
        """MaxBoxAcc (IoU 50; largest contour when ``multi_contour=False``), MaxBoxAccV2 (mean over
        the IoU thresholds), per-IoU maxima, best thresholds and the curves (all in percent).

        Every image of the metadata that has a ground-truth box must have been accumulated;
        otherwise ValueError, unless ``allow_partial=True``, in which case the numbers cover the
        accumulated subset and the result says so (``"partial": True``, ``"num_expected"``).
        wsolevaluation scores whatever was accumulated without a word; refusing is a departure
        that only turns a silent subset into an error.
        """
        self._check_complete(allow_partial)
        counts = np.stack([self.correct_matrix(d)[1].sum(axis=0) for d in self.iou_thresholds])
        return box_metrics(counts, self.count, self.thresholds, self.iou_thresholds,
                           self.multi_contour, len(self.gt_boxes))


def topk_localization(
    box_correct: Mapping[str, bool],
    labels: Mapping[str, int],
    predictions: Mapping[str, Sequence[int]],
    ks: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """Top-k loc (percent): the box is correct and the true class is in the top-k predictions.

    ``box_correct`` is usually ``evaluator.correct_at(threshold chosen on val)``; ``predictions``
    maps an image id to its classes sorted by decreasing score.
    """
    if not box_correct:
        raise ValueError("no images to score")
    out = {}
    for k in ks:
        hits = 0
        for image_id, ok in box_correct.items():
            if image_id not in predictions:
                raise KeyError(f"no prediction for image {image_id!r}")
            if ok and labels[image_id] in list(predictions[image_id])[:k]:
                hits += 1
        out[f"top{k}_loc"] = hits * 100.0 / len(box_correct)
    return out

