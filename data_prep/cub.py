"""Prepare CUB-200-2011 in the wsolevaluation layout.

Same as ``moana data prepare cub ...`` (this file is a thin entry point; the work is done by
moana.data.prepare.prepare_cub).

    python data_prep/cub.py --archive CUB_200_2011.tgz --root data \
        [--wsol-metadata wsolevaluation/metadata] [--cubv2 CUBV2.tar] [--skip-checksum]

Extracts images to data/CUB/<class>/, writes data/metadata/CUB/{train,test} from CUB's own
images.txt, bounding_boxes.txt, train_test_split.txt and image_class_labels.txt, and installs
the CUBV2 ``val`` split from wsolevaluation's metadata release. Safe to rerun.
"""

from __future__ import annotations

import sys

from moana.cli import main as moana_main


def main(argv: list[str] | None = None) -> int:
    return moana_main(["data", "prepare", "cub", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
