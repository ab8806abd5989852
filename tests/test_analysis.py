"""Analysis on a real smoke study's Parquet and on tables written here: aggregation, pivots, boundaries, report."""
from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import plots
from analysis.report import build_report, seed_scenarios
from analysis.results import AnalysisError, aggregate_seeds, boundary_cells, load_results, pivot
from trainable import TrainConfig, invariants

from conftest import assert_refused, run_cli


def runs(rows: list[dict]) -> pd.DataFrame:
    """Trial rows as sweeps/grid.py writes them (config + invariants + outcome), for hand-made fixtures."""
    full = []
    for i, row in enumerate(rows):
        knobs = {k: row[k] for k in ("input_scale", "lr1", "lr2", "init1", "init2", "wd1", "wd2", "seed") if k in row}
        cfg = TrainConfig(**knobs)
        full.append({"trial_id": f"t{i}", **cfg.to_dict(), **invariants(cfg), "outcome": row["outcome"],
                     "outcome_step": row.get("outcome_step", np.nan), "final_test_acc": row["acc"],
                     "compute_seconds": 1.0})
    return pd.DataFrame(full)


def test_seeds_aggregate_into_probability_mean_std_and_typical_outcome():
    table = runs([dict(lr1=0.1, seed=s, outcome=o, acc=a) for s, o, a in
                  [(0, "converged", 0.5), (1, "converged", 0.4), (2, "diverged", 0.1)]]
                 + [dict(lr1=1.0, seed=s, outcome=o, acc=0.1) for s, o in [(0, "collapsed"), (1, "diverged")]])
    cells = aggregate_seeds(table).set_index("lr1")
    assert cells.loc[0.1, "runs"] == 3 and cells.loc[0.1, "p_converged"] == pytest.approx(2 / 3)
    assert cells.loc[0.1, "acc_mean"] == pytest.approx(1 / 3) and cells.loc[0.1, "acc_std"] == pytest.approx(0.2082, abs=1e-4)
    assert cells.loc[0.1, "outcome"] == "converged"
    assert cells.loc[1.0, "outcome"] == "diverged"  # a tie goes to the more severe outcome


def test_pivot_and_boundary_cells():
    outcome = {(a, b): "converged" if a * b < 0.05 else "diverged" for a in (0.01, 0.1, 1) for b in (0.01, 0.1, 1)}
    table = runs([dict(lr1=a, lr2=b, outcome=o, acc=0.5 if o == "converged" else 0.1) for (a, b), o in outcome.items()])
    grid = pivot(aggregate_seeds(table), "lr1", "lr2", "outcome")
    assert grid.columns.tolist() == [0.01, 0.1, 1] and grid.index.tolist() == [0.01, 0.1, 1]
    assert grid.loc[0.01, 1] == "converged" and grid.loc[0.1, 1] == "diverged"
    edge = boundary_cells(grid)
    expected = [[False, False, True], [False, True, True], [True, True, False]]  # rows lr2, columns lr1
    assert edge.to_numpy().tolist() == expected
    with pytest.raises(AnalysisError, match="several rows"):
        pivot(table.assign(lr2=0.1), "lr1", "lr2", "outcome")


def test_invariant_coordinates_put_equal_invariants_on_one_spot():
    table = runs([dict(outcome="converged", acc=0.5),
                  dict(input_scale=255, init2=1 / 255, lr2=0.02 / 255**2, wd2=1e-4 * 255**2, outcome="converged", acc=0.5),
                  dict(input_scale=255, outcome="collapsed", acc=0.1)])
    assert np.allclose(table.loc[0, ["k", "fstep1", "fstep2"]].astype(float), table.loc[1, ["k", "fstep1", "fstep2"]].astype(float))
    assert table.loc[2, "fstep2"] == pytest.approx(table.loc[0, "fstep2"] * 255**2)
    assert set(seed_scenarios(table)) == {"baseline", "x255 exact fix", "x255"}


def test_smoke_study_report_has_every_section_and_valid_images(smoke_study, tmp_path):
    out, result = smoke_study
    results = load_results(out)
    assert len(results.trials) == 4 and results.spec["name"] == "smoke" and results.study["sessions"] == 1
    assert results.varying_axes() == ["input_scale", "lr1", "lr2"] and results.epochs.epoch.max() == 3
    assert "report:" in result.stdout and (out / "report" / "report.html").exists()  # grid.py made it at the end
    page = build_report(out, tmp_path / "html").read_text()
    for section in ("What was swept", "Outcome map", "Accuracy map", "Invariant view", "Learning curves", "Theory"):
        assert f">{section}<" in page
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 4
    for data in images:
        (tmp_path / "x.png").write_bytes(base64.b64decode(data))
        assert Image.open(tmp_path / "x.png").size[0] > 400
    md = build_report(out, tmp_path / "md", fmt="md", svg=True)
    text = md.read_text()
    for png in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert Image.open(md.parent / png).format == "PNG" and (md.parent / png).with_suffix(".svg").exists()
    assert "| runs | 4:" in text


def test_seed_scenarios_get_explained(tmp_path):
    table = runs([dict(seed=s, outcome="converged", acc=0.5 + s / 100) for s in range(2)]
                 + [dict(input_scale=255, seed=s, outcome="collapsed", outcome_step=97, acc=0.1) for s in range(2)])
    table["scenario"] = ["baseline"] * 2 + ["x255"] * 2
    table.to_parquet(tmp_path / "trials.parquet")
    pd.DataFrame({"trial_id": np.repeat(table.trial_id, 2), "epoch": [1, 2] * 4, "test_acc": 0.3,
                  "train_loss": 1.0}).to_parquet(tmp_path / "epochs.parquet")
    page = build_report(tmp_path).read_text()
    assert "The seed's scenarios" in page and "65,025x the baseline" in page and "Agrees with theory" in page
    assert "Outcome map" not in page  # scenarios are no product grid


def test_maps_draw_theory_lines_where_steps_match_the_baseline(tmp_path):
    table = runs([dict(input_scale=255, lr1=a, lr2=b, outcome="converged", acc=0.3)
                  for a in (1e-7, 1e-6) for b in (1e-7, 1e-6)])
    outcome_png, _ = plots.heatmaps(table, "lr1", "lr2", tmp_path / "m.png")
    assert Image.open(outcome_png).format == "PNG"


@pytest.mark.parametrize("make, words", [
    (lambda d: None, ["trials.parquet", "missing"]),
    (lambda d: (d / "trials.parquet").write_bytes(b"not parquet"), ["trials.parquet", "not a readable Parquet"]),
    (lambda d: pd.DataFrame({"trial_id": []}).to_parquet(d / "trials.parquet"), ["trials.parquet", "no rows"]),
    (lambda d: pd.DataFrame({"trial_id": ["a"], "outcome": ["converged"]}).to_parquet(d / "trials.parquet"),
     ["lacks column", "lr1"]),
])
def test_bad_results_exit_2_with_one_line(tmp_path, make, words):
    make(tmp_path)
    assert_refused(run_cli("-m", "analysis", "report", str(tmp_path)), *words)


def test_missing_folder_exits_2():
    assert_refused(run_cli("-m", "analysis", "report", "/no/such/results"), "/no/such/results", "not a results folder")
