"""wsolevaluation's rule for ground-truth boxes at the evaluation resolution (Choe et al., CVPR
2020, ``wsolevaluation/data_loaders.py``/``evaluation.py``: each coordinate scaled by
``new / old`` and truncated with ``int``). The one copy: ``moana.data.wsol`` and
``moana.metrics`` both use it. Numpy-free and torch-free, so the metrics stay light."""

from __future__ import annotations

import operator
from collections.abc import Sequence

RESIZE_LENGTH = 224


def check_size(name: str, value: object) -> int:
    """``value`` as a positive pixel count; ValueError naming ``name`` otherwise (an image of
    any size, down to 1x1, is resized to it)."""
    try:
        size = operator.index(value)  # int and NumPy integers, not floats or strings
    except TypeError:
        size = None
    if isinstance(value, bool) or size is None or size < 1:
        raise ValueError(f"{name} must be a positive integer (pixels), got {value!r}")
    return size


def resize_box(box: Sequence[float], image_size: tuple[int, int],
               size: int | tuple[int, int] = RESIZE_LENGTH) -> tuple[int, int, int, int]:
    """Scale an (x0, y0, x1, y1) box from an image of (width, height) to ``size`` (an int for a
    square, or (new_width, new_height)); each coordinate ``int(x * new / old)``."""
    new_w, new_h = (size, size) if isinstance(size, (int, float)) else size
    x0, y0, x1, y1 = map(float, box)
    width, height = map(float, image_size)
    new_w, new_h = float(new_w), float(new_h)
    return (int(x0 * new_w / width), int(y0 * new_h / height),
            int(x1 * new_w / width), int(y1 * new_h / height))
