"""Boxes of all contours at every threshold level of a uint8 map, in one pass (numba kernel).

For wsolevaluation's multi-contour MaxBoxAccV2 (Choe et al., CVPR 2020), every OpenCV contour
(RETR_TREE) of ``image > L`` yields a boundingRect. Those contours are the outer borders of the
8-connected foreground components (boundingRect = the component's bounding box) and the borders
of the holes, i.e. the 4-connected background components that do not touch the image edge
(boundingRect = the hole's bounding box grown by one pixel: the border pixels are the foreground
pixels 4-adjacent to the hole). Adding pixels in order of value to a union-find structure
(as in max-tree construction, Najman & Couprie 2006) gives the components of every level set in
O(N alpha(N)) instead of one findContours per level. For the largest contour (MaxBoxAcc) the
same sweep keeps each component's outer-contour area, traced with Suzuki & Abe's border
following (CVGIP 1985) as OpenCV does, and re-traces only components that changed (see
``largest_contour_boxes``). Equality with the contour-based reference is checked in
tests/test_metrics_boxes.py.
"""

from __future__ import annotations

import os
import threading

import numpy as np

#: set to 1 to run the box metrics without numba (the OpenCV path of moana.metrics.boxes: one
#: findContours per distinct binarization; same numbers, slower); read once at import.
DISABLE_ENV = "MOANA_DISABLE_NUMBA"


