"""The maps: outcome and accuracy heatmaps over two axes, the invariant view, and learning curves.

Each function draws one figure and saves it as PNG (plus SVG when asked); it returns the PNG path.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import LogLocator, NullFormatter  # noqa: E402

from trainable import OUTCOMES, TrainConfig, invariants  # noqa: E402

from .results import aggregate_seeds, facets, outcome_edges, pivot  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
OUTCOME_COLOURS = {"converged": "#009E73", "stalled": "#F0E442", "collapsed": "#0072B2", "diverged": "#D55E00"}
LABELS = {"input_scale": "input scale c", "lr1": "layer-1 learning rate lr1", "lr2": "layer-2 learning rate lr2",
          "init1": "layer-1 init factor a1", "init2": "layer-2 init factor a2", "wd1": "layer-1 weight decay",
          "wd2": "layer-2 weight decay", "momentum": "momentum"}
THEORY_COLOUR = "#CC79A7"  # Okabe-Ito reddish purple: not an outcome colour
BASELINE = invariants(TrainConfig())


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted values: geometric midpoints on a log axis, extended half a step at the ends."""
    logs = np.log10(values)
    if len(values) == 1:
        return 10 ** np.array([logs[0] - 0.5, logs[0] + 0.5])
    mids = (logs[:-1] + logs[1:]) / 2
    return 10 ** np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]])


def _title(fixed: dict) -> str:
    return ", ".join(f"{k} = {_number(v)}" for k, v in fixed.items()) or "all runs"


def _number(value: float) -> str:
    if value > 0 and abs(math.log10(value) - round(math.log10(value))) < 1e-9:
        return f"1e{round(math.log10(value))}" if abs(math.log10(value)) >= 3 else f"{value:g}"
    if value > 0 and abs(1 / value - round(1 / value)) < 1e-6 and value < 1:
        return f"1/{round(1 / value)}"
    return f"{value:.3g}"


def _log_axes(ax: plt.Axes) -> None:
    """Log axes labelled at powers of ten only, so labels never crowd."""
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(numticks=8))
        axis.set_minor_formatter(NullFormatter())


def _grid_figure(panels: int) -> tuple[plt.Figure, np.ndarray]:
    columns = min(panels, 2)
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 5.2 * rows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig: plt.Figure, path: Path, svg: bool) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    if svg:
        fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)
    return path


def _draw_boundary(ax: plt.Axes, outcomes: pd.DataFrame, xe: np.ndarray, ye: np.ndarray) -> None:
    """Black segments along every shared edge of two cells whose outcomes differ."""
    right, next_row = outcome_edges(outcomes)
    for i, j in np.argwhere(right):
        ax.plot([xe[j + 1]] * 2, [ye[i], ye[i + 1]], color="black", lw=2)
    for i, j in np.argwhere(next_row):
        ax.plot([xe[j], xe[j + 1]], [ye[i + 1]] * 2, color="black", lw=2)


def _theory_lines(ax: plt.Axes, x: str, y: str, fixed: dict) -> None:
    """Where each layer's function-space step equals the baseline's: lr_i = fstep_base * a_i**2 / k**2."""
    scale = fixed.get("input_scale", 1.0)
    a = {1: fixed.get("init1", 1.0), 2: fixed.get("init2", 1.0)}
    k = scale * a[1] * a[2]
    for layer, draw in ((1, ax.axvline if x == "lr1" else ax.axhline if y == "lr1" else None),
                        (2, ax.axvline if x == "lr2" else ax.axhline if y == "lr2" else None)):
        if draw is not None:
            draw(BASELINE[f"fstep{layer}"] * a[layer] ** 2 / k**2, color=THEORY_COLOUR, ls="--", lw=2)


def heatmaps(table: pd.DataFrame, x: str, y: str, path: Path, svg: bool = False) -> tuple[Path, Path]:
    """Outcome map and accuracy map of `table` (one row per run), seeds aggregated, one panel per other-axis slice."""
    cells = aggregate_seeds(table)
    panels = facets(cells, x, y)
    outcome_cmap = ListedColormap([OUTCOME_COLOURS[o] for o in OUTCOMES])
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, len(OUTCOMES))
    paths = []
    for kind in ("outcome", "accuracy"):
        fig, axes = _grid_figure(len(panels))
        for ax, (fixed, rows) in zip(axes.flat, panels):
            outcomes = pivot(rows, x, y, "outcome")
            xe, ye = _edges(outcomes.columns.to_numpy(float)), _edges(outcomes.index.to_numpy(float))
            if kind == "outcome":
                codes = outcomes.apply(lambda col: col.map(lambda o: OUTCOMES.index(o) if pd.notna(o) else np.nan))
                ax.pcolormesh(xe, ye, np.ma.masked_invalid(codes.to_numpy(float)), cmap=outcome_cmap, norm=norm)
            else:
                mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(pivot(rows, x, y, "acc_mean").to_numpy(float)),
                                     cmap="viridis", vmin=0, vmax=max(0.1, cells.acc_mean.max()))
                fig.colorbar(mesh, ax=ax, label="final test accuracy (mean over seeds)")
                _draw_boundary(ax, outcomes, xe, ye)
            _theory_lines(ax, x, y, fixed)
            ax.set_xscale("log"), ax.set_yscale("log")
            _log_axes(ax)
            ax.set_xlabel(LABELS.get(x, x)), ax.set_ylabel(LABELS.get(y, y))
            ax.set_title(_title(fixed), fontsize=11)
        if kind == "outcome":
            fig.legend(handles=[Patch(color=OUTCOME_COLOURS[o], label=o) for o in OUTCOMES]
                       + [plt.Line2D([], [], color=THEORY_COLOUR, ls="--", label="step = baseline's (theory)")],
                       loc="upper center", ncol=5, bbox_to_anchor=(0.5, 1.0 + 0.04 / axes.shape[0]), frameon=False)
        fig.suptitle(f"{'How runs end' if kind == 'outcome' else 'Final test accuracy; black: outcome boundary'}"
                     f" ({LABELS.get(x, x)} x {LABELS.get(y, y)})", y=1.0 + (0.09 if kind == "outcome" else 0.03) / axes.shape[0])
        paths.append(_save(fig, path.with_name(f"{path.stem}_{kind}.png"), svg))
    return paths[0], paths[1]


