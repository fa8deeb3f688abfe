"""Prepare ILSVRC 2012 (+ ImageNetV2 as val) in the wsolevaluation layout.

    python data_prep/ilsvrc.py --root data --wsol-metadata wsolevaluation/metadata \
        [--train ILSVRC2012_img_train.tar] [--val ILSVRC2012_img_val.tar] \
        [--imagenetv2 imagenetv2-*.tar.gz] [--skip-checksum]

Extracts train (one inner tar per class -> ILSVRC/train/<wnid>/), the official val images
(ILSVRC/val/, the wsolevaluation test split) and ImageNetV2 (ILSVRC/val2/<class>/, the val
split), then installs wsolevaluation's ILSVRC metadata. Safe to rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moana.data import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="data root (holds ILSVRC/)")
    parser.add_argument("--wsol-metadata", type=Path, required=True,
                        help="wsolevaluation metadata/ folder")
    parser.add_argument("--train", type=Path, help=prepare.ILSVRC_TRAIN.name)
    parser.add_argument("--val", type=Path, help=prepare.ILSVRC_VAL.name)
    parser.add_argument("--imagenetv2", type=Path, help="ImageNetV2 archive (val split)")
    parser.add_argument("--skip-checksum", action="store_true")
    args = parser.parse_args(argv)
    base = args.root / "ILSVRC"
    try:
        if args.train:
            prepare.check_archive(args.train, prepare.ILSVRC_TRAIN, verify=not args.skip_checksum)
            prepare.extract(args.train, base / "_train_tars")
            for inner in sorted((base / "_train_tars").glob("*.tar")):
                prepare.extract(inner, base / "train" / inner.stem)
        if args.val:
            prepare.check_archive(args.val, prepare.ILSVRC_VAL, verify=not args.skip_checksum)
            prepare.extract(args.val, base / "val")
        if args.imagenetv2:
            prepare.check_archive(args.imagenetv2, verify=False)
            staging = base / "_imagenetv2"
            prepare.extract(args.imagenetv2, staging)
            tops = [p for p in staging.iterdir() if p.is_dir()]
            prepare.merge_tree(tops[0] if len(tops) == 1 else staging, base / "val2")
        splits = [s for s in ("train", "val", "test")
                  if (Path(args.wsol_metadata) / "ILSVRC" / s).is_dir()
                  or (Path(args.wsol_metadata) / "metadata" / "ILSVRC" / s).is_dir()]
        if not splits:
            raise FileNotFoundError(f"no ILSVRC splits under {args.wsol_metadata}: pass the "
                                    f"metadata/ folder of {prepare.WSOL_RELEASE}")
        prepare.install_wsol_metadata(args.wsol_metadata, "ILSVRC", args.root / "metadata", splits)
    except (FileNotFoundError, ValueError) as err:
        print(f"ilsvrc: error: {err}", file=sys.stderr)
        return 1
    print(f"ILSVRC ready under {args.root} (metadata splits: {', '.join(splits)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
