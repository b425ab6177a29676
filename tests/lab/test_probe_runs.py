"""Probes and forced policies in real runs: a generated tw-cooking game, a real store, fake chat models.

Forced runs play exactly the walkthrough (with excursions that come back); every registered text agent is
probed without ever being handed ground truth, and its memory's query writes nothing and calls no LLM;
a probed run replays exactly; probes survive a JSONL export and import.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from agents.registry import specs as agent_specs
from envs.registry import get_spec as env_spec
from envs.registry import parse_options
from lab import runner
from lab.core.env import Observation
from lab.core.protocols import QueryableMemory
from lab.core.records import RunConfig, Step
from lab.exporters.jsonl import jsonl_lines
from lab.store import RunStore
from tests.conftest import memlab

COOKING = {"recipe": 2, "take": 2, "go": 6, "open": True, "cut": True, "cook": True}
"""A 6-room cooking game with closed doors and containers, cutting and cooking (14 walkthrough commands)."""
REPLIES = ['{"action_to_take": "go east"}', "Action: take coin", "go east", "the fridge"]
TEXT_AGENTS = sorted(a for a, spec in agent_specs().items() if "text" in spec.env_kinds)
QUICK = {"arigraph": {"encoder": "hash"}, "rag": {"encoder": "hash"},
         "clin": {"generator": "deterministic", "record_meta_memory": False}}
"""Agent configs where the defaults do not fit a quick run (no sentence encoder to load)."""


def walkthrough() -> list[str]:
    spec = env_spec("tw-cooking")
    env = spec.factory("tw-cooking", parse_options(spec, COOKING))
    try:
        return list(env.reset(seed=0).privileged["walkthrough"])
    finally:
        env.close()


def config(agent_id: str, **extra: Any) -> RunConfig:
    return RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id=agent_id,
                     agent_config=QUICK.get(agent_id, {}), llm="fake:x", **extra)


class Scoring(FakeListChatModel):
    """A fake model that scores options: ``LLM.choose`` takes the batched-scorer path, as on embedded."""

    def score_options(self, messages: Any, options: list[str]) -> list[float]:
        prompt = messages[-1].content
        return [float(len(o) % 7) + (2.0 if o in prompt else 0.0) for o in options]


@pytest.mark.parametrize("agent_id", ["full-history", "arigraph-full-history"])
def test_a_forced_walkthrough_is_played_exactly_and_the_agent_observes_it(games_store: RunStore,
                                                                          agent_id: str) -> None:
    walk = walkthrough()
    info = runner.execute(config(agent_id, policy="walkthrough", max_steps=len(walk) + 5, probe_every=0),
                          games_store, chat_model=FakeListChatModel(responses=REPLIES))
    steps = games_store.steps(info.run_id, with_snapshots=True)
    assert info.status == "finished" and info.summary.won and info.summary.env_steps == len(walk)
    assert [s.action for s in steps] == walk and all(s.forced == "walkthrough" for s in steps)
    assert all(s.agent_action is not None and s.metrics["policy/agree"] in (0.0, 1.0) for s in steps)
    assert any(s.agent_action != s.action for s in steps)  # the agent chose otherwise, and was overruled
    assert all(s.metrics["policy/agree"] == float(s.agent_action.lower() == s.action.lower()) for s in steps)
    memory = games_store.memory_at(info.run_id, len(steps) - 2)
    records = [r.text for r in memory.records if r.kind == "episodic"]
    played = [re.search(r"Action(?: taken)?: (.*)$", text)[1] for text in records]
    assert played == walk[: len(played)] and len(played) >= len(walk) - 2  # the memory holds what was played


def test_walkthrough_with_excursions_is_seeded_and_keeps_the_walkthrough(games_store: RunStore) -> None:
    walk = walkthrough()
    run = config("random", policy="walkthrough+explore", explore=0.5, max_steps=60, probe_every=0, seed=2)
    first, again = runner.execute(run, games_store), runner.execute(run, games_store)
    other = runner.execute(run.model_copy(update={"seed": 3}), games_store)
    steps = games_store.steps(first.run_id)
    assert first.summary.won and [s.action for s in steps if s.forced == "walkthrough"] == walk
    excursions = [s for s in steps if s.forced == "explore"]
    assert excursions and all(s.action.startswith("go ") for s in excursions)
    rooms = [s.observation.room for s in steps] + [None]
    for i, s in enumerate(steps):  # an excursion's second move brings the player back where it left
        if s.forced == "explore" and i and steps[i - 1].forced == "explore":
            assert rooms[i + 1] == rooms[i - 1]
    assert [s.action for s in games_store.steps(again.run_id)] == [s.action for s in steps]
    assert [s.action for s in games_store.steps(other.run_id)] != [s.action for s in steps]


def observations(value: Any, depth: int = 0) -> list[Observation]:
    """Every Observation inside an argument (Transitions, Tasks, lists, dicts...)."""
    if depth > 4:
        return []
    if isinstance(value, Observation):
        return [value]
    if is_dataclass(value) and not isinstance(value, type):
        return [o for f in fields(value) for o in observations(getattr(value, f.name), depth + 1)]
    if isinstance(value, (list, tuple)):
        return [o for item in value for o in observations(item, depth + 1)]
    if isinstance(value, dict):
        return [o for item in value.values() for o in observations(item, depth + 1)]
    return []


class Spy:
    """The agent of a run, and every argument its methods and its memory's query were given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.agent: Any = None
        self.given: dict[str, list[list[Any]]] = {"reset": [], "act": [], "observe": [], "end_trial": [],
                                                  "query": []}
        real = runner.build_agent

        def build(prepared: Any, llm: Any, *rest: Any) -> Any:
            self.agent = real(prepared, llm, *rest)
            for name in ("reset", "act", "observe", "end_trial"):
                setattr(self.agent, name, self.wrap(name, getattr(self.agent, name)))
            return self.agent

        monkeypatch.setattr(runner, "build_agent", build)

    def wrap(self, name: str, method: Any) -> Any:
        def spying(*args: Any, **kwargs: Any) -> Any:
            self.given[name].append([*args, *kwargs.values()])
            return method(*args, **kwargs)
        return spying

    def watch_queries(self) -> None:
        """Spy on the query of the memory the probes are about to ask (an agent may renew it per trial)."""
        memory = self.agent.memory
        if isinstance(memory, QueryableMemory) and not hasattr(memory.query, "spied"):
            memory.query = self.wrap("query", memory.query)
            memory.query.spied = True  # type: ignore[attr-defined]


