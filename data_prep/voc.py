"""Prepare PASCAL VOC 2012 in the layout IRN expects (for WSSS).

Same as ``moana data prepare voc ...`` (this file is a thin entry point; the work is done by
moana.data.prepare.prepare_voc).

    python data_prep/voc.py --archive VOCtrainval_11-May-2012.tar --root data \
        [--irn-lists path/to/irn/voc12] [--skip-checksum]

Extracts to data/VOCdevkit/VOC2012/. With ``--irn-lists`` (IRN's voc12/ folder: train_aug.txt,
train.txt, val.txt, cls_labels.npy) those files are copied next to the images; otherwise
cls_labels.npy is built from SegmentationClass PNGs, falling back to Annotations XML, for the
ids of ImageSets/Segmentation/{train,val}.txt (and train_aug.txt when present). Safe to rerun.
"""

from __future__ import annotations

import sys

from moana.cli import main as moana_main


def main(argv: list[str] | None = None) -> int:
    return moana_main(["data", "prepare", "voc", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