def _import_numba():
    """numba, or None when it is not installed (``pip install moana[fast-eval]`` adds it) or
    disabled with ``MOANA_DISABLE_NUMBA=1``."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


numba = _import_numba()
HAVE_NUMBA = numba is not None


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


def _interior_sort(flat: np.ndarray, pwidth: int, height: int, width: int):
    """Flat indices (in the zero-framed image, row length ``pwidth``) of the interior pixels
    sorted by value (counting sort, stable in raster order) and the start of each value."""
    counts = np.zeros(257, np.int64)
    for y in range(1, height + 1):
        for x in range(1, width + 1):
            counts[flat[y * pwidth + x] + 1] += 1
    starts = np.cumsum(counts)
    order = np.empty(height * width, np.int64)
    fill = starts[:256].copy()
    for y in range(1, height + 1):
        for x in range(1, width + 1):
            p = y * pwidth + x
            v = flat[p]
            order[fill[v]] = p
            fill[v] += 1
    return order, starts


def _sweep(flat, pwidth, height, width, order, starts, gt, foreground, parent, box, size):
    """Best IoU per level L (0..255) over the outer boxes (foreground=True, ``image > L``,
    8-connected) or the hole boxes (foreground=False, ``image <= L``, 4-connected).

    ``flat`` is the image with a one-pixel frame (row length ``pwidth``; frame pixels are never
    added, so neighbours need no bounds checks); union by size with path compression; box rows
    hold the bounding box of a component in frame coordinates at its root."""
    parent.fill(-1)
    alive = np.empty(height * width, np.int64)
    num_alive = 0
    best = np.full(256, -1.0)
    if foreground:
        steps = np.array([-pwidth - 1, -pwidth, -pwidth + 1, -1, 1, pwidth - 1, pwidth,
                          pwidth + 1])
    else:
        steps = np.array([-pwidth, -1, 1, pwidth])
    previous = -1.0
    for step in range(256):
        # foreground: L = 254 - step adds value L + 1; background: L = step adds value L
        if foreground:
            level = 254 - step
            if level < 0:
                break
            value = level + 1
        else:
            level = step
            value = level
        lo = starts[value]
        hi = starts[value + 1]
        if lo == hi:
            best[level] = previous
            continue
        for j in range(lo, hi):
            p = order[j]
            y = p // pwidth
            x = p - y * pwidth
            parent[p] = p
            box[p, 0] = x
            box[p, 1] = y
            box[p, 2] = x
            box[p, 3] = y
            size[p] = 1
            alive[num_alive] = p
            num_alive += 1
            rp = p
            for d in range(steps.shape[0]):
                q = p + steps[d]
                pq = parent[q]
                if pq < 0 or pq == rp:  # not added yet, or already a child of p's root
                    continue
                rq = _find(parent, q)
                if rq == rp:
                    continue
                if size[rq] > size[rp]:
                    rp, rq = rq, rp
                parent[rq] = rp
                size[rp] += size[rq]
                box[rp, 0] = min(box[rp, 0], box[rq, 0])
                box[rp, 1] = min(box[rp, 1], box[rq, 1])
                box[rp, 2] = max(box[rp, 2], box[rq, 2])
                box[rp, 3] = max(box[rp, 3], box[rq, 3])
        kept = 0
        value_best = -1.0
        for i in range(num_alive):
            r = alive[i]
            if parent[r] != r:
                continue
            alive[kept] = r
            kept += 1
            # frame coordinates: image x = frame x - 1
            x0 = box[r, 0] - 1
            y0 = box[r, 1] - 1
            x1 = box[r, 2] - 1
            y1 = box[r, 3] - 1
            if foreground:
                iou = _best_iou(x0, y0, min(x1 + 1, width - 1), min(y1 + 1, height - 1), gt)
            else:
                if x0 == 0 or y0 == 0 or x1 == width - 1 or y1 == height - 1:
                    continue
                iou = _best_iou(x0 - 1, y0 - 1, min(x1 + 2, width - 1),
                                min(y1 + 2, height - 1), gt)
            if iou > value_best:
                value_best = iou
        num_alive = kept
        best[level] = value_best
        previous = value_best
    return best


if HAVE_NUMBA:
    _find = numba.njit(cache=True)(_find)
    _best_iou = numba.njit(cache=True)(_best_iou)
    _counting_sort = numba.njit(cache=True)(_counting_sort)
    _sweep = numba.njit(cache=True)(_sweep)
    _interior_sort = numba.njit(cache=True)(_interior_sort)


_sweep_scratch = threading.local()


def _outer_from_largest(image: np.ndarray, gt: np.ndarray) -> np.ndarray | None:
    """The outer-contour best IoU per level 0..255 kept by the last
    :func:`largest_contour_boxes` call of this thread when it swept the same image and ``gt``
    over every distinct binarization below the peak; None otherwise."""
    memo = getattr(_scratch, "outer", None)
    if memo is None:
        return None
    shape, pixels, gt_bytes, distinct, outer_best = memo
    if shape != image.shape or gt_bytes != gt.tobytes() or pixels != image.tobytes():
        return None
    peak = int(image.max())
    present = np.bincount(image.ravel(), minlength=256) > 0
    keys = np.cumsum(present)  # equal keys: equal binarizations
    wanted = keys[:peak]
    have = keys[distinct][::-1]  # distinct descends: keys ascend (ties possible)
    index = np.searchsorted(have, wanted)
    if peak and (index.max() >= len(have) or (have[index] != wanted).any()):
        return None
    best = np.full(256, -1.0)
    best[:peak] = outer_best[::-1][index]
    return best


def _sweep_buffers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """parent, box (n, 4) and size arrays for n framed pixels, reused between calls of one
    thread (fresh arrays cost page faults on every map)."""
    cached = getattr(_sweep_scratch, "arrays", None)
    if cached is None or cached[0].shape[0] != n:
        dtype = np.int32 if 2 * n < 2**31 else np.int64
        cached = (np.empty(n, dtype), np.empty((n, 4), dtype), np.empty(n, dtype))
        _sweep_scratch.arrays = cached
    return cached


def best_iou_all_contours(image: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best IoU at every level L in 0..255 over the boxes of all contours of ``image > L``
    (the reference's single box [0, 0, 0, 0] where nothing is above L); -1 marks no box."""
    if not HAVE_NUMBA:
        raise RuntimeError("numba is required for the level-set sweep")
    image = np.asarray(image, dtype=np.uint8)
    gt = np.ascontiguousarray(gt, dtype=np.int64).reshape(-1, 4)
    height, width = image.shape
    pwidth = width + 2
    padded = np.zeros((height + 2, pwidth), np.uint8)  # frame: never added, no bounds checks
    padded[1:-1, 1:-1] = image
    flat = padded.ravel()
    order, starts = _interior_sort(flat, pwidth, height, width)
    parent, box, size = _sweep_buffers(flat.size)
    outer = _outer_from_largest(image, gt)
    if outer is None:
        outer = _sweep(flat, pwidth, height, width, order, starts, gt, True, parent, box, size)
    holes = _sweep(flat, pwidth, height, width, order, starts, gt, False, parent, box, size)
    best = np.maximum(outer, holes)
    peak = int(image.max())
    empty = _best_iou(0, 0, 0, 0, gt)
    best[peak:] = empty  # no pixel above L: no contour
    return best


