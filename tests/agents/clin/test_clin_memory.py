"""CLIN's memory: the four causal forms, parsing model output, rewrites, the view between trials."""

from __future__ import annotations

import pytest

from agents.clin.memory import ClinMemory, Learning, TrialRecord, parse_learning, parse_learnings, render
from agents.clin.views import learning_changes


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "1. opening the fridge may be necessary to take the milk",
            ("opening the fridge", "necessary", "may", "take the milk"),
        ),
        (
            "2) Using the knife SHOULD BE NECESSARY to slice the carrot.",
            ("Using the knife", "necessary", "should", "slice the carrot"),
        ),
        (
            "- looking around MAY NOT CONTRIBUTE to finding the milk",
            ("looking around", "not_contribute", "may", "finding the milk"),
        ),
        (
            "**examine stove** does not contribute to complete the task",
            ("examine stove", "not_contribute", "should", "complete the task"),
        ),
        (
            "reading the cookbook MAY BE CONTRIBUTE to cooking",
            ("reading the cookbook", "necessary", "may", "cooking"),
        ),
    ],
)
def test_the_four_forms_parse_into_structured_records(line: str, expected: tuple[str, ...]) -> None:
    learning = parse_learning(line, trial=2)
    assert learning is not None
    assert (learning.cause, learning.relation, learning.certainty, learning.effect) == expected
    assert learning.trial == 2


def test_unparseable_lines_are_skipped_and_duplicates_merged() -> None:
    text = (
        "Here are the learnings:\n1. open fridge may be necessary to take milk\n"
        "Remember to be careful.\n2. Open fridge may be necessary to take milk.\n\n"
        "3. look does not contribute to take milk"
    )
    learnings = parse_learnings(text, trial=0)
    assert [x.text() for x in learnings] == [
        "open fridge may be necessary to take milk",
        "look does not contribute to take milk",
    ]
    assert parse_learnings("") == [] and parse_learnings("I have no idea.") == []


def test_render_numbers_the_learnings_in_the_four_forms() -> None:
    learnings = [
        Learning("a", "necessary", "may", "b"),
        Learning("c", "necessary", "should", "d"),
        Learning("e", "not_contribute", "may", "f"),
        Learning("g", "not_contribute", "should", "h"),
    ]
    assert render(learnings) == (
        "1. a may be necessary to b\n2. c should be necessary to d\n"
        "3. e may not contribute to f\n4. g does not contribute to h"
    )
    assert [parse_learning(line) for line in render(learnings).splitlines()] == learnings


def trial_end(memory: ClinMemory, learnings: list[Learning], step: int, trial: int, score: float):
    memory.replace(learnings, step)
    memory.trials.append(TrialRecord(trial, score, step, False, learnings))
    return memory.snapshot()


def test_rewrites_mark_added_strengthened_kept_and_dropped_learnings() -> None:
    memory = ClinMemory()
    milk = Learning("open fridge", "necessary", "may", "take milk", 0)
    look = Learning("look", "not_contribute", "may", "take milk", 0)
    first = trial_end(memory, [milk, look], step=9, trial=0, score=25.0)
    assert [r.attrs["status"] for r in first.records if r.kind == "learning"] == ["added", "added"]
    assert (
        first.prompt_text
        == "1. open fridge may be necessary to take milk\n2. look may not contribute to take milk"
    )

    knife = Learning("take knife", "necessary", "may", "slice carrot", 1)
    second = trial_end(memory, [milk.with_certainty("should", 1), knife], step=19, trial=1, score=50.0)
    rows = {r.text: r for r in second.records}
    assert rows["open fridge should be necessary to take milk"].attrs["status"] == "strengthened"
    assert rows["open fridge should be necessary to take milk"].added_step == 9
    assert rows["take knife may be necessary to slice carrot"].attrs["status"] == "added"
    dropped = rows["look may not contribute to take milk"]
    assert (dropped.attrs["status"], dropped.removed_step, dropped.added_step) == ("dropped", 19, 9)
    trials = [r for r in second.records if r.kind == "trial"]
    assert [r.text for r in trials] == [
        "Trial 0: score 25 (moderate), 2 learnings",
        "Trial 1: score 50 (very well), 2 learnings",
    ]

    changes = learning_changes(first, second)
    assert [(c["change"], c["learning"]) for c in changes] == [
        ("added", "take knife may be necessary to slice carrot"),
        ("strengthened", "open fridge should be necessary to take milk"),
        ("dropped", "look may not contribute to take milk"),
    ]
    assert changes[1]["before"] == "open fridge may be necessary to take milk"
    assert [c["change"] for c in learning_changes(None, first)] == ["added", "added"]
    assert [c["change"] for c in learning_changes(second, second)] == ["kept", "kept"]


def test_used_learnings_are_the_retrieved_records() -> None:
    memory = ClinMemory()
    memory.replace([Learning("a", "necessary", "may", "b"), Learning("c", "necessary", "may", "d")], 0)
    memory.use([2, 7])
    assert memory.snapshot().retrieved == [Learning("c", "necessary", "may", "d").record_id]


def test_a_learning_missing_from_the_newer_snapshot_counts_as_dropped() -> None:
    memory = ClinMemory()
    memory.replace([Learning("a", "necessary", "may", "b")], 0)
    before = memory.snapshot()
    after = ClinMemory()
    after.replace([Learning("c", "necessary", "should", "d")], 5)
    rows = learning_changes(before, after.snapshot())
    assert [(r["change"], r["learning"]) for r in rows] == [
        ("added", "c should be necessary to d"),
        ("dropped", "a may be necessary to b"),
    ]
