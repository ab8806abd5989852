"""Shared fixtures: small synthetic data, a CLI runner, and the real CIFAR-10 copy when it is there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainable import synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
REAL_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Decoded-data caches go to the test's temp dir, never the user's ~/.cache."""
    monkeypatch.setenv("STABILITY_SWEEP_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def data():
    return synthetic_dataset(1000, 250)


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """One real smoke sweep (Ray, Optuna, Parquet, report) shared by the sweep and analysis tests."""
    out = tmp_path_factory.mktemp("studies") / "smoke"
    result = run_cli("sweeps/grid.py", "--preset", "smoke", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run a command of ours (`-m trainable`, `sweeps/grid.py`, `-m analysis`) the way a user does, from the repo root."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kwargs)


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2, one line on stderr naming what is wrong, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
