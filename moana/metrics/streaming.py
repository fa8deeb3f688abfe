"""One streaming pass over a folder of score maps for every metric of a split, in one process pool.

``moana evaluate-scoremaps`` scores each map for MaxBoxAcc (largest contour), MaxBoxAccV2 (all
contours) and, on a mask split, PxAP. Here the image ids are cut into chunks; a chunk is read,
checked, quantized and scored for every metric by one process (both contour modes of a map share
its pixel sort), which returns only the chunk's per-threshold counts: images correct per CAM
threshold and IoU level for each contour mode, and the foreground / background score
histograms. The parent sums the counts in chunk order. Nothing per map outlives its chunk, so
memory does not grow with the number of maps, and since the counts are integers the numbers are
the same, bit for bit, at any number of processes (tests/test_metrics_streaming.py).

``workers=None`` picks :func:`default_workers`: one process for a small split, else one per
CPU left idle by other jobs (the processes are forked once per run; docs/evaluation.md,
"Evaluator workers").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moana.data.metadata import WSOLMetadata
from moana.metrics.boxes import correct_per_threshold, quantize, resized_gt_boxes
from moana.metrics.common import check_scoremap
from moana.metrics.masks import ground_truth_mask, mask_histograms
from moana._parallel import idle_cpus, process_pool
from moana.scoremaps import read_scoremap, scoremap_file

#: the contour modes scored per map, in this order (the largest-contour sweep first: the
#: all-contours sweep of the same map reuses its outer contours)
CONTOUR_MODES = (("largest_contour", False), ("all_contours", True))
#: below this many maps one process is used by default (forking a pool does not pay off)
MIN_MAPS_PER_POOL = 64
#: chunks per worker a run is cut into (at most), and chunks in flight per worker
CHUNKS_PER_WORKER, IN_FLIGHT_PER_WORKER = 8, 2
#: the most maps in one chunk
MAX_CHUNK = 64


@dataclass(frozen=True)
class ScoringJob:
    """What every chunk is scored with: where the maps are, their size, the thresholds."""

    scoremaps: Path
    image_size: int
    size_source: str
    thresholds: np.ndarray
    iou_thresholds: tuple[int, ...]
    boxes: bool
    mask_edges: np.ndarray | None
    mask_root: Path | None


@dataclass
class Counts:
    """Per-threshold counts of some maps: ``box[m, k, t]`` maps correct for contour mode m
    (:data:`CONTOUR_MODES`) at IoU level k and CAM threshold t, over ``box_maps`` maps;
    ``true_hist`` / ``false_hist`` the pooled foreground / background histograms of
    ``mask_maps`` maps."""

    box: np.ndarray
    box_maps: int
    true_hist: np.ndarray
    false_hist: np.ndarray
    mask_maps: int

    @classmethod
    def zeros(cls, job: ScoringJob) -> Counts:
        """Empty counts shaped for ``job``'s contour modes, IoU thresholds and CAM thresholds."""
        bins = 0 if job.mask_edges is None else len(job.mask_edges) - 1
        shape = (len(CONTOUR_MODES), len(job.iou_thresholds), len(job.thresholds))
        return cls(np.zeros(shape, np.int64), 0, np.zeros(bins, np.int64),
                   np.zeros(bins, np.int64), 0)

    def add(self, other: Counts) -> None:
        """Add ``other``'s counts (another chunk's) in place."""
        self.box += other.box
        self.box_maps += other.box_maps
        self.true_hist += other.true_hist
        self.false_hist += other.false_hist
        self.mask_maps += other.mask_maps


#: one map of a chunk: (image id, its resized boxes or None, (mask paths, ignore path) or None)
Item = tuple[str, "np.ndarray | None", "tuple[list[str], str | None] | None"]


def load_checked(directory: Path, image_id: str, size: int, source: str) -> np.ndarray:
    """One score map, validated: S x S (``size``, from ``source``), floating point, finite, in
    [0, 1]; every error names its file."""
    path = scoremap_file(directory, image_id)
    array = read_scoremap(path)
    check_scoremap(array, f"{path} (score map of {image_id})")
    if array.shape != (size, size):
        raise ValueError(f"{path}: score map is {array.shape[1]}x{array.shape[0]} but "
                         f"{size}x{size} is expected (from {source}); all maps must share one "
                         "size: pass --image-size to match the maps, or re-save them")
    return array


