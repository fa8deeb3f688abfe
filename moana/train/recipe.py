"""The training recipe around the step: parameter groups, Nesterov, the decay epochs and the
initialisation of the new layers, each rule as one of the two references writes it.

``optim.recipe`` names the rule set:

* ``wsolevaluation`` — clovaai/wsolevaluation (Choe et al., CVPR 2020), ``main.py`` and
  ``wsol/*.py``, for every one of its methods:

  - groups (``Trainer._set_optimizer``): a parameter is put in one of two groups by a substring
    rule on its *wsolevaluation* name: VGG16 ``features.`` and Inception-v3 ``Mixed`` /
    ``Conv2d_1`` .. ``Conv2d_4`` are the 1x group, everything else 10x; ResNet-50 ``layer4.`` and
    ``fc.`` are the 10x group, everything else 1x. Our names are first translated to theirs
    (:func:`wsolevaluation_name`): our ``classifier.0`` is their ``fc`` (``SPG_A4`` /
    ``SPG_A_4`` for SPG), VGG16 SPG's ``features.17``-``21`` / ``24``-``28`` are their
    ``SPG_A_1`` / ``SPG_A_2`` and ResNet-50 SPG's ``layer3`` blocks their ``SPG_A1`` /
    ``SPG_A2``. The 10x group runs at ``optim.lr``, the 1x group at ``optim.backbone_lr``;
  - SGD with ``nesterov=True``;
  - the decay (``adjust_learning_rate(epoch + 1)`` called before each epoch): with a decay
    frequency ``f`` the 1-based epochs ``f, 2f, ...`` already run at 0.1x, i.e. MultiStepLR
    milestones ``k * f - 1`` (:func:`wsolevaluation_milestones`), set by
    ``optim.lr_decay_frequency``;
  - new layers (``wsol/util.py``'s ``initialize_weights``): the linear classifier ``fc`` of the
    VGG16 / ResNet-50 CAM network (cam, has, cutmix, adl) starts at normal(0, 0.01) with a zero
    bias, ResNet-50 SPG's classifier ``SPG_A4`` at Xavier-uniform with a zero bias (the other
    new layers already follow ``wsol/*.py`` in :mod:`moana.models`);
  - ILSVRC ResNet-50 (cam, has, cutmix, adl) keeps the ImageNet ``fc`` (``load_pretrained_model``
    removes it only for other datasets and for acol / spg).

* ``official_moana`` — ku-milab/MoANA ``Localization/main.py`` and ``models/resnet.py``: the
  ``layer_optim`` groups (the MoANA module and the classifier at ``lr``, the rest at
  ``backbone_lr``; :meth:`moana.models.camnet.CAMNet.param_groups`), no Nesterov, MultiStepLR
  at ``optim.milestones`` stepped after each epoch, and every convolution of the new layers at
  Kaiming-normal (fan-out, ReLU) with PyTorch's default bias (the official constructor inits
  all convolutions so, then loads the backbone).

* ResNet-18 (not a wsolevaluation backbone) takes the ResNet rules of ``wsolevaluation``.

* ``kit`` — this kit's own: the ``CAMNet.param_groups`` split, ``optim.nesterov`` as given,
  ``optim.milestones``, the models' own initialisation (the smoke configs).
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

__all__ = ["RECIPES", "WSOLEVALUATION_PATTERNS", "build_optimizer", "init_new_layers",
           "param_groups", "recipe_milestones", "recipe_nesterov", "wsolevaluation_milestones",
           "wsolevaluation_name"]

RECIPES = ("kit", "wsolevaluation", "official_moana")

#: wsolevaluation ``main.py`` ``_FEATURE_PARAM_LAYER_PATTERNS`` restated: per architecture, the
#: substrings and whether a matching name is in the 10x group (ResNet) or the 1x group.
#: Keyed, as there, by how the architecture's name starts (ResNet-18 takes the ResNet rule).
WSOLEVALUATION_PATTERNS: dict[str, tuple[tuple[str, ...], bool]] = {
    "vgg": (("features.",), False),
    "resnet": (("layer4.", "fc."), True),
    "inception": (("Mixed", "Conv2d_1", "Conv2d_2", "Conv2d_3", "Conv2d_4"), False),
}
#: methods whose wsolevaluation ResNet-50 / VGG16 network ends in the linear ``fc``.
_FC_METHODS = ("cam", "has", "cutmix", "adl")


def wsolevaluation_name(model: nn.Module, name: str) -> str:
    """The name wsolevaluation's ``wsol/*.py`` gives our parameter ``name`` (where it differs in
    a way the grouping rule sees; other names are returned as they are)."""
    arch, method = _family(model.arch), model.method
    if name.startswith("classifier.0.") and arch in ("vgg", "resnet"):
        head = {"vgg": "SPG_A_4.", "resnet": "SPG_A4."}[arch] if method == "spg" else "fc."
        return head + name[len("classifier.0."):]
    if method != "spg":
        return name
    if arch == "vgg" and (m := re.match(r"features\.(\d+)\.(.*)", name)):
        index = int(m[1])
        if 17 <= index <= 21:
            return f"SPG_A_1.{index - 17}.{m[2]}"
        if 24 <= index <= 28:
            return f"SPG_A_2.{index - 24}.{m[2]}"
    if arch == "resnet" and (m := re.match(r"layer3\.(\d+)\.(.*)", name)):
        block = int(m[1])
        return f"SPG_A1.0.{m[2]}" if block == 0 else f"SPG_A2.{block - 1}.{m[2]}"
    return name


def _family(arch: str) -> str:
    return next((key for key in WSOLEVALUATION_PATTERNS if arch.startswith(key)), arch)


def _wsolevaluation_is_10x(model: nn.Module, name: str) -> bool:
    family = _family(model.arch)
    if family not in WSOLEVALUATION_PATTERNS:
        raise ValueError(f"optim.recipe=wsolevaluation: wsolevaluation has no {model.arch!r} "
                         "backbone (vgg16, resnet50 or inception_v3; resnet18 takes the ResNet rule)")
    patterns, match_is_10x = WSOLEVALUATION_PATTERNS[family]
    theirs = wsolevaluation_name(model, name)
    return any(p in theirs for p in patterns) == match_is_10x


def param_groups(model: nn.Module, recipe: str, lr: float, backbone_lr: float) -> list[dict]:
    """Optimizer groups ``backbone`` (at ``backbone_lr``) and ``new`` (at ``lr``) by ``recipe``'s
    rule (module docstring). Empty groups are left out."""
    _check(recipe)
    if recipe != "wsolevaluation":
        return model.param_groups(lr, backbone_lr)
    fast, slow = [], []
    for name, p in model.named_parameters():
        (fast if _wsolevaluation_is_10x(model, name) else slow).append(p)
    groups = [{"params": slow, "lr": backbone_lr, "name": "backbone"},
              {"params": fast, "lr": lr, "name": "new"}]
    return [g for g in groups if g["params"]]


def wsolevaluation_milestones(frequency: int, epochs: int) -> list[int]:
    """MultiStepLR milestones (stepped after each epoch) that decay at the epochs of
    wsolevaluation's ``adjust_learning_rate(epoch + 1)``: 0-based epoch ``j`` runs at
    ``0.1 ** ((j + 1) // frequency)``."""
    if frequency < 1:
        raise ValueError(f"optim.lr_decay_frequency must be >= 1, got {frequency}")
    return [k * frequency - 1 for k in range(1, epochs // frequency + 1)]


def recipe_milestones(optim: Any) -> list[int]:
    """The MultiStepLR milestones of an ``OptimConfig``: from ``lr_decay_frequency`` when set
    (wsolevaluation's decay epochs), else ``milestones``."""
    if optim.lr_decay_frequency is not None:
        return wsolevaluation_milestones(optim.lr_decay_frequency, optim.epochs)
    return list(optim.milestones)


def recipe_nesterov(optim: Any) -> bool:
    """``optim.nesterov`` when given, else the recipe's: True for wsolevaluation (``main.py``
    builds SGD with ``nesterov=True``), False for the official MoANA code and the kit."""
    _check(optim.recipe)
    if optim.nesterov is not None:
        return bool(optim.nesterov)
    return optim.recipe == "wsolevaluation"


def build_optimizer(model: nn.Module, optim: Any):
    """SGD and MultiStepLR of an ``OptimConfig`` (groups, Nesterov and milestones by its recipe)."""
    import torch

    optimizer = torch.optim.SGD(param_groups(model, optim.recipe, optim.lr, optim.backbone_lr),
                                lr=optim.lr, momentum=optim.momentum,
                                weight_decay=optim.weight_decay, nesterov=recipe_nesterov(optim))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=recipe_milestones(optim),
                                                     gamma=optim.gamma)
    return optimizer, scheduler


def init_new_layers(model: nn.Module, recipe: str, *, dataset: str = "",
                    pretrained: Any = None) -> nn.Module:
    """Initialise ``model``'s new layers as ``recipe`` does (module docstring), in place.

    ``dataset`` / ``pretrained``: wsolevaluation keeps the ImageNet ``fc`` of ResNet-50 on ILSVRC
    (cam, has, cutmix, adl); it is loaded from ``pretrained`` then.
    """
    _check(recipe)
    if recipe == "official_moana":
        for name in model._new_modules:
            for m in model.get_submodule(name).modules():
                if isinstance(m, nn.Conv2d):
                    m.reset_parameters()  # PyTorch's default bias, as nn.Conv2d leaves it
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        return model
    family = _family(model.arch)
    if recipe != "wsolevaluation" or family not in ("vgg", "resnet"):
        return model
    conv = model.classifier[0] if hasattr(model, "classifier") else None
    if conv is None or model.method == "acol" or (model.method == "spg" and family == "vgg"):
        return model  # ACoL heads and VGG16 SPG: already wsol/*.py's init in moana.models
    if model.method == "spg":
        nn.init.xavier_uniform_(conv.weight)
    else:
        nn.init.normal_(conv.weight, 0.0, 0.01)
    nn.init.zeros_(conv.bias)
    keeps_fc = (family == "resnet" and model.method in _FC_METHODS
                and dataset == "ILSVRC" and pretrained not in (None, False))
    if keeps_fc:
        from moana.models.weights import load_pretrained_classifier

        load_pretrained_classifier(model, pretrained)
    return model


def _check(recipe: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"optim.recipe must be one of {list(RECIPES)}, got {recipe!r}")
