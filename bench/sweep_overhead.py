"""Sweep overhead: a study's wall time against the sum of its trials' own compute, on a grid of >= 5 s trials.

    ideal wall = sum(compute_seconds of every trial) / parallel slots (CPU cores / threads per trial)
    ratio      = measured wall / ideal wall          (goal: <= 1.15 for the Tune run itself)

Prints the ratio for the Tune run (study.json: Tuner.fit to the compacted Parquet) and for the whole command
(Python start, Ray start, data, report skipped).

    python bench/sweep_overhead.py [--trials 48] [--n-train 20000] [--epochs 4]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=48, help="grid points (learning rates around the recipe's)")
    parser.add_argument("--n-train", type=int, default=20000, help="synthetic train images per trial")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    lrs = ",".join(f"{v:.6g}" for v in np.geomspace(0.002, 0.05, args.trials))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "study"
        command = [sys.executable, "sweeps/grid.py", "--preset", "smoke", "--input-scale", "1", "--lr1", lrs,
                   "--synthetic", f"{args.n_train},2000", "--epochs", str(args.epochs), "--out", str(out),
                   "--no-report"]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        command_wall = time.perf_counter() - start
        trials = pd.read_parquet(out / "trials.parquet")
        tune_wall = json.loads((out / "study.json").read_text())["wall_seconds"]
    slots = os.cpu_count()
    ideal = trials.compute_seconds.sum() / slots
    print(f"{len(trials)} trials, {trials.compute_seconds.mean():.1f} s compute each (min "
          f"{trials.compute_seconds.min():.1f} s), {slots} parallel slots: ideal wall {ideal:.1f} s")
    print(f"Tune run:      {tune_wall:6.1f} s wall -> {tune_wall / ideal:.3f}x ideal")
    print(f"whole command: {command_wall:6.1f} s wall -> {command_wall / ideal:.3f}x ideal")


if __name__ == "__main__":
    main()
