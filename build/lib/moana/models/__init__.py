"""Backbones with CAM heads (ResNet, VGG16, Inception-v3 as in wsolevaluation / official MoANA)."""

from moana.models.build import ARCHS, build_model, methods
from moana.models.camnet import CAMNet
from moana.models.cost import ModelCost, count_parameters, model_cost
from moana.models.official import load_official_checkpoint

__all__ = [
    "ARCHS",
    "CAMNet",
    "ModelCost",
    "build_model",
    "count_parameters",
    "load_official_checkpoint",
    "methods",
    "model_cost",
]
