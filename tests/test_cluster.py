"""cluster.yaml against Ray's launcher schema, and a real multi-node sweep that loses a worker node mid-way."""
from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from conftest import ROOT

CLUSTER_YAML = ROOT / "cluster.yaml"


def validate(config: dict) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))


def test_cluster_yaml_is_a_valid_ray_launcher_config():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    validate(config)
    assert config["provider"]["type"] == "aws" and config["head_node_type"] in config["available_node_types"]
    workers = {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}
    assert any("g" in v["node_config"]["InstanceType"].split(".")[0] for v in workers.values())  # a GPU family
    assert any("stability-sweep" in c for c in config["setup_commands"])


@pytest.mark.parametrize("break_it, error", [
    (lambda c: c.update(colour="red"), "colour"),
    (lambda c: c.update(head_node_type="nope"), "head_node_type"),
    (lambda c: c["available_node_types"].pop("head"), "head_node_type"),
    (lambda c: c["available_node_types"]["gpu_worker"].pop("node_config"), "node_config"),
])
def test_broken_copies_are_rejected(break_it, error):
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    break_it(config)
    with pytest.raises(Exception, match=error):
        validate(config)


def node_running_a_trial(workers, tune_dir, epochs):
    """The worker node whose Ray worker process is mid-way through a run (its parent process is that node's raylet)."""
    for result in tune_dir.glob("*/result.json"):
        lines = result.read_text().splitlines()
        last = json.loads(lines[-1]) if lines else None
        if last is None or last["epoch"] > epochs - 3 or (result.parent / "error.txt").exists():
            continue
        try:
            parent = int(Path(f"/proc/{last['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        for node in workers:
            if node.all_processes["raylet"][0].process.pid == parent:
                return node
    return None


@pytest.mark.slow
def test_losing_a_worker_node_loses_no_run(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    storage = tmp_path / "shared"
    try:
        driver = subprocess.Popen(
            [sys.executable, "sweeps/grid.py", "--preset", "smoke", "--synthetic", "3000,500", "--epochs", "8",
             "--lr1", "0.02,0.01,0.005,0.002", "--address", cluster.address, "--storage", str(storage),
             "--no-report"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        parts = storage / "smoke" / "parts" / "trials"
        deadline = time.monotonic() + 240
        victim = None
        while victim is None and time.monotonic() < deadline:
            time.sleep(0.1)
            if parts.exists() and len(list(parts.glob("*.parquet"))) >= 2:
                victim = node_running_a_trial(workers, storage / "smoke" / "tune", epochs=8)
        done_before = len(list(parts.glob("*.parquet")))
        cluster.remove_node(victim, allow_graceful=False)  # the run on it dies mid-way
        output, _ = driver.communicate(timeout=400)
    finally:
        cluster.shutdown()
    assert driver.returncode == 0, output
    assert 2 <= done_before < 8
    trials = pd.read_parquet(storage / "smoke" / "trials.parquet")
    epochs = pd.read_parquet(storage / "smoke" / "epochs.parquet")
    assert set(zip(trials.input_scale, trials.lr1)) == set(itertools.product([1.0, 255.0], [0.02, 0.01, 0.005, 0.002]))
    assert len(trials) == 8 and trials.point_key.is_unique
    assert not epochs.duplicated(["point_key", "epoch"]).any()
    assert (epochs.groupby("point_key").size().reindex(trials.point_key) == trials.epochs_run.values).all()
    assert (trials.epochs_run[trials.outcome.isin(["converged", "stalled"])] == 8).all()
    cut = [p.parent for p in (storage / "smoke" / "tune").glob("*/error.txt")]
    assert cut, "no run was on the removed node"
    for folder in cut:  # each cut run was retried and reported every epoch once (resumed, not run twice)
        reported = [json.loads(line) for line in (folder / "result.json").read_text().splitlines()]
        assert [r["epoch"] for r in reported] == list(range(1, len(reported) + 1))
