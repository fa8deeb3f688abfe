"""IRN pieces of moana.wsss: path index, affinities, pair labels, random walk, IRN training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moana.wsss.config import IRNConfig
from moana.wsss.irn import (EdgeNet, IRLabelDataset, affinity_loss, load_irn, make_path_index,
                            pair_affinity, pair_labels, train_irn)
from moana.wsss.sem_seg import dense_affinity, propagate, sem_seg_label, transition_matrix


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory):
    from moana.data.synthetic import make_voc_dataset
    from moana.data.voc import read_id_list

    root = make_voc_dataset(tmp_path_factory.mktemp("voc"), seed=0, image_size=(24, 36),
                            num_train=6, num_val=2, num_classes=3, objects=(1, 2))
    return root, read_id_list(root / "ImageSets" / "Segmentation" / "train.txt")


def test_path_index_directions_and_paths():
    index = make_path_index(5)
    dirs = index.directions.tolist()
    assert len(dirs) == len(set(map(tuple, dirs)))
    for (dy, dx), row in zip(dirs, index.table.tolist()):
        assert dy > 0 or (dy == 0 and dx > 0)
        assert dy * dy + dx * dx < 25
        path = {tuple(index.offsets[i].tolist()) for i in row}
        assert (0, 0) in path and (dy, dx) in path  # IRN's paths: see test_wsss_irn_reference
    # the half disc of radius 5 (exclusive), without the origin
    assert len(dirs) == sum(1 for dy in range(5) for dx in range(-4, 5)
                            if (dy > 0 or dx > 0) and dy * dy + dx * dx < 25)
    with pytest.raises(ValueError):
        make_path_index(1)


def test_pair_affinity_matches_loops():
    rng = np.random.default_rng(0)
    edge = torch.from_numpy(rng.random((2, 1, 6, 7))).float()
    index = make_path_index(3)
    aff = pair_affinity(edge, index).numpy()
    h, w = 6, 7
    for d, row in enumerate(index.table.tolist()):
        offsets = [tuple(index.offsets[i].tolist()) for i in row]
        for b in range(2):
            for y in range(h):
                for x in range(w):
                    values = [edge[b, 0, y + oy, x + ox].item()
                              if 0 <= y + oy < h and 0 <= x + ox < w else 1.0
                              for oy, ox in offsets]
                    assert aff[b, d, y, x] == pytest.approx(1 - max(values), abs=1e-6)


def test_pair_labels_match_loops():
    rng = np.random.default_rng(1)
    label = torch.from_numpy(rng.choice([0, 3, 7, 255], size=(1, 5, 6))).long()
    index = make_path_index(3)
    bg, fg, neg = (m.numpy() for m in pair_labels(label, index, border_sources=True))
    lab = label[0].numpy()
    for d, (dy, dx) in enumerate(index.directions.tolist()):
        for y in range(5):
            for x in range(6):
                a = lab[y, x]
                b = lab[y + dy, x + dx] if 0 <= y + dy < 5 and 0 <= x + dx < 6 else 255
                valid = a < 21 and b < 21
                assert bg[0, d, y, x] == float(valid and a == b == 0)
                assert fg[0, d, y, x] == float(valid and a == b and a > 0)
                assert neg[0, d, y, x] == float(valid and a != b)


def test_affinity_loss_prefers_boundaries_between_classes():
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[:, :, 4:] = 5
    index = make_path_index(3)
    wall = torch.full((1, 1, 8, 8), 0.01)
    wall[..., 4] = 0.99  # the first column of class 5: every negative pair crosses it
    good, parts = affinity_loss(wall, label, index)
    none, _ = affinity_loss(torch.full((1, 1, 8, 8), 0.01), label, index)
    assert good < none
    assert parts["neg"] < 0.1 and parts["bg_pos"] < 0.1
    edge = torch.full((1, 1, 8, 8), 0.5, requires_grad=True)
    affinity_loss(edge, label, index)[0].backward()
    assert edge.grad is not None and torch.isfinite(edge.grad).all()


def test_transition_matrix_and_random_walk_respect_a_wall():
    edge = torch.zeros(6, 8)
    edge[:, 4] = 1.0  # a vertical boundary
    index = make_path_index(3)
    dense = dense_affinity(edge, index)
    assert torch.allclose(dense, dense.T) and torch.allclose(dense.diagonal(), torch.ones(48))
    trans = transition_matrix(dense, beta=10, exp_times=3)
    assert torch.allclose(trans.sum(dim=0), torch.ones(48), atol=1e-4)
    cams = torch.zeros(1, 6, 8)
    cams[0, 2, 1] = 1.0
    rw = propagate(cams, edge, radius=3, beta=10, exp_times=4)[0]
    assert rw[:, :4].sum() > 0.99 * rw.sum()  # mass stays left of the wall
    assert (rw[:, :4] > 0).float().mean() > 0.5  # and spreads there


def test_sem_seg_label_shapes_and_keys():
    cam = {"keys": np.array([4, 11]), "cam": np.random.default_rng(0).random((2, 5, 6)).astype(np.float32),
           "high_res": np.zeros((2, 18, 22), np.float32)}
    label = sem_seg_label(cam, torch.zeros(5, 6), (18, 22), radius=3, exp_times=2)
    assert label.shape == (18, 22) and label.dtype == np.uint8
    assert set(np.unique(label)) <= {0, 5, 12}
    empty = sem_seg_label({"keys": np.array([], int), "cam": np.zeros((0, 5, 6))},
                          torch.zeros(5, 6), (18, 22))
    assert (empty == 0).all()


def test_edge_net_small_shapes():
    net = EdgeNet("small", freeze_backbone=False)
    out = net(torch.zeros(2, 3, 37, 45))
    assert out.shape == (2, 1, 10, 12)  # ceil(37/4), ceil(45/4)
    with pytest.raises(ValueError, match="unknown IRN backbone"):
        EdgeNet("vgg")


def test_train_irn_writes_a_loadable_checkpoint(tiny_voc, tmp_path):
    root, ids = tiny_voc
    label_dir = tmp_path / "ir"
    from moana.wsss._io import save_png
    rng = np.random.default_rng(0)
    from moana.wsss._io import load_image_rgb, voc_image_path
    for image_id in ids[:4]:
        h, w = load_image_rgb(voc_image_path(root, image_id)).shape[:2]
        save_png(label_dir / f"{image_id}.png", rng.choice([0, 2, 255], size=(h, w)))
    dataset = IRLabelDataset(root, ids[:4], label_dir, crop_size=32, rescale=(0.75, 1.25))
    x, y, _ = dataset[0]
    assert x.shape == (3, 32, 32) and y.shape == (8, 8)  # the label at stride 4, as IRN
    assert set(np.unique(y.numpy())) <= {0, 2, 255}
    cfg = IRNConfig(backbone="small", freeze_backbone=False, crop_size=32, rescale=(0.75, 1.25),
                    batch_size=2, epochs=1, radius=3)
    result = train_irn(cfg, voc_root=root, train_ids=ids[:4], ir_label_dir=label_dir,
                       out_path=tmp_path / "irn.pt")
    assert len(result["loss_history"]) == 1 and np.isfinite(result["loss_history"][0])
    model = load_irn(tmp_path / "irn.pt")
    assert not model.training
    with pytest.raises(FileNotFoundError):
        load_irn(tmp_path / "missing.pt")
