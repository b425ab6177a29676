"""Price tables and run costs on real store files: patterns, missing prices, bad tables, the arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import pricing
from lab.core.errors import ConfigError
from lab.core.records import LLMCall, Message, ObservationRecord, RunConfig, RunSummary, Step
from lab.runner import execute
from lab.store import RunStore

GRID = RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm="fake:forward|left",
                 max_steps=4)
"""A cheap LLM run: 4 steps of the full-history agent on a fake chat model (recorded as ``fake:...``)."""


def write_table(path: Path, table: object) -> Path:
    path.write_text(json.dumps(table), encoding="utf-8")
    return path


def call(model: str, tokens_in: int, tokens_out: int, purpose: str = "act") -> LLMCall:
    return LLMCall(purpose=purpose, model=model, messages=[Message(role="user", content="hi")],
                   response="ok", tokens_in=tokens_in, tokens_out=tokens_out)


def calls_run(store: RunStore, steps: list[list[LLMCall]]) -> str:
    """A finished run whose steps made these calls (written through the store, as the run loop does)."""
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="full-history", llm="openai:gpt-4o"))
    store.append_steps(run_id, [Step(index=i, t=i, observation=ObservationRecord(text="room"), action="look",
                                     llm_calls=made) for i, made in enumerate(steps)])
    agent = [c for made in steps for c in made if c.purpose != "probe"]
    store.finish_run(run_id, RunSummary(status="finished", steps=len(steps), llm_calls=len(agent),
                                        tokens_in=sum(c.tokens_in for c in agent),
                                        tokens_out=sum(c.tokens_out for c in agent)))
    return run_id


@pytest.fixture
def prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``MEMLAB_PRICES`` points (the file is written by each test)."""
    path = tmp_path / "my-prices.json"
    monkeypatch.setenv(pricing.PRICES_VAR, str(path))
    return path


def test_no_table_means_no_cost_and_none_ships(store: RunStore, home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pricing.PRICES_VAR, raising=False)
    assert pricing.table_path() == home / "prices.json" and pricing.load_table() is None
    run = execute(GRID, store)
    used = pricing.usage(store, run.run_id)
    assert pricing.run_cost(used, None) is None
    assert pricing.unpriced(used, None) == [GRID.llm]


def test_usage_sums_tokens_per_model_and_matches_the_summary(store: RunStore) -> None:
    run = execute(GRID, store)
    used = pricing.usage(store, run.run_id)
    assert [(u.model, u.probe) for u in used] == [(GRID.llm, False)]
    t = pricing.totals(used)
    s = run.summary
    assert s is not None and s.llm_calls == 4
    assert (t["calls"], t["tokens_in"], t["tokens_out"]) == (s.llm_calls, s.tokens_in, s.tokens_out)
    assert t["tokens_in"] > 0 and t["probe_calls"] == 0


def test_probe_calls_are_reported_apart_and_counted_in_the_cost(store: RunStore, prices: Path) -> None:
    run_id = calls_run(store, [[call("gpt-4o", 1_000, 100), call("gpt-4o", 0, 0, "probe")],
                               [call("gpt-4o", 2_000, 300), call("gpt-4o-mini", 500, 50, "probe")]])
    used = pricing.usage(store, run_id)
    assert used == [pricing.ModelUsage("gpt-4o", False, 2, 3_000, 400),
                    pricing.ModelUsage("gpt-4o", True, 1, 0, 0),
                    pricing.ModelUsage("gpt-4o-mini", True, 1, 500, 50)]
    t = pricing.totals(used)
    assert (t["calls"], t["tokens_in"], t["tokens_out"]) == (2, 3_000, 400)  # the summary's: probes are apart
    assert (t["probe_calls"], t["probe_tokens_in"], t["probe_tokens_out"]) == (2, 500, 50)
    table = pricing.load_table(write_table(prices, {"gpt-4o": {"input": 2.5, "output": 10},
                                                    "gpt-4o-mini": {"input": 0.5, "output": 2}}))
    agent = (3_000 * 2.5 + 400 * 10) / 1e6
    probes = (500 * 0.5 + 50 * 2) / 1e6
    assert pricing.run_cost(used, table, probes=False) == pytest.approx(agent)
    assert pricing.run_cost(used, table) == pytest.approx(agent + probes)


def test_exact_names_win_over_patterns_and_longer_patterns_over_shorter(prices: Path) -> None:
    write_table(prices, {"claude-*": {"input": 3, "output": 15}, "gpt-4o*": {"input": 2, "output": 8},
                         "gpt-4o-mini*": {"input": 0.1, "output": 0.4}, "gpt-4o": {"input": 5, "output": 20},
                         "o[13]-*": {"input": 1, "output": 1}})
    table = pricing.load_table()
    assert table is not None and table.source == prices
    assert table.price("gpt-4o") == pricing.Price(5, 20)
    assert table.price("gpt-4o-2024-08-06") == pricing.Price(2, 8)
    assert table.price("gpt-4o-mini-2024-07-18") == pricing.Price(0.1, 0.4)
    assert table.price("claude-3-5-haiku-latest") == pricing.Price(3, 15)
    assert table.price("o3-mini") == pricing.Price(1, 1) and table.price("o2-mini") is None
    assert table.price("Claude-3") is None  # names are case-sensitive, as providers record them