# --- largest contour (MaxBoxAcc): per-component contour areas, traced only where needed -------
#
# The outer contour of an 8-connected component is traced by OpenCV (Suzuki & Abe 1985 border
# following) from the component's first pixel in raster order; it depends on that component's
# pixels only, and its contourArea is the shoelace area of the traced pixel centres (removing
# collinear points, as CHAIN_APPROX_SIMPLE does, leaves the area unchanged; coordinates are small
# integers, so the double arithmetic is exact). A component's area therefore changes only when it
# gains pixels or merges: the sweep keeps it per component and re-traces only such components,
# and only when their bound (bounding box of pixel centres, which holds the polygon) can reach the
# current maximum. Holes and nested contours never beat their enclosing outer contour (see
# moana.metrics.boxes), and the largest outer contour's boundingRect is its component's box.
# Ties between components are resolved by one findContours over the tied components only, so the
# tie goes to the contour OpenCV lists first.

_DX = np.array([1, 1, 0, -1, -1, -1, 0, 1], np.int64)  # OpenCV chain-code directions 0..7
_DY = np.array([0, -1, -1, -1, 0, 1, 1, 1], np.int64)


def _outer_area2(padded, pwidth, start, level, steps) -> int:
    """Twice the contourArea of the outer border traced from ``start`` (the first pixel of its
    component in raster order) in ``padded > level`` (the image with a zero frame, row length
    ``pwidth``; ``steps`` the flat offsets of the chain-code directions): OpenCV's border
    following step for step (icvFetchContour), shoelace sum over the traced pixel centres."""
    s = 4
    found = False
    for _ in range(8):  # clockwise from the left neighbour for the first foreground neighbour
        s = (s - 1) & 7
        if s == 4:
            break
        if padded[start + steps[s]] > level:
            found = True
            break
    if not found:
        return 0  # a single pixel: a one-point contour
    i1 = start + steps[s]
    i3 = start
    x3 = 0
    y3 = 0
    area2 = 0
    while True:
        for _ in range(8):  # counter-clockwise from the previous pixel for the next one
            s = (s + 1) & 7
            if padded[i3 + steps[s]] > level:
                break
        i4 = i3 + steps[s]
        x4 = x3 + _DX[s]
        y4 = y3 + _DY[s]
        area2 += x3 * y4 - x4 * y3
        if i4 == start and i3 == i1:
            break
        i3 = i4
        x3 = x4
        y3 = y4
        s = (s + 4) & 7
    return abs(area2)


# columns of the per-component record (valid at a component's root): pixel count, bounding box
# of pixel centres (frame coordinates), first pixel in raster order, twice its outer contour
# area (-1: changed since it was last traced)
_SIZE, _X0, _Y0, _X1, _Y1, _FIRST, _AREA2 = range(7)


