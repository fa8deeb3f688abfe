"""GPU readiness check: one prepared run that proves the paper profile's GPU path and its speed.

    python benchmarks/gpu_check.py                     # on a GPU machine (make gpu-check)
    python benchmarks/gpu_check.py --device cpu --tiny # what CI runs: every code path, tiny sizes

Five stages, each with a time budget (a stage that overruns is recorded as failed, with the
reason, instead of hanging the run); the whole check is capped by ``--time-limit`` (8 minutes by
default on a GPU):

1. ``throughput``: ResNet-50 (official MoANA layout) training images/s for CAM, MoANA (full) and
   MoANA (depthwise) in fp32 NCHW vs bf16 autocast + channels-last (and ``torch.compile`` of
   MoANA full when it works), peak step memory; all timed round-robin in one run.
2. ``input_pipeline``: the real WSOL loader with the paper's transforms on a generated CUB-layout
   stand-in of JPEGs at CUB-like sizes, at 4/8/16 workers: images/s alone and the fraction of
   each training step spent waiting for data; PIL vs ``torchvision.io.decode_jpeg`` (CPU, and
   on the device when there is one).
3. ``paper_profile``: stage 01 of the paper profile (training, val selection, test evaluation of
   the CUB ResNet-50 CAM and MoANA configs) cut short on the stand-in, the WSSS pipeline's steps
   (paper config) on a synthetic VOC-layout stand-in, and notebook 05 (comparison table) under
   papermill; the wall time of each.
4. ``distributed``: ``torchrun --nproc_per_node=<GPUs>`` (NCCL; 2 processes with gloo on the CPU)
   against the single-process run of the same config: a process-group all-reduce, the loss and
   the metrics of training, and the distributed evaluation of the very same checkpoint.
5. ``evaluator``: score maps per second of the box (MaxBoxAccV2 and MaxBoxAcc) and mask (PxAP)
   evaluators over 5,000 CAM-like maps at step 0.001 with all the CPU cores.

It writes ``gpu_check.json`` (``--out``): device, versions, every figure, each stage's status,
time and budget; and exits non-zero naming the failed stages. Goals (bf16 + channels-last at
least 2x fp32; a loader that keeps up with the training step) are reported, not enforced. All
data are generated (synthetic stand-ins): the figures are speeds and code-path checks, not
accuracies. Every call into ``moana`` sits in the ``adapter_*`` functions below.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # check this checkout's package, also in subprocesses and kernels
    sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

STAGES = ("throughput", "input_pipeline", "paper_profile", "distributed", "evaluator")
#: seconds per stage: (full run on a GPU, tiny run); the sum of the full budgets is 8 minutes
#: (the tiny budgets only guard against a hang: CI machines are slow and shared)
BUDGETS = {"throughput": (120, 120), "input_pipeline": (60, 90), "paper_profile": (180, 240),
           "distributed": (70, 180), "evaluator": (50, 90)}


# ================================================================ adapters: every call into moana
def adapter_throughput() -> SimpleNamespace:
    """Stage 1 (and the training step of stage 2): model factory, optimizer groups, the step."""
    from moana.models import build_model
    from moana.train.evaluate import autocast_context

    def make_model(method: str, axis_conv: str | None, num_classes: int):
        kw = {"attention_kw": {"axis_conv": axis_conv}} if axis_conv else {}
        return build_model("resnet50", method=method, num_classes=num_classes, **kw)

    def loss(model, images, labels):  # what moana.train.fit does per step
        return F.cross_entropy(model(images).float(), labels)

    return SimpleNamespace(make_model=make_model, loss=loss, autocast=autocast_context,
                           param_groups=lambda model, lr: model.param_groups(lr, lr / 10))


def adapter_input() -> SimpleNamespace:
    """Stage 2: the WSOL training dataset with the paper's (wsolevaluation's) transforms."""
    from moana.data.wsol import WSOLDataset

    def dataset(image_root: Path, split_dir: Path, resize: int, crop: int):
        return WSOLDataset(image_root, split_dir, train=True, resize_size=resize, crop_size=crop)

    return SimpleNamespace(dataset=dataset)


def adapter_paper() -> SimpleNamespace:
    """Stage 3: WSOL training (fit), the WSSS pipeline step by step, notebook 05's data record."""
    from moana.reproduce.profiles import save_data_info, work_layout
    from moana.train import fit, load_config
    from moana.experiments.prepared_data import real_info
    from moana.wsss import load_wsss_config, run_pipeline
    from moana.wsss.pipeline import STEPS

    def train(config: str, overrides: list[str], run_dir: Path) -> dict:
        return fit(load_config(config, overrides), run_dir=run_dir, quiet=True)

    def wsss(overrides: list[str], step: str):
        return run_pipeline(load_wsss_config("paper", overrides), steps=[step])

    def record_data(work_dir: Path, data_root: Path, metadata_root: Path) -> None:
        save_data_info(work_dir, real_info("CUB", data_root, metadata_root, None))

    return SimpleNamespace(train=train, wsss=wsss, wsss_steps=STEPS, record_data=record_data,
                           wsol_run=lambda work, method: work_layout(work).wsol_run("resnet50",
                                                                                    method))


