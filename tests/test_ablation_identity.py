"""The ablation runner notices changed overrides: a finished run made with other overrides is
redone, and an interrupted run is continued only under the overrides it was started with."""

from __future__ import annotations

from moana.experiments.ablation import run_ablation


def test_finished_run_with_other_overrides_is_redone(tmp_path):
    calls = []

    def fit(overrides, run_dir, resume):
        calls.append(list(overrides))
        return {"top1_cls": 1.0}

    run_ablation(tmp_path, ["cam"], seeds=[0], epochs=1, fit_fn=fit, progress=False)
    run_ablation(tmp_path, ["cam"], seeds=[0], epochs=1, fit_fn=fit, progress=False)
    assert len(calls) == 1  # same overrides: kept
    run_ablation(tmp_path, ["cam"], seeds=[0], epochs=2, fit_fn=fit, progress=False)
    assert len(calls) == 2 and "optim.epochs=2" in calls[-1]


def test_interrupted_run_is_not_continued_under_other_overrides(tmp_path):
    seen = []

    def dies(overrides, run_dir, resume):
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints" / "last.pt").write_bytes(b"epoch 1 of the first attempt")
        raise KeyboardInterrupt

    def fit(overrides, run_dir, resume):
        seen.append((resume, (run_dir / "checkpoints" / "last.pt").is_file()))
        return {"top1_cls": 1.0}

    try:
        run_ablation(tmp_path, ["cam"], seeds=[0], epochs=1, fit_fn=dies, progress=False)
    except KeyboardInterrupt:
        pass
    run_ablation(tmp_path, ["cam"], seeds=[0], epochs=3, fit_fn=fit, progress=False)
    assert seen == [(False, False)]  # started again, the old checkpoint removed
    try:
        run_ablation(tmp_path, ["cam"], seeds=[0], epochs=5, overrides=["x.y=1"], fit_fn=dies,
                     progress=False)
    except KeyboardInterrupt:
        pass
    run_ablation(tmp_path, ["cam"], seeds=[0], epochs=5, overrides=["x.y=1"], fit_fn=fit,
                 progress=False)
    assert seen[-1] == (True, True)  # same overrides: continued from its checkpoint
