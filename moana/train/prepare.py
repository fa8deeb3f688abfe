"""What a WSOL run prepares before its epoch loop: its data (the synthetic benchmark generated
when missing, or a real dataset's folders), its model built from the config, and its evaluation
settings. The data protocol is wsolevaluation's (Choe et al., CVPR 2020): a train split, a val
split (train-fullsup) for model selection and a test split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from moana.engine.distributed import DistInfo, barrier
from moana.io import read_json
from moana.train.config import EvalConfig, TrainConfig

# --------------------------------------------------------------------------- data


@dataclass
class PreparedData:
    """Image folder and metadata split folders of a run's dataset."""

    config: TrainConfig
    image_root: Path
    split_dirs: dict[str, Path]
    mask_root: Path | None
    num_classes: int
    synthetic: dict[str, Any] | None = None

    def metadata(self, split: str):
        """The :class:`WSOLMetadata` of ``split``; errors of :func:`load_wsol_metadata` name the file."""
        from moana.data.metadata import load_wsol_metadata

        return load_wsol_metadata(self.split_dirs[split], num_classes=self.num_classes or None)

    def dataset(self, split: str, *, train: bool = False):
        """A :class:`WSOLDataset` of ``split`` with the config's image/resize/crop sizes
        (``train=True``: training augmentation)."""
        from moana.data.wsol import WSOLDataset

        d = self.config.data
        return WSOLDataset(self.image_root, self.metadata(split), train=train,
                           image_size=d.image_size, resize_size=d.resize_size,
                           crop_size=d.crop_size, mask_root=self.mask_root)

    def fingerprint(self) -> str:
        """A hash of the metadata files of the run's splits (train, val and, unless the run
        leaves it out, test), recorded in the run manifest."""
        from moana.train.records import dataset_fingerprint

        return dataset_fingerprint([self.split_dirs[s] for s in ("train", "val", "test")
                                    if s in self.split_dirs])


def _synthetic_knobs(config: TrainConfig) -> dict[str, Any]:
    knobs = dict(config.data.synthetic)
    knobs.setdefault("seed", 0)
    for key, value in knobs.items():
        if isinstance(value, list):
            knobs[key] = tuple(value)
    return knobs


def _check_synthetic(root: Path, knobs: dict[str, Any]) -> dict[str, Any]:
    """Settings of an existing synthetic dataset; warns when the config asked for others."""
    info_path = root / "synthetic.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{root} has metadata but no synthetic.json: it was not made by "
                                f"moana.data.synthetic; set data.dataset to its real name")
    made = read_json(info_path)
    diffs = []
    for key, value in knobs.items():
        have = made.get(key)
        want = list(value) if isinstance(value, tuple) else value
        if key == "per_class" and isinstance(have, dict):
            have = {k: v for k, v in have.items() if k in (want or {})}
        if have != want:
            diffs.append(f"{key}: dataset has {have!r}, config asks {want!r}")
    if diffs:
        warnings.warn(f"using the existing synthetic dataset {root}, generated with other "
                      "settings than data.synthetic (" + "; ".join(diffs) + "); the run "
                      "records the dataset's own settings and fingerprint", stacklevel=3)
    return made


def _synthetic_paths(config: TrainConfig, dist_info: DistInfo, quiet: bool):
    d = config.data
    root = Path(d.data_root).expanduser()
    knobs = _synthetic_knobs(config)
    metadata_root = Path(d.metadata_root) if d.metadata_root else root / "metadata"
    if not (metadata_root / d.splits["train"]).is_dir():
        if dist_info.is_main:
            from moana.data.synthetic import make_wsol_dataset

            if not quiet:
                print(f"generating the synthetic benchmark in {root} ({knobs})")
            make_wsol_dataset(root, **knobs)
        barrier(dist_info)
    else:
        _check_synthetic(root, knobs)
    made = read_json(root / "synthetic.json")
    settings = {k: v for k, v in made.items() if k != "marks"}
    image_root = root / "images"
    split_dirs = {k: metadata_root / v for k, v in d.splits.items()}
    mask_root = Path(d.mask_root) if d.mask_root else image_root
    return image_root, split_dirs, mask_root, settings


def _real_paths(config: TrainConfig):
    from moana.data.wsol import dataset_paths

    d = config.data
    root = Path(d.data_root).expanduser()
    split_dirs = {}
    image_root = root
    for key, split in d.splits.items():
        image_root, split_dirs[key] = dataset_paths(root, d.dataset, split,
                                                    metadata_root=d.metadata_root)
    mask_root = Path(d.mask_root) / d.dataset if d.mask_root else image_root
    return image_root, split_dirs, mask_root, None