def adapter_distributed() -> SimpleNamespace:
    """Stage 4: the same fit entry point, fresh or resumed (resuming a finished run re-runs only
    its final test evaluation)."""
    from moana.train import fit, load_config

    def train(config: str, overrides: list[str], run_dir: Path, resume: bool = False) -> dict:
        return fit(load_config(config, overrides), run_dir=run_dir, resume=resume, quiet=True)

    return SimpleNamespace(train=train)


def adapter_evaluator() -> SimpleNamespace:
    """Stage 5: box and mask evaluators and the metadata they read."""
    from moana.data.metadata import WSOLMetadata
    from moana.metrics import BoxEvaluator
    from moana.metrics.masks import MaskEvaluator

    def metadata(ids: list[str], boxes: list, size: int) -> Any:
        return WSOLMetadata(directory=Path("gpu_check"), image_ids=ids,
                            class_labels={i: 0 for i in ids},
                            image_sizes={i: (size, size) for i in ids},
                            boxes=dict(zip(ids, boxes)), masks={i: [f"{i}.png"] for i in ids})

    return SimpleNamespace(metadata=metadata, BoxEvaluator=BoxEvaluator,
                           MaskEvaluator=MaskEvaluator)


# ================================================================ time limits
class StageTimeout(BaseException):
    """Raised by the alarm when a stage (or a part of it) overruns its budget."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "stage"):
    """Raise StageTimeout in the main thread after ``seconds`` (nests inside an outer limit)."""
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    limit = min(seconds, outer) if outer else seconds

    def alarm(signum, frame):
        raise StageTimeout(f"{what} exceeded its budget of {limit:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(limit, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 0.01))


class CheckFailed(RuntimeError):
    """A stage ran but one of its checks did not hold."""


def run_command(cmd: list[str], timeout: float, env: dict[str, str]) -> tuple[int, str]:
    """Run a command in its own process group; kill the whole group on timeout or interrupt."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{' '.join(cmd[:6])} ... did not finish in {timeout:.0f} s") from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ================================================================ context and generated data
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def make_cub_standin(root: Path, num_classes: int, per_class: dict[str, int], seed: int = 0,
                     long_side: int = 500) -> SimpleNamespace:
    """CUB layout (``<root>/CUB/<class>/<id>.jpg``, ``<root>/metadata/CUB/<split>/``) of JPEGs
    at CUB-like sizes (long side 500, short side 300-500), a smooth background and one textured
    object per image whose box is the ground truth. Synthetic: for speed and code paths only."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    image_root, meta_root = root / "CUB", root / "metadata" / "CUB"
    for split, count in per_class.items():
        lines: dict[str, list[str]] = {"image_ids": [], "class_labels": [], "image_sizes": [],
                                       "localization": []}
        for label in range(num_classes):
            for index in range(count):
                short = int(rng.integers(300, long_side + 1))
                w, h = (long_side, short) if rng.random() < 0.75 else (short, long_side)
                grid = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
                image = np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC), np.int16)
                bw, bh = int(w * rng.uniform(0.3, 0.7)), int(h * rng.uniform(0.3, 0.7))
                x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                patch = rng.integers(-60, 60, (bh, bw, 1)) + 40 * (label % 4)
                image[y0:y0 + bh, x0:x0 + bw] += patch.astype(np.int16)
                image += rng.integers(-12, 12, image.shape, dtype=np.int16)
                image_id = f"{label:03d}.class_{label}/{split}_{label:03d}_{index:04d}.jpg"
                (image_root / image_id).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                    image_root / image_id, quality=90)
                lines["image_ids"].append(image_id)
                lines["class_labels"].append(f"{image_id},{label}")
                lines["image_sizes"].append(f"{image_id},{w},{h}")
                lines["localization"].append(f"{image_id},{x0},{y0},{x0 + bw - 1},{y0 + bh - 1}")
        (meta_root / split).mkdir(parents=True, exist_ok=True)
        for name, rows in lines.items():
            (meta_root / split / f"{name}.txt").write_text("\n".join(rows) + "\n")
    return SimpleNamespace(data_root=root, metadata_root=root / "metadata",
                           image_root=image_root, split_dir=lambda s: meta_root / s,
                           num_classes=num_classes, num_train=num_classes * per_class["train"])


class Context:
    """What the stages share: device, mode, work folder, the CUB stand-in (made once)."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.tiny, self.work = args, args.tiny, work
        self.device = torch.device(args.device)
        self.best_train_rate: float | None = None  # images/s of the fastest stage-1 setup
        # the training step of stage 2: MoANA (full), bf16 + channels-last (tiny: CAM fp32,
        # as bf16 convolutions are slow on CPUs without bf16 units)
        self.train_setup: tuple[str, str | None, str, bool] = (
            ("cam", None, "none", False) if self.tiny else ("moana", "full", "bf16", True))
        self._cub: SimpleNamespace | None = None

    def cub(self) -> SimpleNamespace:
        if self._cub is None:
            counts = ({"train": 4, "val": 2, "test": 2} if self.tiny
                      else {"train": 48, "val": 6, "test": 12})
            self._cub = make_cub_standin(self.work / "cub", 2 if self.tiny else 10, counts)
        return self._cub


