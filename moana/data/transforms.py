"""Image transforms of wsolevaluation (Choe et al., CVPR 2020), used by MoANA's WSOL experiments.

Train: resize to ``resize_size`` (256), random crop ``crop_size`` (224), horizontal flip.
Eval: resize straight to ``image_size`` x ``image_size`` (224), so boxes and masks rescale by
the same factor. Both normalize with the ImageNet mean and standard deviation.
"""

from __future__ import annotations

import torch
from torchvision import transforms as T

from moana.data.boxes import check_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def wsol_train_transform(resize_size: int = 256, crop_size: int = 224) -> T.Compose:
    """wsolevaluation's training transform (resize, random crop, flip, normalize).

    Any image, down to 1x1 or 1xN, is resized to ``resize_size`` squared first (as in
    wsolevaluation), so it is never smaller than the crop. Raises ValueError naming a size
    that is not a positive integer, or a crop larger than the resize."""
    check_size("resize_size", resize_size)
    check_size("crop_size", crop_size)
    if crop_size > resize_size:
        raise ValueError(f"crop_size {crop_size} is larger than resize_size {resize_size}")
    return T.Compose([
        T.Resize((resize_size, resize_size)),
        T.RandomCrop(crop_size),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def wsol_eval_transform(image_size: int = 224) -> T.Compose:
    """wsolevaluation's evaluation transform (resize to a square, normalize); any image,
    down to 1x1, is resized to ``image_size`` squared (ValueError naming ``image_size`` when
    it is not a positive integer)."""
    check_size("image_size", image_size)
    return T.Compose([
        T.Resize((image_size, image_size)),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalization (for display); works on (3,H,W) or (B,3,H,W)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    return (image * std + mean).clamp(0, 1)
