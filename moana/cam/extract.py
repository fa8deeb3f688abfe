"""Class activation maps -> WSOL score maps (Zhou et al. 2016; evaluation protocol of Choe et al.,
"Evaluating WSOL Methods Right", CVPR 2020, clovaai/wsolevaluation ``inference.py``).

A score map is the CAM of one class (the ground-truth class under the GT-known protocol, or the
predicted class), upsampled to 224x224 in float64 with OpenCV's INTER_CUBIC, then normalized:

* ``"minmax"`` — wsolevaluation's default: per-image min-max; a NaN or constant map gives zeros;
* ``"moana_official"`` — what the official MoANA code (Sohn et al., Sci. Rep. 2023) evaluates
  with: subtract the 65th percentile, divide by the maximum, clip to [0, 1].

Report which normalization a table used. NaN CAMs: wsolevaluation silently returns zeros (and
scores the image as a miss). Here ``nan_policy="warn"`` (the default of
:func:`normalize_scoremap`) does that and emits a ``RuntimeWarning``; ``"zeros"`` is silent;
``"raise"`` raises ``ValueError`` — the default of :func:`iter_scoremaps`, because a NaN CAM
coming out of a model almost always means a broken model (diverged training, bad checkpoint).

Score maps are saved in wsolevaluation's heatmap contract: one float ``.npy`` per image,
``<dir>/<image id with its extension replaced by .npy>`` (:mod:`moana.scoremaps`).
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

Normalization = Literal["minmax", "moana_official"]
NanPolicy = Literal["warn", "zeros", "raise"]
NORMALIZATIONS: tuple[str, ...] = ("minmax", "moana_official")
OFFICIAL_PERCENTILE = 65.0


def resize_cam(cam: np.ndarray, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Upsample a 2-D CAM to ``size`` = (width, height) as float64 with cv2.INTER_CUBIC."""
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"a CAM must be 2-D, got shape {cam.shape}")
    return cv2.resize(cam, tuple(int(s) for s in size), interpolation=cv2.INTER_CUBIC)


def _handle_nan(cam: np.ndarray, nan_policy: NanPolicy, name: str) -> np.ndarray | None:
    """Apply ``nan_policy`` to a CAM holding non-finite values (NaN, +inf or -inf): raise, or
    return an all-zero map (with a RuntimeWarning for "warn"); None when the CAM is finite.
    An infinite value is treated like NaN: min-max scaling would turn the map into NaN."""
    finite = np.isfinite(cam)
    if finite.all():
        return None
    bad = cam[~finite]
    kinds = [k for k, hit in (("NaN", np.isnan(bad).any()), ("+inf", (bad == np.inf).any()),
                              ("-inf", (bad == -np.inf).any())) if hit]
    message = f"{name} contains {'/'.join(kinds)}"
    if nan_policy == "raise":
        raise ValueError(message + " (a broken model or checkpoint?); use nan_policy='warn' to "
                         "score it as an all-zero map as wsolevaluation does")
    if nan_policy == "warn":
        warnings.warn(message + "; scored as an all-zero map (wsolevaluation's convention)",
                      RuntimeWarning, stacklevel=3)
    elif nan_policy != "zeros":
        raise ValueError(f"nan_policy must be 'warn', 'zeros' or 'raise', got {nan_policy!r}")
    return np.zeros_like(cam)


def normalize_scoremap(
    cam: np.ndarray,
    method: Normalization = "minmax",
    *,
    nan_policy: NanPolicy = "warn",
    name: str = "CAM",
) -> np.ndarray:
    """Normalize a CAM to a float64 score map in [0, 1] (see the module docstring)."""
    cam = np.array(cam, dtype=np.float64)  # a copy
    zeros = _handle_nan(cam, nan_policy, name)
    if zeros is not None:
        return zeros
    if method == "minmax":
        low, high = cam.min(), cam.max()
        if low == high:
            return np.zeros_like(cam)
        cam -= low
        cam /= cam.max()
        return cam
    if method == "moana_official":
        cam -= np.percentile(cam, OFFICIAL_PERCENTILE)
        peak = cam.max()
        if not peak > 0:
            return np.zeros_like(cam)
        cam /= peak
        return np.clip(cam, 0.0, 1.0)
    raise ValueError(f"unknown normalization {method!r}; choose from {NORMALIZATIONS}")


def scoremap_from_cam(
    cam: np.ndarray,
    method: Normalization = "minmax",
    size: tuple[int, int] = (224, 224),
    *,
    nan_policy: NanPolicy = "warn",
    name: str = "CAM",
) -> np.ndarray:
    """Resize (INTER_CUBIC, float64) then normalize, as wsolevaluation's inference does."""
    cam = np.asarray(cam, dtype=np.float64)
    if np.isnan(cam).any():  # cv2.resize would smear NaN; decide before resizing
        _handle_nan(cam, nan_policy, name)  # raises or warns per nan_policy
        return np.zeros((int(size[1]), int(size[0])))
    return normalize_scoremap(resize_cam(cam, size), method, nan_policy=nan_policy, name=name)


