"""Memory diffs between runs, matched by content, and where two runs part (``lab.memdiff``)."""

from __future__ import annotations

import pytest

from lab.benches.strong_model import ScriptedStrongModel
from lab.core.records import MemEdge, MemNode, MemorySnapshot, MemRecord, RunConfig
from lab.memdiff import compare, divergence, items, memories
from lab.runner import execute
from lab.store import RunStore


def snapshot(*, edges=(), nodes=(), records=()) -> MemorySnapshot:
    return MemorySnapshot(edges=list(edges), nodes=list(nodes), records=list(records))


def test_items_match_by_content_not_by_id_and_only_live_items_count() -> None:
    a = snapshot(nodes=[MemNode(id="v:kitchen", kind="entity", label="Kitchen"),
                        MemNode(id="v:box", kind="entity", label="box", removed_step=3)],
                 edges=[MemEdge(id="e1", source="v:key", target="v:box", kind="semantic",
                                attrs={"triplet": "key, is in, box"}),
                        MemEdge(id="e2", source="v:kitchen", target="v:hall", kind="spatial", label="north of")],
                 records=[MemRecord(id="3", kind="episodic", text="Game step #3 | You see a KEY.")])
    b = snapshot(nodes=[MemNode(id="n7", kind="place", label="kitchen")],
                 records=[MemRecord(id="r0", kind="learning", text="key, is in, box"),
                          MemRecord(id="r1", kind="episodic", text="Observation:  you see a key"),
                          MemRecord(id="r2", kind="episodic", text="you see a key")])
    diff = compare(a, b)
    assert [(x.id, y.id) for x, y in diff.both] == [("e1", "r0"), ("v:kitchen", "n7"), ("3", "r1")]
    assert [i.text for i in diff.only_a] == ["Kitchen, north of, v:hall"]  # node labels, else the id
    assert [i.id for i in diff.only_b] == ["r2"]  # matched once: the second copy is B's alone
    assert "v:box" not in {i.id for i in items(a)}  # dropped at step 3: faded, not held
    assert not diff.same and compare(b, b).same and compare(MemorySnapshot(), MemorySnapshot()).same


def test_an_item_that_changed_text_shows_on_both_sides() -> None:
    before = snapshot(records=[MemRecord(id="s", kind="summary", text="The key is in the box.")])
    after = snapshot(records=[MemRecord(id="s", kind="summary", text="The key is in the inventory.")])
    diff = compare(before, after)
    assert [i.text for i in diff.only_a] == ["The key is in the box."]
    assert [i.text for i in diff.only_b] == ["The key is in the inventory."] and not diff.both


@pytest.fixture
def runs(games_store: RunStore) -> dict[str, str]:
    """Four real runs of tw-coin level 5 with the scripted strong model (its choices are deterministic)."""
    out = {}
    for agent in ("arigraph-full-history", "reflexion", "summary", "full-history"):
        config = RunConfig(env_id="tw-coin", env_options={"level": 5}, agent_id=agent,
                           llm="openai:scripted-strong", max_steps=20, probe_every=0)
        info = execute(config, games_store, chat_model=ScriptedStrongModel())
        assert info.status == "finished" and info.summary.won, info.summary.message
        out[agent] = info.run_id
    return out


def test_runs_that_hold_the_same_history_part_only_where_one_records_its_trial(
        games_store: RunStore, runs: dict[str, str]) -> None:
    """Reflexion within its first trial is Full History with the same planner and actor; at the trial's end
    it also records the trial (which its reflections are written against)."""
    found = divergence(games_store, runs["arigraph-full-history"], runs["reflexion"])
    assert (found.actions, found.memory, found.shared) == (None, 4, 5)
    before = compare(games_store.memory_at(runs["arigraph-full-history"], 3),
                     games_store.memory_at(runs["reflexion"], 3))
    assert before.same and len(before.both) == 4
    at_end = compare(games_store.memory_at(runs["arigraph-full-history"], 4),
                     games_store.memory_at(runs["reflexion"], 4))
    assert not at_end.only_a and [i.kind for i in at_end.only_b] == ["trial"] and len(at_end.both) == 5
    last = list(memories(games_store.steps(runs["reflexion"])))[-1]
    rebuilt = compare(last, games_store.memory_at(runs["reflexion"], 4))  # the one-pass walk, the store's rebuild
    assert rebuilt.same and len(rebuilt.both) == len(items(last)) == 6


def test_memories_that_differ_in_kind_diverge_at_the_first_step_while_actions_agree(
        games_store: RunStore, runs: dict[str, str]) -> None:
    found = divergence(games_store, runs["arigraph-full-history"], runs["summary"])
    assert found.actions is None and found.memory == 0 and found.shared == 5
    diff = compare(games_store.memory_at(runs["arigraph-full-history"], 0),
                   games_store.memory_at(runs["summary"], 0))
    assert len(diff.both) == 1 and not diff.only_a  # the first observation, under different prefixes
    assert [i.kind for i in diff.only_b] == ["summary"] and "Rooms visited: bedchamber" in diff.only_b[0].text
