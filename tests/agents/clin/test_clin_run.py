"""CLIN end to end: trials of a real TextWorld cooking game through the run loop, learning between."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.clin.protocol import STOP_COMMAND
from agents.clin.views import learning_changes
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore
from tests.conftest import page

pytestmark = pytest.mark.filterwarnings("ignore::jericho.UnsupportedGameWarning")

# The default tw-cooking game: one kitchen, the recipe needs the cilantro in the fridge (3 points).
REPLIES = [
    "I used learning id(s): none $$$ The cookbook has the recipe. ### examine cookbook",
    "I used learning id(s): none $$$ The recipe needs cilantro. ### take the cilantro from the fridge",
    "I'm not sure what to do.",
    "I used learning id(s): 1 $$$ I have the ingredient. ### prepare meal",
    "I used learning id(s): 3 $$$ The meal is ready. ### eat meal",
]


def test_clin_learns_across_trials_of_a_real_game(games_store: RunStore) -> None:
    config = RunConfig(
        env_id="tw-cooking",
        agent_id="clin",
        llm="fake:x",
        trials=2,
        max_steps=8,
        agent_config={"generator": "deterministic", "record_meta_memory": False},
    )
    info = execute(config, games_store, chat_model=FakeListChatModel(responses=REPLIES))
    assert info.status == "finished", info.message
    assert [(t.trial, t.steps, t.score, t.won) for t in info.summary.trials] == [
        (i, 4, 3.0, True) for i in range(2)
    ]

    steps = games_store.steps(info.run_id, with_snapshots=True)
    assert [s.action for s in steps if s.trial == 0] == [
        "examine cookbook",
        "take cilantro from fridge",
        "prepare meal",
        "eat meal",
    ]
    grounded = steps[1].thoughts
    assert grounded["tries"][0]["action"] == "take the cilantro from the fridge"
    assert grounded["tries"][0]["similarity"] > 0.9 and "fallback" not in grounded
    assert [t.get("error") for t in steps[2].thoughts["tries"]] == ["malformed", None]

    ends = [s for s in steps if s.trial_end]
    assert [s.trial for s in ends] == [0, 1] and all(s.memory_snapshot for s in ends)
    first, second = ends[0].memory_snapshot, ends[1].memory_snapshot
    added = learning_changes(None, first)
    assert {r["change"] for r in added} == {"added"}
    assert "take cilantro from fridge may be necessary to complete the task" in [r["learning"] for r in added]
    changes = learning_changes(first, second)
    assert {r["change"] for r in changes} == {"strengthened"}
    assert "take cilantro from fridge should be necessary to prepare meal" in [r["learning"] for r in changes]

    trial1_prompt = steps[4].llm_calls[0].messages[1].content
    assert "1. take cilantro from fridge may be necessary to complete the task" in trial1_prompt
    assert "cilantro" not in steps[0].llm_calls[0].messages[1].content  # trial 0 starts with no learnings
    trial_rows = [r.text for r in ends[1].memory_snapshot.records if r.kind == "trial"]
    assert trial_rows == [f"Trial {i}: score 100 (solved the task), 5 learnings" for i in range(2)]

    explore = page("explore", run=info.run_id, step=str(ends[1].index))  # the lab shows the same changes
    assert not explore.exception
    panel = next(e for e in explore.expander if e.label.startswith("Trials"))
    first_tab, second_tab = [d.value for d in panel.dataframe if "change" in d.value.columns]
    assert set(first_tab["change"]) == {"added"} and set(second_tab["change"]) == {"strengthened"}
    assert any("strengthened since the previous trial end" in c.value for c in panel.caption)


def test_clin_ends_trials_early(games_store: RunStore) -> None:
    """5 identical actions end a trial; so does 1.5 x the walkthrough length (5 commands: 8 steps)."""
    config = RunConfig(
        env_id="tw-cooking",
        agent_id="clin",
        llm="fake:x",
        trials=2,
        max_steps=20,
        agent_config={"generator": "deterministic", "record_meta_memory": False},
    )
    same = execute(config, games_store, chat_model=FakeListChatModel(responses=["none $$$ r ### look"]))
    steps = games_store.steps(same.run_id)
    assert [t.steps for t in same.summary.trials] == [6, 6]
    assert steps[5].action == STOP_COMMAND and steps[5].trial_end
    assert steps[5].thoughts["end_trial"] == "5 identical actions in a row"
    alternating = execute(
        config,
        games_store,
        chat_model=FakeListChatModel(responses=["none $$$ r ### look", "none $$$ r ### inventory"]),
    )
    assert [t.steps for t in alternating.summary.trials] == [9, 9]
    assert "walkthrough length (5)" in games_store.steps(alternating.run_id)[8].thoughts["end_trial"]


def test_a_rationale_that_talks_of_completion_does_not_end_a_real_trial(games_store: RunStore) -> None:
    """Strong models mention completion in their reasoning; only the action part can end the trial."""
    replies = [
        "Sure! I used learning id(s): none $$$ Reading the recipe first gets the task completed sooner. "
        "### examine cookbook",
        "I used learning id(s): none $$$ Task complete? Not yet: the recipe needs the cilantro. "
        "### take cilantro from fridge",
        "I used learning id(s): none $$$ The task is not successfully completed until the meal is made. "
        "### prepare meal",
        "I used learning id(s): none $$$ Eating the meal completes the task. ### eat meal",
    ]
    config = RunConfig(
        env_id="tw-cooking",
        agent_id="clin",
        llm="fake:x",
        max_steps=8,
        probe_every=0,
        agent_config={"generator": "deterministic", "record_meta_memory": False},
    )
    info = execute(config, games_store, chat_model=FakeListChatModel(responses=replies))
    assert info.status == "finished", info.message
    assert [(t.steps, t.score, t.won) for t in info.summary.trials] == [(4, 3.0, True)]
    steps = games_store.steps(info.run_id)
    assert [s.action for s in steps] == [
        "examine cookbook",
        "take cilantro from fridge",
        "prepare meal",
        "eat meal",
    ]
    assert not any("end_trial" in s.thoughts for s in steps)
    replayed = [(m.role, m.content) for m in steps[1].llm_calls[0].messages]
    assert ("assistant", replies[0]) in replayed  # the model sees its own reply, protocol included
