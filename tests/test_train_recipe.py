"""The recipes of the references (moana.train.recipe), restated here from their sources:

* wsolevaluation ``main.py``: ``_set_optimizer`` puts a parameter in the ``lr *
  lr_classifier_ratio`` group by a substring rule on its name (VGG16 ``features.`` and
  Inception-v3 ``Mixed`` / ``Conv2d_1``..``Conv2d_4`` are the slow group, ResNet-50 ``layer4.`` /
  ``fc.`` the fast one), SGD with Nesterov; ``adjust_learning_rate(epoch + 1)`` before each epoch
  multiplies every rate by 0.1 when the 1-based epoch is a multiple of the decay frequency;
  ``wsol/util.py`` starts a linear layer at normal(0, 0.01) with a zero bias and a convolution at
  Xavier-uniform (or Kaiming fan-out for ``he``) with a zero bias; ``wsol/resnet.py`` keeps the
  ImageNet ``fc`` for ILSVRC cam / has / cutmix / adl.
* ku-milab/MoANA ``Localization/main.py``: ``layer_optim`` puts ``layer4[3]`` (the MoANA module)
  and the classifier at ``lr``, the rest at ``backbone_lr``; no Nesterov; MultiStepLR stepped once
  after every epoch (``trainer.py``); ``models/resnet.py`` inits every convolution Kaiming-normal
  (fan-out) and leaves the biases at PyTorch's default.

For every paper config the learning rate of every parameter at every epoch, Nesterov and the
classifier's initial statistics are checked against these restatements. Models for the rate
checks are built on the meta device (names and shapes only); one real model per config is built
for the initialisation checks.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from moana.models import load_wsolevaluation_checkpoint
from moana.models.build import build_model
from moana.models.wsolevaluation import wsolevaluation_to_moana
from moana.train.config import available_configs, load_config
from moana.train.recipe import (build_optimizer, init_new_layers, wsolevaluation_milestones,
                                wsolevaluation_name)
from wsolevaluation_restated import randomize, wsol_model

PAPER = [n for n in available_configs() if n.startswith(("cub_", "ilsvrc_"))]
CLASSES = {"CUB": 200, "ILSVRC": 1000}
WSOL_METHODS = ("cam", "has", "cutmix", "acol", "spg", "adl")
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")


def test_the_paper_configs_are_the_42_and_name_their_recipe() -> None:
    assert len(PAPER) == 42
    recipes = {n: load_config(n).optim.recipe for n in PAPER}
    official = {n for n, r in recipes.items() if r == "official_moana"}
    assert official == {"ilsvrc_resnet50_moana", "ilsvrc_vgg16_moana", "ilsvrc_inception_v3_moana"}
    assert all(r == "wsolevaluation" for n, r in recipes.items() if n not in official)


# --------------------------------------------------------------------------- restatements


def restated_adjust_learning_rate(base: float, frequency: int, epochs: int) -> list[float]:
    """The rate each 1-based epoch of wsolevaluation's main loop trains at."""
    lr, out = base, []
    for epoch in range(epochs):
        if (epoch + 1) != 0 and (epoch + 1) % frequency == 0:
            lr *= 0.1
        out.append(lr)
    return out


def restated_multistep_after_epoch(base: float, milestones: list[int], gamma: float,
                                   epochs: int) -> list[float]:
    """The official MoANA loop: train epoch e (1-based), then ``scheduler.step()``."""
    return [base * gamma ** sum(m <= e - 1 for m in milestones) for e in range(1, epochs + 1)]


_PATTERNS = {"vgg16": ["features."], "resnet50": ["layer4.", "fc."],
             "inception_v3": ["Mixed", "Conv2d_1", "Conv2d_2", "Conv2d_3", "Conv2d_4"]}


def restated_set_optimizer_is_fast(arch: str, wsol_name: str) -> bool:
    """wsolevaluation ``_set_optimizer``: True for the ``lr * lr_classifier_ratio`` group."""
    matches = any(p in wsol_name for p in _PATTERNS[arch])
    return matches if arch == "resnet50" else not matches


def restated_layer_optim_is_fast(model: nn.Module, name: str) -> bool:
    """The official ``layer_optim`` (ResNet-50: ``layer4[3]`` = the MoANA module, the classifier);
    on the other backbones the same intent: the new layers."""
    if model.arch == "resnet50":
        return name.startswith(("layer4.3.", "classifier."))
    return name in model.new_parameter_names()


# --------------------------------------------------------------------------- models


@functools.cache
def meta_model(arch: str, method: str, large: bool, attention: tuple) -> nn.Module:
    with torch.device("meta"):
        return build_model(arch, method=method, num_classes=7, large_feature_map=large,
                           attention_kw=dict(attention) or None)


def _meta_for(config) -> nn.Module:
    m = config.model
    return meta_model(m.arch, m.method, m.large_feature_map, tuple(sorted(m.attention_kw.items())))


