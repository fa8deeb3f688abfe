"""Prepare PASCAL VOC 2012 in the layout IRN expects (for WSSS).

    python data_prep/voc.py --archive VOCtrainval_11-May-2012.tar --root data \
        [--irn-lists path/to/irn/voc12] [--skip-checksum]

Extracts to data/VOCdevkit/VOC2012/. With ``--irn-lists`` (IRN's voc12/ folder: train_aug.txt,
train.txt, val.txt, cls_labels.npy) those files are copied next to the images; otherwise
cls_labels.npy is built from SegmentationClass PNGs, falling back to Annotations XML, for the
ids of ImageSets/Segmentation/{train,val}.txt (and train_aug.txt when present). Safe to rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moana.data import prepare
from moana.data.voc import LIST_DIR, read_id_list


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help=prepare.VOC_ARCHIVE.name)
    parser.add_argument("--root", type=Path, required=True, help="data root")
    parser.add_argument("--irn-lists", type=Path, help="IRN's voc12/ folder")
    parser.add_argument("--skip-checksum", action="store_true")
    args = parser.parse_args(argv)
    try:
        prepare.check_archive(args.archive, prepare.VOC_ARCHIVE, verify=not args.skip_checksum)
        prepare.extract(args.archive, args.root)
        voc = args.root / "VOCdevkit" / "VOC2012"
        if not (voc / "JPEGImages").is_dir():
            raise FileNotFoundError(f"{voc}/JPEGImages is missing after extraction: is "
                                    f"{args.archive} the VOC2012 trainval archive "
                                    f"({prepare.VOC_ARCHIVE.url})?")
        if args.irn_lists:
            for name in ("train_aug.txt", "train.txt", "val.txt", "cls_labels.npy"):
                prepare.copy_file(args.irn_lists / name, voc / name)
        else:
            ids: dict[str, None] = {}
            for path in (voc / LIST_DIR / "train.txt", voc / LIST_DIR / "val.txt",
                         voc / "train_aug.txt"):
                if path.is_file():
                    ids.update(dict.fromkeys(read_id_list(path)))
            count = prepare.write_voc_cls_labels(voc, ids, voc / "cls_labels.npy")
            print(f"wrote {voc / 'cls_labels.npy'} ({count} images)")
    except (FileNotFoundError, ValueError) as err:
        print(f"voc: error: {err}", file=sys.stderr)
        return 1
    print(f"VOC 2012 ready under {args.root / 'VOCdevkit' / 'VOC2012'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
