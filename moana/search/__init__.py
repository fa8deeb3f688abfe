"""Hyperparameter search under wsolevaluation's protocol: trials train on train-weaksup and
are scored on train-fullsup (val) only; the best config is trained once and reported on test.

* :mod:`moana.search.space` — search spaces as data (``moana/train/configs/search/*.yaml``);
* :mod:`moana.search.study` — the Optuna study: sampling, budget, storage, retries;
* :mod:`moana.search.report` — ``best.yaml``, ``trials.csv``, ``search.json``;
* :mod:`moana.search.commands` — ``moana search``.
"""

from moana._lazy import lazy_exports

# Lazy (PEP 562): ``moana search --help`` imports moana.search.commands without optuna/torch.
_EXPORTS = {"SearchSpace": "moana.search.space", "available_spaces": "moana.search.space",
            "load_space": "moana.search.space", "SearchSettings": "moana.search.study",
            "search": "moana.search.study"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["SearchSettings", "SearchSpace", "available_spaces", "load_space", "search"]
