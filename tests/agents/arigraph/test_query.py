"""The memories' side-effect-free ``query``: AriGraph and RAG retrieve with the question, the others return
their text; nothing is written and nothing new is embedded by the graph."""

from __future__ import annotations

import torch
from tests.agents.arigraph.arigraph_helpers import WordEncoder

from agents.arigraph.baseline_memory import PairsMemory, RagMemory, SummaryMemory
from agents.arigraph.memory import AriGraphMemory
from agents.arigraph.triplets import Triplet
from lab.core.protocols import QueryableMemory
from lab.core.records import MemRecord

WORDS = "key box table kitchen hall lamp is in on inventory closed open north of where the red apple fridge"
WORDS = WORDS.split()


def test_the_graph_answers_a_question_from_the_vertices_it_names() -> None:
    memory = AriGraphMemory(WordEncoder(WORDS), threshold=0.4, topk_episodic=1)
    memory.add([Triplet("key", "is in", "box"), Triplet("box", "is on", "table"),
                Triplet("lamp", "is in", "hall")], step=0)
    memory.write_episode(0, "You see a box on a table. The key is in the box.",
                         [Triplet("key", "is in", "box"), Triplet("box", "is on", "table")])
    memory.mark(["lamp, is in, hall"], [], "the prompt of step 0")
    before, embedded = memory.snapshot(), len(memory.encoder.calls)
    text = memory.query("Where is the key?")
    assert text.startswith("Information from the memory module that can be relevant to the current situation")
    assert "key, is in, box; box, is on, table" in text and "lamp" not in text  # depth 2 from "key"
    assert "Your 1 most relevant episodic memories from the past: You see a box" in text
    assert memory.query("Where is the red apple?").count("(nothing relevant)") == 1  # no known vertex named
    assert memory.snapshot() == before and len(memory.encoder.calls) == embedded
    assert isinstance(memory, QueryableMemory)


def test_rag_retrieves_with_the_question_and_the_others_return_their_text() -> None:
    rag = RagMemory(WordEncoder(WORDS), top_k=1, recency_decay=1.0)  # no recency: the relevance decides
    encoder = rag.encoder
    for step, text in enumerate(["The red apple is in the fridge.", "You open the box.", "The lamp is on."]):
        rag.entries.append((step, text, 5.0, encoder.encode([text])[0]))
        rag.records.append(MemRecord(id=f"r{step}", kind="episodic", text=text, added_step=step))
    before = rag.snapshot()
    assert rag.query("Where is the red apple?") == (
        "Relevant observations and actions from the past: The red apple is in the fridge.")
    assert rag.snapshot() == before and len(rag.entries) == 3
    pairs = PairsMemory(max_chars=60)
    for step in range(3):
        pairs.records.append(MemRecord(id=f"p{step}", kind="episodic", text=f"Observation: room {step}",
                                       added_step=step))
    pairs.records.insert(0, MemRecord(id="reflection-0", kind="reflection", text="Take the key.",
                                      attrs={"trial": 0}))
    assert pairs.query("anything") == (
        "Your reflections on earlier attempts at this game: Trial 1: Take the key.\n\n"
        "History of all observations and actions: "
        "Observation: room 0\nObservation: room 1\nObservation: room 2")
    summary = SummaryMemory()
    assert summary.query("Where is the key?") == "Your summary of the current situation: Yet nothing"
    assert all(isinstance(m, QueryableMemory) for m in (rag, pairs, summary))
    assert torch.is_tensor(rag.entries[0][3])
