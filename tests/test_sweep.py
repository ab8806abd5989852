"""Whole studies through `python sweeps/grid.py`: real Ray (local), real Optuna, real Parquet, on synthetic data."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import ray

from sweeps import grid
from sweeps.spec import SweepSpec
from sweeps.study import StudyOptions, trial_resources

from conftest import ROOT, assert_refused, run_cli


def read(out):
    return pd.read_parquet(out / "trials.parquet"), pd.read_parquet(out / "epochs.parquet")


def assert_each_point_once(trials: pd.DataFrame, epochs: pd.DataFrame, expected_points: set) -> None:
    assert set(zip(trials.input_scale, trials.lr1)) == expected_points and len(trials) == len(expected_points)
    assert trials.point_key.is_unique and trials.trial_id.is_unique
    assert not epochs.duplicated(["point_key", "epoch"]).any()
    assert (epochs.groupby("trial_id").size().reindex(trials.trial_id) == trials.epochs_run.values).all()


def test_smoke_study_covers_the_grid_once_and_labels_the_explosion(smoke_study):
    out, result = smoke_study
    trials, epochs = read(out)
    assert_each_point_once(trials, epochs, set(itertools.product([1.0, 255.0], [0.02, 0.002])))
    assert (trials.lr2 == trials.lr1).all()  # the tie lr2: lr1
    assert trials.outcome.isin(["converged", "stalled", "collapsed", "diverged"]).all()
    exploded = trials[(trials.input_scale == 255) & (trials.lr1 == 0.02)].iloc[0]
    assert exploded.outcome in ("collapsed", "diverged") and exploded.outcome_step > 0
    assert set(trials[trials.input_scale == 1].outcome) == {"converged"}
    assert trials.k.tolist() == trials.input_scale.tolist() and (trials.fstep1 == trials.rho1 * trials.k**2).all()
    assert not epochs.test_loss.isna().any() and {"grad_norm1", "dead_frac", "max_abs_logit"} <= set(epochs)
    provenance = {"package_version", "git_commit", "device", "compute_seconds", "best_test_acc"}
    assert provenance <= set(trials)
    assert "[4/4]" in result.stdout and "converged 2" in result.stdout


def test_adaptive_search_runs_its_budget(tmp_path):
    out = tmp_path / "tpe"
    result = run_cli("sweeps/grid.py", "--preset", "smoke", "--search", "tpe", "--trials", "3",
                     "--lr1", "log:1e-3:1e-1:3", "--input-scale", "1", "--epochs", "1", "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    trials, _ = read(out)
    assert len(trials) == 3 and trials.lr1.between(1e-3, 1e-1).all()


def test_killed_driver_resumes_with_every_point_exactly_once(tmp_path):
    out = tmp_path / "study"
    args = [sys.executable, "sweeps/grid.py", "--preset", "smoke", "--synthetic", "3000,500", "--epochs", "6",
            "--lr1", "0.02,0.01,0.005,0.002", "--out", str(out), "--no-report"]
    driver = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    parts = out / "parts" / "trials"
    deadline = time.monotonic() + 240
    while not (parts.exists() and len(list(parts.glob("*.parquet"))) >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started, mid-study
    driver.wait()
    finished_at_kill = len(list(parts.glob("*.parquet")))
    assert 2 <= finished_at_kill < 8 and not (out / "trials.parquet").exists()

    result = run_cli("sweeps/grid.py", "--out", str(out), "--resume", "--no-report")
    assert result.returncode == 0, result.stderr
    trials, epochs = read(out)
    assert_each_point_once(trials, epochs, set(itertools.product([1.0, 255.0], [0.02, 0.01, 0.005, 0.002])))
    assert (trials.epochs_run[trials.outcome.isin(["converged", "stalled"])] == 6).all()


def test_gpu_trials_share_a_gpu_and_cpu_trials_take_threads():
    assert trial_resources(StudyOptions(device="gpu", trials_per_gpu=4)) == {"cpu": 1, "gpu": 0.25}
    assert trial_resources(StudyOptions(device="cpu", threads_per_trial=2)) == {"cpu": 2}


def test_existing_results_are_never_overwritten(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "trials.parquet").write_bytes(b"precious")
    with pytest.raises(SystemExit) as info:
        grid.main(["--preset", "smoke", "--out", str(out)])
    assert info.value.code == 2 and "--resume" in capsys.readouterr().err
    assert (out / "trials.parquet").read_bytes() == b"precious" and sorted(os.listdir(out)) == ["trials.parquet"]


@pytest.mark.parametrize("args, words", [
    (["--preset", "nope"], ["preset", "'nope'", "smoke"]),
    (["--lr1", "0,0.1"], ["axis lr1", "> 0"]),
    (["--input-scale", "-1"], ["input_scale"]),
    (["--lr2", "lr1 *"], ["axis lr2", "expression"]),
    (["--lr2", "lr3"], ["axis lr2", "lr3"]),
    (["--epochs", "0"], ["epochs"]),
    (["--search", "random"], ["--search", "invalid choice"]),
    (["--spec", "/no/such/spec.yaml"], ["--spec", "cannot be read"]),
    (["--data-dir", "/no/such/data"], ["/no/such/data", "does not exist"]),
    (["--resume"], ["--resume", "--out"]),
    (["--threads-per-trial", "0"], ["--threads-per-trial"]),
])
def test_bad_input_is_refused_before_ray_starts(tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as info:
        grid.main(["--preset", "smoke", *args] if args[0] not in ("--preset", "--spec", "--resume") else args)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and all(w in err[0] for w in words), err
    assert not ray.is_initialized() and not (ROOT / "results" / "smoke").exists()


@pytest.mark.parametrize("body, words", [
    ("name: x\naxes: {lr9: [1]}\n", ["axis lr9", "unknown axis"]),
    ("name: x\naxes: {lr1: []}\n", ["axis lr1", "empty"]),
    ("name: x\naxes: [1, 2\n", ["not valid YAML"]),
])
def test_bad_spec_files_exit_2_with_one_line(tmp_path, body, words):
    path = tmp_path / "spec.yaml"
    path.write_text(body)
    assert_refused(run_cli("sweeps/grid.py", "--spec", str(path), "--out", str(tmp_path / "out")), *words)
    assert not (tmp_path / "out").exists()


def test_saved_spec_is_what_resume_reads(smoke_study):
    out, _ = smoke_study
    import json

    assert SweepSpec.from_dict(json.loads((out / "spec.json").read_text())) == SweepSpec.preset("smoke")
