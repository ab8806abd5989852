"""The study report: what was swept, the maps, the seed scenarios with explanations; HTML (self-contained) or Markdown."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from sweeps.spec import SweepSpec
from trainable import OUTCOMES, SWEEPABLE

from . import plots
from .explain import explain, prediction
from .results import Results, load_results

KNOBS = [k for k in SWEEPABLE if k != "seed"]


def seed_scenarios(trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The question's scenarios found among the runs: by name when the study named them, else by configuration."""
    seed = SweepSpec.preset("seed")
    if "scenario" in trials and trials.scenario.notna().any():
        order = {name: i for i, name in enumerate(seed.scenarios)}
        names = sorted(trials.scenario.dropna().unique(), key=lambda n: (order.get(n, len(order)), n))
        return {name: trials[trials.scenario == name] for name in names}
    found = {}
    for name in seed.scenarios:
        cfg = seed.resolve({"scenario": name, "seed": 0})
        mask = np.logical_and.reduce([np.isclose(trials[k], getattr(cfg, k), rtol=1e-9, atol=0) for k in KNOBS])
        if mask.any():
            found[name] = trials[mask]
    return found


def _map_axes(results: Results) -> tuple[str, str] | None:
    """Two axes to map: lr1 x lr2 when both vary, else the two axes with the most values; None if < 2 vary."""
    varying = [a for a in results.varying_axes() if results.trials[a].nunique() >= 2]
    if "scenario" in results.trials and results.trials.scenario.notna().any():
        return None  # scenarios are not a product grid: the table and invariant view tell their story
    if {"lr1", "lr2"} <= set(varying):
        return "lr1", "lr2"
    return (varying[1], varying[0]) if len(varying) >= 2 else None


def _summary(results: Results) -> list[tuple[str, str]]:
    trials, spec = results.trials, results.spec
    counts = trials.outcome.value_counts()
    axes = spec.get("axes", {})
    rows = [("study", f"{spec.get('name', results.folder.name)}: {spec.get('description', '').strip()}"),
            ("swept", "; ".join(f"{k} = {v}" for k, v in axes.items()) or "-"),
            ("scenarios", ", ".join(spec.get("scenarios", {})) or "-"),
            ("settings", ", ".join(f"{k} = {v:g}" for k, v in spec.get("settings", {}).items()) or "recipe defaults"),
            ("data", str(trials.data_source.iloc[0]) if "data_source" in trials else "-"),
            ("runs", f"{len(trials)}: " + ", ".join(f"{counts.get(o, 0)} {o}" for o in OUTCOMES)),
            ("compute", f"{trials.compute_seconds.sum():.0f} s summed over runs"
                        + (f" on {', '.join(sorted(trials.device.dropna().unique()))}" if "device" in trials else ""))]
    if results.study.get("wall_seconds"):
        rows.append(("wall time", f"{results.study['wall_seconds']:.0f} s ({results.study.get('sessions', 1)} session(s))"))
    return rows


def _scenario_table(results: Results) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    scenarios = seed_scenarios(results.trials)
    if not scenarios:
        return [], [], []
    baseline = scenarios.get("baseline")
    baseline_acc = baseline.final_test_acc.mean() if baseline is not None else None
    header = ["scenario", "runs", "outcomes", "final test acc", "k", "step 1 / baseline", "step 2 / baseline",
              "theory"]
    rows, notes = [], []
    for name, runs in scenarios.items():
        inv = runs.iloc[0][["k", "fstep1", "fstep2", "decay1", "decay2"]].to_dict()
        acc = runs.final_test_acc
        outcomes = ", ".join(f"{n} {o}" for o, n in runs.outcome.value_counts().items())
        rows.append([name, str(len(runs)), outcomes,
                     f"{acc.mean():.1%}" + (f" ± {acc.std(ddof=1):.1%}" if len(runs) > 1 else ""),
                     f"{inv['k']:.4g}", f"{inv['fstep1'] / plots.BASELINE['fstep1']:,.4g}",
                     f"{inv['fstep2'] / plots.BASELINE['fstep2']:,.4g}", prediction(inv)])
        notes.append((name, explain(inv, runs, baseline_acc)))
    return header, rows, notes


