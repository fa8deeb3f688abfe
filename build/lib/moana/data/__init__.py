"""Datasets of MoANA's experiments: WSOL (wsolevaluation layout), PASCAL VOC 2012 (IRN
layout) and a synthetic part-versus-whole benchmark written in both formats."""

from moana.data.metadata import MetadataError, WSOLMetadata, load_wsol_metadata, read_wsol_metadata

__all__ = ["MetadataError", "WSOLMetadata", "load_wsol_metadata", "read_wsol_metadata"]
