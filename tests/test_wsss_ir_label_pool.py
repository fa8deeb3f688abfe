"""IR labels made by a pool of processes (``ir_label.num_workers``): the same PNG bytes as one
process, errors of a worker re-raised naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from moana.wsss._io import save_npy_dict, voc_image_path
from moana.wsss.ir_label import ir_label_path, make_ir_labels
from moana.wsss.make_cam import cam_path


def _inputs(tmp_path, num=6, size=(48, 64)):
    """VOC-style JPEGs and IRN-style CAM dicts (one or two classes with blobs)."""
    rng = np.random.default_rng(0)
    root, cams = tmp_path / "voc", tmp_path / "cams"
    ids = [f"2007_{k:06d}" for k in range(num)]
    yy, xx = np.mgrid[:size[0], :size[1]]
    for k, image_id in enumerate(ids):
        path = voc_image_path(root, image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
        keys = np.array([3, 11][: 1 + k % 2])
        maps = []
        for _ in keys:
            cy, cx = rng.uniform(0, size[0]), rng.uniform(0, size[1])
            maps.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(50, 400)))
        high_res = np.stack(maps).astype(np.float32)
        cam_path(cams, image_id).parent.mkdir(parents=True, exist_ok=True)
        save_npy_dict(cam_path(cams, image_id),
                      {"keys": keys, "cam": high_res[:, ::4, ::4], "high_res": high_res})
    return root, cams, ids


@pytest.mark.parametrize("use_crf", [False, True])
def test_two_workers_write_the_same_bytes_as_one(tmp_path, use_crf):
    if use_crf:
        pytest.importorskip("pydensecrf.densecrf")
    root, cams, ids = _inputs(tmp_path)
    written = {}
    for workers in (1, 2):
        out = tmp_path / f"ir{workers}"
        assert make_ir_labels(cams, voc_root=root, image_ids=ids, out_dir=out, use_crf=use_crf,
                              crf_scale=0.12, num_workers=workers) == len(ids)
        written[workers] = [ir_label_path(out, i).read_bytes() for i in ids]
        assert not list(out.glob("*.tmp*"))  # atomic writes leave no partial file
    assert written[1] == written[2]
    assert make_ir_labels(cams, voc_root=root, image_ids=ids, out_dir=tmp_path / "ir2",
                          num_workers=2) == 0  # resumes: nothing left to do


def test_a_worker_error_names_the_file(tmp_path):
    root, cams, ids = _inputs(tmp_path, num=4)
    cam_path(cams, ids[2]).unlink()
    with pytest.raises(FileNotFoundError, match=ids[2]):
        make_ir_labels(cams, voc_root=root, image_ids=ids, out_dir=tmp_path / "ir",
                       use_crf=False, num_workers=2)
    with pytest.raises(ValueError, match="num_workers"):
        make_ir_labels(cams, voc_root=root, image_ids=ids, out_dir=tmp_path / "ir",
                       use_crf=False, num_workers=-1)
