"""``moana train`` and ``moana evaluate``: thin wrappers around :func:`moana.train.fit` and
:func:`moana.train.evaluate.evaluate_run` (wsolevaluation protocol, MoANA paper settings)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from moana.train.config import available_configs


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("top1_cls", "top1_loc", "top5_loc", "gt_known_loc", "MaxBoxAcc", "MaxBoxAccV2",
            "MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70", "PxAP", "PIoU")
    return json.dumps({k: round(float(metrics[k]), 3) for k in keys if k in metrics}, indent=2)


def _selected_line(run_dir: Path | None, metrics: dict[str, Any]) -> str:
    """Where the run is and which checkpoint the test numbers come from."""
    metric = metrics.get("selection_metric")
    score = (metrics.get("val") or {}).get(metric) if metric else None
    chosen = f"{metric} on val = {score:.3f}" if isinstance(score, (int, float)) else \
        f"selected by {metric}"
    where = run_dir if run_dir is not None else "under runtime.output_dir"
    return (f"run directory: {where}\ntest metrics from checkpoint "
            f"{metrics.get('checkpoint')} (epoch {metrics.get('epoch')}, {chosen})")


#: where ``moana train`` writes what it generates and records, as ``moana reproduce`` does
DEFAULT_WORK_DIR = "work"


def work_dir_overrides(config: Any, work_dir: str | Path) -> list[str]:
    """Overrides that put a config's relative output paths under ``work_dir``: the synthetic
    benchmark it generates (``data.data_root``, ``data.metadata_root``) and its runs
    (``runtime.output_dir``). Absolute paths and real datasets' roots (read, never written)
    are kept."""
    out = []
    d = config.data
    if d.dataset == "synthetic":
        for key in ("data_root", "metadata_root"):
            value = getattr(d, key)
            if value and not Path(value).is_absolute():
                out.append(f"data.{key}={Path(work_dir) / value}")
    if config.runtime.output_dir and not Path(config.runtime.output_dir).is_absolute():
        out.append(f"runtime.output_dir={Path(work_dir) / config.runtime.output_dir}")
    return out


def _train(args: argparse.Namespace) -> int:
    from moana.engine.distributed import env_world_size
    from moana.train.config import load_config
    from moana.train.run import Run
    from moana.train.training import default_run_dir, fit

    if args.resume:
        run_dir = Path(args.resume)
        if args.config:
            config = load_config(args.config, args.overrides)
        else:
            config = load_config(Run(run_dir).config_path, args.overrides)
        metrics = fit(config, run_dir=run_dir, resume=True, quiet=args.quiet or None)
    else:
        if not args.config:
            raise ValueError("give --config NAME_OR_YAML (shipped: "
                             f"{', '.join(available_configs())}) or --resume RUN_DIR")
        config = load_config(args.config, args.overrides)
        given = {item.partition("=")[0].strip() for item in args.overrides}
        moved = [o for o in work_dir_overrides(config, args.work_dir)
                 if o.partition("=")[0] not in given]  # what the command line sets wins
        config = load_config(args.config, [*moved, *args.overrides])
        run_dir = Path(args.run_dir) if args.run_dir else None
        if run_dir is None and env_world_size() <= 1:  # under torchrun fit broadcasts rank 0's
            run_dir = default_run_dir(config)
        metrics = fit(config, run_dir=run_dir, quiet=args.quiet or None)
    print(_summary(metrics))
    print(_selected_line(run_dir, metrics))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from moana.io import write_json
    from moana.train.config import load_config
    from moana.train.evaluate import evaluate_checkpoint, evaluate_run

    if args.run:
        if args.overrides or args.config:
            raise ValueError("--run uses the run's own config.yaml; --config and overrides go "
                             "with --checkpoint FILE instead")
        metrics = evaluate_run(args.run, args.split, args.save_cams, checkpoint=args.checkpoint,
                               quiet=args.quiet or None, device=args.device)
    else:
        if not (args.checkpoint and args.config):
            raise ValueError("give --run RUN_DIR, or --checkpoint FILE with --config CONFIG")
        config = load_config(args.config, args.overrides)
        metrics = evaluate_checkpoint(config, args.checkpoint, split=args.split,
                                      save_cams=args.save_cams, quiet=args.quiet or None,
                                      device=args.device)
    if args.output:
        write_json(Path(args.output), metrics)
    print(_summary(metrics))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana train`` and ``moana evaluate`` to the CLI's ``subparsers``; torch and the
    training modules are imported inside the handlers."""
    train = subparsers.add_parser(
        "train", help="train a WSOL model (CAM / MoANA) and record the run",
        description="Train with a shipped config or a YAML file; overrides look like "
                    "optim.lr=0.01. The generated synthetic data and the run go under --work-dir "
                    "(the folder moana reproduce uses). List the shipped configs with "
                    "`moana config list`; see one with `moana config show NAME`.")
    train.add_argument("--config", help="shipped config name (see `moana config list`) or YAML path")
    train.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR",
                       help="folder for what the run writes: the synthetic benchmark "
                            "(data.data_root) and the runs (runtime.output_dir) when those are "
                            "relative; an override of either wins")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides, e.g. optim.epochs=3 runtime.seed=1")
    train.add_argument("--run-dir", type=Path, default=None,
                       help="run directory (default: <work-dir>/runs/<name>-seed<s>-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last "
                                                            "checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bars (default: shown)")
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="recompute a run's metrics on a split (and write its score maps)",
        description="Evaluate a run directory (or a checkpoint with its config) on a split; "
                    "--save-cams writes <image_id>.npy score maps (wsolevaluation contract).")
    evaluate.add_argument("--run", type=Path, help="run directory")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"),
                          help="metadata split to evaluate")
    evaluate.add_argument("--checkpoint", help="best, last, or a checkpoint file (default: the "
                                               "run's eval.checkpoint)")
    evaluate.add_argument("--config", help="config (with --checkpoint FILE, no --run)")
    evaluate.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                          help="config overrides (with --config)")
    evaluate.add_argument("--save-cams", type=Path, default=None, metavar="DIR",
                          help="write the score maps as DIR/<image_id>.npy and the step, "
                               "normalisation and contour mode as DIR/protocol.json")
    evaluate.add_argument("--output", type=Path, help="also write the metrics to this JSON")
    evaluate.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: config)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars (default: shown)")
    evaluate.set_defaults(func=_evaluate)
