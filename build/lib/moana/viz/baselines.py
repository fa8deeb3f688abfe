"""The center baseline of Choe et al. (CVPR 2020): a centered isotropic Gaussian score map, the same
for every image, scored by the same evaluator as the trained methods. It is the floor the WSOL
comparison table shows below CAM and MoANA (Sohn et al., "MoANA", Sci. Rep. 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from moana.data.metadata import WSOLMetadata


def center_gaussian(size: int = 224, sigma: float = 0.25) -> np.ndarray:
    """(size, size) float64 map in [0, 1], peak 1 at the center, std ``sigma * size``."""
    if size <= 0 or sigma <= 0:
        raise ValueError(f"size and sigma must be positive, got {size}, {sigma}")
    axis = (np.arange(size, dtype=np.float64) + 0.5 - size / 2) / (sigma * size)
    g = np.exp(-0.5 * axis**2)
    m = np.outer(g, g)
    return m / m.max()


def evaluate_center_baseline(
    metadata: WSOLMetadata,
    *,
    image_size: int = 224,
    sigma: float = 0.25,
    step: float = 0.01,
    mask_root: str | Path | None = None,
) -> dict[str, Any]:
    """Box metrics (and PxAP when ``mask_root`` and masks exist) of the center Gaussian."""
    from moana.metrics.boxes import BoxEvaluator

    score = center_gaussian(image_size, sigma)
    ids = [i for i in metadata.image_ids if metadata.boxes.get(i)]
    if not ids:
        raise ValueError(f"{metadata.directory}: no image has a ground-truth box")
    evaluator = BoxEvaluator(metadata, step=step, image_size=image_size)
    for image_id in ids:
        evaluator.accumulate(score, image_id)
    result = evaluator.compute()
    if mask_root is not None and any(metadata.masks.values()):
        try:
            from moana.metrics.masks import MaskEvaluator
        except ImportError:  # pragma: no cover - metrics area not installed
            return result
        masks = MaskEvaluator(metadata, mask_root, step=step, image_size=image_size)
        for image_id in metadata.image_ids:
            if metadata.masks.get(image_id):
                masks.accumulate(score, image_id)
        result.update({k: v for k, v in masks.compute().items() if not isinstance(v, (list, dict))})
    return result