@pytest.mark.parametrize("agent_id", TEXT_AGENTS)
def test_probes_hand_no_ground_truth_and_a_query_writes_nothing_and_calls_no_llm(
        games_store: RunStore, monkeypatch: pytest.MonkeyPatch, agent_id: str) -> None:
    spy = Spy(monkeypatch)
    real_probe = runner.Loop.probe

    def probe(loop: Any, *args: Any) -> Any:
        spy.watch_queries()
        return real_probe(loop, *args)

    monkeypatch.setattr(runner.Loop, "probe", probe)
    info = runner.execute(config(agent_id, policy="walkthrough+explore", max_steps=8, probe_every=3),
                          games_store, chat_model=FakeListChatModel(responses=REPLIES))
    assert info.status == "finished", info.message
    steps = games_store.steps(info.run_id)
    reports = [s.probes for s in steps if s.probes is not None]
    assert [s.t for s in steps if s.probes] == [2, 5, 7] and all(r.results for r in reports)
    assert info.summary.probes == sum(len(r.results) for r in reports)
    facts = {f for s in steps for f in s.facts or []}
    for name in ("reset", "act", "observe", "end_trial"):
        given = [o for call in spy.given[name] for o in observations(call)]
        assert spy.given[name] and not any(o.privileged for o in given)
    for call in [c for calls in spy.given.values() for c in calls]:
        text = json.dumps(call, default=repr)
        leaked = [fact for fact in facts if "(" in fact and "," in fact and fact in text]
        assert not leaked, f"a fact reached {agent_id}"
    memory = spy.agent.memory
    if memory is None:  # a memoryless agent is probed with an empty text
        assert all(text == "" for r in reports for text in r.texts) and not spy.given["query"]
        return
    assert isinstance(memory, QueryableMemory)
    questions = [r.question for r in reports[-1].results]
    asked_with = [call[0] for call in spy.given["query"][-len(questions):]]
    assert asked_with == questions  # the question, nothing else
    llm = spy.agent.ctx.llm
    asked: list[str] = []
    for name in ("chat", "choose"):
        monkeypatch.setattr(llm, name, lambda *a, _name=name, **k: asked.append(_name))
    before, calls = memory.snapshot(), len(llm.calls)
    texts = [memory.query(q) for q in questions]
    assert memory.snapshot() == before and asked == [] and len(llm.calls) == calls
    assert texts == [reports[-1].texts[r.text] for r in reports[-1].results]  # the stored texts, again