# ================================================================ stage 1: throughput
VARIANTS = (("cam", "cam", None), ("moana_full", "moana", "full"),
            ("moana_depthwise", "moana", "depthwise"))
MODES = (("fp32", "none", False), ("bf16_channels_last", "bf16", True))


def make_step(api: SimpleNamespace, model, device: torch.device, amp: str, channels_last: bool,
              forward=None):
    """One training step of ``model`` (run through ``forward``, e.g. its compiled wrapper)."""
    optimizer = torch.optim.SGD(api.param_groups(model, 0.01), lr=0.01, momentum=0.9,
                                weight_decay=5e-4)
    forward = forward or model

    def step(images, labels):
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with api.autocast(device, amp):
            loss = api.loss(forward, images, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def build_setup(api, device, method, axis_conv, amp, channels_last, num_classes):
    model = api.make_model(method, axis_conv, num_classes).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, make_step(api, model, device, amp, channels_last)


def peak_step_memory(step, batch, device) -> float | None:
    """GiB allocated by one step beyond what was allocated before it (CUDA only)."""
    if device.type != "cuda":
        return None
    sync(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step(*batch)
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**30


def try_compile(api, device, batch, out: dict, budget: float):
    """torch.compile of MoANA (full), bf16 + channels-last; records why when it does not work."""
    model, _ = build_setup(api, device, "moana", "full", "bf16", True, 1000)
    start = time.perf_counter()
    try:
        step = make_step(api, model, device, "bf16", True, forward=torch.compile(model))
        with time_limit(budget, "torch.compile"):
            for _ in range(2):
                step(*batch)
            sync(device)
    except (Exception, StageTimeout) as err:  # noqa: BLE001 - any failure is the finding
        out["compile"] = {"works": False, "reason": f"{type(err).__name__}: {str(err)[:400]}"}
        return None
    out["compile"] = {"works": True, "compile_and_first_steps_s": time.perf_counter() - start}
    return step


def stage_throughput(ctx: Context, out: dict) -> None:
    api, device = adapter_throughput(), ctx.device
    size, steps, rounds, warmup = (32, 1, 1, 0) if ctx.tiny else (224, 8, 3, 3)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    for batch_size in ((2,) if ctx.tiny else (64, 32, 16)):
        oom = False
        try:
            setups, memory = {}, {}
            out.update(image_size=size, batch_size=batch_size, peak_step_memory_gib=memory)
            torch.manual_seed(0)
            batch = (torch.randn(batch_size, 3, size, size, device=device),
                     torch.randint(0, 1000, (batch_size,), device=device))
            for vname, method, axis in VARIANTS:
                for mname, amp, cl in MODES:
                    _, step = build_setup(api, device, method, axis, amp, cl, 1000)
                    for _ in range(warmup):
                        step(*batch)
                    memory[f"{vname}/{mname}"] = peak_step_memory(step, batch, device)
                    setups[f"{vname}/{mname}"] = step
        except torch.cuda.OutOfMemoryError:
            oom = True
        if not oom:
            break
        setups, step, _ = {}, None, None
        torch.cuda.empty_cache()
    if not setups:
        raise CheckFailed("out of memory at every batch size tried (64, 32, 16)")
    out.update(steps_per_round=steps, rounds=rounds, num_classes=1000,
               tf32={"cudnn": torch.backends.cudnn.allow_tf32,
                     "matmul": torch.backends.cuda.matmul.allow_tf32},
               memory_note="CUDA max_memory_allocated during one training step minus what was "
                           "allocated before it (activations, gradients, workspace)")
    if ctx.tiny:
        out["compile"] = {"works": None, "reason": "not tried in tiny mode (minutes on a CPU)"}
    else:
        left = signal.getitimer(signal.ITIMER_REAL)[0] - 35  # keep time for the timed rounds
        if left < 15:
            out["compile"] = {"works": None, "reason": "not tried: too little of the budget left"}
        elif (compiled := try_compile(api, device, batch, out, budget=min(70, left))) is not None:
            setups["moana_full/bf16_channels_last_compiled"] = compiled
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(rounds):
        for name, step in setups.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                step(*batch)
            sync(device)
            rates[name].append(steps * batch_size / (time.perf_counter() - start))
    images_per_s = {name: statistics.median(r) for name, r in rates.items()}
    ratios = {f"{v}: bf16_channels_last / fp32":
              images_per_s[f"{v}/bf16_channels_last"] / images_per_s[f"{v}/fp32"]
              for v, _, _ in VARIANTS}
    for v in ("moana_full", "moana_depthwise"):
        ratios[f"{v} / cam (fp32)"] = images_per_s[f"{v}/fp32"] / images_per_s["cam/fp32"]
    if "moana_full/bf16_channels_last_compiled" in images_per_s:
        ratios["moana_full: compiled / eager (bf16_channels_last)"] = (
            images_per_s["moana_full/bf16_channels_last_compiled"]
            / images_per_s["moana_full/bf16_channels_last"])
    out.update(images_per_s=images_per_s, ratios=ratios)
    out["goal_bf16_channels_last_2x_fp32"] = {
        v: ratios[f"{v}: bf16_channels_last / fp32"] >= 2.0 for v, _, _ in VARIANTS}
    ctx.best_train_rate = max(images_per_s.values())
    del setups
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ================================================================ stage 2: input pipeline
def decode_rates(files: list[Path], device: torch.device) -> dict[str, Any]:
    """Images/s of PIL decode + RGB conversion vs torchvision.io.decode_jpeg (CPU, device)."""
    from PIL import Image
    from torchvision.io import decode_jpeg, read_file

    out: dict[str, Any] = {"num_files": len(files)}
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.convert("RGB").load()
    out["pil"] = len(files) / (time.perf_counter() - start)
    data = [read_file(str(p)) for p in files]
    start = time.perf_counter()
    for d in data:
        decode_jpeg(d)
    out["decode_jpeg_cpu"] = len(files) / (time.perf_counter() - start)
    if device.type == "cuda":
        try:
            decode_jpeg(data[:4], device=device)  # warm-up (nvjpeg handles)
            sync(device)
            start = time.perf_counter()
            decode_jpeg(data, device=device)
            sync(device)
            out["decode_jpeg_device"] = len(files) / (time.perf_counter() - start)
        except Exception as err:  # noqa: BLE001 - report and go on
            out["decode_jpeg_device"] = None
            out["decode_jpeg_device_error"] = f"{type(err).__name__}: {str(err)[:300]}"
    rates = {k: v for k, v in out.items() if k in ("pil", "decode_jpeg_cpu", "decode_jpeg_device")
             and v}
    out["fastest"] = max(rates, key=rates.get)
    out["note"] = ("file bytes already in memory for decode_jpeg; the loader itself (WSOLDataset) "
                   "decodes with PIL")
    return out


def make_loader(dataset, batch_size: int, num_batches: int, workers: int, device, seed: int = 0):
    from torch.utils.data import DataLoader, RandomSampler

    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=batch_size * num_batches,
                            generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", drop_last=True)


def loader_alone(dataset, batch_size, num_batches, workers, device, skip: int) -> float:
    """Images/s of the loader with nothing else running (after ``skip`` start-up batches)."""
    count, start = 0, None
    for index, (images, _labels, _ids) in enumerate(
            make_loader(dataset, batch_size, num_batches, workers, device)):
        images.to(device, non_blocking=True)
        if index + 1 == skip:
            sync(device)
            start = time.perf_counter()
        elif index >= skip:
            count += images.shape[0]
    sync(device)
    return count / (time.perf_counter() - start) if start and count else float("nan")


def loader_with_training(dataset, step, batch_size, num_batches, workers, device, skip: int):
    """(fraction of step time spent waiting for the next batch, images/s) while training."""
    waited = total = 0.0
    count = 0
    iterator = iter(make_loader(dataset, batch_size, num_batches, workers, device))
    for index in range(num_batches):
        t0 = time.perf_counter()
        images, labels, _ = next(iterator)
        t1 = time.perf_counter()
        step(images.to(device, non_blocking=True), torch.as_tensor(labels).to(device))
        sync(device)
        t2 = time.perf_counter()
        if index >= skip:
            waited, total, count = waited + t1 - t0, total + t2 - t0, count + images.shape[0]
    return waited / total, count / total


def stage_input_pipeline(ctx: Context, out: dict) -> None:
    api, device = adapter_input(), ctx.device
    cub = ctx.cub()
    resize, crop = (40, 32) if ctx.tiny else (256, 224)
    dataset = api.dataset(cub.image_root, cub.split_dir("train"), resize, crop)
    files = sorted(cub.image_root.rglob("*.jpg"))[: 8 if ctx.tiny else 128]
    out["stand_in"] = {"images": len(list(cub.image_root.rglob("*.jpg"))), "train": len(dataset),
                       "mean_file_kib": float(np.mean([p.stat().st_size for p in files]) / 1024),
                       "transform": f"resize {resize}, random crop {crop}, flip, normalize"}
    out["decode"] = decode_rates(files, device)
    workers_list = (0, 1) if ctx.tiny else (4, 8, 16)
    batch_size = 4 if ctx.tiny else 64
    tapi = adapter_throughput()
    method, axis, amp, cl = ctx.train_setup
    model, step = build_setup(tapi, device, method, axis, amp, cl, cub.num_classes)
    out["training_step"] = f"{method} ({axis}) {amp} channels_last={cl}, batch {batch_size}"
    alone, training = {}, {}
    for workers in workers_list:
        # the first wave of batches (one per worker) arrives at once: skip it, then time
        # several batches per worker
        skip = max(workers, 1)
        num_batches = skip + (2 if ctx.tiny else 4 * skip)
        alone[str(workers)] = loader_alone(dataset, batch_size, num_batches, workers, device, skip)
        frac, rate = loader_with_training(dataset, step, batch_size, num_batches, workers,
                                          device, skip)
        training[str(workers)] = {"wait_fraction": frac, "images_per_s": rate}
    out["loader_images_per_s"] = alone
    out["while_training"] = training
    if ctx.best_train_rate:
        out["stage1_best_train_images_per_s"] = ctx.best_train_rate
        out["goal_loader_keeps_up"] = {w: r >= ctx.best_train_rate for w, r in alone.items()}
    del model, step


# ================================================================ stage 3: paper profile
def wsol_overrides(ctx: Context, epochs: int) -> list[str]:
    cub = ctx.cub()
    common = [f"data.data_root={cub.data_root}", f"data.metadata_root={cub.metadata_root}",
              "model.pretrained=null", f"optim.epochs={epochs}", f"runtime.device={ctx.args.device}",
              "runtime.quiet=true"]
    if ctx.tiny:  # ResNet-18 (same code path; ResNet-50 itself is timed in stage 1)
        common += ["model.arch=resnet18", "data.resize_size=40", "data.crop_size=32",
                   "data.image_size=32", "optim.batch_size=4", "data.num_workers=0",
                   "eval.workers=1"]
    return common


def wsss_overrides(ctx: Context, work_dir: Path) -> list[str]:
    if ctx.tiny:  # ResNet-18 at 48 px, one scale
        synthetic = "{image_size: [48, 64], num_train: 4, num_val: 2, num_classes: 5, objects: [1, 2]}"
        size = ["cam.arch=resnet18", "irn.backbone=resnet18", "cam.crop_size=48",
                "irn.crop_size=48", "cam.resize_long=[48, 64]", "irn.rescale=[0.75, 1.0]",
                "cam.batch_size=4", "irn.batch_size=4", "cam.scales=[1.0]", "cam.num_workers=0",
                "ir_label.num_workers=0", "irn.num_workers=0", "ir_label.crf_scale=0.12",
                "seg.backbone=small", "seg.crop_size=48", "seg.batch_size=4",
                "seg.eval_scales=[1.0]", "seg.num_workers=0"]
    else:  # VOC-like sides, crop 512: 48 training images = 3 CAM (batch 16) / 1-2 IRN (32)
        synthetic = "{image_size: [320, 500], num_train: 48, num_val: 8, objects: [1, 3]}"
        size = []
    return [f"work_dir={work_dir}", f"runtime.device={ctx.args.device}", "data.voc_root=null",
            f"data.synthetic={synthetic}", "data.train_list=train", "data.infer_list=val",
            "data.eval_list=val", "cam.pretrained=null", "irn.pretrained=null", "cam.epochs=1",
            "irn.epochs=1", "seg.train_list=train", "seg.iterations=4", "seg.checkpoint_every=0",
            *size]


def run_notebook_05(work_dir: Path, output_dir: Path, device: str) -> None:
    from moana.reproduce import papermill_executor  # the runner's kernel settings and arguments

    notebook = REPO / "notebooks" / "05_tables_and_figures.ipynb"
    output_dir.mkdir(parents=True, exist_ok=True)
    execute = papermill_executor("python3", log_output=False, progress_bar=False)
    execute(notebook, output_dir / notebook.name,
            {"profile": "paper", "work_dir": str(work_dir), "output_dir": str(output_dir),
             "device": device, "cam_backbone": "resnet50", "cam_runs": ["cam", "moana"]})


def stage_paper_profile(ctx: Context, out: dict) -> None:
    api, cub = adapter_paper(), ctx.cub()
    work = ctx.work / "paper"
    batch = 4 if ctx.tiny else 32
    per_epoch = math.ceil(cub.num_train / batch)
    epochs = 1 if ctx.tiny else 4  # 4 x 15 = 60 iterations per method, 120 in all
    wsol: dict[str, Any] = {}
    out["wsol"] = wsol
    for method in ("cam", "moana"):
        start = time.perf_counter()
        final = api.train(f"cub_resnet50_{method}", wsol_overrides(ctx, epochs),
                          api.wsol_run(work, method))
        wsol[method] = {"seconds": time.perf_counter() - start,
                        "iterations": epochs * per_epoch, "epoch_selected": final.get("epoch"),
                        **{k: final.get(k) for k in ("top1_cls", "top1_loc", "gt_known_loc",
                                                     "MaxBoxAccV2", "MaxBoxAcc")}}
    wsss: dict[str, Any] = {}
    out["wsss"] = wsss
    overrides = wsss_overrides(ctx, work / "wsss")
    for step in api.wsss_steps:
        start = time.perf_counter()
        summary = api.wsss(overrides, step)
        wsss[step] = {"seconds": time.perf_counter() - start}
    wsss["summary"] = summary.to_dict(orient="records")
    api.record_data(work, cub.data_root, cub.metadata_root)
    start = time.perf_counter()
    run_notebook_05(work, work / "nb05", ctx.args.device)
    table = work / "nb05" / "tables" / "wsol_comparison.csv"
    out["notebook_05"] = {"seconds": time.perf_counter() - start, "table": table.is_file()}
    if not table.is_file():
        raise CheckFailed(f"notebook 05 ran but wrote no {table}")
    out["note"] = ("synthetic stand-ins, no pretrained weights, a few iterations: wall times and "
                   "code paths only; the accuracies mean nothing")


# ================================================================ stage 4: distributed
def dist_worker(spec_path: str) -> None:
    """Run under torchrun: a process-group all-reduce, a fresh fit, a resumed (finished) fit."""
    import torch.distributed as dist

    spec = json.loads(Path(spec_path).read_text())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if spec["backend"] == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(spec["backend"], rank=rank, world_size=world)
    device = torch.device("cuda", local_rank) if spec["backend"] == "nccl" else torch.device("cpu")
    value = torch.tensor([float(rank + 1)], device=device)
    dist.all_reduce(value)
    api = adapter_distributed()
    api.train(spec["config"], spec["overrides"], Path(spec["ddp_run"]))
    api.train(spec["config"], spec["overrides"], Path(spec["resumed_run"]), resume=True)
    if rank == 0:
        expected = world * (world + 1) / 2
        Path(spec["probe"]).write_text(json.dumps(
            {"world_size": world, "backend": dist.get_backend(), "all_reduce": value.item(),
             "all_reduce_ok": abs(value.item() - expected) < 1e-6}))
    dist.destroy_process_group()


def read_run(run_dir: Path) -> dict[str, Any]:
    final = json.loads((run_dir / "final_metrics.json").read_text())
    with open(run_dir / "metrics.csv", newline="") as f:
        history = list(csv.DictReader(f))
    return {"final": final, "train_loss": [float(r["train_loss"]) for r in history],
            "train_images": [int(float(r["train_images"])) for r in history]}


def metric_diffs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """|a - b| of the percent metrics both final reports hold (test, and val under ``val_``);
    thresholds and counts are left out."""
    skip = {"epoch", "seed", "num_images"}
    diffs = {}
    for prefix, x, y in (("", a, b), ("val_", a.get("val", {}), b.get("val", {}))):
        for key, value in x.items():
            other = y.get(key)
            if (key in skip or "threshold" in key or isinstance(value, bool)
                    or not isinstance(value, (int, float))):
                continue
            if isinstance(other, (int, float)) and value is not None:
                diffs[prefix + key] = abs(float(value) - float(other))
    return diffs


def stage_distributed(ctx: Context, out: dict) -> None:
    api, device = adapter_distributed(), ctx.device
    nproc = torch.cuda.device_count() if device.type == "cuda" else 2
    backend = "nccl" if device.type == "cuda" else "gloo"
    work = ctx.work / "dist"
    overrides = wsol_overrides(ctx, 1) + ["runtime.deterministic=true"]
    batch = 4 if ctx.tiny else 32  # the global batch must split evenly over the processes
    if batch % nproc:
        overrides.append(f"optim.batch_size={max(nproc, batch // nproc * nproc)}")
    single, resumed = work / "single", work / "single_resumed"
    start = time.perf_counter()
    api.train("cub_resnet50_moana", overrides, single)
    out["single_process_s"] = time.perf_counter() - start
    shutil.copytree(single, resumed)
    spec = {"config": "cub_resnet50_moana", "overrides": overrides, "backend": backend,
            "ddp_run": str(work / "ddp"), "resumed_run": str(resumed),
            "probe": str(work / "probe.json")}
    (work / "spec.json").write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", str(Path(__file__).resolve()), "--dist-worker",
           str(work / "spec.json")]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "CI": "true"}
    remaining = signal.getitimer(signal.ITIMER_REAL)[0] or 600
    start = time.perf_counter()
    code, log = run_command(cmd, max(remaining - 2, 1), env)
    out.update(torchrun_s=time.perf_counter() - start, nproc=nproc, backend=backend)
    if code != 0:
        raise CheckFailed(f"torchrun exited with {code}: {log[-1500:]}")
    out["probe"] = json.loads(Path(spec["probe"]).read_text())
    a, ddp, res = read_run(single), read_run(work / "ddp"), read_run(resumed)
    n_test = max(int(a["final"].get("num_images") or 1), 1)
    tol = max(1e-4, 100.0 / n_test)  # one image's decision may flip on float differences
    eval_diff = metric_diffs(a["final"], res["final"])
    train_diff = metric_diffs(a["final"], ddp["final"])
    loss_rel = [abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a["train_loss"], ddp["train_loss"])]
    out.update(tolerance_percent_points=tol, eval_same_checkpoint_max_diff=max(eval_diff.values()),
               eval_same_checkpoint_diffs=eval_diff, train_loss_single=a["train_loss"],
               train_loss_torchrun=ddp["train_loss"], train_loss_rel_diff=loss_rel,
               train_metrics_max_diff=max(train_diff.values()),
               train_images=(a["train_images"], ddp["train_images"]))
    problems = []
    if not out["probe"]["all_reduce_ok"]:
        problems.append(f"all_reduce gave {out['probe']['all_reduce']}")
    if max(eval_diff.values()) > tol:
        problems.append(f"distributed evaluation of the same checkpoint differs by "
                        f"{max(eval_diff.values()):.4g} points (tolerance {tol:.3g})")
    if a["train_images"] != ddp["train_images"]:
        problems.append(f"training saw {ddp['train_images']} images, single process "
                        f"{a['train_images']}")
    if nproc == 1:
        out["train_compared"] = "strictly (same code path, world size 1)"
        if max(loss_rel) > 1e-3 or max(train_diff.values()) > tol:
            problems.append(f"torchrun training differs from the single process: loss rel "
                            f"{max(loss_rel):.3g}, metrics {max(train_diff.values()):.3g}")
    else:
        out["train_compared"] = ("not strictly: with several processes each draws its own shard "
                                 "and BatchNorm sees per-process batches, so training follows "
                                 "another trajectory; the strict checks are the all-reduce, the "
                                 "image counts and the evaluation of the same checkpoint")
        if not all(math.isfinite(x) for x in ddp["train_loss"]):
            problems.append(f"torchrun training loss is not finite: {ddp['train_loss']}")
    if problems:
        raise CheckFailed("; ".join(problems))


