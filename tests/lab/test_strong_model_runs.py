"""Every LLM agent wins a generated game through its full LLM path, answered the way strong models write.

The scripted strong model (``lab.benches.strong_model``) reads only the prompt it is sent and replies with
preambles, markdown, code fences, echoed headings, ratings written with their scale, "Task complete? Not
yet." inside a CLIN rationale and JSON with trailing commas, rotating the styles per prompt kind. It is served
over real HTTP (``lab.core.llm.serve``) and reached with ``--llm openai:scripted-strong``, as a user's
OpenAI-compatible endpoint would be. On tw-coin level 5 (five rooms, the coin in the last) a careful
player wins in five steps: every agent must, with the calls its paper makes at each step, and its memory
must hold what those steps showed.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.benches.llm_agents import unread
from lab.benches.strong_model import ROUTES, ScriptedStrongModel
from lab.core.llm.serve import OpenAIServer
from lab.core.records import MemorySnapshot, RunConfig, Step
from lab.runner import execute
from lab.store import RunStore

pytest.importorskip("langchain_openai")

GAME = ("tw-coin", {"level": 5})
STEPS = 5
"""The walkthrough's length: go north, go north, go east, go east, take coin."""
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def strong(games_store: RunStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedStrongModel]:
    """A fresh scripted model behind a loopback OpenAI endpoint, which the runs reach through the env."""
    model = ScriptedStrongModel()
    with OpenAIServer(model, model_name="scripted-strong") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test-0000")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield model


def play(store: RunStore, agent: str, agent_config: dict) -> tuple[list[Step], MemorySnapshot]:
    config = RunConfig(env_id=GAME[0], env_options=GAME[1], agent_id=agent, agent_config=agent_config,
                       llm="openai:scripted-strong", max_steps=4 * STEPS, probe_every=0)
    info = execute(config, store)
    assert info.status == "finished", info.summary.message
    steps = store.steps(info.run_id)
    assert info.summary.won and len(steps) == STEPS, [s.action for s in steps]
    for step in steps:
        assert not unread(step.thoughts), (step.index, unread(step.thoughts), step.thoughts)
        for call in step.llm_calls:
            assert call.error is None and call.response.strip(), (step.index, call.purpose, call.error)
    return steps, store.memory_at(info.run_id, STEPS - 1)


def purposes(step: Step) -> Counter[str]:
    return Counter(call.purpose for call in step.llm_calls)


def rooms(steps: list[Step]) -> list[str]:
    """The rooms the run walked through, in order, lower-cased."""
    return list(dict.fromkeys(s.observation.room.lower() for s in steps if s.observation.room))


def live(snapshot: MemorySnapshot) -> set[str]:
    """The triplets of the semantic edges still in memory."""
    return {e.attrs.get("triplet", "") for e in snapshot.edges if e.kind == "semantic" and e.removed_step is None}


def replies(model: ScriptedStrongModel, kind: str) -> list[str]:
    return [reply for k, reply in model.calls if k == kind]


# -- AriGraph: six calls a step, and a graph that follows the game ---------------------------------------
def test_arigraph_wins_with_its_six_calls_and_keeps_its_graph_true(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "arigraph", {"encoder": "hash"})
    six = Counter({"entities": 1, "extract": 1, "refine": 1, "explore_gate": 1, "plan": 1, "act": 1})
    assert purposes(steps[0]) == six - Counter({"refine": 1})  # nothing in memory yet to refine
    assert all(purposes(step) == six for step in steps[1:])
    facts = live(memory)
    assert {f"{room}, has exit, north" for room in rooms(steps)[:2]} <= facts
    assert {"coin, is on, floor", f"coin, is in, {rooms(steps)[-1]}"} <= facts  # the last room's view
    # nothing the agent saw changed before its last step, so a refinement that drops a fact misread a reply
    assert not [e.label for e in memory.edges if e.kind == "semantic" and e.removed_step is not None]
    assert any(r.startswith("Replacements:") for r in replies(strong, "arigraph/refine"))
    assert {n.label.lower() for n in memory.nodes} >= set(rooms(steps))
    acts = replies(strong, "arigraph/act")
    assert any(r.startswith("Sure!") and "```json" in r for r in acts) and any(",\n}" in r for r in acts)
    assert any(r.startswith("Here is the updated plan") for r in replies(strong, "arigraph/plan"))


# -- the paper's baselines, with the same planner and actor ----------------------------------------------
def test_full_history_plan_wins_with_a_plan_and_an_act_per_step_and_keeps_every_step(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "arigraph-full-history", {})
    assert all(purposes(step) == Counter({"plan": 1, "act": 1}) for step in steps)
    assert len([r for r in memory.records if r.kind == "episodic"]) == STEPS


