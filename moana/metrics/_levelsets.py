"""Boxes of all contours at every threshold level of a uint8 map, in one pass (numba kernel).

For wsolevaluation's multi-contour MaxBoxAccV2 (Choe et al., CVPR 2020), every OpenCV contour
(RETR_TREE) of ``image > L`` yields a boundingRect. Those contours are the outer borders of the
8-connected foreground components (boundingRect = the component's bounding box) and the borders
of the holes, i.e. the 4-connected background components that do not touch the image edge
(boundingRect = the hole's bounding box grown by one pixel: the border pixels are the foreground
pixels 4-adjacent to the hole). Adding pixels in order of value to a union-find structure
(as in max-tree construction, Najman & Couprie 2006) gives the components of every level set in
O(N alpha(N)) instead of one findContours per level. Equality with the contour-based reference
is checked in tests/test_metrics_boxes.py.
"""

from __future__ import annotations

import numpy as np

try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; the evaluator falls back to OpenCV
    numba = None
    HAVE_NUMBA = False


def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


def _best_iou(x0: int, y0: int, x1: int, y1: int, gt: np.ndarray) -> float:
    best = 0.0
    area_a = (x1 - x0 + 1) * (y1 - y0 + 1)
    for k in range(gt.shape[0]):
        iw = min(x1, gt[k, 2]) - max(x0, gt[k, 0]) + 1
        ih = min(y1, gt[k, 3]) - max(y0, gt[k, 1]) + 1
        inter = max(0, iw) * max(0, ih)
        area_b = (gt[k, 2] - gt[k, 0] + 1) * (gt[k, 3] - gt[k, 1] + 1)
        den = area_a + area_b - inter
        iou = inter / den if den > 0 else 0.0
        if iou > best:
            best = iou
    return best


def _sweep(image: np.ndarray, gt: np.ndarray, foreground: bool) -> np.ndarray:
    """Best IoU per level L (0..255) over the outer boxes (foreground=True, ``image > L``,
    8-connected) or the hole boxes (foreground=False, ``image <= L``, 4-connected)."""
    height, width = image.shape
    n = height * width
    flat = image.ravel()
    counts = np.zeros(257, np.int64)
    for i in range(n):
        counts[flat[i] + 1] += 1
    starts = np.cumsum(counts)
    order = np.empty(n, np.int64)
    fill = starts[:256].copy()
    for i in range(n):
        v = flat[i]
        order[fill[v]] = i
        fill[v] += 1
    parent = np.full(n, -1, np.int64)
    bx0 = np.empty(n, np.int64)
    by0 = np.empty(n, np.int64)
    bx1 = np.empty(n, np.int64)
    by1 = np.empty(n, np.int64)
    alive = np.empty(n, np.int64)
    num_alive = 0
    best = np.full(256, -1.0)
    if foreground:
        dys = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
        dxs = np.array([-1, 0, 1, -1, 1, -1, 0, 1])
    else:
        dys = np.array([-1, 0, 0, 1])
        dxs = np.array([0, -1, 1, 0])
    previous = -1.0
    for step in range(256):
        # foreground: L = 255 - step - 1 .. adds value L + 1; background: L = step adds value L
        if foreground:
            level = 254 - step
            if level < 0:
                break
            value = level + 1
        else:
            level = step
            value = level
        added = False
        for j in range(starts[value], starts[value + 1]):
            p = order[j]
            added = True
            y = p // width
            x = p - y * width
            parent[p] = p
            bx0[p] = x
            bx1[p] = x
            by0[p] = y
            by1[p] = y
            alive[num_alive] = p
            num_alive += 1
            for d in range(dys.shape[0]):
                yy = y + dys[d]
                xx = x + dxs[d]
                if yy < 0 or yy >= height or xx < 0 or xx >= width:
                    continue
                q = yy * width + xx
                if parent[q] < 0:
                    continue
                rp = _find(parent, p)
                rq = _find(parent, q)
                if rp == rq:
                    continue
                parent[rq] = rp
                bx0[rp] = min(bx0[rp], bx0[rq])
                by0[rp] = min(by0[rp], by0[rq])
                bx1[rp] = max(bx1[rp], bx1[rq])
                by1[rp] = max(by1[rp], by1[rq])
        if not added:
            best[level] = previous
            continue
        kept = 0
        value_best = -1.0
        for i in range(num_alive):
            r = alive[i]
            if parent[r] != r:
                continue
            alive[kept] = r
            kept += 1
            if foreground:
                iou = _best_iou(bx0[r], by0[r], min(bx1[r] + 1, width - 1),
                                min(by1[r] + 1, height - 1), gt)
            else:
                if bx0[r] == 0 or by0[r] == 0 or bx1[r] == width - 1 or by1[r] == height - 1:
                    continue
                iou = _best_iou(bx0[r] - 1, by0[r] - 1, min(bx1[r] + 2, width - 1),
                                min(by1[r] + 2, height - 1), gt)
            if iou > value_best:
                value_best = iou
        num_alive = kept
        best[level] = value_best
        previous = value_best
    return best


if HAVE_NUMBA:
    _find = numba.njit(cache=True)(_find)
    _best_iou = numba.njit(cache=True)(_best_iou)
    _sweep = numba.njit(cache=True)(_sweep)


