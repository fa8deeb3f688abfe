"""``moana search``: spaces as data, the protocol (test never read), the budget shared by
processes, resume after a kill, and the best config reproducing its trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from moana.search.space import available_spaces, load_space, override_text
from moana.search.study import (SearchSettings, TrialSeededSampler, _in_budget, _retry_interrupted,
                                open_study, search)
from moana.train import fit, load_config

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.synthetic={seed: 0, num_classes: 2, image_size: 32, "
    "per_class: {train: 8, val: 3, test: 3}}",
    "data.resize_size=36", "data.crop_size=32", "data.image_size=32", "data.num_workers=0",
    "optim.epochs=1", "optim.milestones=[]", "eval.cam_step=0.05", "runtime.quiet=true",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A tiny synthetic benchmark whose test split does not exist (a search must not need it)."""
    root = tmp_path_factory.mktemp("search_data")
    fit(load_config("smoke_cam", [*TINY, f"data.data_root={root}"]),
        run_dir=tmp_path_factory.mktemp("warmup") / "run")
    for folder in (root / "metadata" / "test",):
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    return root


def _overrides(data_root: Path) -> list[str]:
    return [*TINY, f"data.data_root={data_root}"]


# --------------------------------------------------------------------------- spaces


@pytest.mark.parametrize("name", available_spaces())
def test_every_shipped_space_loads_and_names_real_keys(name):
    space = load_space(name)
    assert space.params and all(p.source for p in space.params)
    config = "smoke_moana" if "moana" in name else "smoke_cam"
    load_config(config, space.examples())  # every key exists in the train config


def test_method_spaces_extend_cam():
    cam = {p.name for p in load_space("cam").params}
    for name in ("has", "acol", "spg", "adl", "cutmix"):
        assert cam < {p.name for p in load_space(name).params}, name