def score_chunk(job: ScoringJob, items: Sequence[Item]) -> Counts:
    """The counts of one chunk of maps (run in a worker process, or in the caller's)."""
    counts = Counts.zeros(job)
    for image_id, gt_boxes, mask in items:
        scoremap = load_checked(job.scoremaps, image_id, job.image_size, job.size_source)
        if gt_boxes is not None:
            image = quantize(scoremap)
            for m, (_, multi) in enumerate(CONTOUR_MODES):
                counts.box[m] += correct_per_threshold(image, gt_boxes, job.thresholds,
                                                       job.iou_thresholds, multi)
            counts.box_maps += 1
        if mask is not None:
            gt = ground_truth_mask(job.mask_root, mask[0], mask[1], job.image_size)
            true_hist, false_hist = mask_histograms(scoremap, gt, job.mask_edges)
            counts.true_hist += true_hist
            counts.false_hist += false_hist
            counts.mask_maps += 1
    return counts


def split_items(metadata: WSOLMetadata, job: ScoringJob) -> Iterator[Item]:
    """The maps to score, in metadata order: each id with boxes (when boxes are scored) or a
    mask (when masks are)."""
    for image_id in metadata.image_ids:
        boxes = (resized_gt_boxes(metadata, image_id, job.image_size)
                 if job.boxes and metadata.boxes.get(image_id) else None)
        mask = ((metadata.masks[image_id], metadata.ignore.get(image_id))
                if job.mask_edges is not None and metadata.masks.get(image_id) else None)
        if boxes is not None or mask is not None:
            yield image_id, boxes, mask


def default_workers(num_maps: int) -> int:
    """1 below :data:`MIN_MAPS_PER_POOL` maps, else the CPUs that other jobs leave idle
    (:func:`moana._parallel.idle_cpus`; at most one per chunk). On cores busy with other
    jobs, extra processes were measured slower than one (docs/evaluation.md)."""
    if num_maps < MIN_MAPS_PER_POOL:
        return 1
    return max(1, min(idle_cpus(), math.ceil(num_maps / MAX_CHUNK)))


def chunk_size(num_maps: int, workers: int) -> int:
    """Maps per chunk: about :data:`CHUNKS_PER_WORKER` chunks per worker, at most
    :data:`MAX_CHUNK` maps each."""
    return max(1, min(MAX_CHUNK, math.ceil(num_maps / (CHUNKS_PER_WORKER * workers))))


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _warm_kernels() -> None:
    """Load (or compile) both level-set kernels before forking, so workers inherit them."""
    from moana.metrics._levelsets import HAVE_NUMBA, best_iou_all_contours, largest_contour_boxes

    if HAVE_NUMBA:
        image, gt = np.zeros((2, 2), np.uint8), np.zeros((1, 4), np.int64)
        largest_contour_boxes(image, np.zeros(1, np.int64), gt)
        best_iou_all_contours(image, gt)


def score_split(metadata: WSOLMetadata, job: ScoringJob, *, num_maps: int,
                workers: int | None = None, progress=None) -> Counts:
    """The summed counts of every map of the split (``num_maps`` of them), scored in
    ``workers`` processes (None: :func:`default_workers`); ``progress(n)`` is called with the
    number of maps of each finished chunk."""
    workers = default_workers(num_maps) if workers is None else max(1, int(workers))
    total = Counts.zeros(job)
    chunks = _chunks(split_items(metadata, job), chunk_size(num_maps, workers))
    if workers == 1:
        for chunk in chunks:
            total.add(score_chunk(job, chunk))
            if progress is not None:
                progress(len(chunk))
        return total
    _warm_kernels()
    pool = process_pool(workers)
    pending: deque = deque()
    try:
        for chunk in chunks:
            pending.append((len(chunk), pool.submit(score_chunk, job, chunk)))
            while len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                _collect(pending, total, progress)
        while pending:
            _collect(pending, total, progress)
    finally:
        pool.shutdown(cancel_futures=True)
    return total


def _collect(pending: deque, total: Counts, progress) -> None:
    size, future = pending.popleft()
    total.add(future.result())
    if progress is not None:
        progress(size)