# ================================================================ stage 5: evaluator
_MAPS: list[np.ndarray] = []
_MASKS: list[np.ndarray] = []


def cam_like_maps(n: int, size: int = 224, seed: int = 0):
    """Score maps in [0, 1] (1-4 Gaussian blobs + noise, drawn at size/4 and upsampled), one
    GT box per map and a GT mask (an ellipse-ish blob threshold)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = size // 4
    yy, xx = np.mgrid[:small, :small].astype(np.float32)
    maps, boxes, masks = [], [], []
    for _ in range(n):
        m = np.zeros((small, small), np.float32)
        for _ in range(int(rng.integers(1, 5))):
            cx, cy = rng.uniform(0, small, 2)
            s = rng.uniform(2, 12)
            m += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        m = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)
        m += 0.05 * rng.random((size, size), dtype=np.float32)
        m -= m.min()
        maps.append(m / m.max())
        x0, y0 = (int(v) for v in rng.integers(0, size - 60, 2))
        w, h = (int(v) for v in rng.integers(40, size // 2, 2))
        x1, y1 = min(x0 + w, size - 1), min(y0 + h, size - 1)
        boxes.append([(x0, y0, x1, y1)])
        mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(mask, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0,
                    0, 360, 1, -1)
        masks.append(mask)
    return maps, boxes, masks


def _mask_shard(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of one shard of the maps (a forked worker reads the parent's maps)."""
    evaluator = _mask_evaluator()
    for i in range(*bounds):
        evaluator.accumulate_with_mask(_MAPS[i], _MASKS[i])
    return evaluator.true_hist, evaluator.false_hist, evaluator.count


