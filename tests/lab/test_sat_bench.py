"""``memlab bench sat``'s verdicts: a claim is supported only when the paired interval over seeds excludes 0."""

from __future__ import annotations

import numpy as np

from lab.benches.sat import versus


def runs(accuracies: list[float]) -> list[dict]:
    """Runs whose Q1 accuracy at L=16 is each given value (100 queries each)."""
    return [{"outcomes": {"16": {"Q1": np.arange(100) < round(100 * acc)}}, "seed": k}
            for k, acc in enumerate(accuracies)]


def test_a_consistent_gain_is_supported_and_a_spread_one_is_not() -> None:
    stats = {"A": runs([0.80, 0.82, 0.85, 0.81, 0.83]), "B": runs([0.60, 0.61, 0.66, 0.62, 0.60]),
             "C": runs([0.95, 0.50, 0.90, 0.55, 0.92])}
    claim, measured, difference, per_seed, verdict = versus(stats, "A beats B", "A", "B", 16, "Q1")
    assert verdict == "supported" and difference.startswith("+0.2") and "5-0-0" in difference
    assert per_seed.split(", ")[0] == "0.80/0.60"
    # C's mean is above B's too (0.76 vs 0.62), but two of five seeds lose: the interval reaches below 0
    *_, verdict = versus(stats, "C beats B", "C", "B", 16, "Q1")
    assert verdict == "not supported (the interval includes 0)"
    *_, verdict = versus(stats, "B beats A", "B", "A", 16, "Q1")
    assert verdict == "contradicted"
    assert versus(stats, "D beats A", "D", "A", 16, "Q1")[-1] == "not run"
