"""AppTest for every page against a real store: deep links, navigation, panels, bad links and forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.store import RunStore
from tests.conftest import PAGE_TIMEOUT as TIMEOUT
from tests.conftest import page
from tests.pages.conftest import HOSTILE, Recorded, record_all


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_every_page_renders_without_a_run(home: Path) -> None:
    for name in ("home", "run", "explore", "compare", "runs"):
        at = page(name)
        assert not at.exception, (name, at.exception)
    assert "No runs yet" in texts(page("home").info)


def test_home_lists_recent_runs(recorded: Recorded) -> None:
    at = page("home")
    assert not at.exception and "Memory Agent Lab" in at.title[0].value
    assert {recorded.demo, recorded.text} <= set(at.dataframe[0].value["run"])


def test_explore_deep_link_shows_the_step_and_steps_with_the_buttons(recorded: Recorded) -> None:
    at = page("explore", run=recorded.demo, step="10")
    assert not at.exception
    assert at.subheader[0].value == "Step 10"
    assert "Graph:" in texts(at.caption) and "Records:" not in texts(at.caption)  # beside a graph: on demand
    nav = f"explore:{recorded.demo}"
    at = page("explore", opened=(f"{nav}:records",), run=recorded.demo, step="10")
    assert "Records: 11 · retrieved now: 3" in texts(at.caption)
    at.button(key=f"{nav}:next").click().run(timeout=TIMEOUT)
    at.button(key=f"{nav}:next").click().run(timeout=TIMEOUT)
    assert at.subheader[0].value == "Step 12" and at.query_params["step"] == "12"
    at.button(key=f"{nav}:prev").click().run(timeout=TIMEOUT)
    assert at.subheader[0].value == "Step 11"
    at.slider(key=f"{nav}:step").set_value(3).run(timeout=TIMEOUT)
    assert at.subheader[0].value == "Step 3" and at.query_params["step"] == "3"


def test_the_memory_filter_keeps_matching_items_and_stays_as_the_steps_change(recorded: Recorded) -> None:
    at = page("explore", run=recorded.demo, step="10")
    nav = f"explore:{recorded.demo}"
    at.text_input(key=f"{nav}:filter").set_value("yellow key").run(timeout=TIMEOUT)
    shown = texts(at.caption)
    assert "filter 'yellow key': " in shown and " of 11 records" in shown
    kept = int(shown.split(" of 11 records")[0].rsplit(", ", 1)[1])
    assert 0 < kept < 11
    at.button(key=f"{nav}:next").click().run(timeout=TIMEOUT)
    assert at.subheader[0].value == "Step 11" and "filter 'yellow key': " in texts(at.caption)
    at.text_input(key=f"{nav}:filter").set_value("no such words here").run(timeout=TIMEOUT)
    assert "0 of 12 records" in texts(at.caption) and not at.dataframe


@pytest.mark.parametrize(("params", "message", "shown"), [
    ({"run": "no-such-run"}, "No run with id 'no-such-run'", None),
    ({"step": "999"}, "this run has no step 999: it has 40 steps (0-39)", "Step 39"),
    ({"step": "abc"}, "step 'abc' in the link is not a whole number", "Step 39"),
])
def test_explore_bad_links_say_what_is_wrong(recorded: Recorded, params: dict, message: str,
                                             shown: str | None) -> None:
    at = page("explore", **{"run": recorded.demo, **params})
    assert not at.exception
    assert message in texts(at.error)
    assert [s.value for s in at.subheader][:1] == ([shown] if shown else [])


def test_explore_text_run_shows_rooms_llm_calls_and_escapes_game_text(recorded: Recorded) -> None:
    at = page("explore", run=recorded.text, step="4")
    assert not at.exception
    assert "Rooms visited so far" in texts(at.caption)
    code = [c.value for c in at.code]
    assert "You are in the Study. " + HOSTILE in code and "go south " + HOSTILE in code
    assert any(HOSTILE in t.value for t in at.text)  # shown as plain text, never as markdown/HTML
    assert not any(HOSTILE in m.value for m in at.markdown)


def test_explore_explains_an_action_from_its_stored_attribution_and_offers_one_where_none_is(
        recorded: Recorded) -> None:
    from agents.registry import get_spec
    from lab import attribution
    from tests.scorers import KeyedScorer

    store = RunStore()
    step = store.step(recorded.history, 2)
    call = attribution.decision_call(step)
    split = get_spec("full-history").prompt_items([(m.role, m.content) for m in call.messages])
    assert len(split.items()) == 2 and split.options  # two history pairs; the grid actions as options
    other = next(o for o in split.options if o != step.action)
    scorer = KeyedScorer(needed=split.items()[0].text, favourite=step.action, fallback=other)
    result = attribution.cached(store, recorded.history, 2, "keyed", scorer)
    at = page("explore", run=recorded.history, step="2")
    assert not any("Chose **" in m.value for m in at.markdown)  # the panel is drawn only once opened
    at = page("explore", opened=(f"explore:{recorded.history}:why",), run=recorded.history, step="2")
    assert not at.exception
    shown = texts(at.markdown)
    assert f"Chose **{step.action}** among {len(result.options)} options · scored by `keyed`" in shown
    assert "1 of 2 items flip the choice when left out" in shown
    table = [d.value for d in at.dataframe if "choice without it" in d.value.columns][0]
    assert list(table["rank"]) == [1, 2] and list(table["flips"]) == [True, False]
    needed = result.items[0].memory_id
    assert needed and table["memory id"].iloc[0] == needed
    memory = [d.value for d in at.dataframe if "status" in d.value.columns][0]
    memory = getattr(memory, "data", memory)  # a Styler when coloured
    assert memory.set_index("id").loc[needed, "status"] == "attributed"  # marked in the memory view
    assert memory["status"].iloc[0] == "attributed"  # and listed first
    at = page("explore", opened=(f"explore:{recorded.history}:why",), run=recorded.history,
              step="1")  # nothing stored for this step: a button
    assert not at.exception and [b.label for b in at.button if b.label == "Attribute this step"]


@pytest.mark.parametrize(("status", "kind", "says"), [
    ("error", "error", "ended in error before its first step: no schema 'room-6x8'"),
    ("interrupted", "warning", "died before its first step"),
    ("stopped", "info", "stopped before its first step"),
])
def test_a_run_that_ended_without_steps_says_why_and_what_to_do_not_that_it_waits(
        home: Path, status: str, kind: str, says: str) -> None:
    from lab.core.records import RunConfig, RunSummary

    store = RunStore()
    run_id = store.create_run(RunConfig(env_id="minigrid-aliased-room", agent_id="graph-schemas"), {})
    store.finish_run(run_id, RunSummary(status=status, message="no schema 'room-6x8'" if status == "error" else ""))
    at = page("explore", run=run_id)
    assert not at.exception
    shown = texts(getattr(at, kind))
    assert says in shown and f"memlab resume {run_id}" in shown and "no steps yet" not in texts(at.info)
    at = page("run", runs=run_id)
    assert not at.exception and says in texts(getattr(at, kind))
    assert "waiting for the first step" not in texts(at.caption)


def test_explore_multi_trial_run_shows_trials_and_memory_changes(recorded: Recorded) -> None:
    at = page("explore", run=recorded.history, step="0")
    assert not at.exception
    trials = [e for e in at.expander if e.label.startswith("Trials")]
    assert trials, "a 2-trial run offers the trials panel"
    first, second = [d.value for d in trials[0].dataframe if "change" in d.value.columns]
    assert list(first["change"]) == ["added"] * 5  # trial 0 wrote 5 history entries
    assert sorted(set(second["change"])) == ["added", "removed"]  # trial 1 started blank: 5 new, 5 gone
    assert (second["change"] == "removed").sum() == 5


def test_compare_aligns_two_runs_on_one_slider(recorded: Recorded) -> None:
    at = page("compare", runs=f"{recorded.demo},{recorded.demo2}", step="5")
    assert not at.exception
    assert at.subheader[0].value == "Step 5"
    assert "Actions first differ at step" in texts(at.caption)
    summary = [d.value for d in at.dataframe if "llm calls" in d.value.columns][0]
    assert set(summary["run"]) == {recorded.demo, recorded.demo2}
    nav = f"compare:{recorded.demo},{recorded.demo2}"
    at.button(key=f"{nav}:next").click().run(timeout=TIMEOUT)
    assert at.subheader[0].value == "Step 6" and at.query_params["step"] == "6"
    at.slider(key=f"{nav}:step").set_value(35).run(timeout=TIMEOUT)  # past the end of the 30-step run
    assert "This run ended at step 29." in texts(at.info)


def test_compare_bad_links_and_too_few_runs(recorded: Recorded) -> None:
    at = page("compare", runs=f"{recorded.demo},nope")
    assert not at.exception
    assert "No run with id 'nope'" in texts(at.error) and "Pick 2 to 4 runs" in texts(at.info)
    at = page("compare", runs=f"{recorded.demo},{recorded.demo2}", step="77")
    assert "this run has no step 77: it has 40 steps (0-39)" in texts(at.error)


def test_compare_aggregates_a_batch_over_seeds(recorded: Recorded) -> None:
    at = page("compare", runs=f"{recorded.demo},{recorded.demo2}")
    at.selectbox(key="group").select("batch-a").run(timeout=TIMEOUT)
    table = [d.value for d in at.dataframe if "mean" in d.value.columns][0]
    assert list(table["agent"]) == ["demo-graph"] and int(table["runs"].iloc[0]) == 2


def test_compare_shows_the_memory_diff_at_the_step_and_where_the_runs_part(recorded: Recorded) -> None:
    """``demo2`` stores fewer episode nodes on the same random walk: the same actions, other memories."""
    from lab.memdiff import compare, divergence

    at = page("compare", runs=f"{recorded.demo},{recorded.demo2}", step="12")
    assert not at.exception
    store = RunStore()
    found = divergence(store, recorded.demo, recorded.demo2)
    assert found.actions is None and found.memory is not None and found.memory <= 12
    line = texts(at.caption)
    assert "Actions first differ: never in the 30 shared steps" in line
    assert f"memories first differ: [step {found.memory}](compare?runs=" in line
    diff = compare(store.memory_at(recorded.demo, 12), store.memory_at(recorded.demo2, 12))
    shown = texts(at.markdown)
    assert f"only in demo-graph · {recorded.demo[-6:]}: **{len(diff.only_a)}**" in shown
    assert f"in both: **{len(diff.both)}**" in shown and diff.both and (diff.only_a or diff.only_b)
    at = page("compare", runs=f"{recorded.demo},{recorded.demo2}", step="35")  # past demo2's 30 steps
    assert not at.exception and "past the end of one of these runs" in texts(at.info)


PRICES = {"fake*": {"input": 1000.0, "output": 2000.0}}
"""A price table for the fixture's fake models (high figures, so the costs are not rounded away)."""