@pytest.mark.parametrize("model", [FakeListChatModel, Scoring], ids=["generating", "scoring"])
def test_a_probed_run_replays_exactly(games_store: RunStore, model: type[FakeListChatModel]) -> None:
    run = config("full-history", max_steps=6, probe_every=2)
    original = runner.execute(run, games_store, chat_model=model(responses=REPLIES))
    replayed = runner.execute(run.model_copy(update={"llm": f"replay:{original.run_id}"}), games_store)
    assert replayed.status == "finished", replayed.message
    first, again = games_store.steps(original.run_id), games_store.steps(replayed.run_id)
    assert [s.action for s in again] == [s.action for s in first]
    purposes = [[c.purpose for c in s.llm_calls] for s in first]
    assert purposes == [[c.purpose for c in s.llm_calls] for s in again]
    assert all(p[0] == "act" and set(p[1:]) <= {"probe"} for p in purposes)
    assert any("probe" in p for p in purposes)
    responses = [[c.response for c in s.llm_calls] for s in first]
    assert [[c.response for c in s.llm_calls] for s in again] == responses
    assert [s.probes for s in again] == [s.probes for s in first]
    kinds = {c.kind for s in first for c in s.llm_calls if c.purpose == "probe"}
    assert kinds == ({"score"} if model is Scoring else {"chat"})
    answered = [r for s in first if s.probes for r in s.probes.results]
    assert all(r.answer in r.candidates and r.correct == (r.answer in r.true_answers) for r in answered)
    assert original.summary.llm_calls == len(first) and original.summary.probe_llm_calls == len(answered)
    unprobed = runner.execute(run.model_copy(update={"probe_every": 0}), games_store,
                              chat_model=model(responses=REPLIES))
    late = runner.execute(run.model_copy(update={"llm": f"replay:{unprobed.run_id}"}), games_store)
    assert [s.action for s in games_store.steps(late.run_id)] == [s.action for s in first]  # the agent's
    late_results = [r for s in games_store.steps(late.run_id) if s.probes for r in s.probes.results]
    assert late_results and all(r.answer is None and r.error is None for r in late_results)  # evidence only


def test_probes_round_trip_through_a_jsonl_export_and_import(games_store: RunStore, tmp_path: Path) -> None:
    from lab.cli import app

    info = runner.execute(config("full-history", policy="walkthrough", max_steps=6, probe_every=2),
                          games_store, chat_model=FakeListChatModel(responses=REPLIES))
    env = {**os.environ, "MEMLAB_HOME": str(games_store.path.parent)}
    path = tmp_path / "run.jsonl"
    result = CliRunner().invoke(app, ["export", info.run_id, "--format", "jsonl", "-o", str(path)], env=env)
    assert result.exit_code == 0, result.output
    home = tmp_path / "elsewhere"
    result = CliRunner().invoke(app, ["import", str(path)], env={**env, "MEMLAB_HOME": str(home)})
    assert result.exit_code == 0, result.output
    other = RunStore(home / "runs.sqlite")
    assert list(jsonl_lines(other, info.run_id))[1:] == list(jsonl_lines(games_store, info.run_id))[1:]
    steps = other.steps(info.run_id)
    assert steps == games_store.steps(info.run_id) and any(s.probes for s in steps)
    assert {k for s in steps for k in s.metrics} >= {"probe/location/evidence", "probe/location/answer",
                                                    "probe/inventory/evidence", "policy/agree"}
    assert all(s.agent_action is not None and s.forced == "walkthrough" for s in steps)
    older = steps[1].model_dump(mode="json", exclude={"probes", "agent_action", "forced"})
    older["timings"].pop("probe_s")
    assert Step.model_validate(older).probes is None  # a trace written before probes still imports
    other.close()


