"""Prepare OpenImages30k (wsolevaluation's subset with masks) in the wsolevaluation layout.

    python data_prep/openimages.py --root data --wsol-metadata wsolevaluation/metadata \
        --archives OpenImages_images.zip OpenImages_annotations.zip

Extracts images and mask/ignore PNGs into data/OpenImages/ (mask paths in localization.txt
are relative to it) and installs wsolevaluation's OpenImages metadata. Safe to rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moana.data import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="data root (holds OpenImages/)")
    parser.add_argument("--wsol-metadata", type=Path, required=True,
                        help="wsolevaluation metadata/ folder")
    parser.add_argument("--archives", type=Path, nargs="*", default=[],
                        help=f"image and mask archives of OpenImages30k ({prepare.WSOL_RELEASE})")
    args = parser.parse_args(argv)
    base = args.root / "OpenImages"
    try:
        for archive in args.archives:
            prepare.check_archive(archive, verify=False)
            staging = args.root / "_extracted" / archive.name
            prepare.extract(archive, staging)
            top = staging / "OpenImages"
            prepare.merge_tree(top if top.is_dir() else staging, base)
        splits = [s for s in ("train", "val", "test")
                  if (Path(args.wsol_metadata) / "OpenImages" / s).is_dir()
                  or (Path(args.wsol_metadata) / "metadata" / "OpenImages" / s).is_dir()]
        if not splits:
            raise FileNotFoundError(f"no OpenImages splits under {args.wsol_metadata}: pass the "
                                    f"metadata/ folder of {prepare.WSOL_RELEASE}")
        prepare.install_wsol_metadata(args.wsol_metadata, "OpenImages", args.root / "metadata",
                                      splits)
    except (FileNotFoundError, ValueError) as err:
        print(f"openimages: error: {err}", file=sys.stderr)
        return 1
    print(f"OpenImages ready under {args.root} (metadata splits: {', '.join(splits)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
