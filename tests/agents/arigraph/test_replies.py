"""Replies the way strong chat models write them: preambles, markdown, echoed headings, scaled numbers."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from tests.agents.arigraph.arigraph_helpers import RoutingFake

from agents.arigraph import AriGraphAgent, AriGraphConfig, RagAgent, RagConfig, triplets
from lab.core.env import Observation
from lab.core.llm import LLM
from lab.core.protocols import AgentContext, Task

LLM_GRAPH = {"encoder": "hash", "planner": "static", "explore_gate": "keyword"}
"""Ariadne with the LLM extractor, refiner and entity finder; no planner or gate calls."""


def routed(**replies) -> tuple[LLM, RoutingFake]:
    model = RoutingFake(responses=["unused"], replies=replies, seen=[])
    return LLM(model, "fake", max_retries=0), model


def start(cls, config, model: LLM):
    instance = cls(config, AgentContext(llm=model, rng=np.random.default_rng(0), seed=0))
    instance.reset(Task(env_id="tw-cooking", env_kind="text", objective="Cook the meal."))
    return instance


def obs(text: str) -> Observation:
    return Observation(text=text, admissible=["look"], room="Kitchen", inventory="You are carrying nothing.")


def prompts_of(fake: RoutingFake, kind: str) -> list[str]:
    return [p for k, p in fake.seen if k == kind]


@pytest.mark.parametrize(
    "reply",
    [
        "Replacements: [[fridge, is, closed -> fridge, is, open]]",
        "Here are the replacements:\n```\n[[fridge, is, closed -> fridge, is, open]]\n```",
        "**Replacements:**\n1. fridge, is, closed → fridge, is, open",
        '[["fridge, is, closed" => "fridge, is, open"]]',
        "Replacements:\n[\n  [fridge, is, closed -> fridge, is, open]\n]",
    ],
)
def test_replacement_parser_reads_prefixed_and_formatted_replies(reply: str) -> None:
    parsed = triplets.parse_replacements(reply)
    assert [t.text for t in parsed.triplets] == ["fridge, is, closed"]
    assert parsed.rejected == []


def test_refinement_with_an_echoed_heading_replaces_the_stale_triplet() -> None:
    model, fake = routed(
        entities=['{"fridge": 1}'],
        extract=["fridge, is, closed; fridge, is in, kitchen", "fridge, is, open; fridge, is in, kitchen"],
        refine=["Replacements: [[fridge, is, closed -> fridge, is, open], [the fridge was shut before]]"],
    )
    ariadne = start(AriGraphAgent, AriGraphConfig(**LLM_GRAPH), model)
    ariadne.act(obs("-= Kitchen =-\nYou see a closed fridge."))
    action = ariadne.act(obs("You open the fridge."))
    stored = {t.text for t in ariadne.graph.triplets()}
    assert "fridge, is, open" in stored and "fridge, is, closed" not in stored
    memory = action.thoughts["memory"]
    assert memory["deleted"] == ["fridge, is, closed"]
    assert "the fridge was shut before" in memory["parse_rejected"]
    (refine_prompt,) = prompts_of(fake, "refine")
    assert "Facts from memory: fridge, is, closed; fridge, is in, kitchen\n" in refine_prompt
    assert "New facts: fridge, is, open\n" in refine_prompt  # only what is not stored yet


def test_extraction_prompt_names_the_tool_and_recipe_relations() -> None:
    model, fake = routed(entities=["{}"], extract=["knife, used for, slicing"])
    ariadne = start(AriGraphAgent, AriGraphConfig(**LLM_GRAPH), model)
    ariadne.act(obs("-= Kitchen =-\nA knife lies on the counter."))
    (prompt,) = prompts_of(fake, "extract")
    for relation in ("used for", "requires", "to be"):
        assert f'"{relation}"' in prompt, relation
    assert all(word in ariadne.config.protected_words for word in ("used for", "to be"))


def test_protected_tool_and_recipe_facts_survive_a_refiner_that_names_them() -> None:
    model, fake = routed(
        entities=['{"red apple": 1}'],
        extract=[
            "Here are the triplets:\nknife, used for, slicing; red apple, to be, sliced; red apple, is on, counter",
            "red apple, is in, inventory; knife, is in, inventory",
        ],
        refine=[
            "[[red apple, is on, counter -> red apple, is in, inventory], "
            "[red apple, to be, sliced -> red apple, is in, inventory], "
            "[knife, used for, slicing -> knife, is in, inventory]]"
        ],
    )
    ariadne = start(AriGraphAgent, AriGraphConfig(**LLM_GRAPH), model)
    ariadne.act(obs("-= Kitchen =-\nThe cookbook says: slice the red apple. A knife is on the counter."))
    action = ariadne.act(obs("You take the red apple and the knife."))
    stored = {t.text for t in ariadne.graph.triplets()}
    assert {"knife, used for, slicing", "red apple, to be, sliced", "red apple, is in, inventory"} <= stored
    assert "red apple, is on, counter" not in stored
    (refine_prompt,) = prompts_of(fake, "refine")
    assert "to be" not in refine_prompt.split("Facts from memory:")[1].split("\n")[0]
    memory = action.thoughts["memory"]
    assert memory["deleted"] == ["red apple, is on, counter"]
    assert "red apple, to be, sliced (not a candidate)" in memory["parse_rejected"]
    assert "knife, used for, slicing (not a candidate)" in memory["parse_rejected"]


RATINGS = [
    ("7/10", 7.0),
    ("3 out of 10", 3.0),
    ("**Importance:** 8", 8.0),
    ("I'd rate this a 6.", 6.0),
    ("Rating: 9/10 because the key opens the locker.", 9.0),
    ("On a scale from 1 to 10, I would say 4.", 4.0),
    ("Between 1 and 10, this one is a 2.", 2.0),
    ("Importance: 12", 10.0),
    ("0/10", 1.0),
]


@pytest.mark.parametrize(("reply", "expected"), RATINGS + [("seven", None), ("", None)])
def test_rating_parser_reads_numbers_with_their_scale(reply: str, expected: float | None) -> None:
    assert triplets.parse_rating(reply) == expected


def test_rag_reads_each_rating_and_records_a_reply_without_a_number() -> None:
    replies = [reply for reply, _ in RATINGS] + ["It matters a lot for the plan."]
    model, _ = routed(importance=replies, act=['{"action_to_take": "look"}'])
    rag = start(RagAgent, RagConfig(planner="static", encoder="hash"), model)
    actions = [rag.act(obs(f"-= Kitchen =-\nStep {i}.")) for i in range(len(replies))]
    assert [entry[2] for entry in rag.entries] == [value for _, value in RATINGS] + [5.0]
    assert all("importance_parse_failure" not in a.thoughts for a in actions[:-1])
    failure = actions[-1].thoughts["importance_parse_failure"]
    assert failure == "It matters a lot for the plan. (counted as 5)"
    assert rag.memory.snapshot().records[-1].attrs["importance"] == 5.0


class RatingScorer(FakeListChatModel):
    """A scoring fake (like the embedded model): prefers the option "8", and "look" among actions."""

    def score_options(self, messages, options):
        return [1.0 if option in ("8", "look") else 0.0 for option in options]


def test_rag_rates_with_the_scorer_on_a_scoring_model() -> None:
    model = LLM(RatingScorer(responses=["unused"]), "fake", max_retries=0)
    rag = start(RagAgent, RagConfig(planner="static", encoder="hash"), model)
    rag.act(obs("-= Kitchen =-\nA red apple."))
    assert rag.entries[0][2] == 8.0
    (call,) = [c for c in model.take_calls() if c.purpose == "importance"]
    assert call.kind == "score" and call.options == [str(i) for i in range(1, 11)]
