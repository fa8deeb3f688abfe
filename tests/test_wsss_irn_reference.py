"""Each IRN step of moana.wsss against a direct, simple re-statement of IRN's algorithm
(Ahn et al., CVPR 2019, jiwoon-ahn/irn) on small inputs: path index (misc/indexing.py),
random-walk affinities, CAM inference (step/make_cam.py, net/resnet50_cam.py), the boundary
network's forward (net/resnet50_irn.py), affinity labels and loss (voc12/dataloader.py,
step/train_irn.py), threshold ties (step/eval_cam.py), the poly schedule (misc/torchutils.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from moana.models import build_model
from moana.wsss._io import pil_rescale
from moana.wsss.irn import (EdgeNet, affinity_loss, edge_map, make_path_index, pair_affinity,
                            pair_labels)
from moana.wsss.loop import poly_scheduler
from moana.wsss.make_cam import infer_cams
from moana.wsss.sem_seg import dense_affinity

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


# -- re-statements of IRN ------------------------------------------------------------------
def irn_search_paths(radius: int) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """IRN PathIndex: directions (0, 1..r-1) and (y>0, |x|<r) with x^2+y^2 < r^2; the path is
    every point of the bounding box whose squared distance to the line is below 1."""
    dirs = [(0, x) for x in range(1, radius)]
    dirs += [(y, x) for y in range(1, radius) for x in range(-radius + 1, radius)
             if x * x + y * y < radius ** 2]
    paths = {}
    for dy, dx in dirs:
        points = set()
        for y in range(min(0, dy), max(0, dy) + 1):
            for x in range(min(0, dx), max(0, dx) + 1):
                if (dy * x - dx * y) ** 2 / (dy * dy + dx * dx) < 1:
                    points.add((y, x))
        paths[(dy, dx)] = points
    return paths


def irn_dense_affinity(edge: np.ndarray, radius: int) -> np.ndarray:
    """IRN propagate_to_edge's dense affinity: the edge padded with 1 (left/right/bottom by
    radius), affinities of the cropped source space, symmetric, unit diagonal, then cropped."""
    h, w = edge.shape
    padded = np.pad(edge, ((0, radius), (radius, radius)), constant_values=1.0)
    ph, pw = padded.shape
    floor = radius - 1
    dense = np.zeros((ph * pw, ph * pw))
    for (dy, dx), path in irn_search_paths(radius).items():
        for y in range(ph - floor):
            for x in range(floor, pw - floor):
                aff = 1 - max(padded[y + py, x + px] for py, px in path)
                src, dst = y * pw + x, (y + dy) * pw + x + dx
                dense[src, dst] = aff
                dense[dst, src] = aff
    dense[np.arange(ph * pw), np.arange(ph * pw)] = 1.0
    dense = dense.reshape(ph, pw, ph, pw)[:h, radius:radius + w, :h, radius:radius + w]
    return dense.reshape(h * w, h * w)


def irn_normalize(image: np.ndarray) -> np.ndarray:
    out = np.empty(image.shape, np.float32)
    for c in range(3):
        out[..., c] = (image[..., c] / 255. - MEAN[c]) / STD[c]
    return out


def irn_pil_rescale(image: np.ndarray, scale: float, order: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (int(np.round(h * scale)), int(np.round(w * scale)))
    if size == (h, w):
        return image
    mode = Image.BICUBIC if order == 3 else Image.NEAREST
    return np.asarray(Image.fromarray(image).resize(size[::-1], mode))


def irn_make_cam(model, image: np.ndarray, label: np.ndarray, scales) -> dict:
    """IRN step/make_cam.py with net/resnet50_cam.py's CAM (no classifier bias)."""
    h, w = image.shape[:2]
    strided = ((h - 1) // 4 + 1, (w - 1) // 4 + 1)
    up = (((h - 1) // 16 + 1) * 16, ((w - 1) // 16 + 1) * 16)
    outputs = []
    for s in scales:
        img = image if s == 1 else irn_pil_rescale(image, s, 3)
        x = torch.from_numpy(irn_normalize(img).transpose(2, 0, 1).copy())
        x = torch.stack([x, x.flip(-1)])
        with torch.no_grad():
            o = F.relu(F.conv2d(model.feature_map(x), model.classifier[0].weight))
        outputs.append(o[0] + o[1].flip(-1))
    cam = sum(F.interpolate(o[None], strided, mode="bilinear", align_corners=False)[0]
              for o in outputs)
    high = sum(F.interpolate(o[:, None], up, mode="bilinear", align_corners=False)
               for o in outputs)[:, 0, :h, :w]
    keys = np.flatnonzero(label)
    cam, high = cam[keys], high[keys]
    cam /= F.adaptive_max_pool2d(cam, (1, 1)) + 1e-5
    high /= F.adaptive_max_pool2d(high, (1, 1)) + 1e-5
    return {"keys": keys, "cam": cam.numpy(), "high_res": high.numpy()}


# -- 1. path index and affinities ----------------------------------------------------------
@pytest.mark.parametrize("radius", [5, 10])
def test_path_index_equals_irn(radius):
    index = make_path_index(radius)
    reference = irn_search_paths(radius)
    ours = {}
    for (dy, dx), row in zip(index.directions.tolist(), index.table.tolist()):
        ours[(dy, dx)] = {tuple(index.offsets[i].tolist()) for i in row}
    assert ours == reference
    if radius == 5:  # 34 directions, 242 path pixels (a thin line would give 130)
        assert len(ours) == 34 and sum(len(p) for p in ours.values()) == 242


@pytest.mark.parametrize("radius", [3, 5])
def test_dense_affinity_equals_irn_propagate_to_edge(radius):
    rng = np.random.default_rng(radius)
    edge = rng.random((6, 7)).astype(np.float32)
    ours = dense_affinity(torch.from_numpy(edge), make_path_index(radius)).double().numpy()
    np.testing.assert_allclose(ours, irn_dense_affinity(edge, radius), atol=1e-6)


# -- 2, 3, 9. the CAM step -----------------------------------------------------------------
def test_make_cam_equals_irn_at_four_scales():
    torch.manual_seed(0)
    model = build_model("resnet18", method="cam", num_classes=20, output_stride=16).eval()
    with torch.no_grad():
        model.classifier[0].bias.fill_(0.7)  # IRN's CAM has no bias: it must not matter
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    label = np.zeros(20, np.float32)
    label[[3, 11]] = 1
    scales = (1.0, 0.5, 1.5, 2.0)
    ours = infer_cams(model, image, label, scales)
    ref = irn_make_cam(model, image, label, scales)
    np.testing.assert_array_equal(ours["keys"], ref["keys"])
    np.testing.assert_allclose(ours["cam"], ref["cam"], atol=1e-5)
    np.testing.assert_allclose(ours["high_res"], ref["high_res"], atol=1e-5)
    with_bias = infer_cams(model, image, label, scales, bias=True)
    assert not np.allclose(with_bias["high_res"], ref["high_res"], atol=1e-3)


def test_pil_rescale_is_irn_bicubic_with_numpy_rounding():
    image = np.random.default_rng(1).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    for scale in (0.5, 1.5, 2.0):
        np.testing.assert_array_equal(pil_rescale(image, scale, 3),
                                      irn_pil_rescale(image, scale, 3))
    assert pil_rescale(image, 0.5, 3).shape[:2] == (22, 30)  # round half to even
    label = np.arange(64 * 64).reshape(64, 64).astype(np.uint8)
    np.testing.assert_array_equal(pil_rescale(label, 0.25, 0), label[2::4, 2::4])


def test_image_without_classes_gets_an_empty_cam_file(tmp_path):
    from moana.data.synthetic import make_voc_dataset
    from moana.data.voc import read_id_list
    from moana.wsss.ir_label import ir_label_from_cam
    from moana.wsss.make_cam import load_cam, make_cams

    root = make_voc_dataset(tmp_path / "voc", seed=0, image_size=(24, 32), num_train=2,
                            num_val=1, num_classes=3)
    ids = read_id_list(root / "ImageSets" / "Segmentation" / "train.txt")
    labels = {i: np.zeros(20, np.float32) for i in ids}
    model = build_model("small", method="cam", num_classes=20).eval()
    assert make_cams(model, voc_root=root, image_ids=ids, cls_labels=labels,
                     out_dir=tmp_path / "cams", scales=(1.0, 0.5)) == len(ids)
    from moana.wsss._io import load_image_rgb, voc_image_path

    h, w = load_image_rgb(voc_image_path(root, ids[0])).shape[:2]
    cam = load_cam(tmp_path / "cams", ids[0])
    assert cam["keys"].size == 0 and cam["cam"].shape == (0, (h + 3) // 4, (w + 3) // 4)
    assert cam["high_res"].shape == (0, h, w)
    label = ir_label_from_cam(cam, np.zeros((h, w, 3), np.uint8), use_crf=False)
    assert (label == 0).all()


# -- 4. boundary network -------------------------------------------------------------------
def test_edge_net_forward_equals_irn_order():
    """IRN: conv -> GroupNorm -> Upsample(scale) -> ReLU, then crop to the stride-4 size."""
    torch.manual_seed(0)
    net = EdgeNet("resnet18", freeze_backbone=True).eval()
    x = torch.randn(2, 3, 37, 45)
    with torch.no_grad():
        feats, y = [], x
        for stage in net.stages:
            y = stage(y)
            feats.append(y)
        h, w = feats[0].shape[-2:]
        maps = []
        for head, f, scale in zip(net.heads, feats, (1, 1, 2, 4, 4)):
            z = head[1](head[0](f))
            if scale > 1:
                z = F.interpolate(z, scale_factor=scale, mode="bilinear", align_corners=False)
            maps.append(F.relu(z)[..., :h, :w])
        ref = net.classifier(torch.cat(maps, 1))
        np.testing.assert_allclose(net(x).numpy(), ref.numpy(), atol=1e-5)


def test_edge_map_pads_like_irn_edge_displacement():
    torch.manual_seed(0)
    net = EdgeNet("small", freeze_backbone=False).eval()
    image = np.random.default_rng(0).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    x = torch.from_numpy(irn_normalize(image).transpose(2, 0, 1).copy())
    batch = F.pad(torch.stack([x, x.flip(-1)]), [0, 64 - 41, 0, 64 - 30])
    with torch.no_grad():
        out = net(batch)[..., :8, :11]
    ref = torch.sigmoid(out[0, 0] / 2 + out[1, 0].flip(-1) / 2)
    ours = edge_map(net, image, pad_size=64)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5)
    assert not torch.allclose(edge_map(net, image, pad_size=None), ref, atol=1e-4)


# -- 5. affinity labels and loss -----------------------------------------------------------
def irn_affinity_labels(label: np.ndarray, radius: int):
    """GetAffinityLabelFromIndices on IRN's cropped index space, per direction."""
    h, w = label.shape
    floor = radius - 1
    out = {}
    src = label[:h - floor, floor:w - floor]  # (h - floor, w - 2 floor)
    for dy, dx in irn_search_paths(radius):
        dst = label[dy:dy + h - floor, floor + dx:floor + dx + w - 2 * floor]
        valid = (src < 21) & (dst < 21)
        equal = src == dst
        out[(dy, dx)] = ((equal & valid & (src == 0)), (equal & valid & (src > 0)),
                         (~equal & valid))
    return out


@pytest.mark.parametrize("radius", [3, 5])
def test_affinity_labels_and_loss_equal_irn(radius):
    rng = np.random.default_rng(radius)
    label = rng.choice([0, 2, 9, 255], size=(12, 14)).astype(np.int64)
    edge = torch.from_numpy(rng.random((1, 1, 12, 14))).float()
    index = make_path_index(radius)
    masks = pair_labels(torch.from_numpy(label)[None], index)
    ref = irn_affinity_labels(label, radius)
    floor = radius - 1
    aff = pair_affinity(edge, index)[0]
    totals = {"bg": [0.0, 0.0], "fg": [0.0, 0.0], "neg": [0.0, 0.0]}
    for d, key in enumerate(map(tuple, index.directions.tolist())):
        for k, name in enumerate(("bg", "fg", "neg")):
            ours = masks[k][0, d]
            inside = ours[:12 - floor, floor:14 - floor].numpy().astype(bool)
            np.testing.assert_array_equal(inside, ref[key][k])
            assert ours.sum() == inside.sum()  # nothing outside the cropped source space
            a = aff[d, :12 - floor, floor:14 - floor].double().numpy()
            loss = -np.log(a + 1e-5) if name != "neg" else -np.log(1 + 1e-5 - a)
            totals[name][0] += (loss * ref[key][k]).sum()
            totals[name][1] += ref[key][k].sum()
    mean = {k: s / (n + 1e-5) for k, (s, n) in totals.items()}
    expected = (mean["bg"] / 2 + mean["fg"] / 2 + mean["neg"]) / 2
    loss, _ = affinity_loss(edge, torch.from_numpy(label)[None], index)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    border = pair_labels(torch.from_numpy(label)[None], index, border_sources=True)
    assert border[0].sum() > masks[0].sum()


# -- 6. poly schedule ----------------------------------------------------------------------
def test_polynomial_lr_equals_irn_poly_optimizer():
    """IRN PolyOptimizer: before step k (0-based, k < max_step) lr = lr0 (1 - k/max)^0.9."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [param], "lr": 0.1}], lr=0.1)
    scheduler = poly_scheduler(optimizer, 17)
    for k in range(17):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (1 - k / 17) ** 0.9,
                                                                rel=1e-6, abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_train_cam_keeps_irn_frozen_stages_and_fixed_bn():
    from moana.wsss.train_cam import freeze_backbone_bn, freeze_early_stages

    torch.manual_seed(0)
    model = build_model("resnet18", method="cam", num_classes=20, output_stride=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters()], lr=0.1)
    model.train()
    freeze_early_stages(model, "layer3")
    freeze_backbone_bn(model)
    loss = F.multilabel_soft_margin_loss(model(torch.randn(2, 3, 64, 64)),
                                         torch.tensor([[1.0] + [0.0] * 19] * 2))
    loss.backward()
    optimizer.step()
    after = model.state_dict()
    for key in before:
        if key.startswith(("conv1.", "bn1.", "layer1.", "layer2.")) or "running" in key:
            assert torch.equal(before[key], after[key]), key  # frozen / fixed statistics
    assert not torch.equal(before["layer3.0.bn1.weight"], after["layer3.0.bn1.weight"])
    with pytest.raises(ValueError, match="ResNet"):
        freeze_early_stages(build_model("small", method="cam", num_classes=20), "layer3")


# -- 8, 10. threshold ties, read-only CRF input --------------------------------------------
def test_threshold_sweep_ties_agree_with_irn_padding():
    from moana.metrics.segmentation import ThresholdSweep, cams_to_segmentation

    cams = np.full((1, 2, 2), np.float32(0.15), np.float32)
    cams[0, 0, 0] = 0.5
    gt = np.array([[1, 0], [0, 0]])
    sweep = ThresholdSweep([0.1, 0.15, 0.2], num_classes=2, ignore_index=255)
    sweep.update(cams, [0], gt)
    direct = cams_to_segmentation(cams, [0], 0.15)  # IRN: float32 background plane
    assert (direct == np.array([[1, 0], [0, 0]])).all()
    matrix = np.zeros((2, 2), np.int64)
    np.add.at(matrix, (gt.ravel(), direct.ravel()), 1)
    np.testing.assert_array_equal(sweep.confusions()[1], matrix)


def test_crf_accepts_a_read_only_image():
    pytest.importorskip("pydensecrf.densecrf")
    from moana.wsss.ir_label import crf_inference_label

    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = 200
    image.setflags(write=False)
    labels = np.zeros((16, 16), np.int64)
    labels[5:11, 5:11] = 1
    out = crf_inference_label(image, labels, 2)
    assert out.shape == (16, 16) and set(np.unique(out)) <= {0, 1}
