"""Weakly supervised semantic segmentation with MoANA CAMs, IRN-style.

The pipeline of Ahn, Cho & Kwak, "Weakly Supervised Learning of Instance Segmentation with
Inter-pixel Relations" (IRN, CVPR 2019), which MoANA (Sohn et al., Sci. Rep. 2023) reuses for
its WSSS experiments: train a CAM network (``train_cam``), infer multi-scale CAMs
(``make_cam``), evaluate them (``eval_cam``), derive inter-pixel relation labels
(``ir_label``), train the boundary branch of IRN (``irn``), propagate CAMs by random walk into
pseudo-masks (``sem_seg``) and evaluate them (``eval_sem_seg``), then train DeepLabV3 on the
pseudo-masks (``train_seg``) and report its val mIoU (``eval_seg``). ``pipeline`` runs all
steps, each restartable from its outputs on disk; the three training steps train through the
shared epoch loop (``loop``). Metrics in files and tables are percent.
"""

from moana._lazy import lazy_exports

# Lazy (PEP 562): ``moana wsss --help`` imports moana.wsss.commands without torch/pandas.
_EXPORTS = {name: "moana.wsss.pipeline" for name in
            ("STEPS", "WSSSConfig", "load_summary", "load_wsss_config", "prepare_data",
             "run_dirs", "run_pipeline", "run_step")}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["STEPS", "WSSSConfig", "load_summary", "load_wsss_config", "prepare_data",
           "run_dirs", "run_pipeline", "run_step"]
