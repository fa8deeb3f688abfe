"""``moana evaluate-cams``: the kit's CAM, each WSOL method's own map and the post-hoc CAM
methods of pytorch-grad-cam, for a set of models, on one localization table
(:mod:`moana.experiments.cam_table`).

Models: the kit's runs (``--run RUN_DIR``, the checkpoint its ``eval.checkpoint`` names), and
any classifier by name (``--model torchvision:vgg16 --weights FILE``, ``--model timm:resnet50``,
``--model efficientnet_lite0``; :mod:`moana.models.zoo`). Data: the runs' own WSOL split (the
first run's config), ``--config`` (a shipped config or YAML, with overrides) or ``--photos``
(the real-photo set of :mod:`moana.data.photos`, 224x224, the map of the top-1 class, no val
split: oracle threshold only). Writes ``<output>.csv`` and ``<output>.md`` atomically and prints
the Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

#: where the table goes by default (the folder ``moana train`` writes to)
DEFAULT_OUTPUT = "work/cam_table"


def _device(name: str | None, config: Any = None):
    from moana.engine.runtime import resolve_device

    return resolve_device(name or (config.runtime.device if config is not None else "cpu"))


def run_localizer(run_dir: str | Path, data: Any, device: Any, target_layer: str | None = None):
    """The kit's run at ``run_dir`` (its ``eval.checkpoint``) as a localizer named after the
    run directory."""
    from moana.experiments.cam_table import kit_localizer
    from moana.train.evaluate import _checkpoint_model, checkpoint_format
    from moana.train.run import Run

    run = Run(run_dir)
    which = run.config.eval.checkpoint
    path = run.checkpoint_path(which)
    model, _ = _checkpoint_model(run.config, path, checkpoint_format(path), data.num_classes,
                                 device)
    return kit_localizer(Path(run_dir).resolve().name, model, target_layer)


def config_split(config: Any, device: Any, batch_size: int | None = None):
    """The val and test splits of ``config``'s data with its evaluation settings."""
    from moana.experiments.cam_table import Split
    from moana.train.evaluate import _loader
    from moana.train.prepare import EvalSettings, prepare_data

    data = prepare_data(config, quiet=True)
    settings = EvalSettings.from_config(config, device=device, mask_root=data.mask_root,
                                        quiet=True, batch_size=batch_size)
    val_set, test_set = data.dataset("val"), data.dataset("test")
    d = config.data
    kind = "synthetic data (the kit's generated WSOL benchmark)" if d.dataset == "synthetic" \
        else f"{d.dataset}"
    label = (f"{kind}, {d.image_size}-px images, {data.num_classes} classes, test split "
             f"({len(test_set)} images); CAM threshold chosen on val ({len(val_set)} images), "
             f"oracle = best threshold on test; {config.eval.cam_normalization} score maps, "
             f"step {config.eval.cam_step}, percent")
    split = Split(label, test=(lambda loc: _loader(test_set, settings), test_set.metadata),
                  val=(lambda loc: _loader(val_set, settings), val_set.metadata),
                  settings=settings)
    return split, data


