"""Intervals and paired comparisons over seeds (``lab.core.stats``), and the Compare tables built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scipy import stats

from lab.core.stats import bootstrap_ci, paired
from lab.aggregate import aggregate_frame, paired_frame


def test_a_constant_difference_has_a_zero_width_interval_and_the_sign_test_counts_every_seed() -> None:
    result = paired([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    d = result.difference
    assert d.mean == pytest.approx(0.3) and d.low == pytest.approx(0.3) and d.high == pytest.approx(0.3)
    assert (result.wins, result.losses, result.ties) == (6, 0, 0)
    assert result.sign_p == pytest.approx(2 * 0.5**6)  # two-sided: 1/32
    assert d.excludes(0.0)


def test_a_symmetric_difference_is_centred_on_zero_and_not_a_verdict() -> None:
    result = paired([1.0, 0.0] * 8, [0.0, 1.0] * 8)
    d = result.difference
    assert d.mean == 0.0 and d.low < 0.0 < d.high and not d.excludes(0.0)
    assert abs(d.low + d.high) < 0.15  # the bootstrap distribution is symmetric about 0
    assert (result.wins, result.losses) == (8, 8) and result.sign_p == 1.0


def test_ties_are_left_out_of_the_sign_test_and_unequal_lengths_are_refused() -> None:
    result = paired([1, 1, 1, 0.5], [0, 0, 0, 0.5])
    assert (result.wins, result.losses, result.ties) == (3, 0, 1) and result.sign_p == pytest.approx(0.25)
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1, 2], [1])


def test_the_bootstrap_interval_covers_a_known_mean_about_as_often_as_it_claims() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for k in range(200):
        sample = list(rng.normal(0.5, 0.2, 20))
        iv = bootstrap_ci(sample, seed=k)
        hits += iv.low < 0.5 < iv.high
    assert 0.88 <= hits / 200 <= 0.99  # percentile intervals run a little narrow at n=20
    low, high = stats.t.interval(0.95, len(sample) - 1, loc=np.mean(sample), scale=stats.sem(sample))
    iv = bootstrap_ci(sample)  # near normal data: close to the Student-t interval
    assert iv.low == pytest.approx(low, abs=0.03) and iv.high == pytest.approx(high, abs=0.03)


def test_one_value_has_no_interval_and_none_has_no_mean() -> None:
    assert str(bootstrap_ci([0.4])) == "0.40 (n=1)" and math.isnan(bootstrap_ci([0.4]).low)
    assert str(bootstrap_ci([])) == "–" and not bootstrap_ci([]).excludes()


def rows(values: dict[str, list[float]], env: str = "tw-coin", group: str = "sweep:x") -> list[dict]:
    return [{"run": f"{agent}-{seed}", "agent": agent, "env": env, "seed": seed, "group": group,
             "score": value, "normalized": value, "won": value == 1.0}
            for agent, scores in values.items() for seed, value in enumerate(scores)]


def test_compare_tables_give_each_agent_its_interval_and_each_pair_its_paired_difference() -> None:
    table = rows({"arigraph": [1.0, 0.8, 0.9, 1.0, 0.7], "rag": [0.6, 0.5, 0.9, 0.4, 0.3]})
    table += rows({"rag": [0.2]}, group="other")  # another group: not paired with the first
    aggregate = aggregate_frame(table).set_index(["agent", "group"])
    ari = aggregate.loc[("arigraph", "sweep:x")]
    assert ari["runs"] == 5 and ari["mean"] == pytest.approx(0.88)
    assert ari["95% CI low"] < 0.88 < ari["95% CI high"] <= 1.0
    pairs = paired_frame(table)
    assert list(pairs["agents"]) == ["arigraph − rag"] and int(pairs["seeds"].iloc[0]) == 5
    first = pairs.iloc[0]
    assert first["mean difference"] == pytest.approx(0.34) and first["wins-losses-ties"] == "4-0-1"
    assert 0 < first["95% CI low"] < 0.34 < first["95% CI high"] and first["sign test p"] == pytest.approx(0.125)


def test_agents_without_a_shared_seed_are_not_paired() -> None:
    table = rows({"a": [1.0, 0.0]}) + [{"run": "b-9", "agent": "b", "env": "tw-coin", "seed": 9,
                                         "group": "sweep:x", "score": 1.0, "normalized": 1.0, "won": True}]
    assert paired_frame(table).empty
