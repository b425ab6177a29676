"""HiAgent's working memory: chunking by subgoal, summaries once, retrieval, serialisation, budgets."""

from __future__ import annotations

from agents.hiagent.config import HiAgentConfig
from agents.hiagent.memory import (
    Chunk,
    WorkingMemory,
    composite_summary,
    last_observation_summary,
    parse_retrieve,
)
from lab.core.llm.client import estimate_tokens


class CountingSummarizer:
    """Summarises a chunk as 'summary of <subgoal>' and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, chunk: Chunk) -> tuple[str, str]:
        self.calls.append(chunk.number)
        return f"summary of {chunk.subgoal}", "test"


def cooking_memory(summarize: CountingSummarizer) -> WorkingMemory:
    """Start observation, one pair before any subgoal, then subgoals 1 and 2 (2 open)."""
    memory = WorkingMemory(memory_size=100)
    memory.add("Observation", "You are in a kitchen.", 0)
    memory.add_pair("look", "A kitchen with a fridge.", 0)
    memory.open_subgoal("Get the milk.", 1, summarize)
    memory.add_pair("open fridge", "You open the fridge.", 1)
    memory.add_pair("take milk from fridge", "Taken. Your score has just gone up by one point.", 2)
    memory.open_subgoal("Cook the meal.", 3, summarize)
    memory.add_pair("prepare meal", "Adding the meal to your inventory.", 3)
    return memory


def test_a_new_subgoal_closes_the_previous_chunk_and_serialises_it_as_its_summary() -> None:
    summarize = CountingSummarizer()
    memory = cooking_memory(summarize)
    assert [c.number for c in memory.chunks] == [0, 1, 2]
    assert memory.chunks[1].closed and not memory.chunks[2].closed
    assert memory.serialize() == "\n".join(
        [
            "Observation: You are in a kitchen.",
            "Action: look",
            "Observation: A kitchen with a fridge.",
            "1 Subgoal: Get the milk.",
            "Observation: summary of Get the milk.",
            "2 Subgoal: Cook the meal.",
            "Action: prepare meal",
            "Observation: Adding the meal to your inventory.",
        ]
    )


def test_a_closed_chunk_is_summarised_once_however_often_the_prompt_is_built() -> None:
    summarize = CountingSummarizer()
    memory = cooking_memory(summarize)
    for _ in range(5):
        memory.serialize()
    memory.open_subgoal("Eat the meal.", 4, summarize)
    for _ in range(5):
        memory.serialize()
    assert summarize.calls == [1, 2]
    assert memory.chunks[1].summary == "summary of Get the milk."


def test_a_subgoal_before_any_env_action_replaces_the_current_one() -> None:
    summarize = CountingSummarizer()
    memory = WorkingMemory()
    memory.add("Observation", "start", 0)
    memory.open_subgoal("first try", 0, summarize)
    memory.add_pair("check valid actions", "Valid actions: look", 0, internal=True)
    memory.open_subgoal("second try", 0, summarize)
    assert [c.subgoal for c in memory.chunks] == [None, "second try"]
    assert summarize.calls == [] and memory.current.pairs() == [
        ("check valid actions", "Valid actions: look")
    ]


def test_retrieve_returns_the_full_pairs_and_marks_the_chunk() -> None:
    memory = cooking_memory(CountingSummarizer())
    text = memory.retrieve([1])
    assert text == (
        "Trajectory of subgoal 1 (Get the milk.):\nAction: open fridge\nObservation: You open the "
        "fridge.\nAction: take milk from fridge\nObservation: Taken. Your score has just gone up by "
        "one point."
    )
    assert memory.snapshot().retrieved == ["t0-chunk-1"]
    assert "open fridge" not in memory.serialize()  # not printed twice by default
    assert "No finished subgoal with id 2, 7; finished subgoals: 1." == memory.retrieve([2, 7])
    memory.begin_step()
    assert memory.snapshot().retrieved == []


def test_expand_in_place_prints_retrieved_chunks_in_full_until_the_next_subgoal() -> None:
    summarize = CountingSummarizer()
    memory = cooking_memory(summarize)
    memory.expand_in_place = True
    memory.retrieve([1])
    assert (
        "1 Subgoal: Get the milk.\nAction: open fridge\nObservation: You open the fridge."
        in memory.serialize()
    )
    memory.open_subgoal("Eat.", 4, summarize)
    assert "Action: open fridge" not in memory.serialize()


def test_memory_size_counts_entries_a_pair_or_a_subgoal_each() -> None:
    """The released code keeps the last ``memory_size`` memory entries: the opening observation, one
    action-observation pair per step, one entry per subgoal. Lines are not the unit."""
    memory = cooking_memory(CountingSummarizer())  # 7 entries: obs, pair, subgoal 1, 2 pairs, subgoal 2, pair
    memory.memory_size = 4  # subgoal 1's line falls out: its remaining pairs show verbatim, as released
    assert memory.serialize().splitlines() == [
        "Action: open fridge",
        "Observation: You open the fridge.",
        "Action: take milk from fridge",
        "Observation: Taken. Your score has just gone up by one point.",
        "2 Subgoal: Cook the meal.",
        "Action: prepare meal",
        "Observation: Adding the meal to your inventory.",
    ]
    assert memory.truncated_entries == 3
    memory.memory_size = 5
    assert memory.serialize().splitlines()[:3] == [
        "1 Subgoal: Get the milk.",
        "Observation: summary of Get the milk.",
        "2 Subgoal: Cook the meal.",
    ]
    memory.memory_size = 7
    assert memory.serialize() == "\n".join(memory.lines()) and memory.truncated_entries == 0


def test_the_default_memory_size_keeps_100_entries() -> None:
    assert HiAgentConfig().memory_size == 100
    memory = WorkingMemory()
    memory.add("Observation", "You are in a kitchen.", 0)
    for i in range(120):
        memory.add_pair(f"look {i}", f"Nothing new {i}.", i)
    lines = memory.serialize().splitlines()
    assert len(lines) == 200 and lines[:2] == ["Action: look 20", "Observation: Nothing new 20."]
    assert memory.truncated_entries == 21


def test_the_token_budget_drops_whole_entries_oldest_first() -> None:
    memory = cooking_memory(CountingSummarizer())
    full = memory.lines()
    budget = estimate_tokens("\n".join(full[-4:]))  # 4 lines fit, but the 4th is half of a pair
    kept = memory.serialize(budget, estimate_tokens).splitlines()
    assert kept == full[-3:] and kept[0] == "2 Subgoal: Cook the meal."
    assert estimate_tokens("\n".join(kept)) <= budget and memory.truncated_entries == 5


def test_no_llm_summaries() -> None:
    chunk = Chunk(number=1, subgoal="Get the milk.", opened_step=0)
    assert last_observation_summary(chunk) == ("Nothing happened.", "last_observation")
    memory = WorkingMemory()
    memory.chunks.append(chunk)
    memory.add_pair("take milk", "Taken.", 1, room="Kitchen", inventory="You carry: milk.")
    assert last_observation_summary(chunk) == ("Taken.", "last_observation")
    assert composite_summary(chunk) == (
        "Location: Kitchen. Inventory: You carry: milk. Last observation: Taken.",
        "composite",
    )


def test_snapshot_rows_and_prompt_text() -> None:
    memory = cooking_memory(CountingSummarizer())
    text = memory.serialize()
    snap = memory.snapshot()
    assert snap.prompt_text == text
    rows = {r.id: r for r in snap.records}
    assert list(rows) == ["t0-chunk-0", "t0-chunk-1", "t0-chunk-2"]
    closed, current = rows["t0-chunk-1"].attrs, rows["t0-chunk-2"].attrs
    assert (closed["status"], closed["summary"], closed["shown"], closed["env_steps"]) == (
        "closed",
        "summary of Get the milk.",
        "summary",
        2,
    )
    assert closed["pairs"][0] == ["open fridge", "You open the fridge."]
    assert (current["status"], current["summary"], current["pairs"]) == (
        "open",
        None,
        [["prepare meal", "Adding the meal to your inventory."]],
    )
    assert rows["t0-chunk-1"].added_step == 1


def test_parse_retrieve() -> None:
    assert parse_retrieve("retrieve(3)") == [3]
    assert parse_retrieve("Action: retrieve(1,2, 4)") == [1, 2, 4]
    assert parse_retrieve("retrieve()") == []
    assert parse_retrieve("take retriever") is None
