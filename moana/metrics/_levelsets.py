"""Boxes of all contours at every threshold level of a uint8 map, in one pass (numba kernels).

For wsolevaluation's multi-contour MaxBoxAccV2 (Choe et al., CVPR 2020), every OpenCV contour
(RETR_TREE) of ``image > L`` yields a boundingRect. Those contours are the outer borders of the
8-connected foreground components (boundingRect = the component's bounding box) and the borders
of the holes, i.e. the 4-connected background components that do not touch the image edge
(boundingRect = the hole's bounding box grown by one pixel: the border pixels are the foreground
pixels 4-adjacent to the hole). Adding pixels in order of value to a union-find structure
(as in max-tree construction, Najman & Couprie 2006) gives the components of every level set in
O(N alpha(N)) instead of one findContours per level: going down from the top for the
foreground components, up from the bottom for the holes. For the largest contour (MaxBoxAcc)
the foreground sweep also keeps each component's outer-contour area, traced with Suzuki & Abe's
border following (CVGIP 1985) as OpenCV does, and re-traces a changed component only where it
could still win or tie (see ``_largest_at_level``). Equality with the contour-based reference is checked in
tests/test_metrics_boxes.py and tests/test_metrics_levelsets.py.

Memory layout (the speed of the sweeps): each pixel gets a record number when it is added
(``label``, one int32 per pixel); a new record is made only for a pixel with no added neighbour
(a new component), and the union-find runs over the records, whose boxes, sizes and cached
IoUs sit in small arrays that stay in cache. A component's IoU against the ground truth is
recomputed only at levels where it gained pixels.

The kernels are compiled by numba: ahead of time into a cached extension module when one was
built for this source (:mod:`moana.metrics._aot`; loading it does not import numba, which saves
about a second of start-up), otherwise just in time (``cache=True``).
"""

from __future__ import annotations

import os
import threading

import numpy as np

#: set to 1 to run the box metrics without numba (the OpenCV path of moana.metrics.boxes: one
#: findContours per distinct binarization; same numbers, slower); read once at import.
DISABLE_ENV = "MOANA_DISABLE_NUMBA"


def _disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes")


def _import_numba():
    """numba, or None when it is not installed (``pip install moana[fast-eval]`` adds it) or
    disabled with ``MOANA_DISABLE_NUMBA=1``."""
    if _disabled():
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