@dataclass
class ScoreMapItem:
    """One evaluated image: its id, true label, top-5 predicted classes and normalized map."""

    image_id: str
    label: int
    top5: list[int]
    scoremap: np.ndarray


@dataclass
class CAMBatch:
    """One batch of the extraction loop: ids, labels (B,), top-k classes (B, k<=5) and the
    unnormalized CAM (float32, (B, h, w)) of the chosen class of each image."""

    image_ids: list[str]
    labels: np.ndarray
    topk: np.ndarray
    cams: np.ndarray


def _check_logits(logits: torch.Tensor, image_ids: Sequence[str], nan_policy: NanPolicy) -> None:
    if nan_policy == "raise" and not torch.isfinite(logits).all():
        raise ValueError(f"model produced NaN/inf logits for batch starting {image_ids[0]!r} "
                         "(a broken model or checkpoint?)")


def iter_cam_batches(
    model: torch.nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor, Sequence[str]]],
    *,
    protocol: Literal["gt_known", "predicted"] = "gt_known",
    device: torch.device | str | None = None,
    nan_policy: NanPolicy = "raise",
    channels_last: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[CAMBatch]:
    """The one CAM extraction loop: ``forward_with_maps`` over ``(images, labels, image_ids)``.

    The caller sets eval mode and grad mode. ``protocol="gt_known"`` takes the CAM of the true
    class, ``"predicted"`` that of the top-1 class. NaN/inf policy: with ``nan_policy="raise"``
    non-finite logits raise ValueError here; NaN CAMs are handled per ``nan_policy`` when they
    become score maps (:func:`scoremap_from_cam`). ``autocast`` is a context factory (e.g.
    bf16 autocast) entered around the forward.
    """
    if protocol not in ("gt_known", "predicted"):
        raise ValueError(f"protocol must be 'gt_known' or 'predicted', got {protocol!r}")
    net = model
    while hasattr(net, "module") and isinstance(net.module, torch.nn.Module):
        net = net.module  # DistributedDataParallel: forward_with_maps is on the inner model
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    # ACoL's map depends on the class it erases: wsolevaluation erases the true class when it
    # computes CAMs (GT-known protocol), so the labels go to models that take them
    pass_labels = (protocol == "gt_known"
                   and "labels" in inspect.signature(net.forward_with_maps).parameters)
    for images, labels, image_ids in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        kwargs = {"labels": torch.as_tensor(labels).to(device)} if pass_labels else {}
        with autocast():
            logits, class_maps = net.forward_with_maps(images, **kwargs)
        logits = logits.float()
        labels = torch.as_tensor(labels).to(logits.device)
        _check_logits(logits, image_ids, nan_policy)
        topk = logits.topk(min(5, logits.shape[1]), dim=1).indices
        classes = labels if protocol == "gt_known" else topk[:, 0]
        index = torch.arange(len(classes), device=class_maps.device)
        cams = class_maps.float()[index, classes.to(class_maps.device)]
        yield CAMBatch([str(i) for i in image_ids], labels.cpu().numpy(), topk.cpu().numpy(),
                       cams.cpu().numpy())


@torch.no_grad()
def iter_scoremaps(
    model: torch.nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor, Sequence[str]]],
    *,
    protocol: Literal["gt_known", "predicted"] = "gt_known",
    normalization: Normalization = "minmax",
    size: tuple[int, int] = (224, 224),
    device: torch.device | str | None = None,
    nan_policy: NanPolicy = "raise",
) -> Iterator[ScoreMapItem]:
    """Run ``model.forward_with_maps`` over batches ``(images, labels, image_ids)`` and yield one
    :class:`ScoreMapItem` per image (:func:`iter_cam_batches`, then :func:`scoremap_from_cam`).
    ``protocol="gt_known"`` uses the CAM of the true class, ``"predicted"`` that of the top-1
    class. The model is put in eval mode and restored after.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose from {NORMALIZATIONS}")
    was_training = model.training
    model.eval()
    try:
        for batch in iter_cam_batches(model, loader, protocol=protocol, device=device,
                                      nan_policy=nan_policy):
            for i, image_id in enumerate(batch.image_ids):
                yield ScoreMapItem(
                    image_id=image_id,
                    label=int(batch.labels[i]),
                    top5=[int(c) for c in batch.topk[i].tolist()],
                    scoremap=scoremap_from_cam(batch.cams[i], normalization, size,
                                               nan_policy=nan_policy, name=f"CAM of {image_id}"),
                )
    finally:
        model.train(was_training)
