"""``moana localize-photos``: CAM and post-hoc CAM methods of EfficientNet-Lite0 (real ImageNet
weights, no fine-tuning) scored on the real-photo set of :mod:`moana.data.photos` with the
kit's :class:`~moana.metrics.boxes.BoxEvaluator`.

Each photo is resized to 224x224 (``lite_preprocess``), its boxes rescaled likewise; the map
explains the network's top-1 class (the set has no class for some photos, so the predicted class
is the target), and the box is judged whatever that class is: GT-known MaxBoxAcc at IoU
30/50/70 and MaxBoxAccV2 (all contours, mean over the three), percent. Needs the ``demo``
extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: methods scored by default: the kit's CAM and three pytorch-grad-cam methods
DEFAULT_METHODS = ("cam", "gradcam", "gradcam++", "layercam")
IMAGE_SIZE = 224


def photo_metadata(records, images):
    """The photo set as an in-memory wsolevaluation split (ids = photo names, class 0)."""
    from moana.data.metadata import WSOLMetadata

    names = [r.name for r in records]
    return WSOLMetadata(
        directory=Path("moana/data/photos.csv"), image_ids=names,
        class_labels={n: 0 for n in names},
        image_sizes={r.name: (int(i.shape[1]), int(i.shape[0])) for r, i in zip(records, images)},
        boxes={r.name: [tuple(r.box)] for r in records})


def method_maps(net, method: str, batch, targets) -> np.ndarray:
    """(B, 224, 224) score maps in [0, 1] of ``method`` for the target classes."""
    import torch

    from moana.cam.extract import scoremap_from_cam
    from moana.models.efficientnet_lite import CAM_HEAD, CAM_LAYER

    if method == "cam":
        from moana.cam.hooks import CAMExtractor

        extractor = CAMExtractor(net, CAM_LAYER, CAM_HEAD)
        try:
            with torch.no_grad():
                raw = extractor.cams(batch, targets).numpy()
        finally:
            extractor.remove()
    else:
        from moana.cam.sources import cam_source

        raw = cam_source(net, method, CAM_LAYER)(batch, targets)
    return np.stack([scoremap_from_cam(m, size=(IMAGE_SIZE, IMAGE_SIZE)) for m in raw])


def score_photos(methods: Sequence[str] = DEFAULT_METHODS, *, arch: str = "efficientnet_lite0",
                 step: float = 0.001, maps_out: dict | None = None
                 ) -> tuple[list[dict], list[dict]]:
    """Score each method on the photo set; returns (rows: method, MaxBoxAcc@30/50/70,
    MaxBoxAccV2, ms per image after one warm-up image; predictions: photo, top-1 class,
    whether it is a recorded class). ``maps_out``, when given, receives each method's
    (N, 224, 224) score maps."""
    import torch

    from moana.data.photos import load_photos
    from moana.metrics.boxes import BoxEvaluator
    from moana.models.efficientnet_lite import efficientnet_lite, lite_preprocess

    images, records = load_photos()
    net = efficientnet_lite(arch)
    batch = torch.stack([lite_preprocess(i, IMAGE_SIZE) for i in images])
    with torch.no_grad():
        predicted = net(batch).argmax(1)
    predictions = [{"photo": r.name, "top1": int(p), "recorded": list(r.class_ids),
                    "top1_is_recorded": int(p) in r.class_ids} for r, p in zip(records, predicted)]
    metadata = photo_metadata(records, images)
    rows = []
    for method in methods:
        method_maps(net, method, batch[:1], predicted[:1])  # warm-up: imports, first allocations
        start = time.perf_counter()
        maps = method_maps(net, method, batch, predicted)
        ms = 1000 * (time.perf_counter() - start) / len(images)
        if maps_out is not None:
            maps_out[method] = maps
        with BoxEvaluator(metadata, step=step, multi_contour=True) as evaluator:
            evaluator.accumulate_batch(maps, metadata.image_ids)
            result = evaluator.compute()
        rows.append({"method": method, **{f"MaxBoxAcc@{d}": result[f"MaxBoxAcc@{d}"]
                                          for d in (30, 50, 70)},
                     "MaxBoxAccV2": result["MaxBoxAccV2"], "ms_per_image": ms})
    return rows, predictions


def format_table(rows: list[dict], num_images: int, arch: str) -> str:
    """A Markdown table with the label the numbers need."""
    lines = [f"real photographs, {num_images} images, boxes annotated by this kit, ImageNet "
             f"classifier without fine-tuning ({arch}; map of the top-1 class, GT-known, "
             "all contours, percent)", "",
             "| method | MaxBoxAcc@30 | MaxBoxAcc@50 | MaxBoxAcc@70 | MaxBoxAccV2 | ms/image (CPU) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['MaxBoxAcc@30']:.1f} | {r['MaxBoxAcc@50']:.1f} | "
                     f"{r['MaxBoxAcc@70']:.1f} | {r['MaxBoxAccV2']:.1f} | {r['ms_per_image']:.0f} |")
    return "\n".join(lines)


def photo_figure(maps: dict, arch: str):
    """The photos x methods figure (:func:`moana.viz.figures.plot_photo_cams`) of ``maps``
    (method -> (N, 224, 224) score maps), photos resized to 224x224 and boxes rescaled."""
    import cv2

    from moana.data.photos import load_photos
    from moana.viz.figures import plot_photo_cams

    images, records = load_photos()
    resized = [cv2.resize(i, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
               for i in images]
    boxes = [[(r.box[0] * IMAGE_SIZE / i.shape[1], r.box[1] * IMAGE_SIZE / i.shape[0],
               r.box[2] * IMAGE_SIZE / i.shape[1], r.box[3] * IMAGE_SIZE / i.shape[0])]
             for r, i in zip(records, images)]
    label = (f"real photographs, {len(images)} images, boxes annotated by this kit, ImageNet "
             f"classifier without fine-tuning ({arch}; map of the top-1 class)")
    return plot_photo_cams(resized, maps, boxes, titles=[r.name for r in records], label=label)


def save_photo_figure(maps: dict, arch: str, path: str | Path) -> Path:
    """Draw :func:`photo_figure` and write it to ``path`` atomically (format from the suffix)."""
    import matplotlib.pyplot as plt

    from moana.io import atomic_write

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fig = photo_figure(maps, arch)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight",
                                                   metadata={"pdf": {"CreationDate": None}}.get(fmt)))
    finally:
        plt.close(fig)
    return path


def _run(args: argparse.Namespace) -> int:
    maps: dict | None = {} if args.figure else None
    rows, predictions = score_photos(args.methods, arch=args.arch, step=args.step, maps_out=maps)
    print(format_table(rows, len(predictions), args.arch))
    if args.figure:
        print(f"figure: {save_photo_figure(maps, args.arch, args.figure)}")
    hits = sum(p["top1_is_recorded"] for p in predictions)
    labelled = sum(bool(p["recorded"]) for p in predictions)
    print(f"\ntop-1 is a recorded class for {hits} of {labelled} photos with a class")
    sys.stdout.flush()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana localize-photos`` to the CLI's ``subparsers``."""
    parser = subparsers.add_parser("localize-photos", help="CAM vs post-hoc CAM methods of "
                                   "EfficientNet-Lite on the real-photo set (MaxBoxAccV2)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help="cam and/or pytorch-grad-cam methods (gradcam, gradcam++, xgradcam, "
                             "layercam, scorecam, ablationcam, eigencam, hirescam)")
    parser.add_argument("--arch", default="efficientnet_lite0",
                        choices=["efficientnet_lite0", "efficientnet_lite2"],
                        help="network (its packaged ImageNet weights)")
    parser.add_argument("--step", type=float, default=0.001, help="CAM threshold step")
    parser.add_argument("--figure", type=Path, default=None, metavar="PATH",
                        help="also draw photos x methods (maps with the annotated boxes) to PATH "
                             "(.png, .pdf)")
    parser.set_defaults(func=_run)
