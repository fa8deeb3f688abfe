"""ADL: Attention-based Dropout Layer (Choe & Shim, CVPR 2019) at wsolevaluation's insertion
points (clovaai/wsolevaluation ``wsol/method/adl.py``, ``wsol/{vgg,resnet,inception}.py``).

The layer is :class:`moana.nn.adl.ADL` (identity at evaluation; in training one draw per pass
picks the drop mask ``mean_c(x) < adl_threshold * max`` with probability ``adl_drop_rate``, else
the importance map ``sigmoid(mean_c(x))``).  Insertion points (:data:`ADL_POSITIONS`):

- vgg16: after pool3, after conv4_3 (+ReLU, before pool4), after conv5_3 (+ReLU);
- resnet50: after the first bottleneck of layer3, after the first and third bottlenecks of layer4;
- inception_v3: after Mixed_5d, after Mixed_6e and after the head's second 3x3 convolution (+ReLU),
  whose dropouts wsolevaluation's ADL network does not have;
- small (ours, not in wsolevaluation): after layer3 and after layer4.

The network is otherwise the CAM network; the loss is cross entropy.
"""

from __future__ import annotations

from moana.nn.adl import ADL

__all__ = ["ADL_POSITIONS", "adl_layer"]

ADL_POSITIONS = {
    "vgg16": ("features.16", "features.22", "features.29"),
    "resnet50": ("layer3.0", "layer4.0", "layer4.2"),
    "inception_v3": ("Mixed_5d", "Mixed_6e", "head (second conv)"),
    "small": ("layer3", "layer4"),
}


def adl_layer(channels: int, method_kw: dict) -> ADL:
    """An ADL layer with ``method_kw``'s ``adl_drop_rate`` and ``adl_threshold``."""
    return ADL(channels, drop_rate=method_kw["adl_drop_rate"], drop_threshold=method_kw["adl_threshold"])
