"""Post-hoc CAM methods of pytorch-grad-cam (the ``grad-cam`` package) as CAM sources.

``cam_source(model, method, target_layer)`` wraps one of Grad-CAM, Grad-CAM++, XGrad-CAM,
LayerCAM, Score-CAM, Ablation-CAM, EigenCAM or HiResCAM (computed by pytorch-grad-cam, not
re-implemented here); calling it on a batch with per-image target classes returns maps
(B, H, W) in [0, 1] at the input resolution, which :func:`moana.cam.scoremap_from_cam` turns into
score maps for the WSOL evaluators. Needs the ``demo`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["POSTHOC_METHODS", "cam_source"]

#: kit name -> pytorch-grad-cam class name
POSTHOC_METHODS = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
                   "layercam": "LayerCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM",
                   "eigencam": "EigenCAM", "hirescam": "HiResCAM"}


def cam_source(model: nn.Module, method: str, target_layer: nn.Module | str,
               reshape_transform: Callable | None = None) -> Callable:
    """A function ``(images (B, 3, H, W), targets (B,) class ids) -> maps (B, H, W) float32``."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    key = str(method).lower()
    if key not in POSTHOC_METHODS:
        raise ValueError(f"unknown post-hoc CAM method {method!r}; choose one of {list(POSTHOC_METHODS)}")
    layer = model.get_submodule(target_layer) if isinstance(target_layer, str) else target_layer
    cam = getattr(pytorch_grad_cam, POSTHOC_METHODS[key])(
        model=model, target_layers=[layer], reshape_transform=reshape_transform)

    def maps(images: torch.Tensor, targets: Sequence[int] | torch.Tensor) -> np.ndarray:
        targets = [int(t) for t in torch.as_tensor(targets).reshape(-1).tolist()]
        if len(targets) != images.shape[0]:
            raise ValueError(f"got {len(targets)} targets for a batch of {images.shape[0]} images")
        with torch.enable_grad():
            return np.asarray(cam(input_tensor=images, targets=[ClassifierOutputTarget(t) for t in targets]),
                              dtype=np.float32)

    return maps
