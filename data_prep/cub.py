"""Prepare CUB-200-2011 in the wsolevaluation layout.

    python data_prep/cub.py --archive CUB_200_2011.tgz --root data \
        [--wsol-metadata wsolevaluation/metadata] [--cubv2 CUBV2.tar] [--skip-checksum]

Extracts images to data/CUB/<class>/, writes data/metadata/CUB/{train,test} from CUB's own
images.txt, bounding_boxes.txt, train_test_split.txt and image_class_labels.txt, and installs
the CUBV2 ``val`` split from wsolevaluation's metadata release. Safe to rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moana.data import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help=prepare.CUB_ARCHIVE.name)
    parser.add_argument("--root", type=Path, required=True, help="data root (holds CUB/)")
    parser.add_argument("--wsol-metadata", type=Path, help="wsolevaluation metadata/ folder")
    parser.add_argument("--cubv2", type=Path, help="CUBV2 image archive (val split images)")
    parser.add_argument("--skip-checksum", action="store_true")
    args = parser.parse_args(argv)
    try:
        prepare.check_archive(args.archive, prepare.CUB_ARCHIVE, verify=not args.skip_checksum)
        staging = args.root / "_extracted"
        prepare.extract(args.archive, staging)
        cub_dir = staging / "CUB_200_2011"
        if (cub_dir / "images").is_dir():
            prepare.merge_tree(cub_dir / "images", args.root / "CUB")
        for split, lines in prepare.cub_metadata(cub_dir, args.root / "CUB").items():
            prepare.write_split(args.root / "metadata" / "CUB" / split, lines)
        if args.cubv2:
            prepare.check_archive(args.cubv2, verify=False)
            prepare.extract(args.cubv2, args.root / "CUB")
        if args.wsol_metadata:
            prepare.install_wsol_metadata(args.wsol_metadata, "CUB", args.root / "metadata",
                                          splits=("val",))
        else:
            print(f"note: no --wsol-metadata; the CUBV2 val split comes from {prepare.WSOL_RELEASE}")
    except (FileNotFoundError, ValueError) as err:
        print(f"cub: error: {err}", file=sys.stderr)
        return 1
    print(f"CUB ready under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