def best_iou_all_contours(image: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best IoU at every level L in 0..255 over the boxes of all contours of ``image > L``
    (the reference's single box [0, 0, 0, 0] where nothing is above L); -1 marks no box."""
    if not HAVE_NUMBA:
        raise RuntimeError("numba is required for the level-set sweep")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    gt = np.ascontiguousarray(gt, dtype=np.int64).reshape(-1, 4)
    outer = _sweep(image, gt, True)
    holes = _sweep(image, gt, False)
    best = np.maximum(outer, holes)
    peak = int(image.max())
    empty = _best_iou(0, 0, 0, 0, gt)
    best[peak:] = empty  # no pixel above L: no contour
    return best


# --- largest contour (MaxBoxAcc): prune components that cannot hold the largest contour -------
def _counting_sort(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = flat.shape[0]
    counts = np.zeros(257, np.int64)
    for i in range(n):
        counts[flat[i] + 1] += 1
    starts = np.cumsum(counts)
    order = np.empty(n, np.int64)
    fill = starts[:256].copy()
    for i in range(n):
        v = flat[i]
        order[fill[v]] = i
        fill[v] += 1
    return order, starts


def _advance(order, starts, low, high, width, height, parent, bx0, by0, bx1, by1) -> int:
    """Add the pixels with values in [low, high) to the 8-connected union-find; returns the
    change in the number of components."""
    delta = 0
    for j in range(starts[low], starts[high]):
        delta += 1
        p = order[j]
        y = p // width
        x = p - y * width
        parent[p] = p
        bx0[p] = x
        bx1[p] = x
        by0[p] = y
        by1[p] = y
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                yy = y + dy
                xx = x + dx
                if (dy == 0 and dx == 0) or yy < 0 or yy >= height or xx < 0 or xx >= width:
                    continue
                q = yy * width + xx
                if parent[q] < 0:
                    continue
                rp = _find(parent, p)
                rq = _find(parent, q)
                if rp == rq:
                    continue
                parent[rq] = rp
                delta -= 1
                bx0[rp] = min(bx0[rp], bx0[rq])
                by0[rp] = min(by0[rp], by0[rq])
                bx1[rp] = max(bx1[rp], bx1[rq])
                by1[rp] = max(by1[rp], by1[rq])
    return delta


def _widest_root(parent, bx0, by0, bx1, by1) -> int:
    """The component whose bounding box of pixel centres has the largest area."""
    best = -1
    best_root = -1
    for p in range(parent.shape[0]):
        if parent[p] == p:
            bound = (bx1[p] - bx0[p]) * (by1[p] - by0[p])
            if bound > best:
                best = bound
                best_root = p
    return best_root


def _render(parent, bx0, by0, bx1, by1, min_bound, only_root, out) -> None:
    """out = 255 on the pixels of components whose bound >= min_bound (or of ``only_root``)."""
    for p in range(parent.shape[0]):
        if parent[p] < 0:
            out[p] = 0
            continue
        r = _find(parent, p)
        if only_root >= 0:
            out[p] = 255 if r == only_root else 0
        else:
            out[p] = 255 if (bx1[r] - bx0[r]) * (by1[r] - by0[r]) >= min_bound else 0


if HAVE_NUMBA:
    _counting_sort = numba.njit(cache=True)(_counting_sort)
    _advance = numba.njit(cache=True)(_advance)
    _widest_root = numba.njit(cache=True)(_widest_root)
    _render = numba.njit(cache=True)(_render)


PRUNE_ABOVE = 32  # components at a level above which pruning beats one plain findContours


def largest_contour_boxes(image: np.ndarray, levels: np.ndarray) -> dict[int, tuple[int, ...]]:
    """boundingRect (x, y, w, h) of the largest-``contourArea`` contour of ``image > L`` for each
    L in ``levels`` (None where nothing is above L), as wsolevaluation picks it.

    A contour's polygon runs through pixel centres, so its area is at most the area of the
    bounding box of the centres of its component. The component with the widest such box gives a
    true contour area A; components whose bound is below A can neither be the largest nor tie, so
    they are erased before the findContours that picks the winner (only at levels with more than
    PRUNE_ABOVE components: noisy levels, where findContours is slow). Erasing whole components
    keeps the others' contours and their order (holes and nested contours never win, so
    RETR_EXTERNAL is enough; see moana.metrics.boxes).
    """
    import cv2

    if not HAVE_NUMBA:
        raise RuntimeError("numba is required for the level-set sweep")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    flat = image.ravel()
    order, starts = _counting_sort(flat)
    n = flat.size
    parent = np.full(n, -1, np.int64)
    bx0, by0, bx1, by1 = (np.empty(n, np.int64) for _ in range(4))
    out = np.empty(n, np.uint8)
    result: dict[int, tuple[int, ...] | None] = {}
    value = 256  # pixels with values >= value are in
    components = 0
    for level in sorted({int(v) for v in levels}, reverse=True):
        if value > level + 1:
            components += _advance(order, starts, level + 1, value, width, height,
                                   parent, bx0, by0, bx1, by1)
            value = level + 1
        if components == 0:
            result[level] = None
            continue
        if components == 1:  # one component: one external contour, boundingRect = its box
            r = _widest_root(parent, bx0, by0, bx1, by1)
            result[level] = (int(bx0[r]), int(by0[r]), int(bx1[r] - bx0[r] + 1),
                             int(by1[r] - by0[r] + 1))
            continue
        if components <= PRUNE_ABOVE:
            _, binary = cv2.threshold(image, level, 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
            result[level] = cv2.boundingRect(max(contours, key=cv2.contourArea))
            continue
        root = _widest_root(parent, bx0, by0, bx1, by1)
        _render(parent, bx0, by0, bx1, by1, 0, root, out)
        one = cv2.findContours(out.reshape(height, width), cv2.RETR_EXTERNAL,
                               cv2.CHAIN_APPROX_SIMPLE)[0]
        area = max(cv2.contourArea(c) for c in one)
        _render(parent, bx0, by0, bx1, by1, int(np.ceil(area)), -1, out)
        contours = cv2.findContours(out.reshape(height, width), cv2.RETR_EXTERNAL,
                                    cv2.CHAIN_APPROX_SIMPLE)[0]
        result[level] = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return result
