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
    synth.add_argument("--kind", choices=("wsol", "voc"), default="wsol",
                       help="wsolevaluation layout (WSOL) or VOC 2012 layout (WSSS)")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
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
    chk.add_argument("--kind", choices=("wsol", "voc"), default="wsol",
                     help="wsolevaluation split(s) or a VOC 2012 folder")
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


# --- moana data prepare {cub,ilsvrc,openimages,voc} (data_prep/*.py call the same) ------------

PREPARE_DATASETS = ("cub", "ilsvrc", "openimages", "voc")


def _prepare(args: argparse.Namespace) -> int:
    from moana.data import prepare

    verify = not getattr(args, "skip_checksum", False)
    if args.dataset == "cub":
        message = prepare.prepare_cub(args.root, args.archive, wsol_metadata=args.wsol_metadata,
                                      cubv2=args.cubv2, verify=verify)
    elif args.dataset == "ilsvrc":
        message = prepare.prepare_ilsvrc(args.root, args.wsol_metadata, train=args.train,
                                         val=args.val, imagenetv2=args.imagenetv2, verify=verify)
    elif args.dataset == "openimages":
        message = prepare.prepare_openimages(args.root, args.wsol_metadata, args.archives)
    else:
        message = prepare.prepare_voc(args.root, args.archive, irn_lists=args.irn_lists,
                                      verify=verify)
    print(message)
    return 0


def register_prepare(data_parser: argparse.ArgumentParser) -> None:
    """Add ``prepare {cub,ilsvrc,openimages,voc}`` to the ``moana data`` group."""
    sub = next(a for a in data_parser._actions if isinstance(a, argparse._SubParsersAction))
    prep = sub.add_parser(
        "prepare", help="check, extract and lay out a real dataset (archives downloaded by hand)",
        description="Check the archives (MD5 where known), extract them and write or install the "
                    "metadata in the layout the loaders expect (wsolevaluation for CUB, ILSVRC, "
                    "OpenImages; IRN for VOC). Safe to rerun. See data_prep/README.md.")
    kinds = prep.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    root_help = "data root (the dataset folder and metadata/ are created under it)"
    release = "wsolevaluation's metadata/ folder (github.com/clovaai/wsolevaluation)"
    skip = "do not verify the archives' MD5 checksums"

    cub = kinds.add_parser("cub", help="CUB-200-2011 (+ CUBV2 val split)")
    cub.add_argument("--archive", type=Path, required=True, help="CUB_200_2011.tgz")
    cub.add_argument("--root", type=Path, required=True, help=root_help)
    cub.add_argument("--wsol-metadata", type=Path, help=release + "; gives the CUBV2 val split")
    cub.add_argument("--cubv2", type=Path, help="CUBV2 image archive (val split images)")
    cub.add_argument("--skip-checksum", action="store_true", help=skip)

    ilsvrc = kinds.add_parser("ilsvrc", help="ILSVRC 2012 (+ ImageNetV2 as val)")
    ilsvrc.add_argument("--root", type=Path, required=True, help=root_help)
    ilsvrc.add_argument("--wsol-metadata", type=Path, required=True, help=release)
    ilsvrc.add_argument("--train", type=Path, help="ILSVRC2012_img_train.tar")
    ilsvrc.add_argument("--val", type=Path, help="ILSVRC2012_img_val.tar")
    ilsvrc.add_argument("--imagenetv2", type=Path, help="ImageNetV2 archive (val split)")
    ilsvrc.add_argument("--skip-checksum", action="store_true", help=skip)

    oi = kinds.add_parser("openimages", help="OpenImages30k with masks (wsolevaluation)")
    oi.add_argument("--root", type=Path, required=True, help=root_help)
    oi.add_argument("--wsol-metadata", type=Path, required=True, help=release)
    oi.add_argument("--archives", type=Path, nargs="*", default=[],
                    help="image and mask archives of OpenImages30k (none: metadata only)")

    voc = kinds.add_parser("voc", help="PASCAL VOC 2012 in IRN's layout (WSSS)")
    voc.add_argument("--archive", type=Path, required=True, help="VOCtrainval_11-May-2012.tar")
    voc.add_argument("--root", type=Path, required=True, help=root_help)
    voc.add_argument("--irn-lists", type=Path,
                     help="IRN's voc12/ folder (train_aug.txt, cls_labels.npy); default: build "
                          "cls_labels.npy from the VOC annotations")
    voc.add_argument("--skip-checksum", action="store_true", help=skip)
    prep.set_defaults(func=_prepare)


_register_synth_and_check = register


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: F811 - adds prepare
    """Add ``moana data`` with its actions synth, check and prepare."""
    _register_synth_and_check(subparsers)
    register_prepare(subparsers.choices["data"])