def photo_split(device: Any, *, step: float = 0.001, batch_size: int = 8):
    """The real-photo set (224x224, each localizer's mean/std) as a split without val."""
    import cv2
    import numpy as np
    import torch

    from moana.data.photos import load_photos
    from moana.experiments.cam_table import Split, array_loader
    from moana.experiments.photos import IMAGE_SIZE, photo_metadata
    from moana.train.config import EvalConfig
    from moana.train.prepare import EvalSettings

    images, records = load_photos()
    metadata = photo_metadata(records, images)
    resized = np.stack([cv2.resize(i, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
                        for i in images]).astype(np.float32) / 255.0
    pixels = torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous()

    def loaders(loc):
        mean = torch.tensor(loc.mean).view(1, 3, 1, 1)
        std = torch.tensor(loc.std).view(1, 3, 1, 1)
        return array_loader((pixels - mean) / std, [0] * len(records), metadata.image_ids,
                            batch_size)

    settings = EvalSettings(device=device, eval_cfg=EvalConfig(cam_step=step, multi_contour=True),
                            image_size=IMAGE_SIZE, batch_size=batch_size)
    label = (f"real photographs, {len(records)} images, boxes annotated by this kit, ImageNet "
             "classifier without fine-tuning (map of the top-1 class; no val split, so only the "
             "oracle threshold; all contours, step "
             f"{step}, percent)")
    return Split(label, test=(loaders, metadata), val=None, settings=settings,
                 protocol="predicted", has_classes=False)


def _zoo_localizers(args: argparse.Namespace, num_classes: int | None) -> list:
    from moana.experiments.cam_table import zoo_localizer
    from moana.models.zoo import zoo_model

    weights = list(args.weights or [])
    if weights and len(weights) != len(args.model):
        raise ValueError(f"give one --weights per --model ({len(args.model)} models, "
                         f"{len(weights)} weights files)")
    return [zoo_localizer(zoo_model(name, weights=weights[i] if weights else None,
                                    num_classes=num_classes, target_layer=args.target_layer))
            for i, name in enumerate(args.model)]


def _split_and_localizers(args: argparse.Namespace):
    from moana.train.config import load_config
    from moana.train.run import Run

    if args.photos:
        if args.run or args.config:
            raise ValueError("--photos scores ImageNet classifiers; it takes --model, not --run "
                             "or --config")
        device = _device(args.device)
        split = photo_split(device, step=args.step or 0.001, batch_size=args.batch_size or 8)
        return split, _zoo_localizers(args, None)
    if args.config:
        config = load_config(args.config, args.overrides)
    elif args.run:
        config = Run(args.run[0]).config
    else:
        raise ValueError("give --run RUN_DIR, --config CONFIG (with --model) or --photos")
    if args.step:
        config.eval.cam_step = args.step
    device = _device(args.device, config)
    split, data = config_split(config, device, args.batch_size)
    localizers = [run_localizer(r, data, device, args.target_layer) for r in args.run or []]
    return split, localizers + _zoo_localizers(args, data.num_classes)


def _run(args: argparse.Namespace) -> int:
    from moana.experiments.cam_table import ALL_METHODS, evaluate_cams, format_markdown, write_table

    unknown = [m for m in args.methods if m not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown CAM methods {unknown}; choose from {list(ALL_METHODS)}")
    split, localizers = _split_and_localizers(args)
    if not localizers:
        raise ValueError("no model: give --run RUN_DIR and/or --model NAME")
    rows = evaluate_cams(localizers, args.methods, split,
                         on_row=lambda r: print(f"{r['model']} {r['method']}: MaxBoxAccV2 "
                                                f"{r['MaxBoxAccV2']:.1f}", file=sys.stderr))
    csv_path, md_path = write_table(rows, split.label, args.output)
    print(format_markdown(rows, split.label))
    print(f"wrote {csv_path} and {md_path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana evaluate-cams`` to the CLI's ``subparsers``."""
    parser = subparsers.add_parser(
        "evaluate-cams", help="score CAM and post-hoc CAM methods of models on a WSOL split",
        description="Score the kit's CAM, each WSOL method's own map and the post-hoc CAM "
                    "methods of runs (--run) and named models (--model) on one WSOL split "
                    "(the runs' own, --config, or --photos) and write one table.")
    parser.add_argument("--run", nargs="+", default=[], metavar="RUN_DIR",
                        help="the kit's run directories (their data unless --config)")
    parser.add_argument("--model", nargs="+", default=[], metavar="NAME",
                        help="torchvision:<name>, timm:<name>, efficientnet_lite0, efficientnet_lite2")
    parser.add_argument("--weights", nargs="+", default=[], metavar="FILE",
                        help="local state dicts, one per --model in order (strict, weights_only); "
                             "random weights without")
    parser.add_argument("--target-layer", default=None, metavar="NAME",
                        help="the module the post-hoc methods (and CAM) use; default: the one "
                             "the classifier pools (see docs/localize-anything.md)")
    parser.add_argument("--config", default=None, help="data of a config (shipped name or YAML)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--photos", action="store_true",
                        help="the real-photo set (ImageNet classifiers, top-1 class)")
    parser.add_argument("--methods", nargs="+", default=["cam", "gradcam", "gradcam++", "layercam"],
                        help="cam and/or gradcam, gradcam++, xgradcam, layercam, scorecam, "
                             "ablationcam, eigencam, hirescam")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="PREFIX",
                        help="writes PREFIX.csv and PREFIX.md")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per batch (default: the config's eval batch, 8 for photos)")
    parser.add_argument("--step", type=float, default=None,
                        help="CAM threshold step (default: the config's eval.cam_step; 0.001 "
                             "for photos)")
    parser.set_defaults(func=_run)
