"""HiAgent end to end on a real TextWorld cooking game: pseudo-commands never reach the game."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore

pytestmark = pytest.mark.filterwarnings("ignore::jericho.UnsupportedGameWarning")

REPLIES = [
    "Subgoal: Read the recipe.\nAction: examine cookbook",
    "Subgoal: Get the cilantro.\nAction: check valid actions",
    "The recipe needs the cilantro; subgoal met.",  # summary of subgoal 1
    "Action: take cilantro from fridge",
    "Subgoal: Cook and eat the meal.\nAction: retrieve(1)",
    "The cilantro is in the inventory; subgoal met.",  # summary of subgoal 2
    "Action: prepare meal",
    "Action: eat meal",
]


WON_BY = ["examine cookbook", "take cilantro from fridge", "prepare meal", "eat meal"]


def play(games_store: RunStore, replies: list[str]) -> tuple[Any, list[Any]]:
    """A real tw-cooking run of HiAgent on scripted replies; it must win by :data:`WON_BY`."""
    info = execute(
        RunConfig(env_id="tw-cooking", agent_id="hiagent", llm="fake:x", max_steps=8, probe_every=0),
        games_store,
        chat_model=FakeListChatModel(responses=replies),
    )
    assert info.status == "finished", info.message
    assert info.summary.won and info.summary.env_steps == 4
    steps = games_store.steps(info.run_id, with_snapshots=True)
    assert [s.action for s in steps] == WON_BY
    return info, steps


def test_hiagent_plays_a_real_game_with_subgoal_chunks(games_store: RunStore) -> None:
    info, steps = play(games_store, REPLIES)
    assert [[c.purpose for c in s.llm_calls] for s in steps] == [
        ["act"],
        ["act", "summarize", "act"],
        ["act", "summarize", "act"],
        ["act"],
    ]
    assert (
        "Trajectory of subgoal 1 (Read the recipe.)" in steps[2].thoughts["pseudo_commands"][0]["observation"]
    )

    snapshot = steps[-1].memory_snapshot
    chunks = {r.attrs["number"]: r for r in snapshot.records}
    assert [chunks[n].attrs["status"] for n in (1, 2, 3)] == ["closed", "closed", "open"]
    assert chunks[1].attrs["summary"] == "The recipe needs the cilantro; subgoal met."
    last_prompt = steps[-1].llm_calls[-1].messages[-1].content
    assert snapshot.prompt_text in last_prompt
    assert (
        "1 Subgoal: Read the recipe.\nObservation: The recipe needs the cilantro; subgoal met.\n"
        "2 Subgoal: Get the cilantro.\nObservation: The cilantro is in the inventory; subgoal met.\n"
        "3 Subgoal: Cook and eat the meal.\nAction: retrieve(1)"
    ) in snapshot.prompt_text


MARKDOWN_REPLIES = [  # as strong chat models write: preambles, markdown, turns invented past their own
    "Sure, let's start.\n**Subgoal:** Read the recipe.\n**Action:** `examine cookbook`\n"
    "**Observation:** The recipe needs cilantro.\n**Action:** `take cilantro from fridge`",
    "The recipe is read, so subgoal 1 is done.\n**Subgoal 2:** Get the cilantro.\n"
    "**Action:** take cilantro from fridge",
    "The recipe needs the cilantro; subgoal met.",  # summary of subgoal 1
    "**Action:** *prepare meal*\nObservation: You prepare the meal.\nAction: eat meal",
    "### Action:\n`eat meal`",
]


def test_hiagent_plays_the_first_action_of_markdown_replies_in_a_real_game(games_store: RunStore) -> None:
    info, steps = play(games_store, MARKDOWN_REPLIES)
    assert (
        "1 Subgoal: Read the recipe.\nObservation: The recipe needs the cilantro; subgoal met.\n"
        "2 Subgoal: Get the cilantro.\nAction: take cilantro from fridge"
    ) in steps[-1].memory_snapshot.prompt_text