def _largest_sweep(padded, pwidth, steps, order, starts, levels, k, parent, comp, alive, state,
                   boxes, status, gt, outer_best) -> int:
    """Process ``levels`` (descending) from index k on the zero-framed image ``padded``:
    boxes[k] = (x, y, w, h) of the component with the largest outer contour of
    ``image > levels[k]``, status[k] = 1 (0: nothing above the level). Stops at the first level
    where several components tie and returns its index (status 2; the tied components have
    area2 == state[2]), or len(levels). ``state`` = [next value to add, alive roots, tie area].
    outer_best[k] = best IoU against ``gt`` over the boxes of all components (the outer contours
    of the all-contours mode; -1: none), when ``gt`` has rows."""
    width = pwidth - 2
    height = padded.shape[0] // pwidth - 2
    value = state[0]
    num_alive = state[1]
    while k < levels.shape[0]:
        level = levels[k]
        for j in range(starts[level + 1], starts[value]):
            p = order[j]
            y = p // pwidth
            x = p - y * pwidth
            parent[p] = p
            comp[p, _X0] = x
            comp[p, _X1] = x
            comp[p, _Y0] = y
            comp[p, _Y1] = y
            comp[p, _FIRST] = p
            comp[p, _SIZE] = 1
            comp[p, _AREA2] = 0
            alive[num_alive] = p
            num_alive += 1
            rp = p
            for d in range(8):
                q = p + steps[d]
                pq = parent[q]
                if pq < 0 or pq == rp:  # not added yet, or already a child of p's root
                    continue
                rq = _find(parent, q)
                if rp == rq:
                    continue
                if comp[rq, _SIZE] > comp[rp, _SIZE]:  # union by size keeps the trees shallow
                    rp, rq = rq, rp
                parent[rq] = rp
                comp[rp, _SIZE] += comp[rq, _SIZE]
                comp[rp, _X0] = min(comp[rp, _X0], comp[rq, _X0])
                comp[rp, _Y0] = min(comp[rp, _Y0], comp[rq, _Y0])
                comp[rp, _X1] = max(comp[rp, _X1], comp[rq, _X1])
                comp[rp, _Y1] = max(comp[rp, _Y1], comp[rq, _Y1])
                comp[rp, _FIRST] = min(comp[rp, _FIRST], comp[rq, _FIRST])
                comp[rp, _AREA2] = -1
        if level + 1 < value:
            value = level + 1
        best = -1
        best_root = -1
        kept = 0
        outer = -1.0
        for i in range(num_alive):
            r = alive[i]
            if parent[r] != r:
                continue
            alive[kept] = r
            kept += 1
            if comp[r, _AREA2] > best:
                best = comp[r, _AREA2]
                best_root = r
            if gt.shape[0] > 0:
                iou = _best_iou(comp[r, _X0] - 1, comp[r, _Y0] - 1, min(comp[r, _X1], width - 1),
                                min(comp[r, _Y1], height - 1), gt)
                if iou > outer:
                    outer = iou
        outer_best[k] = outer
        num_alive = kept
        for i in range(num_alive):
            r = alive[i]
            if comp[r, _AREA2] >= 0:
                continue
            # the polygon lies in the box of pixel centres: a smaller box cannot win or tie
            if 2 * (comp[r, _X1] - comp[r, _X0]) * (comp[r, _Y1] - comp[r, _Y0]) >= best:
                comp[r, _AREA2] = _outer_area2(padded, pwidth, comp[r, _FIRST], level, steps)
                if comp[r, _AREA2] > best:
                    best = comp[r, _AREA2]
                    best_root = r
        if best_root < 0:
            status[k] = 0
            k += 1
            continue
        ties = 0
        for i in range(num_alive):
            if comp[alive[i], _AREA2] == best:
                ties += 1
        state[0] = value
        state[1] = num_alive
        state[2] = best
        if ties > 1:
            status[k] = 2
            return k
        boxes[k, 0] = comp[best_root, _X0] - 1
        boxes[k, 1] = comp[best_root, _Y0] - 1
        boxes[k, 2] = comp[best_root, _X1] - comp[best_root, _X0] + 1
        boxes[k, 3] = comp[best_root, _Y1] - comp[best_root, _Y0] + 1
        status[k] = 1
        k += 1
    state[0] = value
    state[1] = num_alive
    return k


def _render_area(parent, comp, target, out) -> None:
    """out = 255 on the pixels of components whose (known) outer area2 equals ``target``."""
    for p in range(parent.shape[0]):
        out[p] = 255 if parent[p] >= 0 and comp[_find(parent, p), _AREA2] == target else 0


if HAVE_NUMBA:
    _outer_area2 = numba.njit(cache=True)(_outer_area2)
    _largest_sweep = numba.njit(cache=True)(_largest_sweep)
    _render_area = numba.njit(cache=True)(_render_area)


