"""``moana wsss run``: the IRN-style WSSS pipeline with MoANA CAMs (see moana.wsss)."""

from __future__ import annotations

import argparse

from moana.wsss.config import STEPS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana wsss run`` to the CLI's ``subparsers``; the pipeline (torch, pandas) is imported
    inside the handler."""
    wsss = subparsers.add_parser("wsss", help="weakly supervised semantic segmentation (IRN-style)")
    sub = wsss.add_subparsers(dest="wsss_command", metavar="WSSS_COMMAND")
    run = sub.add_parser(
        "run", help="run the pipeline (each step restartable)",
        description="Train CAM/MoANA networks, make CAMs, evaluate them, make IR labels, train "
                    "IRN, make and evaluate pseudo-masks, train DeepLabV3 on them and evaluate "
                    "it on val. Finished steps are skipped on rerun; a step whose upstream "
                    "parameters changed stops with the changed keys.")
    run.add_argument("--config", default="smoke",
                     help="smoke | paper | path to a YAML file (default: smoke)")
    run.add_argument("--steps", nargs="+", choices=STEPS, metavar="STEP",
                     help=f"steps to run (default: all): {' '.join(STEPS)}")
    run.add_argument("--methods", nargs="+", metavar="METHOD",
                     help="methods to run (default: the config's, e.g. cam moana)")
    run.add_argument("--force", action="store_true", help="redo the selected steps from scratch")
    run.add_argument("--work-dir", help="output folder (overrides work_dir)")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                     help="config overrides, e.g. cam.epochs=2 data.voc_root=/data/VOC2012")
    run.set_defaults(func=_run)
    wsss.set_defaults(func=lambda args: (wsss.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from moana.wsss.config import load_wsss_config
    from moana.wsss.pipeline import run_pipeline

    overrides = list(args.overrides or [])
    if args.work_dir:
        overrides.append(f"work_dir={args.work_dir}")
    cfg = load_wsss_config(args.config, overrides)
    summary = run_pipeline(cfg, steps=args.steps, force=args.force, methods=args.methods,
                           echo=print)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))  # mIoU in %
    print(f"written: {cfg.work_dir}/summary.csv")
    return 0
