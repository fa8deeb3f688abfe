"""``moana data synth`` and ``moana data check`` (see moana.data.synthetic / moana.data.check)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

#: knobs both kinds take (ObjectKnobs fields plus the shared sizes)
_SHARED_KNOBS = ("seed", "num_classes", "image_size", "body_fraction", "body_aspect",
                 "body_roughness", "body_evidence", "body_contrast", "stripe_contrast",
                 "stripe_period", "mark_fraction", "mark_hidden", "hidden_body_evidence", "clutter",
                 "noise")


#: one-line meaning and unit of every knob (the specs' docstrings say more)
_KNOB_HELP = {
    "seed": "random seed of the generated images (independent of any training seed)",
    "num_classes": "object classes (labels 0..N-1)",
    "image_size": "image side in px (--kind voc: LOW,HIGH range of sides)",
    "per_class": "images per class and split, SPLIT=N,... (e.g. train=100,val=50,test=50)",
    "body_fraction": "LOW,HIGH body area as a fraction of the image area",
    "body_aspect": "LOW,HIGH minor/major axis ratio of the body (1 = round)",
    "body_roughness": "largest relative amplitude of the body outline's waves (0 = smooth)",
    "body_contrast": "least difference (0..1 brightness) between body and background under it",
    "stripe_contrast": "LOW,HIGH stripe amplitude, relative brightness (0..1)",
    "stripe_period": "LOW,HIGH stripe period in px",
    "mark_fraction": "LOW,HIGH mark area as a fraction of the body area (at least 3x3 px)",
    "clutter": "clutter strokes per 64x64 px",
    "noise": "pixel noise standard deviation (0..1 brightness)",
    "num_train": "train_aug images of the VOC-style tree",
    "num_val": "val images of the VOC-style tree",
    "objects": "LOW,HIGH objects per image",
    "border": "width in px of the 255 (ignore) band around each object mask",
    "body_evidence": "probability that a body's stripes run at its class's orientation",
    "mark_hidden": "fraction of training images drawn without the class mark (the control)",
    "hidden_body_evidence": "probability that a hidden-mark training image's body runs at its "
                            "class's orientation (only with --mark-hidden > 0)",
    "train_background": "object-free training images of a background class (label num_classes), "
                        "as a multiple of a class's training images; 0 = none",
}


def _pair(text: str) -> tuple[float, float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}")
    return parts[0], parts[1]


def _int_pair(text: str) -> tuple[int, int]:
    low, high = _pair(text)
    if low != int(low) or high != int(high):
        raise argparse.ArgumentTypeError(f"expected integers LOW,HIGH, got {text!r}")
    return int(low), int(high)


def _per_class(text: str) -> dict[str, int]:
    out = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected SPLIT=N,..., got {text!r}")
        out[key.strip()] = int(value)
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _knob_defaults(name: str) -> str:
    """``"default: wsol 4, voc 20"`` (or one value when only one kind has the knob)."""
    import dataclasses

    from moana.data.synthetic import VOCSynthSpec, WSOLSynthSpec

    shown = []
    for kind, cls in (("wsol", WSOLSynthSpec), ("voc", VOCSynthSpec)):
        for f in dataclasses.fields(cls):
            if f.name == name:
                value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                shown.append(f"{kind} {_show(value)}")
    return "default: " + ", ".join(shown)


def _synth_flags() -> dict[str, tuple[type | Any, str]]:
    """Flag name -> (parser, help) for every field of WSOLSynthSpec / VOCSynthSpec."""
    import dataclasses

    from moana.data.synthetic import VOCSynthSpec, WSOLSynthSpec

    flags: dict[str, tuple[Any, str]] = {}
    for cls in (WSOLSynthSpec, VOCSynthSpec):
        for f in dataclasses.fields(cls):
            if f.name in flags:
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if f.name == "per_class":
                parse: Any = _per_class
            elif f.name == "image_size":
                parse = _int_pair
            elif isinstance(default, tuple):
                parse = _int_pair if isinstance(default[0], int) else _pair
            else:
                parse = type(default)
            flags[f.name] = (parse, cls.__name__)
    return flags


def _synth(args: argparse.Namespace) -> int:
    from moana.data import synthetic

    start = time.perf_counter()
    knobs = {name: getattr(args, name) for name in _synth_flags()
             if getattr(args, name, None) is not None}
    spec = synthetic.WSOLSynthSpec if args.kind == "wsol" else synthetic.VOCSynthSpec
    foreign = [name for name in knobs if name not in spec.__dataclass_fields__]
    if foreign:
        other = "voc" if args.kind == "wsol" else "wsol"
        flags = ", ".join("--" + n.replace("_", "-") for n in foreign)
        raise ValueError(f"{flags}: only for --kind {other}, not --kind {args.kind}")
    if args.kind == "wsol":
        if "image_size" in knobs:
            low, high = knobs["image_size"]
            if low != high:
                raise ValueError("--kind wsol takes one --image-size (square images)")
            knobs["image_size"] = low
        knobs = {k: v for k, v in knobs.items() if k in synthetic.WSOLSynthSpec.__dataclass_fields__}
        result = synthetic.make_wsol_dataset(args.out, **knobs)
        print(f"wrote {args.out}: images {result.data_root}, metadata {result.metadata_root} "
              f"({time.perf_counter() - start:.1f}s)")
    else:
        knobs = {k: v for k, v in knobs.items() if k in synthetic.VOCSynthSpec.__dataclass_fields__}
        root = synthetic.make_voc_dataset(args.out, **knobs)
        print(f"wrote VOC-style tree {root} ({time.perf_counter() - start:.1f}s)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from moana.data import check

    problems: list[str] = []
    summary = check.CheckSummary()
    options = dict(images=not args.no_images, decode=not args.no_decode,
                   workers=max(1, args.workers), progress=not args.quiet, summary=summary)
    if args.kind == "wsol":
        if args.data_root is None or args.metadata is None:
            raise ValueError("--kind wsol needs --data-root and --metadata")
        if not args.no_images and not Path(args.data_root).is_dir():
            raise FileNotFoundError(f"--data-root {args.data_root} is not a folder")
        for split_dir in check.split_dirs(args.metadata):
            problems += check.check_wsol_split(args.data_root, split_dir,
                                               num_classes=args.num_classes,
                                               mask_root=args.mask_root, **options)
        target = args.metadata
    else:
        if args.root is None:
            raise ValueError("--kind voc needs --root")
        problems = check.check_voc(args.root, lists=args.lists, cls_labels=args.cls_labels,
                                   **options)
        target = args.root
    for problem in problems:
        print(problem)
    print(summary.format() if not args.no_images else
          f"checked {summary.splits} split(s)/list(s), {summary.boxes} box(es): metadata only")
    if problems:
        print(f"{len(problems)} problem(s) in {target}", file=sys.stderr)
        return 1
    print(f"{target}: no problems found")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana data`` (``synth``, ``check``, ``prepare``) to the CLI's ``subparsers``; heavy
    modules are imported inside the handlers."""
    data = subparsers.add_parser("data", help="synthetic datasets and dataset checks")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")

    synth = sub.add_parser(
        "synth", help="write the synthetic part-versus-whole benchmark",
        description="Off-centre objects: a body whose stripes are weak class evidence and a small "
        "mark that is strong evidence; clutter that is neither; boxes and masks of the whole "
        "object. Every flag is a knob of moana.data.synthetic.WSOLSynthSpec / VOCSynthSpec "
        "(default: that kind's default); pairs are LOW,HIGH; --per-class train=100,val=50,test=50.")
    synth.add_argument("--kind", choices=("wsol", "voc"), default="wsol",
                       help="wsolevaluation layout (WSOL) or VOC 2012 layout (WSSS)")
    synth.add_argument("--out", type=Path, required=True,
                       help="output folder (created; the dataset is written inside it)")
    for name, (parse, owner) in _synth_flags().items():
        where = "" if name in _SHARED_KNOBS else (
            "; --kind wsol only" if owner == "WSOLSynthSpec" else "; --kind voc only")
        synth.add_argument("--" + name.replace("_", "-"), dest=name, type=parse, default=None,
                           help=f"{_KNOB_HELP.get(name, 'knob ' + name)} "
                                f"({_knob_defaults(name)}{where})")
    synth.set_defaults(func=_synth)

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
    chk.add_argument("--no-decode", action="store_true",
                     help="quick pass: open image headers without decoding the pixels (misses "
                     "truncated files and label values)")
    chk.add_argument("--workers", type=int, default=1, help="threads decoding images (default 1)")
    chk.add_argument("--quiet", action="store_true", help="no progress bar")
    chk.set_defaults(func=_check)
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])


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