def price_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: object = PRICES) -> Path:
    """Point ``MEMLAB_PRICES`` at a price table in ``tmp_path``."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    monkeypatch.setenv("MEMLAB_PRICES", str(path))
    return path


def test_runs_page_shows_tokens_and_the_cost_once_prices_are_configured(
        recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMLAB_PRICES", raising=False)
    at = page("runs")
    assert not at.exception
    frame = at.dataframe[0].value.set_index("run")
    assert {"tokens in", "tokens out"} <= set(frame.columns) and "cost USD" not in frame.columns
    history = RunStore().get_run(recorded.history).summary
    assert history is not None and history.tokens_in > 0
    assert (frame.loc[recorded.history, "tokens in"], frame.loc[recorded.history, "tokens out"]) == (
        history.tokens_in, history.tokens_out)
    assert "no price table configured" in texts(at.caption) and "MEMLAB_PRICES" in texts(at.caption)
    price_table(tmp_path, monkeypatch)
    at = page("runs")
    assert not at.exception
    frame = at.dataframe[0].value.set_index("run")
    expected = (history.tokens_in * 1000 + history.tokens_out * 2000) / 1e6
    assert frame.loc[recorded.history, "cost USD"] == pytest.approx(expected)
    assert frame.loc[recorded.demo, "cost USD"] == 0.0  # no LLM calls
    assert "Cost in USD from the price table" in texts(at.caption)


def test_runs_page_names_models_without_a_price_and_a_bad_table(
        recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    price_table(tmp_path, monkeypatch, {"gpt-4o": {"input": 1, "output": 1}})
    at = page("runs")
    assert not at.exception
    frame = at.dataframe[0].value.set_index("run")
    assert frame["cost USD"].isna()[recorded.history] and frame.loc[recorded.demo, "cost USD"] == 0.0
    assert "No price in" in texts(at.caption) and "`fake:x`" in texts(at.caption)
    bad = price_table(tmp_path, monkeypatch, {"gpt-4o": {"input": "cheap", "output": 1}})
    at = page("runs")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and str(bad) in errors[0] and "\n" not in errors[0]
    assert "cost USD" not in at.dataframe[0].value.columns and len(at.dataframe[0].value) == 4


def test_compare_shows_calls_tokens_probe_tokens_and_cost_per_run(
        recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMLAB_PRICES", raising=False)
    runs = f"{recorded.history},{recorded.text}"
    at = page("compare", runs=runs)
    assert not at.exception
    usage = [d.value for d in at.dataframe if "probe tokens" in d.value.columns][0]
    assert list(usage.columns[:6]) == ["run", "calls", "tokens in", "tokens out", "probe calls",
                                       "probe tokens"]
    assert "cost USD" not in usage.columns and "no price table configured" in texts(at.caption)
    text = usage.iloc[1]
    assert (text["calls"], text["tokens in"], text["tokens out"], text["probe tokens"]) == (
        7, sum(20 + i for i in range(7)), 21, 0)
    history = RunStore().get_run(recorded.history).summary
    assert history is not None and usage.iloc[0]["tokens in"] == history.tokens_in
    price_table(tmp_path, monkeypatch)
    at = page("compare", runs=runs)
    assert not at.exception
    usage = [d.value for d in at.dataframe if "probe tokens" in d.value.columns][0]
    assert usage.iloc[1]["cost USD"] == pytest.approx((161 * 1000 + 21 * 2000) / 1e6)
    expected = (history.tokens_in * 1000 + history.tokens_out * 2000) / 1e6
    assert usage.iloc[0]["cost USD"] == pytest.approx(expected)


def test_runs_page_filters_exports_and_deletes(home: Path) -> None:
    """On a store of its own: the module's shared store must keep every run for the other tests."""
    store = RunStore()
    recorded = Recorded(home=home, **record_all(store))
    store.close()
    at = page("runs")
    assert not at.exception
    assert len(at.dataframe[0].value) == 4
    at.text_input(key="q").set_value("tw-coin").run(timeout=TIMEOUT)
    assert list(at.dataframe[0].value["run"]) == [recorded.text]
    at.button(key="prepare").click().run(timeout=TIMEOUT)
    assert not at.exception and at.session_state["download"][1] == f"{recorded.text}.jsonl"
    at.text_input(key="q").set_value("").run(timeout=TIMEOUT)
    at.multiselect(key="f_agent").select("demo-graph").run(timeout=TIMEOUT)
    shown = list(at.dataframe[0].value["run"])
    assert sorted(shown) == sorted([recorded.demo, recorded.demo2])
    row = shown.index(recorded.demo2)
    at.session_state["table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run(timeout=TIMEOUT)
    at.checkbox(key="sure").check().run(timeout=TIMEOUT)
    at.button(key="delete").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert not RunStore().has_run(recorded.demo2) and RunStore().has_run(recorded.demo)
    assert "deleted 1 run(s)" in texts(at.success)


def test_run_page_watches_a_deep_linked_run_with_its_memory(recorded: Recorded) -> None:
    at = page("run", runs=recorded.history)
    assert not at.exception
    assert any(m.label == "status" and m.value == "finished" for m in at.metric)
    assert any(m.label == "steps" and m.value == "10" for m in at.metric)
    assert "Records:" in texts(at.caption)
    assert list(at.dataframe[-1].value["action"]) == [s.action for s in RunStore().steps(recorded.history)]


@pytest.mark.parametrize(("widget", "value", "message"), [
    ("seeds", "0-x", "seeds: '0-x' is not a seed"),
    ("llm", "nosuchprovider:model", "nosuchprovider"),
])
def test_run_form_rejects_bad_values_and_starts_nothing(recorded: Recorded, widget: str, value: str,
                                                        message: str) -> None:
    before = len(RunStore().list_runs())
    at = page("run")
    at.multiselect(key="agents").set_value(["full-history"]).run(timeout=TIMEOUT)
    at.text_input(key=widget).set_value(value)
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception
    assert message in texts(at.error)
    assert len(RunStore().list_runs()) == before


def test_run_form_names_a_bad_env_option_and_needs_an_agent(recorded: Recorded) -> None:
    before = len(RunStore().list_runs())
    at = page("run")
    at.selectbox(key="env").select("minigrid:<ID>").run(timeout=TIMEOUT)
    at.text_input(key="env.minigrid:<ID>.view_size").set_value("4")
    at.button[0].click().run(timeout=TIMEOUT)
    assert "option 'view_size'" in texts(at.error) and "must be odd" in texts(at.error)
    at.multiselect(key="agents").set_value([]).run(timeout=TIMEOUT)
    at.button[0].click().run(timeout=TIMEOUT)
    assert "agents: pick at least one agent" in texts(at.error)
    assert len(RunStore().list_runs()) == before


def test_run_page_launches_a_batch_in_the_background(home: Path) -> None:
    import time

    at = page("run")
    at.selectbox(key="env").select("minigrid:<ID>").run(timeout=TIMEOUT)
    at.text_input(key="grid_id").set_value("MiniGrid-Empty-5x5-v0")
    at.text_input(key="seeds").set_value("0,1")
    at.number_input(key="steps").set_value(4)
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert "started 2 run(s)" in texts(at.success)
    store = RunStore()
    runs = store.list_runs()
    assert sorted(at.query_params["runs"].split(",")) == sorted(r.run_id for r in runs)
    assert len(runs) == 2 and {r.config.seed for r in runs} == {0, 1}
    assert {r.config.label for r in runs} == {runs[0].config.label}
    assert runs[0].config.label.startswith("batch-")
    deadline = time.time() + 90
    while any(store.get_run(r.run_id).status == "running" for r in runs) and time.time() < deadline:
        time.sleep(0.5)
    assert [store.get_run(r.run_id).n_steps for r in runs] == [4, 4]
    assert {store.get_run(r.run_id).status for r in runs} == {"finished"}


def test_a_fork_shows_where_it_came_from_its_edited_step_and_explore_offers_to_fork(home: Path) -> None:
    from lab.core.records import MemoryEdit, RunConfig
    from lab.fork import fork
    from lab.runner import execute

    store = RunStore()
    config = RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm="fake:forward|left",
                       max_steps=5, probe_every=0)
    parent = execute(config, store).run_id
    child = fork(parent, 2, [MemoryEdit(op="remove", id="h0")], store).run_id
    at = page("explore", run=child, step="2")
    assert not at.exception
    banner = texts(at.info)
    assert f"Fork of [{parent}]" in banner and "at step 2 (remove h0)" in banner
    assert f"runs={parent}%2C{child}&step=2" in banner and "compare with the parent" in banner
    assert "Memory edited before this step: remove h0" in texts(at.warning)
    at = page("explore", run=child, step="3")
    assert not at.warning
    at = page("explore", opened=(f"explore:{parent}:fork",), run=parent, step="2")
    (remove,) = [m for m in at.multiselect if m.label == "remove these items"]
    assert [o.split(":")[0] for o in remove.options] == ["h0", "h1"]  # what step 2 found in the memory
    assert any(b.label == "Fork from here" for b in at.button)