def _mask_evaluator():
    api = adapter_evaluator()
    ids = [f"m{i}" for i in range(len(_MAPS))]
    meta = api.metadata(ids, [[] for _ in ids], 224)
    return api.MaskEvaluator(meta, tempfile.gettempdir(), step=0.001)


def stage_evaluator(ctx: Context, out: dict) -> None:
    import multiprocessing as mp

    api = adapter_evaluator()
    n = 24 if ctx.tiny else 5000
    workers = cpu_cores()
    start = time.perf_counter()
    maps, boxes, masks = cam_like_maps(n)
    _MAPS[:], _MASKS[:] = maps, masks
    out.update(num_maps=n, step=0.001, workers=workers, maps_are="synthetic CAM-like blobs",
               generation_s=time.perf_counter() - start)
    ids = [f"m{i}" for i in range(n)]
    meta = api.metadata(ids, boxes, 224)
    start = time.perf_counter()
    for multi in (True, False):  # JIT compile (or cache load) of both contour modes
        with api.BoxEvaluator(meta, step=0.001, multi_contour=multi) as ev:
            ev.accumulate(maps[0], ids[0])
    out["box_warmup_s"] = time.perf_counter() - start
    for name, multi in (("MaxBoxAccV2", True), ("MaxBoxAcc", False)):
        start = time.perf_counter()
        with api.BoxEvaluator(meta, step=0.001, multi_contour=multi, workers=workers) as ev:
            ev.accumulate_batch(maps, ids)
            result = ev.compute()
        seconds = time.perf_counter() - start
        out[f"box_{name}"] = {"maps_per_s": n / seconds, "seconds": seconds,
                              "value_synthetic": result.get(name)}
    start = time.perf_counter()
    bounds = np.linspace(0, n, workers + 1).astype(int)
    with mp.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_mask_shard, list(zip(bounds[:-1], bounds[1:])))
    evaluator = _mask_evaluator()
    for true_hist, false_hist, count in parts:
        evaluator.true_hist += true_hist
        evaluator.false_hist += false_hist
        evaluator.count += count
    result = evaluator.compute()
    seconds = time.perf_counter() - start
    out["mask_PxAP"] = {"maps_per_s": n / seconds, "seconds": seconds,
                        "value_synthetic": result["PxAP"],
                        "how": f"{workers} forked processes, histograms summed (exact)"}


