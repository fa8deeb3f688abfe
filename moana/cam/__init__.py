"""Class activation maps and the score maps the WSOL evaluators read.

Modules: ``extract`` (the one CAM extraction loop, ``iter_cam_batches``, and CAM -> score map:
resizing, the two normalizations, the NaN policy), ``hooks`` (``CAMExtractor``: CAMs of any
model ending in global average pooling + a linear layer, by a forward hook), ``sources``
(``cam_source``: the post-hoc methods of pytorch-grad-cam; needs the ``demo`` extra). Score-map
files are :mod:`moana.scoremaps` (no torch), re-exported here.

    from moana.cam import CAMExtractor, scoremap_from_cam
"""

from moana._lazy import lazy_exports

# Lazy (PEP 562): the submodules import torch, OpenCV and (sources) pytorch-grad-cam.
_EXPORTS = {
    "CAMBatch": "moana.cam.extract",
    "NORMALIZATIONS": "moana.cam.extract",
    "OFFICIAL_PERCENTILE": "moana.cam.extract",
    "ScoreMapItem": "moana.cam.extract",
    "iter_cam_batches": "moana.cam.extract",
    "iter_scoremaps": "moana.cam.extract",
    "normalize_scoremap": "moana.cam.extract",
    "resize_cam": "moana.cam.extract",
    "scoremap_from_cam": "moana.cam.extract",
    "CAMExtractor": "moana.cam.hooks",
    "linear_weights": "moana.cam.hooks",
    "POSTHOC_METHODS": "moana.cam.sources",
    "cam_source": "moana.cam.sources",
    "load_scoremap": "moana.scoremaps",
    "save_scoremap": "moana.scoremaps",
    "save_scoremaps": "moana.scoremaps",
    "scoremap_path": "moana.scoremaps",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
