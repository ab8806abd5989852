"""A study's Parquet results as pandas tables: loading, seed aggregation, pivots and boundary cells."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainable import OUTCOMES, SWEEPABLE

AXES = tuple(a for a in SWEEPABLE if a != "seed")  # what a map can be drawn over; seeds are replicates
TRIAL_COLUMNS = {"trial_id", "outcome", "final_test_acc", *SWEEPABLE, "k", "fstep1", "fstep2"}
EPOCH_COLUMNS = {"trial_id", "epoch", "test_acc", "train_loss"}
SEVERITY = {name: i for i, name in enumerate(OUTCOMES)}  # converged < stalled < collapsed < diverged


class AnalysisError(ValueError):
    """Results that cannot be analysed; the message names the file and what is missing."""


@dataclass
class Results:
    trials: pd.DataFrame
    epochs: pd.DataFrame
    spec: dict
    study: dict  # wall time and sessions, from study.json when present
    folder: Path

    def varying_axes(self) -> list[str]:
        """Axes with more than one value in this study, most values first."""
        counts = {a: self.trials[a].nunique() for a in AXES}
        return sorted((a for a, n in counts.items() if n > 1), key=lambda a: -counts[a])


def _read_table(path: Path, required: set[str]) -> pd.DataFrame:
    if not path.exists():
        raise AnalysisError(f"{path}: missing; expected the Parquet file written by sweeps/grid.py")
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise AnalysisError(f"{path}: not a readable Parquet file ({exc})") from None
    if frame.empty:
        raise AnalysisError(f"{path}: holds no rows")
    missing = required - set(frame.columns)
    if missing:
        raise AnalysisError(f"{path}: lacks column(s) {', '.join(sorted(missing))}")
    return frame


def load_results(folder: str | Path) -> Results:
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalysisError(f"{folder}: not a results folder (expected trials.parquet and epochs.parquet inside)")
    trials = _read_table(folder / "trials.parquet", TRIAL_COLUMNS)
    epochs = _read_table(folder / "epochs.parquet", EPOCH_COLUMNS)
    trials = trials[trials.outcome.isin(OUTCOMES)].reset_index(drop=True)  # infrastructure errors are not outcomes
    if trials.empty:
        raise AnalysisError(f"{folder / 'trials.parquet'}: no run ended with an outcome")
    read = lambda name: json.loads((folder / name).read_text()) if (folder / name).exists() else {}  # noqa: E731
    return Results(trials, epochs, read("spec.json"), read("study.json"), folder)


def aggregate_seeds(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: P(converged), mean and std of final test accuracy, and the typical outcome.

    The typical outcome is the most frequent one; ties go to the more severe (diverged > collapsed > stalled).
    """
    keys = [a for a in AXES if a in trials] + (["scenario"] if "scenario" in trials and trials.scenario.notna().any() else [])

    def summarise(group: pd.DataFrame) -> pd.Series:
        counts = group.outcome.value_counts()
        typical = max(counts.index, key=lambda o: (counts[o], SEVERITY[o]))
        return pd.Series({
            "runs": len(group),
            "p_converged": (group.outcome == "converged").mean(),
            "acc_mean": group.final_test_acc.mean(),
            "acc_std": group.final_test_acc.std(ddof=1) if len(group) > 1 else 0.0,
            "outcome": typical,
            "outcome_step": group.outcome_step.median() if "outcome_step" in group else np.nan,
            **{c: group[c].iloc[0] for c in ("k", "fstep1", "fstep2", "decay1", "decay2") if c in group},
        })

    return trials.groupby(keys, dropna=False).apply(summarise, include_groups=False).reset_index()


def pivot(table: pd.DataFrame, x: str, y: str, value: str) -> pd.DataFrame:
    """`value` on a y-by-x grid (rows y ascending, columns x ascending); raises if a cell has several rows."""
    for axis in (x, y):
        if axis not in table:
            raise AnalysisError(f"results lack the axis {axis!r} this map needs")
    if table.duplicated([x, y]).any():
        raise AnalysisError(f"several rows per ({x}, {y}) cell: fix the other axes or facet by them first")
    return table.pivot(index=y, columns=x, values=value).sort_index().sort_index(axis=1)


def outcome_edges(outcomes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(right, next_row): True where a cell's outcome differs from its neighbour in the next column / next row."""
    grid = outcomes.to_numpy()
    known = pd.notna(grid)
    right = (grid[:, :-1] != grid[:, 1:]) & known[:, :-1] & known[:, 1:]
    next_row = (grid[:-1] != grid[1:]) & known[:-1] & known[1:]
    return right, next_row


def boundary_cells(outcomes: pd.DataFrame) -> pd.DataFrame:
    """True where a cell's outcome differs from a horizontal or vertical neighbour's (the stability edge)."""
    right, next_row = outcome_edges(outcomes)
    edge = np.zeros(outcomes.shape, dtype=bool)
    edge[:, :-1] |= right
    edge[:, 1:] |= right
    edge[:-1] |= next_row
    edge[1:] |= next_row
    return pd.DataFrame(edge, index=outcomes.index, columns=outcomes.columns)


def facets(table: pd.DataFrame, x: str, y: str) -> list[tuple[dict, pd.DataFrame]]:
    """Split by every other varying axis: one (fixed values, rows) pair per panel."""
    others = [a for a in AXES if a in table and a not in (x, y) and table[a].nunique() > 1]
    if not others:
        return [({}, table)]
    return [(dict(zip(others, key if isinstance(key, tuple) else (key,))), rows)
            for key, rows in table.groupby(others, sort=True)]
