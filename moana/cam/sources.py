"""Post-hoc CAM methods of pytorch-grad-cam (the ``grad-cam`` package) as CAM sources.

``cam_source(model, method, target_layer)`` wraps one of Grad-CAM, Grad-CAM++, XGrad-CAM,
LayerCAM, Score-CAM, Ablation-CAM, EigenCAM or HiResCAM (computed by pytorch-grad-cam, not
re-implemented here); calling it on a batch with per-image target classes returns maps
(B, H, W) in [0, 1] at the input resolution, which :func:`moana.cam.scoremap_from_cam` turns into
score maps for the WSOL evaluators. Needs the ``demo`` extra.

Target classes are checked against the model's output: a negative class or one outside
``[0, K)`` is a ValueError (pytorch-grad-cam would index the logits with it, silently wrapping a
negative one). Ablation-CAM swaps its ``AblationLayer`` in for the target module while it
scores; each source gets its own layer (``AblationLayerVit`` when ``reshape_transform`` is given,
i.e. for token maps), never the instance shared by pytorch-grad-cam's default argument.
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


class _ClassTarget:
    """The logit of one class; ValueError when the model has no such class."""

    def __init__(self, category: int) -> None:
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        num_classes = model_output.shape[-1]
        if not 0 <= self.category < num_classes:
            raise ValueError(f"target class {self.category} is out of range: the model has "
                             f"{num_classes} classes [0, {num_classes})")
        return model_output[..., self.category]


def _check_targets(targets: Sequence[int] | torch.Tensor, batch: int) -> list[int]:
    values = [int(t) for t in torch.as_tensor(targets).reshape(-1).tolist()]
    if len(values) != batch:
        raise ValueError(f"got {len(values)} targets for a batch of {batch} images")
    negative = [t for t in values if t < 0]
    if negative:
        raise ValueError(f"target classes must be >= 0, got {negative}")
    return values


def _method_kwargs(key: str, reshape_transform: Callable | None) -> dict:
    if key != "ablationcam":
        return {}
    from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerVit

    return {"ablation_layer": AblationLayerVit() if reshape_transform is not None else AblationLayer()}


def cam_source(model: nn.Module, method: str, target_layer: nn.Module | str,
               reshape_transform: Callable | None = None) -> Callable:
    """A function ``(images (B, 3, H, W), targets (B,) class ids) -> maps (B, H, W) float32``.

    ``target_layer``: a submodule or its dotted name; ``reshape_transform``: turns the layer's
    output into (B, C, h, w) (token maps of a ViT, :func:`moana.models.zoo.vit_reshape`).
    """
    import pytorch_grad_cam

    key = str(method).lower()
    if key not in POSTHOC_METHODS:
        raise ValueError(f"unknown post-hoc CAM method {method!r}; choose one of {list(POSTHOC_METHODS)}")
    if isinstance(target_layer, str):
        try:
            layer = model.get_submodule(target_layer)
        except AttributeError as err:
            raise ValueError(f"target layer {target_layer!r} is not a submodule of "
                             f"{type(model).__name__}") from err
    else:
        layer = target_layer
    cam = getattr(pytorch_grad_cam, POSTHOC_METHODS[key])(
        model=model, target_layers=[layer], reshape_transform=reshape_transform,
        **_method_kwargs(key, reshape_transform))

    def maps(images: torch.Tensor, targets: Sequence[int] | torch.Tensor) -> np.ndarray:
        classes = _check_targets(targets, images.shape[0])
        with torch.enable_grad():
            return np.asarray(cam(input_tensor=images, targets=[_ClassTarget(t) for t in classes]),
                              dtype=np.float32)

    return maps
