"""Records validate and round-trip; generic memory diffs rebuild any snapshot."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lab.core import memory as memlib
from lab.core.records import (
    SCHEMA_VERSION, LLMCall, MemEdge, MemNode, MemorySnapshot, MemRecord, Message, ObservationRecord,
    RunConfig, Step,
)


def snap(nodes=(), edges=(), records=(), prompt="", retrieved=()) -> MemorySnapshot:
    return MemorySnapshot(
        nodes=[MemNode(id=n, kind="room", label=n) for n in nodes],
        edges=[MemEdge(id=f"{a}-{b}", source=a, target=b, kind="spatial") for a, b in edges],
        records=[MemRecord(id=r, kind="episodic", text=r.upper()) for r in records],
        prompt_text=prompt, retrieved=list(retrieved))


def test_run_config_rejects_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        RunConfig(env_id="tw-coin", agent_id="random", colour="red")
    with pytest.raises(ValidationError):
        RunConfig(env_id="tw-coin", agent_id="random", max_steps=0)
    assert RunConfig(env_id="tw-coin", agent_id="random").schema_version == SCHEMA_VERSION


def test_step_round_trips_through_json() -> None:
    step = Step(index=3, trial=1, t=2, observation=ObservationRecord(text="You see a key.", admissible=["take key"]),
                action="take key", reward=1.0, score=1.0, thoughts={"plan": ["take key", "open chest"]},
                llm_calls=[LLMCall(purpose="act", model="m", messages=[Message(role="user", content="hi")],
                                   response="take key", tokens_in=5, tokens_out=2)],
                memory_diff=memlib.diff(None, snap(nodes=["kitchen"])), memory_snapshot=snap(nodes=["kitchen"]))
    again = Step.model_validate_json(step.model_dump_json())
    assert again == step


def test_diff_lists_added_removed_changed() -> None:
    a = snap(nodes=["kitchen", "hall"], edges=[("kitchen", "hall")], records=["r1"], prompt="p1")
    b = snap(nodes=["kitchen", "garden"], edges=[("kitchen", "garden")], records=["r1", "r2"], prompt="p1",
             retrieved=["r1"])
    b.nodes[0].attrs["visited"] = True
    d = memlib.diff(a, b)
    assert [n.id for n in d.nodes_added] == ["garden"]
    assert d.nodes_removed == ["hall"]
    assert [n.id for n in d.nodes_changed] == ["kitchen"]
    assert d.edges_removed == ["kitchen-hall"] and [e.id for e in d.edges_added] == ["kitchen-garden"]
    assert [r.id for r in d.records_added] == ["r2"]
    assert d.prompt_text is None and d.retrieved == ["r1"]


def test_apply_of_diff_rebuilds_the_snapshot() -> None:
    states = [snap(), snap(nodes=["a"], prompt="x"), snap(nodes=["a", "b"], edges=[("a", "b")], records=["e1"]),
              snap(nodes=["b"], records=["e1", "e2"], prompt="y", retrieved=["e2"])]
    current = None
    for prev, nxt in zip([None, *states], states):
        current = memlib.apply(current, memlib.diff(prev, nxt))
        assert current == nxt
    assert memlib.is_empty(memlib.diff(states[-1], states[-1]))


def test_size_skips_items_marked_removed() -> None:
    s = snap(nodes=["a", "b"], records=["r"])
    s.nodes[1].removed_step = 4
    assert memlib.size(s) == {"nodes": 1, "edges": 0, "records": 1}
