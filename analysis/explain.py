"""Plain-language explanations of a configuration in terms of the invariants, checked against what was measured."""
from __future__ import annotations

import pandas as pd

from trainable import TrainConfig, invariants

BASELINE = invariants(TrainConfig())
STABILITY_MARGIN = 2 * (1 + TrainConfig().momentum)  # heavy-ball stability: eta * lambda < 2 (1 + beta)


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.3g}x"


def prediction(inv: dict) -> str:
    """What the theory says relative to the baseline recipe: same, explode, different (output scale), slow, similar."""
    ratios = [inv[f"fstep{i}"] / BASELINE[f"fstep{i}"] for i in (1, 2)]
    if all(abs(inv[key] / BASELINE[key] - 1) < 1e-6 for key in ("k", "fstep1", "fstep2", "decay1", "decay2")):
        return "same"
    if max(ratios) > STABILITY_MARGIN:
        return "explode"
    if not 0.5 < inv["k"] / BASELINE["k"] < 2:
        return "different"
    return "slow" if min(ratios) < 1 / STABILITY_MARGIN else "similar"


def explain(inv: dict, runs: pd.DataFrame, baseline_acc: float | None) -> str:
    """One paragraph: the invariants against the baseline's, what theory predicts, what the runs did."""
    ratios = {i: inv[f"fstep{i}"] / BASELINE[f"fstep{i}"] for i in (1, 2)}
    text = [f"Output scale k = {inv['k']:.4g} (baseline {BASELINE['k']:g}); layer 1's function-space step is "
            f"{_times(ratios[1])} the baseline's, layer 2's {_times(ratios[2])}; weight decay per step "
            f"{_times(inv['decay1'] / BASELINE['decay1'])} / {_times(inv['decay2'] / BASELINE['decay2'])}."]
    expected = prediction(inv)
    text.append({
        "same": "Every invariant equals the baseline's, so theory says it trains exactly like the baseline "
                "(up to float rounding).",
        "explode": f"A step that many times the baseline's breaks heavy-ball stability (lr*curvature < "
                   f"2(1+momentum) = {STABILITY_MARGIN:g}) unless the baseline sat that far below its limit: "
                   "theory expects the first steps to overshoot and the run to explode.",
        "different": f"The output starts {inv['k'] / BASELINE['k']:.3g}x the baseline's (the softmax starts "
                     f"{'saturated' if inv['k'] > BASELINE['k'] else 'flat'}): a different training problem, for which "
                     "theory claims no equivalence with the baseline.",
        "slow": "Steps this much smaller are stable but slow: theory expects lower accuracy in the same epochs.",
        "similar": "The steps stay within a factor of the stability margin of the baseline's: theory expects "
                   "training close to the baseline's.",
    }[expected])
    counts = runs.outcome.value_counts()
    measured = ", ".join(f"{n} {o}" for o, n in counts.items())
    acc = runs.final_test_acc
    line = f"Measured over {len(runs)} run(s): {measured}; final test accuracy {acc.mean():.1%}"
    line += f" +/- {acc.std(ddof=1):.1%}" if len(runs) > 1 else ""
    if "final_dead_frac" in runs:
        line += f"; {runs.final_dead_frac.mean():.0%} of hidden units dead at the end"
    exploded = runs[runs.outcome.isin(["collapsed", "diverged"])]
    if len(exploded):
        line += f"; explosions detected at step {int(exploded.outcome_step.median())} (median)"
    text.append(line + ".")
    text.append(_verdict(expected, runs, baseline_acc))
    return " ".join(text)


def _verdict(expected: str, runs: pd.DataFrame, baseline_acc: float | None) -> str:
    exploded = runs.outcome.isin(["collapsed", "diverged"]).mean() > 0.5
    acc = runs.final_test_acc.mean()
    dead = runs.final_dead_frac.mean() if "final_dead_frac" in runs else 0.0
    if expected == "explode":
        if exploded:
            return "Agrees with theory."
        if dead > 0.5:
            return (f"Agrees in part: the overshoot did not blow the run up but killed {dead:.0%} of the hidden "
                    f"units, and the survivors reach {acc:.1%}.")
        return "Does not explode as predicted."
    if exploded:
        return "Explodes although theory does not predict it: worth a closer look."
    if baseline_acc is None:
        return ""
    gap = acc - baseline_acc
    if expected in ("same", "similar"):
        return (f"Agrees with theory: {gap:+.1%} against the baseline." if abs(gap) < 0.015
                else f"Differs from the baseline by {gap:+.1%}.")
    if expected == "different":
        return f"{gap:+.1%} against the baseline."
    return (f"Agrees with theory: {gap:+.1%} against the baseline." if gap < 0
            else f"As good as the baseline ({gap:+.1%}) despite the smaller steps.")
