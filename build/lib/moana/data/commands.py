"""``moana data synth`` and ``moana data check`` (see moana.data.synthetic / moana.data.check)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _pair(text: str) -> tuple[float, float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}")
    return parts[0], parts[1]


def _synth(args: argparse.Namespace) -> int:
    from moana.data import synthetic

    start = time.perf_counter()
    common = dict(seed=args.seed, mark_fraction=args.mark_fraction,
                  body_roughness=args.roughness, noise=args.noise)
    if args.clutter is not None:
        common["clutter"] = args.clutter
    if args.body_fraction is not None:
        common["body_fraction"] = args.body_fraction
    if args.kind == "wsol":
        per_class = {"train": args.train, "val": args.val, "test": args.test}
        result = synthetic.make_wsol_dataset(
            args.out, num_classes=args.num_classes or 10, image_size=int(args.image_size[0]),
            per_class=per_class, **common)
        print(f"wrote {args.out}: images {result.data_root}, metadata {result.metadata_root} "
              f"({time.perf_counter() - start:.1f}s)")
    else:
        low, high = (int(v) for v in args.image_size)
        root = synthetic.make_voc_dataset(
            args.out, num_classes=args.num_classes or 20, image_size=(low, high),
            num_train=args.train_images, num_val=args.val_images,
            objects=(args.min_objects, args.max_objects), **common)
        print(f"wrote VOC-style tree {root} ({time.perf_counter() - start:.1f}s)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from moana.data import check

    problems: list[str] = []
    if args.kind == "wsol":
        if args.data_root is None or args.metadata is None:
            raise ValueError("--kind wsol needs --data-root and --metadata")
        for split_dir in check.split_dirs(args.metadata):
            problems += check.check_wsol_split(args.data_root, split_dir,
                                               num_classes=args.num_classes,
                                               mask_root=args.mask_root,
                                               images=not args.no_images)
        target = args.metadata
    else:
        if args.root is None:
            raise ValueError("--kind voc needs --root")
        problems = check.check_voc(args.root, lists=args.lists, cls_labels=args.cls_labels,
                                   images=not args.no_images)
        target = args.root
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {target}", file=sys.stderr)
        return 1
    print(f"{target}: no problems found")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="synthetic datasets and dataset checks")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")

    synth = sub.add_parser("synth", help="write the synthetic part-versus-whole benchmark",
                           description="Objects = a large non-discriminative body plus a small "
                           "class-specific mark; the class is decided by the mark alone.")
    synth.add_argument("--kind", choices=("wsol", "voc"), default="wsol")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--num-classes", type=int, default=None, help="default 10 (wsol), 20 (voc)")
    synth.add_argument("--image-size", type=_pair, default=None,
                       help="side in px (wsol, default 64) or LOW,HIGH (voc, default 64,96)")
    synth.add_argument("--train", type=int, default=60, help="wsol: train images per class")
    synth.add_argument("--val", type=int, default=5, help="wsol: val images per class")
    synth.add_argument("--test", type=int, default=20, help="wsol: test images per class")
    synth.add_argument("--train-images", type=int, default=300, help="voc: train images")
    synth.add_argument("--val-images", type=int, default=100, help="voc: val images")
    synth.add_argument("--min-objects", type=int, default=1, help="voc: objects per image, low")
    synth.add_argument("--max-objects", type=int, default=3, help="voc: objects per image, high")
    synth.add_argument("--body-fraction", type=_pair, default=None,
                       help="object area / image area, LOW,HIGH (wsol 0.1,0.5; voc 0.06,0.25)")
    synth.add_argument("--mark-fraction", type=_pair, default=(0.04, 0.08),
                       help="mark area / object area, LOW,HIGH")
    synth.add_argument("--clutter", type=int, default=None,
                       help="clutter strokes per 64x64 px (default wsol 6, voc 4)")
    synth.add_argument("--roughness", type=float, default=0.25, help="body outline waviness")
    synth.add_argument("--noise", type=float, default=0.04, help="pixel noise std (0..1)")
    synth.set_defaults(func=_synth_entry)

    chk = sub.add_parser("check", help="report every problem of a dataset (file and line)")
    chk.add_argument("--kind", choices=("wsol", "voc"), default="wsol")
    chk.add_argument("--data-root", type=Path, help="wsol: folder the image ids are relative to")
    chk.add_argument("--metadata", type=Path,
                     help="wsol: a split folder, or a folder of split folders")
    chk.add_argument("--mask-root", type=Path, default=None, help="wsol: default --data-root")
    chk.add_argument("--num-classes", type=int, default=None, help="wsol: bound on class ids")
    chk.add_argument("--root", type=Path, help="voc: the VOC2012 folder")
    chk.add_argument("--lists", nargs="*", default=None, help="voc: id lists to check")
    chk.add_argument("--cls-labels", type=Path, default=None, help="voc: cls_labels.npy")
    chk.add_argument("--no-images", action="store_true", help="check the metadata only")
    chk.set_defaults(func=_check)
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])


def _synth_entry(args: argparse.Namespace) -> int:
    if args.image_size is None:
        args.image_size = (64, 64) if args.kind == "wsol" else (64, 96)
    return _synth(args)
