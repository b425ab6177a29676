"""The memories of the paper's baselines [AP §4]: lists of records, each with its own ``query``.

* :class:`PairsMemory` (``arigraph-full-history``, ``reflexion``): the observation/action pairs of the trial,
  and Reflexion's reflections that cross trials;
* :class:`SummaryMemory` (``summary``): the LLM-written summary;
* :class:`RagMemory` (``rag``): the pairs with their importance and embedding, scored by Generative Agents'
  recency + importance + relevance [A:pipeline_smartrag.py].

``query(question)`` gives the memory's prompt text for a question (the lab's probes): the retrieval of
``rag`` scores with the question as the query; the others return their usual text. Nothing here calls an
LLM, and a query writes nothing.
"""

from __future__ import annotations

import torch

from agents.arigraph.retrieval import Encoder
from lab.core.memory import edit_records
from lab.core.records import MemoryEdit, MemorySnapshot, MemRecord

DEFAULT_IMPORTANCE = 5.0
"""RAG's importance when none is rated: ``importance="constant"``, or a reply that names no number (the
middle of the 1-10 scale, so such a step is neither favoured nor buried)."""
HISTORY_TITLE = "History of all observations and actions"
REFLECTIONS_TITLE = "Your reflections on earlier attempts at this game"
SUMMARY_TITLE = "Your summary of the current situation"
RAG_TITLE = "Relevant observations and actions from the past"


