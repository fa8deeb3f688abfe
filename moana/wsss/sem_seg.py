"""Step 5b — semantic pseudo-masks by random walk on IRN affinities (IRN ``make_sem_seg_labels``).

Boundary map -> pairwise affinities within radius 5 (1 - max boundary on the path) -> dense
symmetric affinity matrix with unit diagonal -> ``T = A^beta`` column-normalized and squared
``exp_times`` times (T^(2^8)) -> the stride-4 CAMs, damped by ``1 - boundary``, are propagated
by ``cams @ T``, upsampled x4, divided by their max, and compared with a background score of
0.25 (beta 10, exp_times 8 as IRN).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from moana.data.voc import voc_palette
from moana.wsss._io import load_image_rgb, save_png, voc_image_path
from moana.wsss.irn import EdgeNet, PathIndex, edge_map, make_path_index, pair_affinity
from moana.wsss.make_cam import load_cam


def dense_affinity(edge: Tensor, index: PathIndex) -> Tensor:
    """(h, w) boundary map -> (h*w, h*w) symmetric affinity matrix, diagonal 1, 0 beyond radius."""
    height, width = edge.shape
    aff = pair_affinity(edge[None, None], index)[0]  # (D, h, w)
    ys, xs = torch.meshgrid(torch.arange(height, device=edge.device),
                            torch.arange(width, device=edge.device), indexing="ij")
    dy = index.directions[:, 0].to(edge.device).view(-1, 1, 1)
    dx = index.directions[:, 1].to(edge.device).view(-1, 1, 1)
    ty, tx = ys + dy, xs + dx
    valid = (ty < height) & (tx >= 0) & (tx < width)
    src = (ys * width + xs).expand_as(ty)[valid]
    dst = (ty * width + tx)[valid]
    n = height * width
    dense = torch.zeros(n, n, dtype=edge.dtype, device=edge.device)
    dense[src, dst] = aff[valid]
    dense[dst, src] = aff[valid]
    dense.fill_diagonal_(1.0)
    return dense


def transition_matrix(affinity: Tensor, beta: float = 10.0, exp_times: int = 8) -> Tensor:
    """IRN's ``to_transition_matrix``: A^beta, column-normalized, squared ``exp_times`` times."""
    scaled = affinity.pow(beta)
    trans = scaled / scaled.sum(dim=0, keepdim=True)
    for _ in range(exp_times):
        trans = trans @ trans
    return trans


def propagate(cams: Tensor, edge: Tensor, *, radius: int = 5, beta: float = 10.0,
              exp_times: int = 8) -> Tensor:
    """Random walk of (n, h, w) CAMs on the affinities of an (h, w) boundary map -> (n, h, w)."""
    if cams.shape[-2:] != edge.shape:
        raise ValueError(f"CAM size {tuple(cams.shape[-2:])} != boundary map {tuple(edge.shape)}")
    height, width = edge.shape
    trans = transition_matrix(dense_affinity(edge, make_path_index(radius)), beta, exp_times)
    x = (cams * (1 - edge)).reshape(-1, height * width)
    return (x @ trans).reshape(-1, height, width)


def sem_seg_label(cam: dict[str, np.ndarray], edge: Tensor, image_size: tuple[int, int], *,
                  radius: int = 5, beta: float = 10.0, exp_times: int = 8,
                  bg_thres: float = 0.25) -> np.ndarray:
    """The pseudo-mask (H, W) uint8 of one image from its CAM dict and boundary map."""
    keys = np.asarray(cam["keys"], dtype=np.int64)
    height, width = image_size
    if len(keys) == 0:
        return np.zeros(image_size, np.uint8)
    cams = torch.as_tensor(np.asarray(cam["cam"]), dtype=torch.float32, device=edge.device)
    rw = propagate(cams, edge.float(), radius=radius, beta=beta, exp_times=exp_times)
    up = F.interpolate(rw[None], scale_factor=4, mode="bilinear", align_corners=False)[0]
    up = up[:, :height, :width]
    up = up / (up.max() + 1e-12)
    scores = F.pad(up, (0, 0, 0, 0, 1, 0), value=bg_thres)
    lookup = np.concatenate([[0], keys + 1])
    return lookup[scores.argmax(dim=0).cpu().numpy()].astype(np.uint8)


def sem_seg_path(out_dir: Path, image_id: str) -> Path:
    """``<out_dir>/<image_id>.png``: where the pseudo-mask of an image is written."""
    return Path(out_dir) / f"{image_id}.png"


def make_sem_seg_labels(model: EdgeNet, *, cam_dir: Path, voc_root: Path,
                        image_ids: Sequence[str], out_dir: Path, radius: int = 5,
                        beta: float = 10.0, exp_times: int = 8, bg_thres: float = 0.25,
                        device: torch.device | str = "cpu", overwrite: bool = False,
                        pad_size: int | None = 512) -> int:
    """Write a VOC palette PNG pseudo-mask per image (existing ones kept unless ``overwrite``);
    ``pad_size``: see :func:`moana.wsss.irn.edge_map` (IRN: 512)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in image_ids if overwrite or not sem_seg_path(out_dir, i).is_file()]
    model = model.to(device).eval()
    palette = voc_palette()
    for image_id in tqdm(todo, desc="make_sem_seg", leave=False):
        image = load_image_rgb(voc_image_path(voc_root, image_id))
        cam = load_cam(cam_dir, image_id)
        edge = edge_map(model, image, device, pad_size=pad_size).to(device)
        if np.asarray(cam["cam"]).shape[1:] != tuple(edge.shape) and len(cam["keys"]):
            raise ValueError(f"{Path(cam_dir) / image_id}.npy: 'cam' is "
                             f"{np.asarray(cam['cam']).shape[1:]}, expected stride-4 size "
                             f"{tuple(edge.shape)} (make_cam with cam_stride=4)")
        label = sem_seg_label(cam, edge, image.shape[:2], radius=radius, beta=beta,
                              exp_times=exp_times, bg_thres=bg_thres)
        save_png(sem_seg_path(out_dir, image_id), label, palette=palette)
    return len(todo)