def test_a_model_without_a_price_makes_the_cost_unknown(store: RunStore, prices: Path) -> None:
    run_id = calls_run(store, [[call("gpt-4o", 100, 10)], [call("mistral-large", 100, 10)]])
    table = pricing.load_table(write_table(prices, {"gpt-*": {"input": 1, "output": 1}}))
    used = pricing.usage(store, run_id)
    assert pricing.run_cost(used, table) is None
    assert pricing.unpriced(used, table) == ["mistral-large"]


def test_embedded_and_replayed_calls_cost_nothing_without_a_price(store: RunStore, prices: Path) -> None:
    table = pricing.load_table(write_table(prices, {"fake:*": {"input": 4, "output": 40}}))
    run = execute(GRID, store)
    used = pricing.usage(store, run.run_id)
    s = run.summary
    assert s is not None
    assert pricing.run_cost(used, table) == pytest.approx((s.tokens_in * 4 + s.tokens_out * 40) / 1e6)
    replay = execute(GRID.model_copy(update={"llm": f"replay:{run.run_id}"}), store)
    replayed = pricing.usage(store, replay.run_id)
    assert [u.model for u in replayed] == [f"replay:{GRID.llm}"] and replayed[0].tokens_in == s.tokens_in
    assert pricing.run_cost(replayed, table) == 0.0 and pricing.unpriced(replayed, table) == []
    embedded = calls_run(store, [[call(pricing.EMBEDDED_MODEL, 900, 9)]])
    empty = pricing.load_table(write_table(prices, {}))
    assert pricing.run_cost(pricing.usage(store, embedded), empty) == 0.0


def test_the_embedded_model_name_is_the_one_its_calls_record() -> None:
    from lab.core.policy.lm import MODEL_NAME

    assert pricing.EMBEDDED_MODEL == MODEL_NAME


def test_cost_arithmetic_is_per_million_tokens(store: RunStore, prices: Path) -> None:
    run_id = calls_run(store, [[call("m", 1_000_000, 0)], [call("m", 0, 1_000_000)],
                               [call("m", 250_000, 50_000)]])
    table = pricing.load_table(write_table(prices, {"m": {"input": 3, "output": 15}}))
    assert pricing.run_cost(pricing.usage(store, run_id), table) == pytest.approx(3 + 15 + 0.75 + 0.75)
    assert pricing.run_cost([], table) == 0.0


def test_the_data_dir_table_is_read_when_memlab_prices_is_unset(home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pricing.PRICES_VAR, raising=False)
    write_table(home / "prices.json", {"gpt-4o": {"input": 1, "output": 2}})
    table = pricing.load_table()
    assert table is not None and table.source == home / "prices.json" and table.price("gpt-4o")


@pytest.mark.parametrize(("text", "problem"), [
    ('{"gpt-4o": {"input": 2.5, "output": 10.0}', "not valid JSON"),
    ("[1, 2]", "the top level is a JSON array, not an object"),
    ('{"gpt-4o": 2.5}', "the entry of 'gpt-4o' is a JSON number, not an object"),
    ('{"gpt-4o": {"input": 2.5}}', "the entry of 'gpt-4o' lacks output"),
    ('{"gpt-4o": {"input": 2.5, "output": 1, "cached": 1}}',
     "the entry of 'gpt-4o' has unknown keys 'cached'"),
    ('{"gpt-4o": {"input": "2.5", "output": 1}}', "'gpt-4o' input is \"2.5\", not a price"),
    ('{"gpt-4o": {"input": -1, "output": 1}}', "'gpt-4o' input is -1, not a price"),
    ('{"gpt-4o": {"input": 1, "output": true}}', "'gpt-4o' output is true, not a price"),
    ('{"gpt-4o": {"input": 1, "output": NaN}}', "'gpt-4o' output is NaN, not a price"),
    ('{"": {"input": 1, "output": 1}}', "an empty model name"),
])
def test_a_bad_table_is_one_line_naming_the_file_and_the_problem(prices: Path, text: str,
                                                                 problem: str) -> None:
    prices.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        pricing.load_table()
    message = str(caught.value)
    assert "\n" not in message and str(prices) in message and problem in message, message


def test_an_unreadable_or_missing_table_is_one_line_too(prices: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the file does not exist"):
        pricing.load_table()
    prices.write_bytes(b'{"gpt-4o": \xff}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        pricing.load_table()
    with pytest.raises(ConfigError, match="cannot read it"):
        pricing.load_table(tmp_path)  # a folder, not a file