def _curve_groups(results: Results) -> dict[str, list[str]]:
    scenarios = seed_scenarios(results.trials)
    if scenarios:
        return {name: rows.trial_id.tolist() for name, rows in scenarios.items()}
    trials = results.trials.sort_values("final_test_acc", ascending=False)
    picks = {"best run": trials.head(1)}
    for outcome in OUTCOMES:
        rows = trials[trials.outcome == outcome]
        if len(rows):
            picks[f"a {outcome} run"] = rows.iloc[[len(rows) // 2]]
    return {label: rows.trial_id.tolist() for label, rows in picks.items()}


def build_report(folder: str | Path, out: str | Path | None = None, fmt: str = "html", svg: bool = False) -> Path:
    """Write the report (and its PNGs) into `out` (default FOLDER/report); returns the report file."""
    results = load_results(folder)
    out = Path(out) if out else Path(folder) / "report"
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, Path, str]] = []
    axes = _map_axes(results)
    if axes:
        outcome_png, accuracy_png = plots.heatmaps(results.trials, *axes, out / "map.png", svg)
        figures += [("Outcome map", outcome_png, "How each configuration ends (typical outcome over seeds). Dashed: "
                                                 "where a layer's function-space step equals the baseline recipe's."),
                    ("Accuracy map", accuracy_png, "Final test accuracy, mean over seeds; black lines separate cells "
                                                   "whose outcomes differ (the converge/explode boundary).")]
    figures.append(("Invariant view", plots.invariant_view(results.trials, out / "invariants.png", svg),
                    "Each run placed by its function-space steps, one panel per output scale k: equal invariants, "
                    "same spot, same fate."))
    figures.append(("Learning curves", plots.learning_curves(results.trials, results.epochs, _curve_groups(results),
                                                             out / "curves.png", svg),
                    "Mean over the runs of each group."))
    header, rows, notes = _scenario_table(results)
    writer = _html if fmt == "html" else _markdown
    path = out / f"report.{'html' if fmt == 'html' else 'md'}"
    path.write_text(writer(results, figures, header, rows, notes))
    return path


def _html(results: Results, figures, header, rows, notes) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>stability-sweep report: {esc(results.spec.get('name', ''))}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}</style></head><body>",
             f"<h1>Stability report: {esc(results.spec.get('name', results.folder.name))}</h1>",
             "<h2>What was swept</h2><table>"]
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _summary(results)]
    parts.append("</table>")
    if rows:
        parts.append("<h2>The seed's scenarios</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table><h3>Why</h3>")
        parts += [f"<p><b>{esc(name)}</b>: {esc(text)}</p>" for name, text in notes]
    for title, png, caption in figures:
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<h2>{esc(title)}</h2><p>{esc(caption)}</p><img alt='{esc(title)}' src='data:image/png;base64,{data}'>")
    parts.append(f"<h2>Theory</h2><p>{esc(THEORY)}</p>")
    return "\n".join(parts + ["</body></html>"])


def _markdown(results: Results, figures, header, rows, notes) -> str:
    lines = [f"# Stability report: {results.spec.get('name', results.folder.name)}", "", "## What was swept", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _summary(results)]
    if rows:
        lines += ["", "## The seed's scenarios", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", "### Why", ""] + [f"**{name}**: {text}\n" for name, text in notes]
    for title, png, caption in figures:
        lines += ["", f"## {title}", "", caption, "", f"![{title}]({png.name})"]
    lines += ["", "## Theory", "", THEORY]
    return "\n".join(lines) + "\n"


THEORY = ("For f(x) = W2 relu(W1 c x) with W_i = a_i V_i (V_i the default init), SGD with momentum on V depends only "
          "on k = c a1 a2, rho_i = lr_i / a_i^2, lr_i wd_i and the momentum; rho_i k^2 is layer i's step in function "
          "space. Configurations with equal invariants train identically up to float rounding. Heavy-ball momentum "
          "beta is linearly stable only while lr * curvature < 2 (1 + beta).")

