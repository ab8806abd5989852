"""Tune callbacks on the driver: a Parquet writer (Tune has no Parquet logger) and a one-line progress display."""
from __future__ import annotations

import datetime
import json
import sys
import time
from collections import Counter
from typing import TextIO

from ray import tune

from trainable import OUTCOMES

from .spec import point_key
from .store import ResultsStore

SUMMARY_FILE = "summary.json"  # written into every trial checkpoint by sweeps.study.run_trial
EPOCH_META = ("epoch", "step", "seconds")


def read_summary(trial) -> dict | None:
    """The run's summary (config, outcome, every epoch) from its latest checkpoint, wherever Tune stored it."""
    checkpoint = trial.checkpoint
    if checkpoint is None:
        return None
    with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{SUMMARY_FILE}") as stream:
        return json.loads(stream.read())


def result_rows(summary: dict, trial_id: str, point: dict, meta: dict) -> tuple[dict, list[dict]]:
    """One trial row (config, invariants, outcome, final and best metrics, provenance) and its epoch rows."""
    epochs = summary["epochs"]
    final = epochs[-1] if epochs else {}
    best = max(epochs, key=lambda e: e["test_acc"]) if epochs else {}
    key = point_key(point)
    row = {"trial_id": trial_id, "point_key": key, "scenario": point.get("scenario"),
           **summary["config"], **summary["invariants"],
           "outcome": summary["outcome"], "outcome_step": summary["outcome_step"],
           "steps": summary["steps"], "epochs_run": len(epochs),
           **{f"final_{k}": v for k, v in final.items() if k not in EPOCH_META},
           "best_test_acc": best.get("test_acc"), "best_epoch": best.get("epoch"),
           "compute_seconds": summary["seconds"], "device": summary["device"], **meta,
           "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return row, [{"trial_id": trial_id, "point_key": key, **e} for e in epochs]


class ParquetSink(tune.Callback):
    """Writes each run's rows as it finishes; compacts the parts into trials/epochs.parquet at the end.

    Parts are named by grid point (grid search) or trial id (adaptive search), so a run that is repeated after a
    crash or a lost node replaces its rows instead of adding a second copy.
    """

    def __init__(self, store: ResultsStore, meta: dict, key_by_point: bool):
        self.store, self.meta, self.key_by_point = store, meta, key_by_point

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        summary = read_summary(trial)
        if summary is not None:
            self._write(trial, summary)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        summary = read_summary(trial) or {"config": {}, "invariants": {}, "outcome_step": None,
                                          "steps": 0, "seconds": 0.0, "device": None, "epochs": []}
        self._write(trial, {**summary, "outcome": "error"})

    def _write(self, trial, summary: dict) -> None:
        row, epochs = result_rows(summary, trial.trial_id, trial.config, self.meta)
        self.store.write_part(row["point_key"] if self.key_by_point else trial.trial_id, row, epochs)

    def on_experiment_end(self, trials, **info) -> None:
        self.store.compact()


class ProgressLine(tune.Callback):
    """`[12/200] converged 8 · stalled 2 · collapsed 1 · diverged 1 · 1m10s elapsed · ETA 9m30s` per finished run."""

    def __init__(self, store: ResultsStore, total: int, stream: TextIO = sys.stdout):
        self.store, self.total, self.stream = store, total, stream

    def setup(self, **info) -> None:
        finished = self.store.read_parts("trials")
        self.counts = Counter(finished.column("outcome").to_pylist() if finished is not None else [])
        self.done_before = sum(self.counts.values())
        self.start = time.monotonic()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._count((trial.last_result or {}).get("outcome", "error"))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._count("error")

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        done = sum(self.counts.values())
        elapsed = time.monotonic() - self.start
        rate = (done - self.done_before) / elapsed if elapsed > 0 else 0
        eta = _duration((self.total - done) / rate) if rate > 0 and done < self.total else "-"
        parts = [f"{name} {self.counts[name]}" for name in (*OUTCOMES, "error") if self.counts[name]]
        print(f"[{done}/{self.total}] {' · '.join(parts)} · {_duration(elapsed)} elapsed · ETA {eta}",
              file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
