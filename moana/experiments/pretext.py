"""A synthetic pretext task that pretrains the ``small`` backbone once, for the CPU benchmark.

The MoANA paper (Sohn et al., Sci. Rep. 2023) fine-tunes ImageNet-pretrained backbones with a
10x lower backbone learning rate; from scratch, a tiny CNN trained for a few epochs on a few
hundred images swings widely between seeds. This module plays ImageNet's part for the smoke
benchmark (a departure of this kit, not from the paper): a separate synthetic multi-label task,
unrelated to the benchmark's classes, teaches generic features of these images, and its
backbone is the ``model.pretrained`` file of every benchmark run.

Pretext images reuse the benchmark's drawing primitives: a cluttered background, one striped
blob at a random orientation and 1-2 marks of random shape and colour anywhere in the image
(on or off the blob). Targets (multi-hot, 23 outputs): the blob's stripe orientation in 8 bins,
the shapes present (5) and the colours present (10). Nothing ties a mark to a class or to the
blob, so no benchmark shortcut is taught. Loss: binary cross entropy; SGD, fixed seed, one
thread; the weights are cached under ``<work_dir>/pretext/`` by a hash of the settings, so
every run of a grid reuses one file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from moana.data import synthetic as syn
from moana.io import atomic_write_bytes

ORIENTATION_BINS = 8
#: bumped when the pretext images or training change (part of the cache key)
PRETEXT_VERSION = 1
NUM_OUTPUTS = ORIENTATION_BINS + len(syn.MARK_SHAPES) + len(syn.MARK_COLORS)


@dataclass(frozen=True)
class PretextSpec:
    """Settings of the pretext pretraining (all part of the cache key)."""

    image_size: int = 32
    num_images: int = 2000
    epochs: int = 6
    batch_size: int = 32
    lr: float = 0.05
    seed: int = 0
    arch: str = "small"


def pretext_image(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One pretext image (3, size, size) float32 in [0, 1] and its multi-hot target (23,)."""
    knobs = syn.ObjectKnobs(body_contrast=0.15)
    image = syn._background(rng, size, size, knobs)
    target = np.zeros(NUM_OUTPUTS, np.float32)
    body = syn._body_mask(rng, size, size, rng.uniform(0.1, 0.4) * size * size,
                          knobs.body_roughness, (0.4, 1.0))
    angle = float(rng.uniform(0, np.pi))
    value = syn._body_value(rng, float(image[body].mean()) if body.any() else 0.5, 0.15)
    image[body] = syn._body_texture(rng, size, size, angle, value, knobs)[body]
    target[int(angle / np.pi * ORIENTATION_BINS) % ORIENTATION_BINS] = 1
    for _ in range(int(rng.integers(1, 3))):
        shape_i = int(rng.integers(len(syn.MARK_SHAPES)))
        color_i = int(rng.integers(len(syn.MARK_COLORS)))
        cx, cy = (int(v) for v in rng.integers(2, size - 2, size=2))
        mark = syn._mark_mask(syn.MARK_SHAPES[shape_i], float(rng.uniform(3, size / 6)),
                              size, size, cx, cy)
        image[mark] = np.array(syn.MARK_COLORS[color_i], np.float32) / 255
        target[ORIENTATION_BINS + shape_i] = 1
        target[ORIENTATION_BINS + len(syn.MARK_SHAPES) + color_i] = 1
    image = np.clip(image + rng.normal(0, knobs.noise, image.shape), 0, 1)
    return image.transpose(2, 0, 1).astype(np.float32), target


def pretext_data(spec: PretextSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, S, S) normalised like the WSOL loaders (ImageNet mean/std), targets (N, 23)."""
    images, targets = [], []
    for index in range(spec.num_images):
        image, target = pretext_image(np.random.default_rng([spec.seed, 99, index]),
                                      spec.image_size)
        images.append(image)
        targets.append(target)
    x = torch.from_numpy(np.stack(images))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(np.stack(targets))


def _key(spec: PretextSpec) -> str:
    text = json.dumps(asdict(spec), sort_keys=True) + f"v{PRETEXT_VERSION} torch={torch.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pretrain_backbone(work_dir: str | Path, spec: PretextSpec | None = None,
                      quiet: bool = True) -> Path:
    """Pretrain (or reuse) the backbone; returns the state_dict file for ``model.pretrained``.

    The file holds the backbone keys only (no classifier). Deterministic on the CPU for a
    spec: one thread is used while training and the global RNG state is restored afterwards.
    """
    from moana.models.build import build_model

    spec = spec or PretextSpec()
    path = Path(work_dir) / "pretext" / f"{spec.arch}_{spec.image_size}px_{_key(spec)}.pt"
    if path.is_file():
        return path
    x, y = pretext_data(spec)
    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(spec.seed)
        model = build_model(spec.arch, method="cam", num_classes=NUM_OUTPUTS)
        opt = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec.epochs)
        gen = torch.Generator().manual_seed(spec.seed)
        model.train()
        for epoch in range(spec.epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), spec.batch_size):
                idx = order[start:start + spec.batch_size]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                batch = torch.where(flip.view(-1, 1, 1, 1), x[idx].flip(3), x[idx])
                loss = F.binary_cross_entropy_with_logits(model(batch), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            sched.step()
            if not quiet:
                print(f"pretext epoch {epoch + 1}/{spec.epochs}: loss {total / len(x):.4f}")
        keys = set(model.backbone_state_keys())
        state = {k: v for k, v in model.state_dict().items() if k in keys}
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng_state)
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path