def test_summary_wins_and_its_summary_names_every_room_it_walked_through(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "summary", {})
    assert all(purposes(step) == Counter({"summary": 1, "plan": 1, "act": 1}) for step in steps)
    assert all(room in memory.prompt_text.lower() for room in rooms(steps)), memory.prompt_text


def test_rag_wins_and_stores_the_ratings_as_written_not_as_ten(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "rag", {"encoder": "hash"})
    assert all(purposes(step) == Counter({"importance": 1, "plan": 1, "act": 1}) for step in steps)
    written = [int(re.search(r"\d+", reply)[0]) for reply in replies(strong, "arigraph/importance")]
    assert any("out of 10" in r for r in replies(strong, "arigraph/importance"))
    stored = [r.attrs["importance"] for r in memory.records if r.kind == "episodic"]
    assert stored == written and 10 not in stored  # "6/10" is 6, "6 out of 10" too


def test_reflexion_wins_without_reflecting_on_a_won_trial(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "reflexion", {})
    assert all(purposes(step) == Counter({"plan": 1, "act": 1}) for step in steps)
    assert not [r for r in memory.records if r.kind == "reflection"]  # reflect_on_win is off, as in the paper


def test_full_history_wins_with_one_call_a_step_from_bare_and_marked_up_actions(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "full-history", {})
    assert all(purposes(step) == Counter({"act": 1}) for step in steps)
    assert {"**", "`"} <= {mark for r in replies(strong, "full-history/act") for mark in ("**", "`") if mark in r}
    assert len(memory.records) == STEPS


# -- HiAgent: a subgoal per room, each closed chunk summarised -------------------------------------------
def test_hiagent_wins_and_summarises_each_subgoal_it_closes(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "hiagent", {})
    # the first step asks for the valid actions first (a pseudo-command, no env step), then acts
    assert purposes(steps[0]) == Counter({"act": 2})
    assert all(purposes(step) == Counter({"act": 1, "summarize": 1}) for step in steps[1:])
    chunks = [r for r in memory.records if r.kind == "chunk" and r.attrs["status"] == "closed"]
    assert len(chunks) == STEPS - 1
    assert all(c.attrs["summary_source"] == "llm" and "reached the" in c.attrs["summary"] for c in chunks)
    assert [c.attrs["subgoal"] for c in chunks] == [
        f"Search the {room} for the coin." for room in rooms(steps)[: STEPS - 1]]
    assert all("**" not in step.action for step in steps)  # "**Action:** `go north`" played as go north


# -- CLIN: no early end from a rationale, learnings written at the trial's end ----------------------------
def test_clin_wins_past_a_rationale_that_says_task_complete_and_learns_from_the_trial(
        strong: ScriptedStrongModel, games_store: RunStore) -> None:
    steps, memory = play(games_store, "clin", {"record_meta_memory": False})
    assert all(purposes(step) == Counter({"act": 1}) for step in steps[:-1])
    assert purposes(steps[-1]) == Counter({"act": 1, "memory": 1})  # the learnings follow the trial
    acts = replies(strong, "clin/act")
    assert any("Task complete? Not yet." in r for r in acts) and any("task completed" in r for r in acts)
    learnings = [r for r in memory.records if r.kind == "learning"]
    causes = {r.attrs["cause"] for r in learnings if r.attrs["certainty"] == "should"}
    assert {step.action for step in steps} <= causes  # the won trial makes each of its moves certain


# -- routing --------------------------------------------------------------------------------------------
def prompt_texts() -> dict[str, list[str]]:
    """The string constants of each agent's prompts module, by agent folder."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "agents").glob("*/prompts.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out[path.parent.name] = [node.value for node in ast.walk(tree)
                                 if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return out


FOLDER = {"arigraph": "arigraph", "full-history": "baselines", "hiagent": "hiagent", "clin": "clin"}


def test_every_route_of_the_scripted_model_names_a_phrase_of_its_own_prompt_and_no_other() -> None:
    texts = prompt_texts()
    for index, (kind, phrase, reply) in enumerate(ROUTES):
        folder = FOLDER[kind.split("/")[0]]
        holders = [text for text in texts[folder] if phrase in text]
        assert holders, f"{kind}: {phrase!r} is in no prompt of agents/{folder}/prompts.py"
        earlier = [k for k, p, _ in ROUTES[:index] for text in holders if p in text]
        assert not earlier, f"{kind}'s prompt is caught first by {earlier}"
        others = [f for f, items in texts.items() if f != folder and any(phrase in t for t in items)]
        assert not others, f"{kind}: {phrase!r} is in the prompts of {others} too"
        assert inspect.signature(reply).parameters.keys() == {"prompt", "turn"}