# ================================================================ driver
STAGE_FUNCS: dict[str, Callable[[Context, dict], None]] = {
    "throughput": stage_throughput, "input_pipeline": stage_input_pipeline,
    "paper_profile": stage_paper_profile, "distributed": stage_distributed,
    "evaluator": stage_evaluator,
}


def run_stage(name: str, ctx: Context, budget: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    record: dict[str, Any] = {"status": "passed", "budget_s": budget, "figures": figures}
    start = time.perf_counter()
    try:
        with time_limit(budget, f"stage {name}"):
            STAGE_FUNCS[name](ctx, figures)
    except StageTimeout as err:
        record.update(status="failed", reason=str(err))
    except Exception as err:  # noqa: BLE001 - recorded, the other stages still run
        record.update(status="failed", reason=f"{type(err).__name__}: {str(err)[:2000]}",
                      traceback=traceback.format_exc()[-4000:])
    record["seconds"] = time.perf_counter() - start
    return record


def versions() -> dict[str, Any]:
    import torchvision

    out = {"python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": np.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
           "nccl": None, "platform": platform.platform()}
    if torch.cuda.is_available():
        with contextlib.suppress(Exception):
            out["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    with contextlib.suppress(Exception):
        out["moana_commit"] = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True,
            check=True).stdout.strip()
    return out


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device.type, "cpu_cores": cpu_cores(),
                            "name": platform.processor() or platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, count=torch.cuda.device_count(),
                    capability=f"{props.major}.{props.minor}",
                    memory_gib=props.total_memory / 2**30)
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes: every code path in about a minute on a CPU (CI)")
    parser.add_argument("--out", default="gpu_check.json", help="JSON report (default %(default)s)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--time-limit", type=float, default=465.0,
                        help="seconds for the whole check (default %(default)s)")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every stage budget (e.g. on a slow machine)")
    parser.add_argument("--work-dir", default=None, help="keep the generated data and runs here")
    parser.add_argument("--dist-worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dist_worker:
        dist_worker(args.dist_worker)
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but CUDA is not available (use --device cpu --tiny)",
              file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    started = time.perf_counter()
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(args, work)
    report: dict[str, Any] = {
        "check": "benchmarks/gpu_check.py", "mode": "tiny" if args.tiny else "full",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device_info(ctx.device), "versions": versions(), "args": vars(args),
        "stages": {}, "failed": []}
    try:
        for name in args.stages:
            left = args.time_limit - (time.perf_counter() - started)
            budget = BUDGETS[name][1 if args.tiny else 0] * args.budget_scale
            if left < 5:
                record = {"status": "failed", "seconds": 0.0, "budget_s": budget, "figures": {},
                          "reason": f"not run: the check's time limit of {args.time_limit:.0f} s "
                                    "was reached"}
            else:
                print(f"[gpu_check] {name} (budget {min(budget, left):.0f} s) ...", flush=True)
                record = run_stage(name, ctx, min(budget, left))
            report["stages"][name] = record
            print(f"[gpu_check] {name}: {record['status']} in {record['seconds']:.1f} s"
                  + (f" -- {record['reason'][:300]}" if record.get("reason") else ""), flush=True)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    report["failed"] = [n for n, r in report["stages"].items() if r["status"] != "passed"]
    report["wall_time_s"] = time.perf_counter() - started
    from moana.io import write_json

    write_json(Path(args.out), report)
    print(f"[gpu_check] wrote {args.out} ({report['wall_time_s']:.1f} s)")
    if report["failed"]:
        print(f"[gpu_check] FAILED stages: {', '.join(report['failed'])}", file=sys.stderr)
        return 1
    print("[gpu_check] all stages passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
