"""Probes in the exports: a real probed tw-cooking run (forced walkthrough, a generating fake model that
writes the way chat models do) exported as ATIF and as the HTML report, checked against the stored steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab import runner
from lab.core.records import RunConfig, Step
from lab.export import export_run
from lab.store import RunStore

COOKING = {"recipe": 2, "take": 2, "go": 6, "open": True, "cut": True, "cook": True}
REPLIES = ["Sure! Here is my choice.\n\n**Action:** go east", "### Answer\nThe answer is: **the fridge**",
           "I think the answer is unknown.", "Final answer: inventory"]
"""Replies as chat models write them: a preamble, markdown, echoed headings, a labelled final answer."""


@pytest.fixture
def probed(games_store: RunStore) -> tuple[RunStore, str, list[Step]]:
    config = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id="full-history", llm="fake:x",
                       policy="walkthrough+explore", explore=0.5, max_steps=8, probe_every=3, probes_per_family=1)
    info = runner.execute(config, games_store, chat_model=FakeListChatModel(responses=REPLIES))
    assert info.status == "finished", info.message
    steps = games_store.steps(info.run_id)
    assert [s.t for s in steps if s.probes] == [s.t for s in steps if (s.t + 1) % 3 == 0 or s.trial_end]
    return games_store, info.run_id, steps


def test_atif_keeps_the_probes_apart_from_the_agents_own_calls(probed, tmp_path: Path) -> None:
    store, run_id, stored = probed
    export_run(store, run_id, "atif", tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text())
    agent = [s for s in doc["steps"] if s["source"] == "agent"]
    assert len(agent) == len(stored)
    for atif, step in zip(agent, stored):
        own = [c for c in step.llm_calls if c.purpose != "probe"]
        probe_calls = [c for c in step.llm_calls if c.purpose == "probe"]
        assert [c["purpose"] for c in atif["extra"]["llm_calls"]] == [c.purpose for c in own]
        assert atif["metrics"]["prompt_tokens"] == sum(c.tokens_in for c in own) > 0
        assert atif["message"] == own[-1].response  # the agent's reply, never a probe answer
        call = atif["tool_calls"][0]["arguments"]
        assert call["command"] == step.action and call["forced"] == step.forced in ("walkthrough", "explore")
        assert call["agent_command"] == step.agent_action
        assert atif["extra"]["policy"]["agree"] == step.metrics["policy/agree"]
        if step.probes is None:
            assert "probes" not in atif["extra"] and not probe_calls
            continue
        probes = atif["extra"]["probes"]
        assert probes["count"] == len(step.probes.results) == len(probes["llm_calls"]) == len(probe_calls)
        assert [r["question"] for r in probes["results"]] == [r.question for r in step.probes.results]
        assert [r["answer"] for r in probes["results"]] == [r.answer for r in step.probes.results]
        assert probes["texts"] == step.probes.texts
        assert probes["prompt_tokens"] == sum(c.tokens_in for c in probe_calls)
        assert probes["metrics"]["location"]["evidence"] == step.metrics["probe/location/evidence"]
    info = store.get_run(run_id)
    totals = doc["final_metrics"]
    assert totals["total_prompt_tokens"] == info.summary.tokens_in  # the agent's, as the run counts them
    assert totals["extra"]["probes"] == info.summary.probes == sum(len(s.probes.results) for s in stored if s.probes)
    assert totals["extra"]["probe_llm_calls"] == info.summary.probe_llm_calls > 0
    assert totals["extra"]["probed_steps"] == sum(s.probes is not None for s in stored)


def summary_rows(page: str) -> dict[str, dict[str, str]]:
    table = re.search(r'<table id="probeSummary">(.*?)</table>', page, re.S).group(1)
    rows = {}
    for family, cells in re.findall(r'<tr data-family="([^"]+)">(.*?)</tr>', table, re.S):
        rows[family] = dict(re.findall(r'<td data-col="(\w+)">([^<]*)</td>', cells))
    return rows


def test_the_html_report_sums_the_probes_per_family_and_shows_each_step(probed, tmp_path: Path) -> None:
    store, run_id, stored = probed
    export_run(store, run_id, "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    results = [r for s in stored if s.probes for r in s.probes.results]
    rows = summary_rows(page)
    assert set(rows) == {r.family for r in results} | {"all"}
    for family, row in rows.items():
        chosen = [r for r in results if family in ("all", r.family)]
        answered = [r for r in chosen if r.answer is not None]
        assert int(row["count"]) == len(chosen) and int(row["answered"]) == len(answered)
        assert float(row["evidence"]) == pytest.approx(sum(r.evidence for r in chosen) / len(chosen), abs=0.005)
        assert float(row["answer"]) == pytest.approx(sum(bool(r.correct) for r in answered) / len(answered),
                                                     abs=0.005)
    raw = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    shown = {s["i"]: s for s in data["steps"] if s["probes"]}
    assert sorted(shown) == [s.index for s in stored if s.probes]
    for step in (s for s in stored if s.probes):
        for result, record in zip(step.probes.results, shown[step.index]["probes"]["results"], strict=True):
            assert record["question"] == result.question and record["correct"] == result.correct
            text = step.probes.texts[result.text]
            spans = [text[a:b] for a, b in result.evidence_spans]
            assert len(record["evidence_at"]) == min(len(spans), 3)
            assert all(span in excerpt for span, excerpt in zip(spans, record["evidence_at"]))
    overruled = [s["overruled"] for s in data["steps"]]
    assert overruled == [s.metrics["policy/agree"] < 1 for s in stored] and any(overruled)  # "go east" mostly


def test_a_run_without_probes_says_so(games_store: RunStore, tmp_path: Path) -> None:
    config = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id="random", max_steps=3, probe_every=0)
    info = runner.execute(config, games_store)
    export_run(games_store, info.run_id, "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert 'id="probeSummary">No probes in this run.' in page
    export_run(games_store, info.run_id, "atif", tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["final_metrics"]["extra"]["probes"] == 0
    assert not any("probes" in s.get("extra", {}) for s in doc["steps"])
