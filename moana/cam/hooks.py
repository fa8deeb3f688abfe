"""CAMs of any classifier that ends in global average pooling + a linear layer, via a hook.

Class activation mapping (Zhou et al., "Learning Deep Features for Discriminative Localization",
CVPR 2016): for features ``f`` (B, C, h, w) of the last convolutional layer and the weights
``W`` (K, C) of the linear classifier applied to their global average, the CAM of class k is
``M_k = sum_c W[k, c] f_c`` (B, h, w). In the spirit of pytorch-grad-cam's ``target_layers``, a
forward hook on ``target_layer`` captures ``f`` during the model's own forward, so any model
works unchanged (a torchvision ResNet with MoANA appended to ``layer4``, a timm model, the kit's
``CAMNet``)::

    extractor = CAMExtractor(net, target_layer=net.layer4, classifier=net.fc)
    logits, maps = extractor.forward_with_maps(images)    # (B, K), (B, K, h, w)
    cams = extractor.cams(images, labels)                  # (B, h, w)

``CAMExtractor`` is an ``nn.Module`` with ``forward`` / ``forward_with_maps`` / ``cams`` like
:class:`moana.models.CAMNet`, so :mod:`moana.cam.extract` turns its maps into score maps for
:class:`moana.metrics.BoxEvaluator` as for the kit's own networks.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def _resolve(model: nn.Module, layer: nn.Module | str, what: str) -> nn.Module:
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as err:
            raise ValueError(f"{what} {layer!r} is not a submodule of {type(model).__name__}") from err
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"{what} {type(layer).__name__} is not a submodule of the model")
    return layer


def linear_weights(classifier: nn.Module) -> tuple[Tensor, Tensor | None]:
    """(weight (K, C), bias (K,) or None) of an ``nn.Linear``, a 1x1 ``nn.Conv2d`` or an
    ``nn.Sequential`` holding exactly one of them. Raises ValueError for anything else."""
    if isinstance(classifier, nn.Sequential):
        layers = [m for m in classifier if isinstance(m, (nn.Linear, nn.Conv2d))]
        if len(layers) != 1:
            raise ValueError("the classifier Sequential must hold exactly one Linear or 1x1 Conv2d")
        classifier = layers[0]
    if isinstance(classifier, nn.Linear):
        return classifier.weight, classifier.bias
    if isinstance(classifier, nn.Conv2d) and classifier.kernel_size == (1, 1) \
            and classifier.groups == 1:
        return classifier.weight.flatten(1), classifier.bias
    raise ValueError(f"classifier must be nn.Linear or a 1x1 nn.Conv2d, got {type(classifier).__name__}")


class CAMExtractor(nn.Module):
    """Wrap ``model``; a forward hook on ``target_layer`` keeps its output (B, C, h, w).

    Args:
        model: any classifier whose logits are ``classifier(GAP(target_layer output))``.
        target_layer: the module (or its dotted name) whose output the classifier pools.
        classifier: the linear head (module or name): ``nn.Linear`` (K, C), a 1x1
            ``nn.Conv2d`` or a ``Sequential`` holding one.
        include_bias: add the classifier's bias to each map (a constant per class: it changes
            neither the min-max score map nor the box metrics). Default False, CAM as defined by
            Zhou et al.; True gives maps whose spatial mean equals the logits (and equals
            ``CAMNet.forward_with_maps`` for the kit's networks).
        check: on every call, verify that the logits equal the spatial mean of the maps (bias
            included) and raise ValueError when they do not (the head is not GAP + linear over
            ``target_layer``, so the maps would not explain the prediction).

    Shapes: images (B, 3, H, W) -> logits (B, K), maps (B, K, h, w), cams (B, h, w), float32.
    Call :meth:`remove` to detach the hook.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module | str,
                 classifier: nn.Module | str, *, include_bias: bool = False,
                 check: bool = True) -> None:
        super().__init__()
        self.model = model
        self.target_layer = _resolve(model, target_layer, "target_layer")
        self.classifier = _resolve(model, classifier, "classifier")
        linear_weights(self.classifier)  # fail early on an unsupported head
        self.include_bias = include_bias
        self.check = check
        self._features: Tensor | None = None
        self._handle = self.target_layer.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if not isinstance(output, Tensor) or output.dim() != 4:
            raise ValueError(f"target_layer output must be a (B, C, h, w) tensor, got "
                             f"{type(output).__name__} {getattr(output, 'shape', '')}")
        self._features = output

    def remove(self) -> None:
        """Detach the forward hook (the wrapped model is left as it was)."""
        self._handle.remove()

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        """The model's logits (B, K); ``labels`` is accepted and ignored (CAMNet's signature)."""
        return self.model(images)

    def forward_with_maps(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(logits (B, K), class maps (B, K, h, w)) from one forward of the model."""
        self._features = None
        logits = self.model(images)
        features = self._features
        self._features = None
        if features is None:
            raise ValueError("target_layer did not run in the model's forward")
        weight, bias = linear_weights(self.classifier)
        if weight.shape[1] != features.shape[1]:
            raise ValueError(f"classifier expects {weight.shape[1]} channels, target_layer "
                             f"gives {features.shape[1]}")
        maps = torch.einsum("kc,bchw->bkhw", weight.to(features.dtype), features)
        with_bias = maps if bias is None else maps + bias.to(maps.dtype)[None, :, None, None]
        if self.check:
            self._check(logits, with_bias, features)
        return logits, (with_bias if self.include_bias else maps)

    @staticmethod
    def _check(logits: Tensor, maps: Tensor, features: Tensor | None = None) -> None:
        if not isinstance(logits, Tensor) or logits.shape != maps.shape[:2]:
            raise ValueError(f"model output {getattr(logits, 'shape', type(logits).__name__)} "
                             f"is not (B, K) = {tuple(maps.shape[:2])}")
        pooled = maps.float().mean(dim=(2, 3))
        logits = logits.detach().float()
        # rounding of the lowest precision involved (bf16 autocast: eps 2**-7), scaled by the
        # magnitude of the logits and of the pooled terms; float32 keeps the fixed 1e-3 floor
        dtypes = [logits.dtype, maps.dtype] + ([features.dtype] if features is not None else [])
        eps = max(torch.finfo(d).eps for d in dtypes if d.is_floating_point)
        tol = max(1e-3, 8 * eps) * (1.0 + logits.abs().max())
        if (pooled - logits).abs().max() > tol:
            raise ValueError("the logits are not the classifier applied to the global average "
                             "of target_layer's output, so these CAMs would not explain them "
                             "(pick the last feature layer and its linear head, or check=False)")

    def cams(self, images: Tensor, labels: Tensor | Iterable[int]) -> Tensor:
        """CAM of class ``labels[i]`` for each image, (B, h, w), unnormalized."""
        labels = torch.as_tensor(list(labels) if not isinstance(labels, Tensor) else labels,
                                 device=images.device).long().reshape(-1)
        if labels.numel() != images.shape[0]:
            raise ValueError(f"got {labels.numel()} labels for a batch of {images.shape[0]} images")
        num_classes = linear_weights(self.classifier)[0].shape[0]
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be in [0, {num_classes}), got {labels.tolist()}")
        _, maps = self.forward_with_maps(images)
        return maps[torch.arange(maps.shape[0], device=maps.device), labels.to(maps.device)]
