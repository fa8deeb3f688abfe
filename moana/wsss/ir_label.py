"""Step 4 — inter-pixel relation labels from CAMs (IRN ``cam_to_ir_label``).

Confident foreground: CAMs against a background score of 0.30; confident background: against
0.05; both refined by a dense CRF (Kraehenbuehl & Koltun 2011; IRN's ``crf_inference_label``
with gt_prob 0.7, 10 iterations). Pixels that are foreground in the first map keep their class,
pixels that are background in both are background (0), the rest are uncertain (255).

The CRF comes from the optional ``pydensecrf2`` package (``pip install moana[crf]``). Without
it (or with ``crf="off"``) the maps are used unrefined, with a warning: the resulting labels
and pseudo-mask mIoU are then not comparable to IRN's numbers.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from concurrent.futures import as_completed
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from moana._parallel import process_pool, resolve_workers
from moana.wsss._io import load_image_rgb, save_png, voc_image_path
from moana.wsss.eval_cam import cam_to_label
from moana.wsss.make_cam import load_cam

UNCERTAIN = 255


def crf_available() -> bool:
    """Whether ``pydensecrf`` (the ``crf`` extra, used by IRN's IR labels) can be imported."""
    return importlib.util.find_spec("pydensecrf") is not None


def resolve_crf(mode: str | bool) -> bool:
    """``auto`` -> use the CRF when pydensecrf2 imports; ``on`` requires it; ``off`` skips it.

    YAML's ``on``/``off`` arrive as booleans and are accepted as such."""
    if isinstance(mode, bool):
        mode = "on" if mode else "off"
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"ir_label.crf must be auto, on or off, got {mode!r}")
    if mode == "on" and not crf_available():
        raise ValueError("ir_label.crf=on but pydensecrf2 is not installed "
                         "(pip install pydensecrf2, or set ir_label.crf=auto/off)")
    use = mode == "on" or (mode == "auto" and crf_available())
    if not use:
        warnings.warn("IR labels are made WITHOUT the dense CRF (pydensecrf2 not installed or "
                      "crf=off): pseudo-mask numbers are not comparable to IRN/MoANA's",
                      RuntimeWarning, stacklevel=2)
    return use


def crf_inference_label(image: np.ndarray, labels: np.ndarray, n_labels: int, *,
                        t: int = 10, gt_prob: float = 0.7, scale: float = 1.0) -> np.ndarray:
    """IRN's CRF refinement of a label map (values in [0, n_labels)) on an RGB uint8 image.

    ``scale`` multiplies IRN's spatial kernel widths (3 and 50 px, set for ~500 px VOC images);
    use about ``image side / 500`` for small images. The image is copied first (as IRN), so a
    read-only array is accepted."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels

    h, w = image.shape[:2]
    crf = dcrf.DenseCRF2D(w, h, n_labels)
    crf.setUnaryEnergy(unary_from_labels(labels, n_labels, gt_prob=gt_prob, zero_unsure=False))
    crf.addPairwiseGaussian(sxy=max(1.0, 3 * scale), compat=3)
    rgb = np.ascontiguousarray(np.copy(image))  # IRN copies: a read-only array is accepted
    crf.addPairwiseBilateral(sxy=max(1.0, 50 * scale), srgb=5, rgbim=rgb,
                             compat=10)
    q = crf.inference(t)
    return np.argmax(np.array(q).reshape((n_labels, h, w)), axis=0)


def ir_label_from_cam(cam: dict[str, np.ndarray], image: np.ndarray, *, fg_thres: float = 0.30,
                      bg_thres: float = 0.05, use_crf: bool = True,
                      crf_scale: float = 1.0) -> np.ndarray:
    """HxW uint8 IR label: 0 confident background, 1..20 confident class, 255 uncertain."""
    keys = np.asarray(cam["keys"], dtype=np.int64)
    cams = cam["high_res"] if len(keys) else np.zeros((0, *image.shape[:2]), np.float32)
    if cams.shape[1:] != image.shape[:2]:
        raise ValueError(f"CAM size {cams.shape[1:]} does not match the image {image.shape[:2]}")
    maps = []
    for threshold in (fg_thres, bg_thres):
        # Index labels 0..n (0 = background, i = keys[i-1]) for the CRF, then VOC ids.
        index = cam_to_label(cams, np.arange(len(keys)), threshold).astype(np.int64)
        if use_crf:
            index = crf_inference_label(image, index, n_labels=len(keys) + 1, scale=crf_scale)
        maps.append(np.concatenate([[0], keys + 1])[index])
    fg_conf, bg_conf = maps
    conf = fg_conf.copy()
    conf[fg_conf == 0] = UNCERTAIN
    conf[(bg_conf + fg_conf) == 0] = 0
    return conf.astype(np.uint8)


def ir_label_path(out_dir: Path, image_id: str) -> Path:
    """``<out_dir>/<image_id>.png``: where the IR label of an image is written."""
    return Path(out_dir) / f"{image_id}.png"


def _write_ir_label(cam_dir: Path, voc_root: Path, out_dir: Path, image_id: str,
                    options: dict) -> str:
    """Make and write (atomically) the IR label of one image; returns its id."""
    image = load_image_rgb(voc_image_path(voc_root, image_id))
    label = ir_label_from_cam(load_cam(cam_dir, image_id), image, **options)
    save_png(ir_label_path(out_dir, image_id), label)
    return image_id


def make_ir_labels(cam_dir: Path, *, voc_root: Path, image_ids: Sequence[str], out_dir: Path,
                   fg_thres: float = 0.30, bg_thres: float = 0.05, use_crf: bool = True,
                   crf_scale: float = 1.0, overwrite: bool = False,
                   num_workers: int | None = 1) -> int:
    """Write one IR label PNG per image (skipping existing ones unless ``overwrite``); returns
    how many were written.

    ``num_workers`` processes share the images (None: one per CPU; 0 or 1: this process), in
    one pool started for the call; every PNG is written atomically by the process that made
    it, with the same bytes at any count."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in image_ids if overwrite or not ir_label_path(out_dir, i).is_file()]
    options = {"fg_thres": fg_thres, "bg_thres": bg_thres, "use_crf": use_crf,
               "crf_scale": crf_scale}
    workers = min(resolve_workers(num_workers, "ir_label.num_workers"), max(1, len(todo)))
    bar = tqdm(total=len(todo), desc="ir_label", leave=False)
    if workers == 1:
        for image_id in todo:
            _write_ir_label(cam_dir, voc_root, out_dir, image_id, options)
            bar.update()
        bar.close()
        return len(todo)
    if use_crf:
        import pydensecrf.densecrf  # noqa: F401  (loaded once, inherited by the workers)
    pool = process_pool(workers)
    try:
        futures = [pool.submit(_write_ir_label, cam_dir, voc_root, out_dir, image_id, options)
                   for image_id in todo]
        for future in as_completed(futures):
            future.result()  # re-raises a worker's error (naming the file)
            bar.update()
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
    return len(todo)