@functools.cache
def wsol_names_fast(arch: str, method: str) -> frozenset[str]:
    """Our names of the parameters wsolevaluation's own network puts in the fast group."""
    layout = "cam" if method in ("has", "cutmix") else method
    with torch.device("meta"):
        ref = wsol_model(arch, layout, 7, arch != "vgg16")
        ours = meta_model(arch, method, arch != "vgg16", ())
    theirs = dict(ref.named_parameters())
    mapped = list(wsolevaluation_to_moana(theirs, ours))  # the loader keeps the order of the keys
    assert len(mapped) == len(theirs)
    return frozenset(m for m, n in zip(mapped, theirs) if restated_set_optimizer_is_fast(arch, n))


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(("frequency", "epochs"), [(15, 50), (3, 10), (4, 10), (1, 3), (11, 10)])
def test_milestones_decay_at_adjust_learning_rate_epochs(frequency, epochs) -> None:
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, wsolevaluation_milestones(frequency, epochs), 0.1)
    got = []
    for _ in range(epochs):
        got.append(opt.param_groups[0]["lr"])
        sched.step()
    assert got == pytest.approx(restated_adjust_learning_rate(1.0, frequency, epochs), rel=1e-12)


def test_wsolevaluation_names_equal_the_checkpoint_loader_s() -> None:
    """Our translation to wsolevaluation's names is the loader's translation read backwards (ADL's
    shifted ResNet block indices excepted: the rule sees only ``layer4.``)."""
    for arch in _PATTERNS:
        for method in WSOL_METHODS:
            if (arch, method) == ("resnet50", "adl"):
                continue
            ours = meta_model(arch, method, arch != "vgg16", ())
            theirs = {wsolevaluation_name(ours, n): p for n, p in ours.named_parameters()}
            assert set(wsolevaluation_to_moana(theirs, ours)) == {n for n, _ in ours.named_parameters()}


def _lrs_per_epoch(model: nn.Module, optim) -> list[dict[str, float]]:
    optimizer, scheduler = build_optimizer(model, optim)
    by_id = {id(p): n for n, p in model.named_parameters()}
    out = []
    for _ in range(optim.epochs):
        out.append({by_id[id(p)]: g["lr"] for g in optimizer.param_groups for p in g["params"]})
        scheduler.step()
    return out, optimizer


@pytest.mark.parametrize("name", PAPER)
def test_every_parameter_s_rate_at_every_epoch_is_the_reference_s(name) -> None:
    config = load_config(name)
    o, model = config.optim, _meta_for(config)
    got, optimizer = _lrs_per_epoch(model, o)
    assert o.lr == pytest.approx(10 * o.backbone_lr, rel=1e-6)  # lr_classifier_ratio 10 / 0.02 : 0.002
    names = [n for n, _ in model.named_parameters()]
    if o.recipe == "wsolevaluation":
        assert all(g["nesterov"] for g in optimizer.param_groups)
        if config.model.method in WSOL_METHODS:
            fast = wsol_names_fast(config.model.arch, config.model.method)
        else:  # MoANA on wsolevaluation's CAM network: the module is new, the rule as for cam
            cam_fast = wsol_names_fast(config.model.arch, "cam")
            fast = {n for n in names if n in cam_fast or n.startswith(("attention.", "layer4.3."))}
        schedule = restated_adjust_learning_rate(1.0, o.lr_decay_frequency, o.epochs)
    else:
        assert o.recipe == "official_moana"
        assert not any(g["nesterov"] for g in optimizer.param_groups)
        fast = {n for n in names if restated_layer_optim_is_fast(model, n)}
        schedule = restated_multistep_after_epoch(1.0, [5, 10, 15], 0.1, o.epochs)
        assert o.milestones == [5, 10, 15] and o.epochs == 20
    for epoch, rates in enumerate(got):
        for n in names:
            want = (o.lr if n in fast else o.backbone_lr) * schedule[epoch]
            assert rates[n] == pytest.approx(want, rel=1e-9), (name, epoch, n)


def test_resnet50_layer4_trains_at_10x_and_acol_heads_at_1x() -> None:
    """Item 3 of the recipe in numbers: ResNet-50's layer4 in the fast group, ACoL's and SPG's
    heads in the slow one; VGG16 SPG's conv4/conv5 blocks (their SPG_A_1 / SPG_A_2) fast."""
    fast = wsol_names_fast("resnet50", "acol")
    assert "layer4.0.conv1.weight" in fast and "classifier_A.0.weight" not in fast
    spg = wsol_names_fast("resnet50", "spg")
    assert "classifier.0.weight" not in spg and "SPG_C.0.weight" not in spg
    assert "features.17.weight" in wsol_names_fast("vgg16", "spg")
    assert "features.17.weight" not in wsol_names_fast("vgg16", "cam")


# --------------------------------------------------------------------------- initialisation


@pytest.fixture(scope="module")
def imagenet_fc(tmp_path_factory):
    """A stand-in torchvision ResNet-50 file: only its fc matters here."""
    path = tmp_path_factory.mktemp("weights") / "resnet50_fc.pth"
    gen = torch.Generator().manual_seed(0)
    torch.save({"fc.weight": torch.randn(1000, 2048, generator=gen),
                "fc.bias": torch.randn(1000, generator=gen)}, path)
    return path