_scratch = threading.local()


def _buffers(n: int) -> list[np.ndarray]:
    """Work arrays for n pixels (parent, per-component record, alive roots), reused between calls
    of one thread (fresh large arrays cost page faults on every map)."""
    cached = getattr(_scratch, "arrays", None)
    if cached is None or cached[0].shape[0] != n:
        dtype = np.int32 if 2 * n < 2**31 else np.int64  # int32: half the memory traffic
        cached = [np.empty(n, dtype), np.empty((n, 8), dtype), np.empty(n, dtype)]
        _scratch.arrays = cached
    return cached


def largest_contour_boxes(image: np.ndarray, levels: np.ndarray,
                          gt: np.ndarray | None = None) -> np.ndarray:
    """Box (n, 4) [x0, y0, x1, y1] of the largest-``contourArea`` contour of ``image > L`` for
    each L in ``levels``, as wsolevaluation picks it (first in OpenCV's order on ties) and
    clips it (x1 = min(x + w, width - 1)); [0, 0, 0, 0] where nothing is above L.

    With ``gt`` (m, 4), the same sweep also keeps the best IoU of all outer contours' boxes at
    each level, which :func:`best_iou_all_contours` reuses for the same image and ``gt``
    (the evaluate-scoremaps command runs both contour modes on every map)."""
    import cv2

    if not HAVE_NUMBA:
        raise RuntimeError("numba is required for the level-set sweep")
    image = np.asarray(image, dtype=np.uint8)
    height, width = image.shape
    pwidth = width + 2
    padded = np.zeros((height + 2, pwidth), np.uint8)  # zero frame: no bounds checks
    padded[1:-1, 1:-1] = image
    flat = padded.ravel()
    steps = _DX + _DY * pwidth
    order, starts = _counting_sort(flat)  # frame pixels are 0: never above a level >= 0
    n = flat.size
    parent, comp, alive = _buffers(n)
    parent.fill(-1)  # the other arrays are written before they are read
    levels = np.asarray(levels, dtype=np.int64).reshape(-1)
    if ((levels < 0) | (levels > 255)).any():
        raise ValueError("levels must lie in 0..255")
    distinct, inverse = np.unique(levels, return_inverse=True)
    distinct = np.ascontiguousarray(distinct[::-1])  # the sweep goes down from the top
    inverse = len(distinct) - 1 - inverse.reshape(-1)
    rects = np.zeros((len(distinct), 4), np.int64)  # (x, y, w, h)
    status = np.zeros(len(distinct), np.int64)
    state = np.array([256, 0, 0], np.int64)
    gt_rows = (np.zeros((0, 4), np.int64) if gt is None
               else np.ascontiguousarray(gt, dtype=np.int64).reshape(-1, 4))
    outer_best = np.full(len(distinct), -1.0)
    k = 0
    while True:
        k = _largest_sweep(flat, pwidth, steps, order, starts, distinct, k, parent, comp, alive,
                           state, rects, status, gt_rows, outer_best)
        if k >= len(distinct):
            break
        # several components tie for the largest area: OpenCV's order among them decides
        out = np.empty(n, np.uint8)
        _render_area(parent, comp, state[2], out)
        tied = np.ascontiguousarray(out.reshape(height + 2, pwidth)[1:-1, 1:-1])
        contours = cv2.findContours(tied, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        rects[k] = cv2.boundingRect(max(contours, key=cv2.contourArea))
        status[k] = 1
        k += 1
    _scratch.outer = None
    if gt is not None:
        _scratch.outer = (image.shape, image.tobytes(), gt_rows.tobytes(), distinct, outer_best)
    boxes = np.zeros((len(distinct), 4), np.int64)
    found = status == 1
    boxes[found, 0] = rects[found, 0]
    boxes[found, 1] = rects[found, 1]
    boxes[found, 2] = np.minimum(rects[found, 0] + rects[found, 2], width - 1)
    boxes[found, 3] = np.minimum(rects[found, 1] + rects[found, 3], height - 1)
    return boxes[inverse]