@pytest.mark.parametrize("params, message", [
    ({"lr": {"sets": "optim.lr", "float": [0.1, 0.01], "source": "x"}}, "low < high"),
    ({"lr": {"sets": "optim.lr", "float": [0.0, 1.0], "log": True, "source": "x"}}, "low > 0"),
    ({"lr": {"sets": "optim.lr", "float": [0.1, 1.0]}}, "needs a 'source'"),
    ({"lr": {"sets": "lr", "float": [0.1, 1.0], "source": "x"}}, "'sets' must name"),
    ({"lr": {"sets": "optim.lr", "float": [0.1, 1.0], "choices": [1], "source": "x"}},
     "exactly one of"),
    ({"lr": {"sets": "optim.lr", "float": [0.1, 1.0], "step": 2, "source": "x"}},
     "unknown field"),
    ({"r": {"sets": "optim.lr", "times": "b", "choices": [1], "source": "x"},
      "b": {"sets": "optim.backbone_lr", "choices": [1], "source": "x"}}, "listed before"),
])
def test_bad_space_names_file_and_line(tmp_path, params, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": params}, sort_keys=False))
    with pytest.raises(ValueError) as err:
        load_space(path)
    assert message in str(err.value) and f"{path}:" in str(err.value)


def test_override_text_reads_back_as_the_value():
    for value in (1e-05, 0.1, 3.0e-12, 2.5e+20, 16, True, "wsol"):
        text = override_text(value)
        assert yaml.safe_load(text) == value, (value, text)


def test_times_multiplies_the_named_parameter():
    space = load_space("cam")
    over = space.overrides({"lr": 0.002, "lr_classifier_ratio": 10, "batch_size": 32})
    assert "optim.backbone_lr=0.002" in over and "optim.lr=0.02" in over


# --------------------------------------------------------------------------- sampling and budget


def test_random_draws_depend_on_seed_and_trial_number_only():
    def draws(seed: int, order: list[int]) -> dict[int, float]:
        study = optuna.create_study(sampler=TrialSeededSampler(seed))
        trials = [study.ask() for _ in range(max(order) + 1)]
        return {n: trials[n].suggest_float("lr", 1e-5, 1.0, log=True) for n in order}

    a, b = draws(0, [0, 1, 2, 3]), draws(0, [3, 1, 0, 2])
    assert a == b and len(set(a.values())) == 4
    assert draws(1, [0, 1, 2, 3]) != a


def test_a_trial_past_the_budget_is_surplus_and_a_retried_one_is_not():
    study = optuna.create_study()
    for _ in range(2):
        study.tell(study.ask(), 1.0)
    running = study.ask()
    assert _in_budget(study, running, 3)
    late = study.ask()  # asked while the third is still running: over a budget of 3
    assert not _in_budget(study, late, 3)
    study.enqueue_trial({"x": 0.5})
    assert _in_budget(study, study.ask(), 3)


def test_a_trial_stopped_by_ctrl_c_is_retried_once_with_its_values():
    study = optuna.create_study()
    trial = study.ask()
    trial.suggest_float("lr", 0.01, 1.0)
    trial.set_user_attr("interrupted", True)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    _retry_interrupted(study)
    _retry_interrupted(study)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == 0
    assert study.ask().suggest_float("lr", 0.01, 1.0) == trial.params["lr"]


def test_median_pruning_runs_and_records_per_epoch_scores(data_root, tmp_path):
    summary = search("smoke_cam", search_dir=tmp_path / "s", settings=SearchSettings(
        trials=4, pruner="median"), overrides=[*_overrides(data_root), "optim.epochs=2"])
    assert summary["trials_complete"] + summary["trials_pruned"] == 4
    study = optuna.load_study(study_name="smoke_cam", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert all(t.intermediate_values for t in study.trials)


def test_a_study_refuses_another_search(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = SearchSettings(trials=2)
    identity = {"config": "smoke_cam", "config_digest": "c", "space": "smoke_cam",
                "space_digest": "a", "metric_key": "MaxBoxAccV2"}
    open_study(url, "s", settings, identity)
    open_study(url, "s", settings, identity)  # the same search: joined
    with pytest.raises(ValueError, match="made for another search.*space_digest"):
        open_study(url, "s", settings, {**identity, "space_digest": "b"})


# --------------------------------------------------------------------------- the protocol


def test_search_never_opens_test_and_best_config_reproduces_its_trial(data_root, tmp_path):
    """The data fixture has no test metadata at all: every trial ran, so none opened it; the
    best config, trained again with the test split back, gives the trial's val number."""
    search_dir = tmp_path / "search"
    summary = search("smoke_cam", search_dir=search_dir, overrides=_overrides(data_root),
                     settings=SearchSettings(trials=3))
    assert summary["trials_complete"] == 3 and summary["best_trial"] is not None
    trials = (search_dir / "trials.csv").read_text().splitlines()
    assert len(trials) == 4 and trials[0].startswith("trial,state,value")
    for run in (search_dir / "trials").iterdir():
        final = json.loads((run / "final_metrics.json").read_text())
        assert final["split"] == "val" and "test_box_curves" not in final
    best = load_config(search_dir / "best.yaml")
    assert best.name == "smoke_cam_searched"
    assert json.loads((search_dir / "search.json").read_text())["best_value"] == summary["best_value"]
    # resuming a finished search runs nothing more
    again = search("smoke_cam", search_dir=search_dir, overrides=_overrides(data_root),
                   settings=SearchSettings(trials=3))
    assert again["trials_complete"] == 3


def test_best_config_trains_to_the_same_val_number(tmp_path):
    root = tmp_path / "data"
    search_dir = tmp_path / "search"
    summary = search("smoke_cam", search_dir=search_dir, overrides=_overrides(root),
                     settings=SearchSettings(trials=2))
    final = fit(load_config(search_dir / "best.yaml"), run_dir=tmp_path / "final")
    assert final["split"] == "test"
    assert final["val"]["MaxBoxAccV2"] == pytest.approx(summary["best_value"], abs=1e-9)


def test_on_validation_sees_each_val_score_and_can_stop_the_run(data_root, tmp_path):
    seen = []

    class Stop(Exception):
        pass

    def hook(epoch: int, score: float) -> None:
        seen.append((epoch, score))
        raise Stop

    config = load_config("smoke_cam", [*_overrides(data_root), "optim.epochs=2", "eval.every=1"])
    with pytest.raises(Stop):
        fit(config, run_dir=tmp_path / "run", final_split="val", on_validation=hook)
    assert seen and seen[0][0] == 1 and 0 <= seen[0][1] <= 100


def test_fit_final_split_must_be_test_or_val(tmp_path):
    with pytest.raises(ValueError, match="final_split"):
        fit("smoke_cam", run_dir=tmp_path / "r", final_split="train")


# --------------------------------------------------------------------------- processes


def _cli(search_dir: Path, data_root: Path, *flags: str, more: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "moana", "search", "--config", "smoke_cam",
            "--search-dir", str(search_dir), *flags, *_overrides(data_root), *more]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    name = optuna.get_all_study_summaries(url)[0].study_name
    return optuna.load_study(study_name=name, storage=url).get_trials()


@pytest.mark.slow
def test_two_processes_split_one_budget_without_duplicates(data_root, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    cmd = _cli(tmp_path / "search", data_root, "--trials", "6", "--storage", url)
    procs = [subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ran = [t for t in _trials(url) if not t.user_attrs.get("surplus")]
    complete = [t for t in ran if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6 and len(ran) == 6
    assert len({t.user_attrs["run_dir"] for t in complete}) == 6
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both processes took trials


@pytest.mark.slow
def test_a_killed_search_resumes_and_retries_the_killed_trial(data_root, tmp_path):
    search_dir = tmp_path / "search"
    proc = subprocess.Popen(_cli(search_dir, data_root, "--trials", "3", "--heartbeat", "1",
                                 more=("optim.epochs=3",)), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    second = search_dir / "trials" / "0001" / "config.yaml"
    deadline = time.time() + 300
    while not second.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    url = f"sqlite:///{(search_dir / 'study.db').resolve()}"
    before = {t.number: t for t in _trials(url)}
    assert before[1].state == optuna.trial.TrialState.RUNNING
    summary = search("smoke_cam", search_dir=search_dir,
                     overrides=[*_overrides(data_root), "optim.epochs=3"],
                     settings=SearchSettings(trials=3, heartbeat_s=1, poll_s=0.5))
    after = {t.number: t for t in _trials(url)}
    assert summary["trials_complete"] == 3
    assert after[1].state == optuna.trial.TrialState.FAIL
    retry = [t for t in after.values() if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].params == before[1].params
    assert retry[0].state == optuna.trial.TrialState.COMPLETE