def _find(parent: np.ndarray, x: int) -> int:
    """Root of record ``x`` (path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _best_iou(x0: int, y0: int, x1: int, y1: int, gt: np.ndarray) -> float:
    """Best inclusive-pixel IoU of the box [x0, y0, x1, y1] against the rows of ``gt`` (m, 4);
    0 for degenerate pairs (wsolevaluation's ``calculate_multiple_iou``)."""
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


def _empty_iou(gt: np.ndarray) -> float:
    """IoU of the reference's box [0, 0, 0, 0] (nothing above the level)."""
    return _best_iou(0, 0, 0, 0, gt)


def _interior_sort(flat: np.ndarray, pwidth: int, height: int, width: int, order: np.ndarray,
                   starts: np.ndarray) -> int:
    """Fill ``order`` with the flat indices (in the zero-framed image, row length ``pwidth``) of
    the interior pixels sorted by value (counting sort, stable in raster order) and ``starts``
    (258) with the start of each value; returns the largest value."""
    starts[:] = 0
    for y in range(1, height + 1):
        for x in range(1, width + 1):
            starts[flat[y * pwidth + x] + 1] += 1
    peak = 0
    for v in range(256):
        if starts[v + 1] > 0:
            peak = v
        starts[v + 1] += starts[v]
    starts[257] = starts[256]
    fill = starts[:256].copy()
    for y in range(1, height + 1):
        for x in range(1, width + 1):
            p = y * pwidth + x
            v = flat[p]
            order[fill[v]] = p
            fill[v] += 1
    return peak


# columns of the per-component record (valid at a root record): bounding box of pixel centres
# (frame coordinates), first pixel in raster order, twice its outer contour area (exact when
# _CLEAN is 1; after a change, the area it had when last traced: a lower bound, see
# _largest_at_level), 1 when the area is exact
_X0, _Y0, _X1, _Y1, _FIRST, _AREA2, _CLEAN = range(7)

_DX = np.array([1, 1, 0, -1, -1, -1, 0, 1], np.int64)  # OpenCV chain-code directions 0..7
_DY = np.array([0, -1, -1, -1, 0, 1, 1, 1], np.int64)


def _merge(parent, rec, iou, root, r) -> int:
    """Join the components of root records ``root`` and ``r`` under the older (smaller) one;
    returns it. Its box, first pixel and area lower bound cover both; its IoU is unknown."""
    if r < root:
        r, root = root, r
    parent[r] = root
    rec[root, _X0] = min(rec[root, _X0], rec[r, _X0])
    rec[root, _Y0] = min(rec[root, _Y0], rec[r, _Y0])
    rec[root, _X1] = max(rec[root, _X1], rec[r, _X1])
    rec[root, _Y1] = max(rec[root, _Y1], rec[r, _Y1])
    rec[root, _FIRST] = min(rec[root, _FIRST], rec[r, _FIRST])
    rec[root, _AREA2] = max(rec[root, _AREA2], rec[r, _AREA2])
    iou[root] = -2.0
    return root


def _add_pixels(lo, hi, order, pwidth, steps, label, parent, rec, iou, alive, counts) -> None:
    """Add the pixels order[lo:hi] to the union-find over records: each joins the records of
    its added neighbours (``steps``: flat offsets), or opens a new record (counts = [records,
    alive roots]); the record it joins is marked changed (outer area not exact; IoU unknown
    when its box grew). The older record stays the root of a union.

    With 8 steps (8-connectivity) they go round the ring of neighbours, where consecutive cells
    touch: one find per run of added cells. With 4 steps (the holes' 4-connectivity), record 0
    is the outside (the frame is labelled 0): as the oldest record it stays the root of whatever
    joins it, and pixels that join it need no bookkeeping."""
    ring = steps.shape[0] == 8
    inv_pwidth = 1.0 / pwidth
    num_rec = counts[0]
    num_alive = counts[1]
    for j in range(lo, hi):
        p = order[j]
        root = -1
        run = False
        for d in range(steps.shape[0]):
            r = label[p + steps[d]]
            if r < 0:  # not added yet
                run = False
                continue
            if run:  # the ring cell before touches this one: same component
                continue
            run = ring
            while parent[r] != r:  # find, with path halving
                parent[r] = parent[parent[r]]
                r = parent[r]
            if root < 0:
                root = r
            elif r != root:
                if ring or (r != 0 and root != 0):
                    root = _merge(parent, rec, iou, root, r)
                else:
                    parent[max(r, root)] = 0
                    root = 0
        if root == 0 and not ring:
            label[p] = 0
            continue
        y = int((p + 0.5) * inv_pwidth)  # p // pwidth without a division (exact: p < 2**31)
        x = p - y * pwidth
        if root < 0:
            root = num_rec
            num_rec += 1
            parent[root] = root
            rec[root, _X0] = x
            rec[root, _X1] = x
            rec[root, _Y0] = y
            rec[root, _Y1] = y
            rec[root, _FIRST] = p
            rec[root, _AREA2] = 0
            iou[root] = -2.0
            alive[num_alive] = root
            num_alive += 1
        else:
            if x < rec[root, _X0]:
                rec[root, _X0] = x
                iou[root] = -2.0
            elif x > rec[root, _X1]:
                rec[root, _X1] = x
                iou[root] = -2.0
            if y < rec[root, _Y0]:
                rec[root, _Y0] = y
                iou[root] = -2.0
            elif y > rec[root, _Y1]:
                rec[root, _Y1] = y
                iou[root] = -2.0
            if p < rec[root, _FIRST]:
                rec[root, _FIRST] = p
        rec[root, _CLEAN] = 0
        label[p] = root
    counts[0] = num_rec
    counts[1] = num_alive


def _hole_sweep(flat, pwidth, order, starts, gt, label, parent, rec, iou, alive, best) -> None:
    """best[L] (L = 0..254) = best IoU against ``gt`` over the boxes of the holes of
    ``image > L`` (4-connected components of ``image <= L`` off the image edge; box grown by one
    pixel, clipped as the reference clips boundingRect); -1 where there is none.

    Pixels of value L are added at level L. The frame belongs to record 0, the outside: a
    component that reaches the image edge joins it and can never be a hole again."""
    width = pwidth - 2
    height = flat.shape[0] // pwidth - 2
    steps = np.array([-pwidth, -1, 1, pwidth])
    for x in range(pwidth):
        label[x] = 0
        label[(height + 1) * pwidth + x] = 0
    for y in range(height + 2):
        label[y * pwidth] = 0
        label[y * pwidth + width + 1] = 0
    parent[0] = 0
    counts = np.zeros(2, np.int64)
    counts[0] = 1  # record 0 (never in ``alive``: never a hole)
    for level in range(255):
        _add_pixels(starts[level], starts[level + 1], order, pwidth, steps, label, parent, rec,
                    iou, alive, counts)
        kept = 0
        value_best = -1.0
        for i in range(counts[1]):
            r = alive[i]
            if parent[r] != r:  # merged, possibly into the outside
                continue
            x0 = rec[r, _X0] - 1  # image coordinates
            y0 = rec[r, _Y0] - 1
            x1 = rec[r, _X1] - 1
            y1 = rec[r, _Y1] - 1
            alive[kept] = r
            kept += 1
            if iou[r] < -1.5:
                iou[r] = _best_iou(x0 - 1, y0 - 1, min(x1 + 2, width - 1),
                                   min(y1 + 2, height - 1), gt)
            if iou[r] > value_best:
                value_best = iou[r]
        counts[1] = kept
        best[level] = value_best


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


# --- foreground sweep: outer contours (both modes) and the largest contour (MaxBoxAcc) --------
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


def _largest_at_level(flat, pwidth, steps, level, rec, alive, num_alive, state) -> int:
    """Root record of the component with the largest outer contour of ``image > level`` among
    ``alive[:num_alive]``; -1 when there is none; state[3] = its area2 and state[4] = how many
    components share that area.

    A component only grows (or merges) as the level goes down, and its outer contour's area
    never shrinks: the region it encloses is the union of the 2x2 pixel-centre cells with four
    pixels of the component or its holes, and half of those with three, which only gains cells.
    So the area last traced is a lower bound, and the box of pixel centres an upper bound.
    When a single component's upper bound reaches the largest lower bound it wins outright
    (nothing traced); otherwise the candidates that could win or tie are traced."""
    lower = -1
    best_root = -1
    for i in range(num_alive):
        r = alive[i]
        if rec[r, _AREA2] > lower:
            lower = rec[r, _AREA2]
            best_root = r
    if lower < 0:
        state[3] = -1
        state[4] = 0
        return -1
    candidates = 0
    for i in range(num_alive):
        r = alive[i]
        upper = rec[r, _AREA2]
        if rec[r, _CLEAN] == 0:  # the polygon lies in the box of pixel centres
            upper = 2 * (rec[r, _X1] - rec[r, _X0]) * (rec[r, _Y1] - rec[r, _Y0])
        if upper >= lower:
            candidates += 1
    if candidates == 1:  # every other area is below the winner's: no tie, nothing to trace
        state[3] = rec[best_root, _AREA2]
        state[4] = 1
        return best_root
    best = lower - 1
    best_root = -1
    for i in range(num_alive):
        r = alive[i]
        if rec[r, _CLEAN] == 1 and rec[r, _AREA2] > best:
            best = rec[r, _AREA2]
            best_root = r
    for i in range(num_alive):
        r = alive[i]
        if rec[r, _CLEAN] == 1:
            continue
        if 2 * (rec[r, _X1] - rec[r, _X0]) * (rec[r, _Y1] - rec[r, _Y0]) >= best:
            rec[r, _AREA2] = _outer_area2(flat, pwidth, rec[r, _FIRST], level, steps)
            rec[r, _CLEAN] = 1
            if rec[r, _AREA2] > best:
                best = rec[r, _AREA2]
                best_root = r
    ties = 0
    for i in range(num_alive):  # components left untraced are below ``best``
        if rec[alive[i], _CLEAN] == 1 and rec[alive[i], _AREA2] == best:
            ties += 1
    state[3] = best
    state[4] = ties
    return best_root


def _outer_sweep(flat, pwidth, order, starts, gt, wanted, label, parent, rec, iou, alive, state,
                 rects, status, outer_best) -> int:
    """Levels L from state[0] down to 0 (pixels of value L + 1 are added at level L, 8-connected):
    outer_best[L] = best IoU against ``gt`` over the boxes of all components of ``image > L``
    (-1: none, or ``gt`` has no rows); where ``wanted[L]``: rects[L] = (x, y, w, h) of the
    component with the largest outer contour, status[L] = 1 (0: nothing above L).
    Stops at the first wanted level where several components tie for the largest area and
    returns it (status 2; the tied components have area2 == state[3]); returns -1 when done.
    ``state`` = [next level, records, alive roots, area, ties] carries the sweep across calls."""
    width = pwidth - 2
    height = flat.shape[0] // pwidth - 2
    counts = np.empty(2, np.int64)
    counts[0] = state[1]
    counts[1] = state[2]
    level = state[0]
    steps = steps_8(pwidth)
    chain = chain_steps(pwidth)
    while level >= 0:
        _add_pixels(starts[level + 1], starts[level + 2], order, pwidth, steps, label, parent,
                    rec, iou, alive, counts)
        kept = 0
        outer = -1.0
        for i in range(counts[1]):
            r = alive[i]
            if parent[r] != r:
                continue
            alive[kept] = r
            kept += 1
            if gt.shape[0] > 0:
                if iou[r] < -1.5:
                    iou[r] = _best_iou(rec[r, _X0] - 1, rec[r, _Y0] - 1,
                                       min(rec[r, _X1], width - 1), min(rec[r, _Y1], height - 1),
                                       gt)
                if iou[r] > outer:
                    outer = iou[r]
        counts[1] = kept
        outer_best[level] = outer
        if wanted[level]:
            root = _largest_at_level(flat, pwidth, chain, level, rec, alive, kept, state)
            if root < 0:
                status[level] = 0
            elif state[4] > 1:
                status[level] = 2
                state[0] = level - 1
                state[1] = counts[0]
                state[2] = counts[1]
                return level
            else:
                rects[level, 0] = rec[root, _X0] - 1
                rects[level, 1] = rec[root, _Y0] - 1
                rects[level, 2] = rec[root, _X1] - rec[root, _X0] + 1
                rects[level, 3] = rec[root, _Y1] - rec[root, _Y0] + 1
                status[level] = 1
        level -= 1
    state[0] = -1
    state[1] = counts[0]
    state[2] = counts[1]
    return -1


def steps_8(pwidth):
    """Flat offsets of the 8 neighbours round the ring (row length ``pwidth``)."""
    return np.array([-pwidth, -pwidth + 1, 1, pwidth + 1, pwidth, pwidth - 1, -1, -pwidth - 1])


def chain_steps(pwidth):
    """Flat offsets of OpenCV's chain-code directions 0..7 (row length ``pwidth``)."""
    return _DX + _DY * pwidth


def _render_area(label, parent, rec, target, out) -> None:
    """out = 255 on the pixels of components whose exact outer area2 equals ``target``."""
    for p in range(label.shape[0]):
        if label[p] < 0:
            out[p] = 0
            continue
        r = _find(parent, label[p])
        out[p] = 255 if rec[r, _CLEAN] == 1 and rec[r, _AREA2] == target else 0


_KERNELS = ("_interior_sort", "_hole_sweep", "_outer_sweep", "_outer_area2", "_render_area",
            "_empty_iou")
_HELPERS = ("_find", "_best_iou", "_merge", "_add_pixels", "_largest_at_level", "steps_8",
            "chain_steps")


def _compile() -> tuple[object, object]:
    """(numba or None, the ahead-of-time module or None); binds the module's kernels to the
    compiled ones (the AOT module when there is one, else numba's JIT with its disk cache)."""
    if _disabled():
        return None, None
    from moana.metrics import _aot

    module = _aot.load()
    if module is not None:
        for name in _KERNELS:
            globals()[name] = getattr(module, name)
        return None, module
    numba = _import_numba()
    if numba is not None:
        for name in _HELPERS + _KERNELS:
            globals()[name] = numba.njit(cache=True)(globals()[name])
    return numba, None


numba, _AOT_MODULE = _compile()
#: True when the level-set kernels are compiled (numba JIT or the ahead-of-time module)
HAVE_NUMBA = numba is not None or _AOT_MODULE is not None
#: True when they are numba's JIT kernels (an ahead-of-time build would shorten start-up)
JIT = numba is not None


def compile_ahead_of_time(directory: str, name: str, signatures: dict[str, str]) -> None:
    """Compile the kernels with ``numba.pycc`` into the extension module ``name`` in
    ``directory`` (see :mod:`moana.metrics._aot`, which runs this in a fresh process with the
    JIT kernels bound, so that the kernels' helper calls compile in)."""
    if not JIT:
        raise RuntimeError("the ahead-of-time build needs numba's JIT kernels (MOANA_AOT=0)")
    from numba.pycc import CC

    compiler = CC(name)
    compiler.output_dir = directory
    compiler.verbose = False
    for kernel, signature in signatures.items():
        compiler.export(kernel, signature)(globals()[kernel].py_func)
    compiler.compile()

_scratch = threading.local()


def _buffers(n: int) -> list[np.ndarray]:
    """Work arrays for n framed pixels (label, record parents, records, IoUs, alive records,
    sort order), reused between calls of one thread (fresh large arrays cost page faults on
    every map)."""
    cached = getattr(_scratch, "arrays", None)
    if cached is None or cached[0].shape[0] != n:
        if n >= 2**31:
            raise ValueError(f"a score map of {n} pixels is too large for the level-set sweep")
        cached = [np.empty(n, np.int32), np.empty(n, np.int32), np.empty((n, 8), np.int32),
                  np.empty(n), np.empty(n, np.int32), np.empty(n, np.int64),
                  np.empty(258, np.int64)]
        _scratch.arrays = cached
        _scratch.prepared = None  # its sort lived in the old arrays
    return cached


def _prepare(image: np.ndarray) -> tuple[np.ndarray, int, int, np.ndarray, np.ndarray]:
    """(framed flat image, row length, peak, order, starts) of a uint8 map; the last map's are
    kept per thread (both contour modes of one map share the sort)."""
    if not HAVE_NUMBA:
        raise RuntimeError("numba is required for the level-set sweep")
    height, width = image.shape
    pwidth = width + 2
    n = (height + 2) * pwidth
    arrays = _buffers(n)
    order, starts = arrays[5][: height * width], arrays[6]
    last = getattr(_scratch, "prepared", None)
    if last is not None and last[0] == image.shape and last[1] == image.tobytes():
        return last[2], pwidth, last[3], order, starts
    _scratch.prepared = None
    padded = np.zeros((height + 2, pwidth), np.uint8)  # zero frame: never added, no bounds checks
    padded[1:-1, 1:-1] = image
    flat = padded.ravel()
    peak = _interior_sort(flat, pwidth, height, width, order, starts)
    _scratch.prepared = (image.shape, image.tobytes(), flat, peak)
    return flat, pwidth, peak, order, starts


def _gt_rows(gt: np.ndarray | None) -> np.ndarray:
    return (np.zeros((0, 4), np.int64) if gt is None
            else np.ascontiguousarray(gt, dtype=np.int64).reshape(-1, 4))


def _outer_from_largest(image: np.ndarray, gt: np.ndarray) -> np.ndarray | None:
    """The outer-contour best IoU per level 0..255 kept by the last
    :func:`largest_contour_boxes` call of this thread when it swept the same image and ``gt``
    (every level is swept, whichever levels were asked for); None otherwise."""
    memo = getattr(_scratch, "outer", None)
    if memo is None:
        return None
    shape, pixels, gt_bytes, outer_best = memo
    if shape != image.shape or gt_bytes != gt.tobytes() or pixels != image.tobytes():
        return None
    return outer_best


def best_iou_all_contours(image: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best IoU at every level L in 0..255 over the boxes of all contours of ``image > L``
    (the reference's single box [0, 0, 0, 0] where nothing is above L); -1 marks no box.
    ``image`` (H, W) uint8, ``gt`` (m, 4) inclusive pixel boxes [x0, y0, x1, y1]."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    gt = _gt_rows(gt)
    flat, pwidth, peak, order, starts = _prepare(image)
    label, parent, rec, iou, alive = _buffers(flat.size)[:5]
    outer = _outer_from_largest(image, gt)
    if outer is None:
        outer = np.full(256, -1.0)
        label.fill(-1)
        _outer_sweep(flat, pwidth, order, starts, gt, np.zeros(256, np.bool_), label, parent,
                     rec, iou, alive, np.array([254, 0, 0, 0, 0], np.int64),
                     np.zeros((256, 4), np.int64), np.zeros(256, np.int64), outer)
    holes = np.full(256, -1.0)
    label.fill(-1)
    _hole_sweep(flat, pwidth, order, starts, gt, label, parent, rec, iou, alive, holes)
    best = np.maximum(outer, holes)
    best[peak:] = _empty_iou(gt)  # no pixel above L: no contour
    return best


def largest_contour_boxes(image: np.ndarray, levels: np.ndarray,
                          gt: np.ndarray | None = None) -> np.ndarray:
    """Box (n, 4) [x0, y0, x1, y1] of the largest-``contourArea`` contour of ``image > L`` for
    each L in ``levels`` (n ints in 0..255; ValueError otherwise), as wsolevaluation picks it
    (first in OpenCV's order on ties) and clips it (x1 = min(x + w, width - 1)); [0, 0, 0, 0]
    where nothing is above L.

    With ``gt`` (m, 4), the same sweep also keeps the best IoU of all outer contours' boxes at
    each level, which :func:`best_iou_all_contours` reuses for the same image and ``gt``
    (the evaluate-scoremaps command runs both contour modes on every map)."""
    import cv2

    levels = np.asarray(levels, dtype=np.int64).reshape(-1)
    if ((levels < 0) | (levels > 255)).any():
        raise ValueError("levels must lie in 0..255")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    flat, pwidth, _, order, starts = _prepare(image)
    label, parent, rec, iou, alive = _buffers(flat.size)[:5]
    label.fill(-1)
    gt_rows = _gt_rows(gt)
    wanted = np.zeros(256, np.bool_)
    wanted[levels] = True
    rects = np.zeros((256, 4), np.int64)  # (x, y, w, h)
    status = np.zeros(256, np.int64)
    outer_best = np.full(256, -1.0)
    state = np.array([254, 0, 0, 0, 0], np.int64)
    while True:
        k = _outer_sweep(flat, pwidth, order, starts, gt_rows, wanted, label, parent, rec, iou,
                         alive, state, rects, status, outer_best)
        if k < 0:
            break
        # several components tie for the largest area: OpenCV's order among them decides
        out = np.empty(flat.size, np.uint8)
        _render_area(label, parent, rec, state[3], out)
        tied = np.ascontiguousarray(out.reshape(height + 2, pwidth)[1:-1, 1:-1])
        contours = cv2.findContours(tied, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        rects[k] = cv2.boundingRect(max(contours, key=cv2.contourArea))
        status[k] = 1
    _scratch.outer = None
    if gt is not None:
        _scratch.outer = (image.shape, image.tobytes(), gt_rows.tobytes(), outer_best)
    boxes = np.zeros((len(levels), 4), np.int64)
    found = status[levels] == 1
    picked = rects[levels[found]]
    boxes[found, 0] = picked[:, 0]
    boxes[found, 1] = picked[:, 1]
    boxes[found, 2] = np.minimum(picked[:, 0] + picked[:, 2], width - 1)
    boxes[found, 3] = np.minimum(picked[:, 1] + picked[:, 3], height - 1)
    return boxes
