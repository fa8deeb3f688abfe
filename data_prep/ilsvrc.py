"""Prepare ILSVRC 2012 (+ ImageNetV2 as val) in the wsolevaluation layout.

Same as ``moana data prepare ilsvrc ...`` (this file is a thin entry point; the work is done by
moana.data.prepare.prepare_ilsvrc).

    python data_prep/ilsvrc.py --root data --wsol-metadata wsolevaluation/metadata \
        [--train ILSVRC2012_img_train.tar] [--val ILSVRC2012_img_val.tar] \
        [--imagenetv2 imagenetv2-*.tar.gz] [--skip-checksum]

Extracts train (one inner tar per class -> ILSVRC/train/<wnid>/), the official val images
(ILSVRC/val/, the wsolevaluation test split) and ImageNetV2 (ILSVRC/val2/<class>/, the val
split), then installs wsolevaluation's ILSVRC metadata. Safe to rerun.
"""

from __future__ import annotations

import sys

from moana.cli import main as moana_main


def main(argv: list[str] | None = None) -> int:
    return moana_main(["data", "prepare", "ilsvrc", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