class RecordMemory:
    """A memory of records (pairs, summaries, retrieved entries) with the prompt text of the last step."""

    def __init__(self) -> None:
        self.records: list[MemRecord] = []
        self.retrieved: list[str] = []
        self.prompt_text = ""

    def clear(self) -> None:
        """Forget everything."""
        self.records, self.retrieved, self.prompt_text = [], [], ""

    def snapshot(self) -> MemorySnapshot:
        """Records, the retrieved ones highlighted."""
        return MemorySnapshot(
            records=list(self.records), prompt_text=self.prompt_text, retrieved=list(self.retrieved)
        )

    EDITS = ("remove a record; change a record's text; add a record (an observation/action pair, entered "
             "as the oldest, so the window of the last steps stays as it was)")
    EDIT_ATTRS: tuple[str, ...] = ()
    """Attributes a ``change`` may set."""

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`); removed records are gone from later
        snapshots."""
        name = type(self).__name__.removesuffix("Memory").lower()
        index, record = edit_records(name, self.records, edit, step, self.EDITS, self.EDIT_ATTRS)
        if edit.op == "remove":
            self.retrieved = [i for i in self.retrieved if i != record.id]
        {"add": self.added, "remove": self.removed, "change": self.changed}[edit.op](index, record)
        return [self.records[index].id if edit.op == "add" else record.id]

    def added(self, index: int, record: MemRecord) -> None:
        """Hook: an edit added ``record`` at ``records[index]``."""

    def removed(self, index: int, record: MemRecord) -> None:
        """Hook: an edit removed ``record`` from ``records[index]``."""

    def changed(self, index: int, record: MemRecord) -> None:
        """Hook: an edit changed ``records[index]`` to ``record``."""

    def pairs(self) -> list[str]:
        """The texts of the observation/action pairs, oldest first."""
        return [r.text for r in self.records if r.kind == "episodic"]

    def query(self, question: str) -> str:
        """The pairs, whatever the question (subclasses give their own text)."""
        return "\n".join(self.pairs())


def newest_within(texts: list[str], max_chars: int) -> list[str]:
    """The newest texts whose total size (plus a newline each) fits ``max_chars``, oldest first.

    >>> newest_within(["aaaa", "bb", "cc"], 6)
    ['bb', 'cc']
    """
    kept, used = [], 0
    for text in reversed(texts):
        used += len(text) + 1
        if used > max_chars:
            break
        kept.append(text)
    return kept[::-1]


class PairsMemory(RecordMemory):
    """Full History's memory: the pairs within ``max_chars`` (and Reflexion's reflections, when kept)."""

    def __init__(self, max_chars: int) -> None:
        super().__init__()
        self.max_chars = max_chars

    def history(self) -> str:
        """The newest pairs that fit the budget, oldest first."""
        return "\n".join(newest_within(self.pairs(), self.max_chars))

    def query(self, question: str) -> str:
        """The reflections (if any) and the history sections, whatever the question."""
        reflections = [r for r in self.records if r.kind == "reflection"]
        sections = []
        if reflections:
            body = "\n".join(f"Trial {r.attrs['trial'] + 1}: {r.text}" for r in reflections)
            sections.append(f"{REFLECTIONS_TITLE}: {body}")
        sections.append(f"{HISTORY_TITLE}: {self.history() or '(none yet)'}")
        return "\n\n".join(sections)


class SummaryMemory(RecordMemory):
    """Summary's memory: the pairs (records only) and the summary the LLM rewrites every step."""

    def __init__(self) -> None:
        super().__init__()
        self.summary = "Yet nothing"
        """The reference starts from "Yet nothing"."""

    def clear(self) -> None:
        """Forget everything, the summary included."""
        super().clear()
        self.summary = "Yet nothing"

    EDITS = ("remove a record (the summary starts again from 'Yet nothing'); change a record's text (the "
             "summary's too); add an observation/action pair")

    def removed(self, index: int, record: MemRecord) -> None:
        if record.kind == "summary":
            self.summary = "Yet nothing"

    def changed(self, index: int, record: MemRecord) -> None:
        if record.kind == "summary":
            self.summary = record.text

    def query(self, question: str) -> str:
        """The summary, whatever the question."""
        return f"{SUMMARY_TITLE}: {self.summary}"


class RagMemory(RecordMemory):
    """RAG's memory: every pair with its step, importance and embedding; scored by recency + importance +
    relevance, each min-max normalised [A:pipeline_smartrag.py]."""

    def __init__(self, encoder: Encoder, top_k: int, recency_decay: float) -> None:
        super().__init__()
        self.encoder, self.top_k, self.recency_decay = encoder, top_k, recency_decay
        self.entries: list[tuple[int, str, float, torch.Tensor]] = []
        """(step, text, importance, embedding of the observation and plan)."""

    def clear(self) -> None:
        """Forget everything."""
        super().clear()
        self.entries = []

    EDITS = ("remove an entry; change an entry's text (re-embedded) or its importance; add an entry (text, "
             "with importance and step if given: entered as the oldest, so the window of the last steps "
             "stays as it was)")
    EDIT_ATTRS = ("importance", "step")

    def added(self, index: int, record: MemRecord) -> None:
        """The entry goes where its record went (entries and records stay aligned, one per pair)."""
        step = int(record.attrs.get("step", record.added_step or 0))
        importance = float(record.attrs.get("importance", DEFAULT_IMPORTANCE))
        self.records[index] = record.model_copy(update={"attrs": {"importance": importance, "step": step}})
        self.entries.insert(index, (step, record.text, importance, self.encoder.encode([record.text])[0]))

    def removed(self, index: int, record: MemRecord) -> None:
        del self.entries[index]

    def changed(self, index: int, record: MemRecord) -> None:
        step, text, importance, vector = self.entries[index]
        if record.text != text:
            vector = self.encoder.encode([record.text])[0]
        self.entries[index] = (step, record.text, float(record.attrs.get("importance", importance)), vector)

    def scores(self, query: torch.Tensor, now: int) -> list[float]:
        """min-max(recency) + min-max(importance) + min-max(relevance) of every entry for a query vector."""
        if not self.entries:
            return []
        recency = torch.tensor([self.recency_decay ** (now - step) for step, *_ in self.entries])
        importance = torch.tensor([imp for _, _, imp, _ in self.entries])
        relevance = torch.stack([vec for *_, vec in self.entries]) @ query  # (E,)
        return (minmax(recency) + minmax(importance) + minmax(relevance)).tolist()

    def top(self, scores: list[float], skip_last: int = 0) -> list[int]:
        """Indices of the best ``top_k`` entries (ties: newer first), leaving out the last ``skip_last``,
        in step order."""
        recent = len(self.entries) - skip_last
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], -i))
        return sorted([i for i in order if i < recent][: self.top_k])

    def body(self, indices: list[int]) -> str:
        """The retrieved entries as they enter the prompt."""
        return "\n---\n".join(self.entries[i][1] for i in indices) or "(nothing yet)"

    def query(self, question: str) -> str:
        """The ``top_k`` entries for the question as the query (relevance = cosine with the question), scored
        as at the next step; the recent steps are not left out, since a question comes with no history."""
        if not self.entries:
            return f"{RAG_TITLE}: (nothing yet)"
        vector = self.encoder.encode([question])[0]
        return f"{RAG_TITLE}: {self.body(self.top(self.scores(vector, self.entries[-1][0] + 1)))}"


def minmax(values: torch.Tensor) -> torch.Tensor:
    """(x - min) / (max - min + 1e-9), as the reference."""
    return (values - values.min()) / (values.max() - values.min() + 1e-9)


def amend_pair(record: MemRecord, command: str) -> MemRecord:
    """A pair record whose action is replaced (a forced policy played another command than the chosen one)."""
    head, sep, _ = record.text.rpartition("\nAction taken: ")
    text = f"{head}{sep}{command}" if sep else record.text
    return record.model_copy(update={"text": text})
