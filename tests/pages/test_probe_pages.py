"""The probes on the pages (AppTest, a real store): two memories probed on the same forced tw-cooking
trajectory; Explore shows a step's questions and the run's curves and summary, Compare overlays them, and
the Run form sends the policy and probe fields."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore
from tests.conftest import PAGE_TIMEOUT as TIMEOUT
from tests.conftest import page

COOKING = {"recipe": 2, "take": 2, "go": 6, "open": True, "cut": True, "cook": True}
REPLIES = ["Sure! **Action:** go east", "### Answer\nThe answer is: **the fridge**", "unknown"]


@dataclass
class Probed:
    home: Path
    history: str
    graph: str


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probed]:
    home = tmp_path_factory.mktemp("probe-pages")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMLAB_HOME", str(home))
        store = RunStore()
        runs = {}
        for name, agent, agent_config in (("history", "full-history", {}),
                                          ("graph", "arigraph", {"encoder": "hash"})):
            config = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id=agent, agent_config=agent_config,
                               llm="fake:x", policy="walkthrough+explore", max_steps=10, probe_every=4, seed=2)
            info = execute(config, store, chat_model=FakeListChatModel(responses=REPLIES))
            assert info.status == "finished", info.message
            runs[name] = info.run_id
        yield Probed(home=home, **runs)
        store.close()


def frame_with(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_explore_shows_a_steps_questions_and_the_runs_probe_curves(probed: Probed) -> None:
    store = RunStore()
    steps = store.steps(probed.history)
    step = next(s for s in steps if s.probes)
    at = page("explore", run=probed.history, step=str(step.index))
    assert not at.exception, at.exception
    questions = frame_with(at, "question")
    assert list(questions["question"]) == [r.question for r in step.probes.results]
    assert list(questions["evidence"]) == ["yes" if r.evidence else "no" for r in step.probes.results]
    shown = [x for x in questions["read at"] if x]
    assert shown and all("«" in x and "»" in x for x in shown)
    assert any("marks where the memory's text shows the true answer" in c.value for c in at.caption)
    assert {"evidence", "answer"} <= set(at.selectbox(key=f"explore:{probed.history}:probes:measure").options)
    summary = frame_with(at, "abstain")
    results = [r for s in steps if s.probes for r in s.probes.results]
    assert summary["count"].iloc[-1] == len(results) and summary["family"].iloc[-1] == "all"
    unprobed = next(s for s in steps if not s.probes)
    at = page("explore", run=probed.history, step=str(unprobed.index))
    after = next(s.index for s in steps if s.probes and s.index > unprobed.index)
    assert any(f"No probes after this step; the next at step {after}." in c.value for c in at.caption)
    assert any("played by the" in c.value for c in at.caption)  # the forced policy, with the agent's choice


def test_compare_overlays_the_probe_curves_of_paired_runs(probed: Probed) -> None:
    at = page("compare", runs=f"{probed.history},{probed.graph}")
    assert not at.exception, at.exception
    table = frame_with(at, "probed steps")
    store = RunStore()
    for row, run_id in zip(table.to_dict("records"), (probed.history, probed.graph), strict=True):
        values = [m["probe/location/evidence"] for _, m in store.metrics(run_id, "probe/")
                  if "probe/location/evidence" in m]
        assert row["probed steps"] == sum(s.probes is not None for s in store.steps(run_id))
        assert row["location/evidence"] == pytest.approx(sum(values) / len(values), abs=1e-3)
    assert at.selectbox(key="compare:probe-family").options[0] == "all"
    assert any("compare:probe-curve" in str(c.proto.id) for c in at.get("plotly_chart"))
    probed_at = next(s.index for s in store.steps(probed.history) if s.probes)
    at = page("compare", runs=f"{probed.history},{probed.graph}", step=str(probed_at))
    lines = [c.value for c in at.caption if c.value.startswith("probes after this step: evidence")]
    assert len(lines) == 2  # the same trajectory: both runs were probed at the step


def test_compare_counts_the_probe_calls_tokens_apart_from_the_agents(probed: Probed) -> None:
    at = page("compare", runs=f"{probed.history},{probed.graph}")
    assert not at.exception, at.exception
    usage = frame_with(at, "probe tokens")
    store = RunStore()
    for row, run_id in zip(usage.to_dict("records"), (probed.history, probed.graph), strict=True):
        summary = store.get_run(run_id).summary
        probes = [c for s in store.steps(run_id) for c in s.llm_calls if c.purpose == "probe"]
        assert summary is not None and probes and summary.probe_llm_calls == len(probes)
        assert (row["calls"], row["tokens in"], row["tokens out"]) == (
            summary.llm_calls, summary.tokens_in, summary.tokens_out)
        assert row["probe calls"] == len(probes) > 0
        assert row["probe tokens"] == sum(c.tokens_in + c.tokens_out for c in probes) > 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"policy": "walkthrough"}, "--policy walkthrough needs an env with a walkthrough"),
    ({"probe_llm": "nosuch:model"}, "nosuch"),
])
def test_the_run_form_refuses_a_bad_policy_or_probe_model_and_starts_nothing(home: Path, fields: dict,
                                                                             message: str) -> None:
    at = page("run")
    at.selectbox(key="env").select("minigrid:<ID>").run(timeout=TIMEOUT)
    at.text_input(key="grid_id").set_value("MiniGrid-Empty-5x5-v0")
    if "policy" in fields:
        at.selectbox(key="policy").select(fields["policy"])
    if "probe_llm" in fields:
        at.text_input(key="probe_llm").set_value(fields["probe_llm"])
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert any(message in e.value for e in at.error)
    assert RunStore().list_runs() == []


def test_the_run_form_sends_the_probe_fields(home: Path) -> None:
    at = page("run")
    at.selectbox(key="env").select("minigrid:<ID>").run(timeout=TIMEOUT)
    at.text_input(key="grid_id").set_value("MiniGrid-Empty-5x5-v0")
    at.number_input(key="steps").set_value(2)
    at.number_input(key="probe_every").set_value(0)
    at.number_input(key="per_family").set_value(3)
    at.text_input(key="probe_llm").set_value(" none ")
    at.button[0].click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    (run,) = RunStore().list_runs()
    assert (run.config.probe_every, run.config.probes_per_family, run.config.probe_llm) == (0, 3, "none")
    assert run.config.policy == "agent"
    store, deadline = RunStore(), time.time() + 90
    while store.get_run(run.run_id).status == "running" and time.time() < deadline:
        time.sleep(0.5)  # the background run finishes before the data dir goes
    assert store.get_run(run.run_id).status == "finished"
