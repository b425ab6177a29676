"""A fork's memory edits, per memory kind: each applied, seen in the snapshot and in the diff, and read by
what the memory puts into the next prompt; an unsupported edit is one line and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.arigraph.baseline_memory import PairsMemory, RagMemory, SummaryMemory
from agents.arigraph.memory import AriGraphMemory
from agents.arigraph.retrieval import HashEncoder
from agents.arigraph.triplets import Triplet
from agents.baselines.full_history import HistoryMemory
from agents.clin.memory import ClinMemory, parse_learnings
from agents.graph_schemas.memory import LatentGraphMemory, WorldModel
from agents.hiagent.memory import WorkingMemory
from agents.sat.memory import Slot, SlotMemory
from lab.core import memory as memlib
from lab.core.errors import EditError
from lab.core.protocols import EditableMemory
from lab.core.records import MemoryEdit, MemRecord

remove = lambda i: MemoryEdit(op="remove", id=i)  # noqa: E731
add = lambda text, **attrs: MemoryEdit(op="add", text=text, attrs=attrs)  # noqa: E731
change = lambda i, text="", **attrs: MemoryEdit(op="change", id=i, text=text, attrs=attrs)  # noqa: E731


def refused(memory: EditableMemory, edit: MemoryEdit, says: str) -> None:
    """The edit raises one line naming what is wrong, and the memory is as it was."""
    before = memory.snapshot()
    with pytest.raises(EditError) as err:
        memory.edit(edit, 9)
    assert "\n" not in str(err.value) and says in str(err.value), str(err.value)
    assert memory.snapshot() == before


def arigraph() -> AriGraphMemory:
    memory = AriGraphMemory(HashEncoder())
    memory.add([Triplet("kitchen", "has", "fridge"), Triplet("fridge", "contains", "milk"),
                Triplet("hall", "north of", "kitchen")], 0)
    memory.write_episode(0, "You are in the kitchen. There is a fridge.", [Triplet("kitchen", "has", "fridge")])
    return memory


def test_arigraph_edits_remove_add_and_change_triplets_vertices_and_observations() -> None:
    memory = arigraph()
    assert isinstance(memory, EditableMemory)
    before = memory.snapshot()
    assert memory.edit(remove("t1"), 3) == ["t1"]
    assert memory.edit(add("kitchen, has, stove"), 3) == ["t3"]
    assert memory.edit(change("t0", "kitchen, has, oven"), 3) == ["t0", "t4"]
    assert memory.edit(change("e:0", "You are in the kitchen."), 3) == ["e:0"]
    assert [t.text for t in memory.triplets()] == ["hall, north of, kitchen", "kitchen, has, stove",
                                                   "kitchen, has, oven"]
    diff = memlib.diff(before, memory.snapshot())
    assert {e.id for e in diff.edges_changed if e.removed_step == 3} == {"t0", "t1"}  # kept, marked removed
    assert {e.id for e in diff.edges_added} == {"t3", "t4"}
    assert [r.text for r in diff.records_changed] == ["You are in the kitchen."]
    assert "milk" not in memory.query("Where is the milk?") and "stove" in memory.query("what is in the kitchen")
    assert memory.edit(remove("v:kitchen"), 4) == ["v:kitchen", "t2", "t3", "t4"]
    assert memory.triplets() == []
    memory.edit(remove("e:0"), 4)
    assert memory.snapshot().records == []


def test_arigraph_refuses_what_it_cannot_do_in_one_line() -> None:
    memory = arigraph()
    refused(memory, remove("t99"), "holds no item 't99'")
    refused(memory, add("the fridge is cold"), "three comma-separated parts")
    refused(memory, change("t0", "not a triplet"), "three comma-separated parts")
    refused(memory, change("t0", importance=3), "supports")
    memory.edit(remove("t0"), 1)
    refused(memory, remove("t0"), "holds no item 't0'")  # already removed


def test_record_memories_edit_records_and_what_the_prompt_reads() -> None:
    pairs = PairsMemory(max_chars=10_000)
    pairs.records = [MemRecord(id=f"p{t}", kind="episodic", text=f"Observation: room {t}\nAction taken: go")
                     for t in range(3)]
    before = pairs.snapshot()
    pairs.edit(remove("p1"), 3)
    pairs.edit(change("p2", "Observation: the coin is here\nAction taken: take coin"), 3)
    assert pairs.edit(add("Observation: a locked door\nAction taken: look"), 3) == ["edit3-2"]
    text = pairs.query("")
    assert "room 1" not in text and "the coin is here" in text and text.index("locked door") < text.index("room 0")
    diff = memlib.diff(before, pairs.snapshot())
    assert diff.records_removed == ["p1"] and [r.id for r in diff.records_added] == ["edit3-2"]
    refused(pairs, change("p0", importance=9), "supports")
    refused(pairs, remove("p7"), "holds no item 'p7'")

    summary = SummaryMemory()
    summary.summary = "The coin is east."
    summary.records = [MemRecord(id="summary", kind="summary", text=summary.summary)]
    summary.edit(change("summary", "The coin is west."), 2)
    assert summary.query("").endswith("The coin is west.")
    summary.edit(remove("summary"), 2)
    assert summary.query("").endswith("Yet nothing")


def test_rag_edits_keep_entries_and_records_aligned_and_rescored() -> None:
    rag = RagMemory(HashEncoder(), top_k=1, recency_decay=0.99)
    for t, text in enumerate(["a red key on the table", "a blue door to the north", "a dusty shelf"]):
        rag.records.append(MemRecord(id=f"r{t}", kind="episodic", text=text, attrs={"importance": 5.0}))
        rag.entries.append((t, text, 5.0, rag.encoder.encode([text])[0]))
    assert "red key" in rag.query("where is the red key")
    rag.edit(remove("r0"), 3)
    assert "red key" not in rag.query("where is the red key")
    rag.edit(add("a golden key under the rug", importance=10, step=2), 3)
    assert [r.id for r in rag.records] == ["edit3-2", "r1", "r2"] and len(rag.entries) == 3
    assert rag.entries[0][:3] == (2, "a golden key under the rug", 10.0)
    assert "golden key" in rag.query("where is a key")
    rag.edit(change("r2", importance=1), 3)
    assert rag.entries[2][2] == 1.0 and rag.records[2].attrs["importance"] == 1
    refused(rag, change("r1", number=3), "supports")


def test_full_history_edits_its_entries() -> None:
    history = HistoryMemory(max_chars=10_000)
    for t in range(3):
        history.add(t, f"room {t}", "go east")
    history.edit(remove("h0"), 3)
    history.edit(change("h1", "Observation: the coin\nAction: take coin"), 3)
    assert history.text() == "Observation: the coin\nAction: take coin\nObservation: room 2\nAction: go east"
    refused(history, add(""), "supports")


def hiagent() -> WorkingMemory:
    memory = WorkingMemory()
    summarise = lambda chunk: (f"did {chunk.subgoal}", "llm")  # noqa: E731
    memory.open_subgoal("open the fridge", 0, summarise)
    memory.add_pair("open fridge", "The fridge is open.", 0)
    memory.open_subgoal("take the milk", 1, summarise)
    memory.add_pair("take milk", "Taken.", 1)
    memory.open_subgoal("go east", 2, summarise)
    return memory


def test_hiagent_edits_finished_chunks_and_their_summaries() -> None:
    memory = hiagent()
    assert "did open the fridge" in memory.query("")
    memory.edit(change("t0-chunk-1", summary="the fridge was empty"), 3)
    assert "the fridge was empty" in memory.query("") and "did open the fridge" not in memory.query("")
    memory.edit(remove("t0-chunk-2"), 3)
    assert "take the milk" not in memory.query("")
    record = next(r for r in memory.snapshot().records if r.id == "t0-chunk-2")
    assert record.removed_step == 3
    assert "No finished subgoal with id 2" in memory.retrieve([2])
    refused(memory, remove("t0-chunk-3"), "is not finished")  # the open subgoal
    refused(memory, add("a new subgoal"), "none can be added")


def test_clin_edits_learnings_and_the_list_the_actor_reads() -> None:
    memory = ClinMemory()
    memory.replace(parse_learnings("open fridge should be necessary to take milk\n"
                                   "look does not contribute to take milk"), 0)
    first, second = (r.id for r in memory.snapshot().records[:2])
    memory.edit(change(first, certainty="may"), 4)
    memory.edit(add("go east should be necessary to find the coin"), 4)
    memory.edit(remove(second), 4)
    assert memory.prompt_text.splitlines() == ["1. open fridge may be necessary to take milk",
                                               "2. go east should be necessary to find the coin"]
    status = {r.text: (r.attrs["status"], r.removed_step) for r in memory.snapshot().records}
    assert status["open fridge may be necessary to take milk"] == ("weakened", None)
    assert status["look does not contribute to take milk"] == ("dropped", 4)
    refused(memory, add("be careful with the stove"), "has none of the forms")
    refused(memory, change(first, certainty="surely"), "supports")


def test_sat_removes_a_stored_slot_and_refuses_to_write_one() -> None:
    memory = SlotMemory(capacity=4, strategy="fifo")
    for t in range(3):
        memory.write(Slot(step=t, place=t, frame=np.zeros((6, 6, 3), np.uint8), summary=f"t{t}"))
    memory.edit(remove("slot1"), 3)
    assert [s.step for s in memory.kept()] == [0, 2]
    assert next(r for r in memory.snapshot().records if r.id == "slot1").removed_step == 3
    refused(memory, add("a slot"), "holds a rendered frame")
    refused(memory, remove("slot1"), "holds no item 'slot1'")


def test_graph_schemas_rebinds_and_unbinds_clone_emissions() -> None:
    E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    T = torch.full((1, 3, 3), 1 / 3)
    model = WorldModel(actions=["forward"], vocab=["red", "blue"], E=E, T_infer=T, T_plan=T,
                       slots=["red", "blue", "red"], cells=[None] * 3, curve=[0.1], source="scratch")
    memory = LatentGraphMemory()
    memory.set_model(model, 0)
    before = memory.snapshot()
    memory.edit(change("c2", observation="blue"), 5)
    memory.edit(remove("c0"), 5)
    assert model.E.tolist() == [[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]]  # the matrix the agent localises with
    assert bool(model.targets("blue")[2]) and not model.targets("red").any()
    diff = memlib.diff(before, memory.snapshot())
    assert {n.id: (n.attrs["observation"], n.removed_step) for n in diff.nodes_changed} == {
        "c2": ("blue", None), "c0": ("red", 5)}
    refused(memory, change("c1", observation="green"), "symbols: red, blue")
    refused(memory, add("c3"), "none is added")