def prepare_data(config: TrainConfig, dist_info: DistInfo | None = None,
                 quiet: bool = True, splits: tuple[str, ...] = ("train", "val", "test")
                 ) -> PreparedData:
    """Resolve the dataset paths; generate the synthetic benchmark when it is missing.

    ``splits``: the splits the run may open; any other is left out of the result, so nothing
    downstream can read it (a hyperparameter-search trial passes ``("train", "val")`` and its
    test split is never touched, not even checked for existence).

    ``data.dataset: synthetic`` with a ``data.data_root`` that holds no metadata yet: rank 0
    calls ``moana.data.synthetic.make_wsol_dataset(data_root, **data.synthetic)`` (seed from
    ``data.synthetic.seed``, default 0) and the other ranks wait. Raises FileNotFoundError
    naming the missing folder and the config keys that point at it.
    """
    dist_info = dist_info or DistInfo()
    d = config.data
    if d.dataset == "synthetic":
        image_root, split_dirs, mask_root, settings = _synthetic_paths(config, dist_info, quiet)
    else:
        image_root, split_dirs, mask_root, settings = _real_paths(config)
    split_dirs = {k: v for k, v in split_dirs.items() if k in splits}
    for key, directory in split_dirs.items():
        if not directory.is_dir():
            raise FileNotFoundError(f"metadata of the {key} split not found: {directory} "
                                    f"(data.data_root={d.data_root}, "
                                    f"data.metadata_root={d.metadata_root})")
    if not image_root.is_dir():
        raise FileNotFoundError(f"image folder {image_root} does not exist "
                                f"(data.data_root={d.data_root})")
    prepared = PreparedData(config, image_root, split_dirs, mask_root, 0, settings)
    prepared.num_classes = config.model.num_classes or prepared.metadata("train").num_classes
    return prepared


# --------------------------------------------------------------------------- model


def build_from_config(config: TrainConfig, num_classes: int) -> nn.Module:
    """``moana.models.build_model`` with the config's ``model`` section, its new layers
    initialised by ``optim.recipe`` (:func:`moana.train.recipe.init_new_layers`).

    ``model.method_kw`` is passed only when non-empty (the WSOL method hooks' options).
    """
    from moana.models.build import build_model

    m = config.model
    kwargs = dict(method=m.method, num_classes=num_classes, pretrained=m.pretrained,
                  attention_kw=dict(m.attention_kw) or None, insert_at=m.insert_at,
                  large_feature_map=m.large_feature_map, **m.extra)
    if m.method_kw:
        kwargs["method_kw"] = dict(m.method_kw)
    from moana.train.recipe import init_new_layers

    return init_new_layers(build_model(m.arch, **kwargs), config.optim.recipe,
                           dataset=config.data.dataset, pretrained=m.pretrained)


# --------------------------------------------------------------------------- evaluation settings


@dataclass(frozen=True)
class EvalSettings:
    """How a split is evaluated, built once per run by :meth:`from_config`.

    ``batch_size`` is per process; ``mask_root`` is where PxAP's masks are (None: no PxAP).
    """

    device: torch.device
    eval_cfg: EvalConfig
    image_size: int
    batch_size: int
    num_workers: int = 0
    mask_root: Path | None = None
    dist_info: DistInfo = field(default_factory=DistInfo)
    amp: str = "none"
    channels_last: bool = False
    quiet: bool = True

    @classmethod
    def from_config(cls, config: TrainConfig, *, device: torch.device,
                    mask_root: Path | None, quiet: bool, dist_info: DistInfo | None = None,
                    batch_size: int | None = None) -> "EvalSettings":
        """``batch_size`` defaults to ``eval.batch_size``, else the per-process train batch."""
        dist_info = dist_info or DistInfo()
        per_rank = config.optim.batch_size // max(dist_info.world_size, 1)
        return cls(device=device, eval_cfg=config.eval, image_size=config.data.image_size,
                   batch_size=batch_size or config.eval.batch_size or per_rank,
                   num_workers=config.data.num_workers, mask_root=mask_root,
                   dist_info=dist_info, amp=config.runtime.amp,
                   channels_last=config.runtime.channels_last, quiet=quiet)
