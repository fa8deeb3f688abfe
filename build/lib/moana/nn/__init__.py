"""Attention layers (MoANA and the baselines it is compared with), one small file each."""

from moana.nn.factory import attention_names, create_attention, get_attention_class
from moana.nn.moana import MoANA

__all__ = ["MoANA", "attention_names", "create_attention", "get_attention_class"]
