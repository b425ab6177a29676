"""Ariadne and the baselines with fake chat models: every LLM path, malformed replies, go-to, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from tests.agents.arigraph.arigraph_helpers import PromptScorer, RoutingFake

from agents.arigraph import AriGraphAgent, AriGraphConfig, RagAgent, RagConfig, SummaryAgent, SummaryConfig
from agents.arigraph.extract import LLMExtractor, LLMOutdated, View, llm_entities
from agents.arigraph.triplets import Triplet
from lab.core.env import Observation
from lab.core.errors import LabError
from lab.core.llm import LLM
from lab.core.protocols import AgentContext, Task
from lab.core.records import RunConfig
from lab.fidelity import Fidelity
from lab.runner import execute

HUNT = {"rooms": 5, "keys": 2, "game_seed": 3}
RULES = {
    "extractor": "rules",
    "outdated": "rules",
    "entities": "rules",
    "planner": "static",
    "explore_gate": "always",
    "encoder": "hash",
}


def llm(**replies) -> tuple[LLM, RoutingFake]:
    model = RoutingFake(responses=["unused"], replies=replies, seen=[])
    return LLM(model, "fake", max_retries=0), model


def agent(cls, config, model: LLM):
    instance = cls(config, AgentContext(llm=model, rng=np.random.default_rng(0), seed=0))
    instance.reset(Task(env_id="tw-hunt", env_kind="text", objective="Find the treasure."))
    return instance


def obs(text: str, admissible: list[str], room: str = "Room A") -> Observation:
    return Observation(
        text=text,
        admissible=admissible,
        room=room,
        inventory="You are carrying nothing.",
        objective="Find the treasure.",
    )


def test_llm_extractor_prompt_and_lenient_parsing() -> None:
    model, fake = llm(extract=["key 1, is in, room a; room a, has exit, west", "The room has a key.", ""])
    extractor = LLMExtractor(model, with_inventory=True)
    view = View(
        text="-= Room A =-\nThere is a Key 1 on the floor.",
        inventory="You are carrying nothing.",
        examples=["golden locker, is in, room b"],
    )
    good = extractor(view)
    prompt = fake.seen[-1][1]
    assert "golden locker, is in, room b" in prompt and "There is a Key 1 on the floor." in prompt
    assert "Inventory: You are carrying nothing." in prompt
    assert {t.text for t in good.triplets} == {"key 1, is in, room a", "room a, has exit, west"}
    prose, empty = extractor(view), extractor(view)
    assert prose.triplets == [] and prose.rejected == ["The room has a key."]
    assert empty.triplets == [] and empty.rejected == []
    assert [c.purpose for c in model.take_calls()] == ["extract"] * 3


def test_llm_outdated_and_entities_prompts_and_parsing() -> None:
    model, fake = llm(
        refine=["[[key 1, is in, room a -> key 1, is in, inventory]]", "nothing to change", ""],
        entities=['{"Key 1": 2, "west": 1}', "keys matter", ""],
    )
    refine = LLMOutdated(model)
    old, new = [Triplet("key 1", "is in", "room a")], [Triplet("key 1", "is in", "inventory")]
    assert refine(old, new) == old
    assert "key 1, is in, room a" in fake.seen[-1][1] and "key 1, is in, inventory" in fake.seen[-1][1]
    assert refine(old, new) == [] and refine.rejected == ["nothing to change"]
    assert refine(old, new) == []
    assert llm_entities(model, "You see Key 1.", "{'main_goal': 'x'}", 2) == ({"key 1": 2}, [])
    assert "You see Key 1." in fake.seen[-1][1] and "main_goal" in fake.seen[-1][1]
    assert llm_entities(model, "x", "y", 2) == ({}, ["keys matter"])
    assert llm_entities(model, "x", "y", 2) == ({}, [])


def test_planner_actor_and_gate_with_good_malformed_and_empty_replies() -> None:
    plan = '{"main_goal": "Find it", "plan_steps": [{"sub_goal_1": "Take Key 1", "reason": "it opens"}]}'
    model, fake = llm(
        plan=[plan, "I will win!", ""],
        gate=["True", "False", ""],
        act=['{"reason_for_action": "key", "action_to_take": "take Key 1"}', "go wst", ""],
        extract=["key 1, is in, room a; room a, has exit, west", "key 1, is in, inventory"],
        entities=['{"key 1": 1}'],
        refine=["[]"],
    )
    ariadne = agent(AriGraphAgent, AriGraphConfig(encoder="hash"), model)
    first = ariadne.act(
        obs("-= Room A =-\nThere is a Key 1 on the floor.", ["take Key 1", "go west", "look"])
    )
    assert (
        first.command == "take Key 1"
        and first.thoughts["plan"]["plan_steps"][0]["sub_goal_1"] == "Take Key 1"
    )
    assert first.thoughts["explore"] is True and first.thoughts["reason_for_action"] == "key"
    act_prompt = next(p for k, p in fake.seen if k == "act")
    for part in (
        "1. Main goal: Find the treasure",
        "3. Your current observation: Game step #1",
        "Information from the memory module",
        "most relevant episodic memories",
        "Your current plan",
        "Yet unexplored exits in the environment",
        "Unexplored exits for room a: ['west']",
        'Possible actions in the current situation: ["take Key 1", "go west", "look"]',
    ):
        assert part in act_prompt, part
    second = ariadne.act(obs("You pick up the Key 1 from the ground.", ["go west", "look"]))
    assert second.command == "go west" and "act_parse_failure" in second.thoughts  # matched from "go wst"
    assert (
        second.thoughts["plan_parse_failure"] == "I will win!"
        and ariadne.plan["plan_steps"][0]["sub_goal_1"] == "Take Key 1"
    )
    assert second.thoughts["explore"] is False and "Yet unexplored" not in fake.seen[-1][1]
    third = ariadne.act(obs("", ["go west", "look"]))
    assert third.command in ("go west", "look") and "plan_parse_failure" in third.thoughts
    purposes = [c.purpose for c in model.take_calls()]
    assert purposes[:5] == [
        "entities",
        "extract",
        "explore_gate",
        "plan",
        "act",
    ]  # no refine: nothing to outdate
    assert purposes.count("refine") == 1  # step 2 only: a new triplet and a candidate; step 3 adds nothing


def test_summary_baseline_keeps_the_previous_summary_on_an_empty_reply() -> None:
    model, fake = llm(summary=["The key is in room A.", ""], act=['{"action_to_take": "look"}'])
    baseline = agent(SummaryAgent, SummaryConfig(planner="static"), model)
    baseline.act(obs("-= Room A =-\nA key.", ["look"]))
    summary_prompt = next(p for k, p in fake.seen if k == "summary")
    assert "4. Your previous summary: Yet nothing" in summary_prompt and "A key." in summary_prompt
    action = baseline.act(obs("Nothing happens.", ["look"]))
    assert baseline.summary == "The key is in room A." and "summary_parse_failure" in action.thoughts
    assert "Your summary of the current situation: The key is in room A." in fake.seen[-1][1]
    assert [r.text for r in baseline.memory.snapshot().records if r.id == "summary"] == [
        "The key is in room A."
    ]


def test_rag_baseline_rates_importance_and_retrieves_past_steps() -> None:
    model, fake = llm(importance=["9", "2", "seven", "1"], act=['{"action_to_take": "look"}'])
    baseline = agent(RagAgent, RagConfig(planner="static", encoder="hash", n_prev=1, top_k=1), model)
    texts = [
        "-= Room A =- You see a golden key.",
        "-= Room B =- A dusty lamp.",
        "-= Room C =- Nothing.",
        "-= Room D =- A golden key again?",
    ]
    for text in texts:
        action = baseline.act(obs(text, ["look"]))
    assert [e[2] for e in baseline.entries][:2] == [9.0, 2.0]
    assert action.thoughts["retrieved_steps"] == [0]  # importance and relevance both favour step 0
    last_act = [p for k, p in fake.seen if k == "act"][-1]
    assert "Relevant observations and actions from the past: Observation: Game step #1" in last_act
    assert "how important" in next(p for k, p in fake.seen if k == "importance")


def test_go_to_an_unknown_room_plays_nothing_and_shows_the_error() -> None:
    model, _ = llm(act=['{"action_to_take": "look"}'])
    ariadne = agent(AriGraphAgent, AriGraphConfig(**RULES), model)
    ariadne.act(obs("-= Room A =-\nAn empty room.", ["look", "go west"]))
    action = ariadne.expand("go to room z", {})
    assert action.env_commands == [] and action.thoughts["go_to_error"].startswith("Destination is unknown")
    ariadne.act(obs("That's not a verb I recognise.", ["look"]))
    assert ariadne.graph.episodes[-1].text.startswith("Game step #2\nDestination is unknown")


def test_rules_agent_finishes_a_small_treasure_hunt(games_store) -> None:
    scorer = PromptScorer(responses=["x"], prompts=[])
    store = games_store
    info = execute(
        RunConfig(
            env_id="tw-hunt",
            env_options=HUNT,
            agent_id="arigraph",
            agent_config=RULES,
            llm="fake:x",
            max_steps=40,
            probe_every=0,  # the agent's own calls only
        ),
        store,
        chat_model=scorer,
    )
    assert info.status == "finished" and info.summary.won and info.summary.normalized_score == 1.0
    steps = store.steps(info.run_id)
    assert all(c.purpose == "act" and c.kind == "score" for s in steps for c in s.llm_calls)
    assert any(s.thoughts["memory"]["deleted"] for s in steps)  # the key left the room for the inventory
    assert any(s.action.startswith("go to ") and s.env_actions for s in steps)  # a macro: several env steps
    assert info.summary.env_steps >= info.summary.steps
    memory = store.memory_at(info.run_id, len(steps) - 1)
    assert {"room", "object", "episodic"} <= {n.kind for n in memory.nodes} and memory.retrieved


def test_go_to_the_current_room_costs_one_step(games_store) -> None:
    class GoHere(PromptScorer):
        def score_options(self, messages, options):
            return [1.0 if o == "go to room a" else 0.0 for o in options]

    store = games_store
    info = execute(
        RunConfig(
            env_id="tw-hunt",
            env_options=HUNT,
            agent_id="arigraph",
            agent_config={**RULES, "offer_goto_current": True},
            llm="fake:x",
            max_steps=2,
            probe_every=0,  # the agent's own calls only
        ),
        store,
        chat_model=GoHere(responses=["x"], prompts=[]),
    )
    steps = store.steps(info.run_id)
    assert [s.action for s in steps] == ["go to room a", "go to room a"]
    assert steps[0].thoughts["go_to_error"] == "You are already there." and steps[0].score == 0
    assert "Game step #2\nYou are already there." in steps[1].llm_calls[-1].messages[-1].content


@pytest.mark.parametrize("agent_id", ["arigraph", "arigraph-full-history", "summary", "rag"])
def test_every_agent_survives_malformed_replies(games_store, agent_id: str) -> None:
    replies = {
        "extract": ["prose only", "a, b"],
        "refine": ["???"],
        "entities": ["{broken"],
        "gate": ["maybe"],
        "plan": ["no json"],
        "act": ["", '{"action_to_take": 5}'],
        "summary": [""],
        "importance": ["many"],
    }
    config = {"encoder": "hash"} if agent_id in ("arigraph", "rag") else {}
    info = execute(
        RunConfig(
            env_id="tw-hunt",
            env_options=HUNT,
            agent_id=agent_id,
            agent_config=config,
            llm="fake:x",
            max_steps=3,
        ),
        games_store,
        chat_model=RoutingFake(responses=["x"], replies=replies, seen=[]),
    )
    assert info.status == "finished" and info.n_steps == 3


def test_oracle_agent_reads_ground_truth_and_reports_fidelity() -> None:
    model, _ = llm(act=['{"action_to_take": "take key"}'])
    config = AriGraphConfig(**{**RULES, "extractor": "oracle"})
    ariadne = agent(AriGraphAgent, config, model)
    assert ariadne.sees_ground_truth
    facts = ["at(P, Hall)", "at(key, Hall)", "at(chest, Hall)", "closed(chest)", "north_of(Attic, Hall)"]
    seen = Observation(text="-= Hall =-", admissible=["take key"], room="Hall", privileged={"facts": facts})
    action = ariadne.act(seen)
    assert not action.metrics  # the lab scores the memory (lab.fidelity), not the agent
    score = Fidelity().score(ariadne.memory, facts)
    assert score["fidelity/recall"] == 1.0 and score["fidelity/precision"] == 1.0
    assert "key, is in, hall" in {t.text for t in ariadne.graph.triplets()}
    assert ariadne.memory.snapshot().edges and action.thoughts["memory"]["extractor"].startswith("oracle")
    with pytest.raises(LabError, match="oracle extractor needs ground-truth facts"):
        ariadne.act(obs("You take the key.", ["look"]))
