"""Step 2 — multi-scale, flip-augmented CAM inference (IRN ``make_cam``).

For scales (1.0, 0.5, 1.5, 2.0) the image (rescaled with PIL bicubic as IRN) and its mirror
go through the network (BatchNorm in eval mode); class maps without the classifier bias,
ReLU'd, are summed over flips and scales, resized to stride 4 ("cam") and to the image size
("high_res"), restricted to the image's classes and each divided by its max.
Saved per image as ``<out_dir>/<id>.npy`` holding ``{"keys", "cam", "high_res"}`` like IRN
(``keys`` are 0-based class indices of the 20 VOC classes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from moana.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from moana.wsss._io import (load_image_rgb, load_npy_dict, pil_rescale, save_npy_dict,
                            voc_image_path)


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3,H,W) float tensor normalized with the ImageNet mean/std."""
    x = torch.from_numpy(np.array(image, dtype=np.float32)).div_(255).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """``(ceil(H / stride), ceil(W / stride))``: the feature-map size of an (H, W) input (IRN's
    ``imutils`` strided size, jiwoon-ahn/irn ``step/make_cam.py``)."""
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


def irn_class_maps(model: nn.Module, x: Tensor, *, bias: bool = False) -> Tensor:
    """IRN's CAM (jiwoon-ahn/irn ``net/resnet50_cam.py``, class ``CAM``): ``relu(conv2d(
    features, classifier.weight))`` without the classifier bias, as the official MoANA code;
    ``bias=True`` adds the trained bias before the ReLU (a departure). (B, K, h, w)."""
    if bias:
        return F.relu(model.class_maps(x))
    conv = model.classifier[0] if isinstance(model.classifier, nn.Sequential) else model.classifier
    return F.relu(F.conv2d(model.feature_map(x), conv.weight))


@torch.no_grad()
def infer_cams(model: nn.Module, image: np.ndarray, label: np.ndarray,
               scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0), cam_stride: int = 4,
               device: torch.device | str = "cpu", *, bias: bool = False
               ) -> dict[str, np.ndarray]:
    """IRN's CAM of one image: ``{"keys" (n,), "cam" (n,h/4,w/4), "high_res" (n,H,W)}``.

    ``label`` is the 20-dim multi-hot image label; maps are in [0, 1], max 1 per class. Each
    scale is made with IRN's ``pil_rescale`` (PIL bicubic, size rounded half to even); the
    image and its mirror go through :func:`irn_class_maps`. An image with no class gets empty
    arrays ``(0, h/4, w/4)`` and ``(0, H, W)``.
    """
    model.eval()
    height, width = image.shape[:2]
    keys = np.flatnonzero(np.asarray(label) > 0.5)
    low_size = strided_size((height, width), cam_stride)
    low = torch.zeros(len(keys), *low_size)
    high = torch.zeros(len(keys), height, width)
    if len(keys) == 0:
        return {"keys": keys, "cam": low.numpy(), "high_res": high.numpy()}
    for scale in scales:
        x = normalize_image(pil_rescale(image, scale, 3))
        batch = torch.stack([x, x.flip(-1)]).to(device)
        maps = irn_class_maps(model, batch, bias=bias).float().cpu()
        maps = (maps[0] + maps[1].flip(-1))[keys].unsqueeze(0)
        low += F.interpolate(maps, low_size, mode="bilinear", align_corners=False)[0]
        # IRN: upsample to the image size padded to a multiple of the network stride, crop.
        stride = 2 ** round(math.log2(max(x.shape[-2] / maps.shape[-2], 1.0)))
        full = (math.ceil(height / stride) * stride, math.ceil(width / stride) * stride)
        scaled_up = F.interpolate(maps, full, mode="bilinear", align_corners=False)
        high += scaled_up[0, :, :height, :width]
    low /= F.adaptive_max_pool2d(low, 1) + 1e-5
    high /= F.adaptive_max_pool2d(high, 1) + 1e-5
    return {"keys": keys, "cam": low.numpy().astype(np.float32),
            "high_res": high.numpy().astype(np.float32)}


def cam_path(out_dir: Path, image_id: str) -> Path:
    """``<out_dir>/<image_id>.npy``: where the multi-scale CAMs of an image are written (IRN's
    ``step/make_cam.py`` layout)."""
    return Path(out_dir) / f"{image_id}.npy"


def load_cam(out_dir: Path, image_id: str) -> dict[str, np.ndarray]:
    """A saved CAM dict; ValueError if it lacks IRN's keys."""
    data = load_npy_dict(cam_path(out_dir, image_id))
    missing = {"keys", "cam", "high_res"} - set(data)
    if missing:
        raise ValueError(f"{cam_path(out_dir, image_id)} lacks {sorted(missing)}")
    return data


def make_cams(model: nn.Module, *, voc_root: Path, image_ids: Sequence[str],
              cls_labels: Mapping[str, np.ndarray], out_dir: Path,
              scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0), cam_stride: int = 4,
              device: torch.device | str = "cpu", overwrite: bool = False,
              bias: bool = False) -> int:
    """Write one CAM dict per image; images whose file exists are skipped unless ``overwrite``.

    Files are written atomically, so an interrupted run leaves only complete files and a
    rerun finishes the rest. Returns the number of images computed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing_labels = [i for i in image_ids if i not in cls_labels]
    if missing_labels:
        raise ValueError(f"make_cam: {len(missing_labels)} image(s) have no class label, "
                         f"e.g. {missing_labels[:3]}")
    todo = [i for i in image_ids if overwrite or not cam_path(out_dir, i).is_file()]
    model = model.to(device).eval()
    for image_id in tqdm(todo, desc="make_cam", leave=False):
        image = load_image_rgb(voc_image_path(voc_root, image_id))
        cams = infer_cams(model, image, cls_labels[image_id], scales, cam_stride, device,
                          bias=bias)
        save_npy_dict(cam_path(out_dir, image_id), cams)
    return len(todo)