def _real_model(config, pretrained):
    m = config.model
    torch.manual_seed(0)
    model = build_model(m.arch, method=m.method, num_classes=CLASSES[config.data.dataset],
                        large_feature_map=m.large_feature_map, attention_kw=m.attention_kw or None)
    return init_new_layers(model, config.optim.recipe, dataset=config.data.dataset,
                           pretrained=pretrained if m.pretrained else None)


def _assert_normal(w: torch.Tensor, std: float) -> None:
    assert abs(w.mean().item()) < 0.05 * std and w.std().item() == pytest.approx(std, rel=0.03)


def _assert_xavier_uniform(w: torch.Tensor) -> None:
    fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert w.abs().max().item() <= bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def _final_conv(model: nn.Module) -> nn.Conv2d:
    return model.classifier_A[-1] if model.method == "acol" else model.classifier[0]


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n.startswith("cub_resnet50")
                                               or n in ("ilsvrc_resnet50_cam", "ilsvrc_resnet50_moana")
                                               else [pytest.mark.slow]) for n in PAPER])
def test_the_classifier_starts_as_the_reference_s(name, imagenet_fc) -> None:
    config = load_config(name)
    model = _real_model(config, imagenet_fc)
    arch, method, conv = model.arch, model.method, _final_conv(model)
    w, b = conv.weight.detach(), conv.bias.detach()
    if config.optim.recipe == "official_moana":  # Kaiming fan-out, PyTorch's default bias
        _assert_normal(w, math.sqrt(2.0 / (w.shape[0] * w[0, 0].numel())))
        assert b.abs().max().item() <= 1 / math.sqrt(w[0].numel()) and b.abs().max() > 0
        return
    if arch == "resnet50" and method in ("cam", "has", "cutmix", "adl") and config.data.dataset == "ILSVRC":
        state = torch.load(imagenet_fc, weights_only=True)
        assert torch.equal(w.flatten(1), state["fc.weight"]) and torch.equal(b, state["fc.bias"])
        return
    assert torch.count_nonzero(b) == 0
    if arch == "resnet50" and method == "acol":  # wsol/resnet.py: initialize_weights(..., 'he')
        _assert_normal(w, math.sqrt(2.0 / w.shape[0]))
    elif arch == "inception_v3" or method in ("acol", "spg"):  # Xavier ('xavier' networks)
        _assert_xavier_uniform(w)
    else:  # VGG16 / ResNet-50 CAM network: the linear fc at normal(0, 0.01)
        _assert_normal(w, 0.01)


# --------------------------------------------------------------------------- configs, loader


def test_recipe_options_are_checked_and_eval_presets_apply() -> None:
    with pytest.raises(ValueError, match="lr_decay_frequency"):
        load_config("cub_resnet50_cam", ["optim.milestones=[3]"])
    with pytest.raises(ValueError, match="optim.recipe"):
        load_config("smoke_cam", ["optim.recipe=other"])
    official = load_config("ilsvrc_resnet50_moana", ["eval.preset=official_moana"]).eval
    assert (official.cam_step, official.multi_contour, official.cam_normalization) == \
        (0.01, False, "moana_official")
    default = load_config("ilsvrc_resnet50_moana").eval
    assert (default.checkpoint, default.preset, default.cam_step, default.multi_contour) == \
        ("last", "wsolevaluation", 0.001, True)
    assert load_config("smoke_cam").optim.recipe == "kit"
    with pytest.raises(ValueError, match="wsolevaluation has no 'small'"):
        build_optimizer(build_model("small", method="cam", num_classes=2),
                        load_config("smoke_cam", ["optim.recipe=wsolevaluation"]).optim)


def test_acol_threshold_comes_from_the_wsolevaluation_run_s_arguments(tmp_path) -> None:
    ref = wsol_model("vgg16", "acol", 3, False).eval()
    path = tmp_path / "last_checkpoint.pth.tar"
    torch.save({"architecture": "vgg16", "state_dict": randomize(ref)}, path)
    from argparse import Namespace

    model = load_wsolevaluation_checkpoint(path, arch="vgg16", method="acol",
                                           run_args=Namespace(acol_threshold=0.4, lr=0.1))
    assert model.method_kw["acol_threshold"] == 0.4
    model = load_wsolevaluation_checkpoint(path, arch="vgg16", method="acol",
                                           run_args={"acol_threshold": 0.4},
                                           method_kw={"acol_threshold": 0.6})
    assert model.method_kw["acol_threshold"] == 0.6


def test_the_grid_table_says_which_evaluation_was_used() -> None:
    from moana.experiments.grid import evaluation_label

    assert evaluation_label(load_config("ilsvrc_resnet50_moana").eval) == "wsolevaluation"
    assert evaluation_label(load_config("smoke_cam").eval) == "minmax, step 0.01, all contours"