def test_memlab_run_takes_the_policy_and_the_probe_options(games_home: Path) -> None:
    opts = [arg for key, value in COOKING.items() for arg in ("--env-opt", f"{key}={json.dumps(value)}")]
    out = memlab("run", "--env", "tw-cooking", *opts, "--agent", "random", "--policy", "walkthrough",
                 "--probe-every", "2", "--probes-per-family", "1", "--max-steps", "4", home=games_home)
    assert out.returncode == 0, out.stderr
    store = RunStore(games_home / "runs.sqlite")
    run_id = out.stdout.strip().splitlines()[-1]
    config, steps = store.get_run(run_id).config, store.steps(run_id)
    assert (config.policy, config.probe_every, config.probes_per_family) == ("walkthrough", 2, 1)
    assert [s.action for s in steps] == walkthrough()[:4] and [s.t for s in steps if s.probes] == [1, 3]
    store.close()


@pytest.mark.slow
def test_the_embedded_model_answers_probes_with_the_batched_scorer(games_store: RunStore) -> None:
    run = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id="random", probe_llm="embedded",
                    policy="walkthrough", max_steps=3, probe_every=3, probes_per_family=1)  # only probes call it
    start = time.perf_counter()
    info = runner.execute(run, games_store)
    steps = games_store.steps(info.run_id)
    probe_calls = [c for s in steps for c in s.llm_calls if c.purpose == "probe"]
    results = [r for s in steps if s.probes for r in s.probes.results]
    assert info.status == "finished" and results and len(probe_calls) == len(results)
    pairs = zip(probe_calls, results, strict=True)
    assert all(c.kind == "score" and c.options == r.candidates for c, r in pairs)
    assert all(r.answer in r.candidates for r in results)
    probe_s = sum(s.timings.probe_s for s in steps)
    print(f"{len(results)} probes in {probe_s:.1f} s ({probe_s / len(results):.2f} s each); "
          f"run {time.perf_counter() - start:.1f} s")


def test_probes_are_answered_by_the_model_the_run_names_or_by_none(games_store: RunStore) -> None:
    """``probe_llm``: ``none`` keeps the evidence and asks no model; a spec answers whatever the agent runs on
    (a generating model here, whose free reply is matched to a candidate); a random agent (no LLM) gets
    answers from it too."""
    quiet = runner.execute(config("full-history", policy="walkthrough", max_steps=5, probe_llm="none"),
                           games_store, chat_model=FakeListChatModel(responses=REPLIES))
    steps = games_store.steps(quiet.run_id)
    results = [r for s in steps if s.probes for r in s.probes.results]
    assert quiet.status == "finished" and results and any(r.evidence for r in results)
    assert all(r.answer is None and r.correct is None for r in results)
    assert not [c for s in steps for c in s.llm_calls if c.purpose == "probe"]
    assert not any(k.endswith("/answer") for s in steps for k in s.metrics)
    named = runner.execute(
        config("random", policy="walkthrough", max_steps=5, probe_llm="fake:Sure! **Answer:** unknown"),
        games_store)
    steps = games_store.steps(named.run_id)
    results = [r for s in steps if s.probes for r in s.probes.results]
    calls = [c for s in steps for c in s.llm_calls if c.purpose == "probe"]
    assert named.status == "finished" and len(calls) == len(results) > 0
    assert all(r.answer == "unknown" for r in results) and calls[0].model == "fake:Sure! **Answer:** unknown"
    with pytest.raises(Exception, match="probe|spec|provider|llm"):
        runner.prepare(config("random", probe_llm="nosuch:model"))
