"""Localization and segmentation metrics: wsolevaluation's MaxBoxAcc / MaxBoxAccV2 and PxAP
(Choe et al., CVPR 2020), PIoU, top-k loc, and VOC mIoU with IRN's CAM-to-label conversion."""

from moana.metrics.boxes import BoxEvaluator, topk_localization
from moana.metrics.common import cam_thresholds, check_scoremap, resize_box
from moana.metrics.masks import MaskEvaluator, ground_truth_mask
from moana.metrics.segmentation import (
    SegmentationConfusion,
    ThresholdSweep,
    cams_to_segmentation,
)

__all__ = [
    "BoxEvaluator",
    "MaskEvaluator",
    "SegmentationConfusion",
    "ThresholdSweep",
    "cam_thresholds",
    "cams_to_segmentation",
    "check_scoremap",
    "ground_truth_mask",
    "resize_box",
    "topk_localization",
]
