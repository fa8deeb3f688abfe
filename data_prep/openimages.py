"""Prepare OpenImages30k (wsolevaluation's subset with masks) in the wsolevaluation layout.

Same as ``moana data prepare openimages ...`` (this file is a thin entry point; the work is done by
moana.data.prepare.prepare_openimages).

    python data_prep/openimages.py --root data --wsol-metadata wsolevaluation/metadata \
        --archives OpenImages_images.zip OpenImages_annotations.zip

Extracts images and mask/ignore PNGs into data/OpenImages/ (mask paths in localization.txt
are relative to it) and installs wsolevaluation's OpenImages metadata. Safe to rerun.
"""

from __future__ import annotations

import sys

from moana.cli import main as moana_main


def main(argv: list[str] | None = None) -> int:
    return moana_main(["data", "prepare", "openimages", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