def invariant_view(trials: pd.DataFrame, path: Path, svg: bool = False) -> Path:
    """Every run at (layer-1 step, layer-2 step) in function space, one panel per output scale k.

    Runs with equal invariants land on the same spot, so slices of different (input scale, init) collapse onto
    one map. Dashed lines: each layer's step equal to the baseline recipe's.
    """
    ks = sorted(trials.k.round(12).unique())
    fig, axes = _grid_figure(len(ks))
    rng = np.random.default_rng(0)
    for ax, k in zip(axes.flat, ks):
        rows = trials[np.isclose(trials.k, k, rtol=1e-9)]
        jitter = 10 ** rng.uniform(-0.04, 0.04, size=(len(rows), 2))  # replicates stay visible side by side
        for outcome in OUTCOMES:
            mask = (rows.outcome == outcome).to_numpy()
            ax.scatter(rows.fstep1[mask] * jitter[mask, 0], rows.fstep2[mask] * jitter[mask, 1], s=46,
                       color=OUTCOME_COLOURS[outcome], edgecolor="black", lw=0.4, label=outcome)
        if "scenario" in rows and rows.scenario.notna().any():
            for i, (name, group) in enumerate(rows.groupby("scenario")):
                ax.annotate(name, (group.fstep1.iloc[0], group.fstep2.iloc[0]), textcoords="offset points",
                            xytext=(8, 6 - 12 * (i % 2)), fontsize=8)
        ax.axvline(BASELINE["fstep1"], color="grey", ls="--", lw=1)
        ax.axhline(BASELINE["fstep2"], color="grey", ls="--", lw=1)
        ax.set_xscale("log"), ax.set_yscale("log")
        _log_axes(ax)
        ax.margins(0.15)
        ax.set_xlabel("layer-1 step in function space  rho1*k^2 = lr1*(c*a2)^2")
        ax.set_ylabel("layer-2 step in function space  rho2*k^2")
        ax.set_title(f"output scale k = c*a1*a2 = {_number(k)}", fontsize=11)
    handles = [Patch(color=OUTCOME_COLOURS[o], label=o) for o in OUTCOMES]
    fig.legend(handles=handles + [plt.Line2D([], [], color="grey", ls="--", label="baseline step")],
               loc="upper center", ncol=5, bbox_to_anchor=(0.5, 1.0 + 0.04 / axes.shape[0]), frameon=False)
    fig.suptitle("Invariant view: runs with equal (k, rho1*k^2, rho2*k^2) train alike", y=1.0 + 0.09 / axes.shape[0])
    return _save(fig, path, svg)


def learning_curves(trials: pd.DataFrame, epochs: pd.DataFrame, groups: dict[str, list[str]], path: Path,
                    svg: bool = False) -> Path:
    """Test accuracy and train loss per epoch; `groups` maps a label to the trial ids averaged under it."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(13, 4.8))
    colours = plt.get_cmap("tab10")
    for i, (label, ids) in enumerate(groups.items()):
        rows = epochs[epochs.trial_id.isin(ids)]
        mean = rows.groupby("epoch")[["test_acc", "train_loss"]].mean()
        style = dict(color=colours(i % 10), lw=2, marker="o" if len(mean) < 4 else None, label=f"{label} (n={len(ids)})")
        acc_ax.plot(mean.index, mean.test_acc, **style)
        loss_ax.plot(mean.index, mean.train_loss.clip(upper=1e12), **style)
    acc_ax.axhline(0.1, color="grey", ls=":", lw=1)
    acc_ax.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy (dotted: chance)", ylim=(0, None))
    loss_ax.set(xlabel="epoch", ylabel="train loss (log)", title="Train loss", yscale="log")
    loss_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return _save(fig, path, svg)
