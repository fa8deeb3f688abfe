"""``moana config show NAME [KEY=VALUE ...]``: the resolved configuration as YAML, every key;
``moana config list``: the shipped training and WSSS configs with their descriptions.

NAME is a shipped training config (``moana/train/configs``), a shipped WSSS config
(``moana/wsss/configs``) or a YAML path (``--kind`` picks the schema of a path; by default a
path is read as a training config). Overrides use the same ``section.key=value`` syntax as
``moana train`` and ``moana wsss run``; errors name the file and line of a bad key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def _load(name: str, overrides: list[str], kind: str):
    from moana.train.config import available_configs, load_config

    if kind == "auto":
        if name in available_configs():
            kind = "train"
        else:
            from moana.wsss.config import CONFIG_DIR as WSSS_DIR

            kind = "wsss" if (WSSS_DIR / f"{name}.yaml").is_file() else "train"
    if kind == "wsss":
        from moana.wsss.config import load_wsss_config

        return load_wsss_config(name, overrides)
    return load_config(name, overrides)


def _synthetic_defaults(kind_of_spec: str) -> dict:
    """Defaults of the synthetic generator's knobs (``moana.data.synthetic``'s spec dataclass),
    or {} where that spec does not exist."""
    import dataclasses

    try:
        from moana.data import synthetic
    except ImportError:
        return {}
    spec = getattr(synthetic, kind_of_spec, None)
    if spec is None or not dataclasses.is_dataclass(spec):
        return {}
    try:
        instance = spec()
    except TypeError:  # required fields: no defaults to show
        return {}
    plain = json.loads(json.dumps(dataclasses.asdict(instance), default=str))  # tuples -> lists
    return plain


def show_config(name: str | Path, overrides: list[str] | None = None, kind: str = "auto") -> str:
    """The resolved config (``base`` inheritance and overrides applied) as YAML, every key.

    A synthetic dataset's knobs that the config leaves out are shown with the generator's
    defaults (what ``make_wsol_dataset`` / ``make_voc_dataset`` will use), where the generator
    declares them (``WSOLSynthSpec`` / ``VOCSynthSpec``).
    """
    config = _load(str(name), list(overrides or []), kind)
    data = config.to_dict()
    section = data.get("data") if isinstance(data.get("data"), dict) else None
    if section is not None and isinstance(section.get("synthetic"), dict):
        spec = "VOCSynthSpec" if type(config).__name__.startswith("WSSS") else "WSOLSynthSpec"
        defaults = _synthetic_defaults(spec)
        section["synthetic"] = {**defaults, **section["synthetic"]}
    return yaml.safe_dump(data, sort_keys=False)


def list_configs() -> list[tuple[str, str, str]]:
    """``(kind, name, description)`` of every shipped config: training (``moana train``) then
    WSSS (``moana wsss run``)."""
    from moana.train.config import CONFIG_DIR as TRAIN_DIR
    from moana.wsss.config import CONFIG_DIR as WSSS_DIR

    rows = []
    for kind, folder in (("train", Path(TRAIN_DIR)), ("wsss", Path(WSSS_DIR))):
        for path in sorted(folder.glob("*.yaml")):
            try:
                text = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                text = {}
            rows.append((kind, path.stem, str(text.get("description", "")) if isinstance(text, dict) else ""))
    return rows


def _list(args: argparse.Namespace) -> int:
    for kind, name, description in list_configs():
        if args.kind in ("all", kind):
            print(f"{kind:5s}  {name:32s}  {description}")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(show_config(args.name, args.overrides, args.kind), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana config show`` to the CLI's ``subparsers``."""
    config = subparsers.add_parser("config", help="list the shipped configs (train and WSSS) "
                                   "or show one resolved", description=__doc__.split("\n\n")[1])
    sub = config.add_subparsers(dest="config_command", required=True)
    listing = sub.add_parser("list", help="the shipped configs, one a line: kind, name, description")
    listing.add_argument("--kind", choices=("all", "train", "wsss"), default="all",
                         help="which configs: train (moana train) or wsss (moana wsss run)")
    listing.set_defaults(func=_list)
    show = sub.add_parser("show", help="print a config (shipped name or YAML) with every key")
    show.add_argument("name", help="shipped config name (smoke_moana, smoke, ...) or YAML path")
    show.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    show.add_argument("--kind", choices=("auto", "train", "wsss"), default="auto",
                      help="schema of the config (auto: by shipped name; paths are train)")
    show.set_defaults(func=_show)
    config.set_defaults(func=lambda args: (config.print_help(), 2)[1])
