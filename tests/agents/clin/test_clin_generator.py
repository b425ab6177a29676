"""CLIN's deterministic learning generator on hand-made traces, and the LLM generator's prompt budget."""

from __future__ import annotations

from agents.clin.generator import (
    DeterministicGenerator,
    TraceStep,
    generalize,
    generation_messages,
    normalized_score,
    trace_text,
)
from agents.clin.memory import Learning, TrialRecord
from lab.core.llm.client import estimate_tokens

TRACE = [
    TraceStep("examine cookbook", "You read the recipe: milk, then prepare meal.", 0.0),
    TraceStep("look", "A kitchen.", 0.0),
    TraceStep("take milk from fridge", "Taken. Your score has just gone up by one point.", 1.0),
    TraceStep("look", "A kitchen.", 0.0),
    TraceStep("go east", "You can't go that way.", 0.0),
    TraceStep("prepare meal", "Adding the meal to your inventory.", 1.0),
    TraceStep("look", "A kitchen.", 0.0),
]


def texts(learnings: list[Learning]) -> list[str]:
    return [x.text() for x in learnings]


def test_credit_assignment_on_a_hand_made_trace() -> None:
    learnings = DeterministicGenerator(fruitless_repeats=2).generate(TRACE, [], trial=0, lost=False)
    assert texts(learnings) == [
        "take milk from fridge may be necessary to complete the task",
        "take milk from fridge may be necessary to prepare meal",
        "prepare meal may be necessary to complete the task",
        "look may not contribute to complete the task",
    ]
    assert {x.trial for x in learnings} == {0}


def test_a_second_trial_strengthens_confirmed_learnings_and_drops_contradicted_ones() -> None:
    generator = DeterministicGenerator(fruitless_repeats=2)
    first = generator.generate(TRACE, [], trial=0, lost=False)
    stale = Learning("go east", "not_contribute", "should", "complete the task", 0)
    untried = Learning("take knife", "necessary", "may", "slice carrot", 0)
    second_trace = [
        TraceStep("take milk from fridge", "Taken.", 1.0),
        TraceStep("go east", "You go east.", 1.0),
        TraceStep("look", "A hall.", 0.0),
        TraceStep("look", "A hall.", 0.0),
    ]
    second = generator.generate(second_trace, [*first, stale, untried], trial=1, lost=False)
    by_text = {x.text(): x for x in second}
    assert "take milk from fridge should be necessary to complete the task" in by_text
    assert by_text["take milk from fridge should be necessary to complete the task"].trial == 1
    assert "take milk from fridge may be necessary to go east" in by_text
    assert "look does not contribute to complete the task" in by_text  # fruitless again
    assert "go east does not contribute to complete the task" not in by_text  # it scored: dropped
    assert "prepare meal may be necessary to complete the task" in by_text  # not tried: kept as is
    assert "take knife may be necessary to slice carrot" in by_text


def test_the_action_that_lost_the_game_does_not_contribute() -> None:
    trace = [
        TraceStep("take milk from fridge", "Taken.", 1.0),
        TraceStep("eat raw chicken", "You lost!", 0.0),
    ]
    learnings = DeterministicGenerator().generate(trace, [], trial=0, lost=True)
    assert texts(learnings)[-1] == "eat raw chicken does not contribute to complete the task"


def test_an_empty_trace_keeps_the_previous_memory() -> None:
    previous = [Learning("open fridge", "necessary", "may", "take milk", 0)]
    assert DeterministicGenerator().generate([], previous, trial=1, lost=False) == previous


def test_normalized_score() -> None:
    assert normalized_score(3, 4, False) == 75.0 and normalized_score(0, 4, True) == -100.0


def test_generator_prompt_holds_trace_reward_and_last_records() -> None:
    records = [
        TrialRecord(t, 25.0, 10, False, [Learning(f"a{t}", "necessary", "may", "b", t)]) for t in range(3)
    ]
    meta = [Learning("m", "necessary", "should", "n", -1)]
    messages = generation_messages("Cook.", TRACE, 50.0, records, meta, budget_tokens=6500)
    previous, current = messages[2][1], messages[3][1]
    assert previous.startswith("PREVIOUS LEARNINGS:\nMETA LEARNINGS:\n1. m should be necessary to n")
    assert (
        "EPISODE: 0\nLEARNINGS:\n1. a0 may be necessary to b\nREWARD_FINAL: 25. This means: moderate"
        in previous
    )
    assert current.startswith("CURRENT TRACE:\nTask: Cook.\nAction: examine cookbook\nObservation: You read")
    assert current.endswith("REWARD_FINAL: 50. This means: very well")


def test_generator_prompt_budget_drops_meta_then_old_records_then_shortens() -> None:
    records = [
        TrialRecord(t, 0.0, 10, False, [Learning("x " * 40, "necessary", "may", "y", t)]) for t in range(3)
    ]
    meta = [Learning("m " * 40, "necessary", "may", "n", -1)]
    fixed = estimate_tokens(messages_text(generation_messages("Cook.", TRACE, 0.0, [], [], 100000)[:2]))
    full = generation_messages("Cook.", TRACE, 0.0, records, meta, budget_tokens=100000)
    without_meta = generation_messages(
        "Cook.", TRACE, 0.0, records, meta, budget_tokens=estimate_tokens(messages_text(full)) - 5
    )
    assert "META LEARNINGS" not in without_meta[2][1] and "EPISODE: 0" in without_meta[2][1]
    tiny = generation_messages("Cook.", TRACE, 0.0, records, meta, budget_tokens=fixed + 60)
    assert "EPISODE" not in tiny[2][1]
    assert tiny[3][1].endswith("REWARD_FINAL: 0. This means: poor")
    assert "then prepare meal" not in tiny[3][1]  # observations cut to their first sentence, or words dropped


def messages_text(messages: list[tuple[str, str]]) -> str:
    return "".join(content for _, content in messages)


def test_trace_text_short_form_keeps_first_sentences() -> None:
    assert "Observation: Taken.\n" in trace_text("Cook.", TRACE, 50.0, short=True)


def test_generalize_prefers_learnings_shared_by_episodes() -> None:
    shared = Learning("prepare meal", "necessary", "may", "eat meal", 0)
    one = [shared, Learning("take milk", "necessary", "should", "complete the task", 3)]
    two = [shared, Learning("look", "not_contribute", "may", "complete the task", 1)]
    meta = generalize([one, two], limit=2)
    assert texts(meta) == [
        "prepare meal should be necessary to eat meal",
        "take milk may be necessary to complete the task",
    ]
    assert {x.trial for x in meta} == {-1}
