"""HiAgent's working memory: action-observation pairs chunked by subgoals (HiAgent §3.2-3.4).

The memory is a list of chunks (:class:`Chunk`). Chunk 0 holds what came before the first subgoal;
chunk ``i >= 1`` is subgoal ``i`` (1-based, the numbers ``retrieve(ids)`` uses) with its pairs.
A new subgoal closes the current chunk, whose summary is computed **once**, at that moment,
and cached (the released code re-summarises every finished chunk at every step). Serialised,
a closed chunk is two lines (``"{i} Subgoal: ..."`` and ``"Observation: <summary>"``) unless it
was retrieved; the current chunk keeps all its pairs. ``memory_size`` counts entries of the
released code's memory list (:class:`Item`: the opening observation, one action-observation pair per
step, one subgoal), not lines: the last ``memory_size`` entries are serialised, then the oldest entries
are dropped until the text fits a token budget. Nothing here calls an LLM: the summariser is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from lab.core.memory import refuse, unknown
from lab.core.records import MemoryEdit, MemorySnapshot, MemRecord

EntryKind = Literal["Observation", "Action"]
CHECK_VALID_ACTIONS = "check valid actions"
"""The pseudo-command that lists the admissible commands (HiAgent prompt rule 3, AgentBoard)."""
RETRIEVE = re.compile(r"retrieve\s*\(([^)]*)\)", re.IGNORECASE)


@dataclass
class Entry:
    """One line of working memory: an action or an observation."""

    kind: EntryKind
    text: str
    step: int
    """The agent step (0-based across trials) that produced it."""
    internal: bool = False
    """A pseudo-command (``retrieve``, ``check valid actions``) or its answer: no env step was played."""
    room: str | None = None
    inventory: str | None = None

    def line(self) -> str:
        """As serialised: ``Action: ...`` or ``Observation: ...``."""
        return f"{self.kind}: {self.text.strip()}"


@dataclass
class Chunk:
    """The pairs of one subgoal (or, for number 0, of the time before the first subgoal)."""

    number: int
    subgoal: str | None
    opened_step: int
    entries: list[Entry] = field(default_factory=list)
    summary: str | None = None
    """Computed once when the chunk closes; None while it is open."""
    summary_source: str = ""
    """Which summariser produced ``summary`` (``llm``, ``last_observation``, ``composite``, ``fallback``)."""
    closed_step: int | None = None
    removed_step: int | None = None
    """Set when a fork's edit removed the chunk: it leaves the prompt and cannot be retrieved."""

    @property
    def closed(self) -> bool:
        """Whether a later subgoal closed it."""
        return self.closed_step is not None

    def header(self) -> str:
        """The subgoal line: ``"3 Subgoal: open the fridge"``."""
        return f"{self.number} Subgoal: {self.subgoal}"

    def pairs(self, skip_internal: bool = False) -> list[tuple[str, str]]:
        """(action, observation) pairs in order; ``skip_internal`` leaves out pseudo-command steps."""
        out: list[tuple[str, str]] = []
        entries = self.entries
        for i, entry in enumerate(entries):
            if entry.kind != "Action" or (skip_internal and entry.internal):
                continue
            nxt = entries[i + 1] if i + 1 < len(entries) and entries[i + 1].kind == "Observation" else None
            out.append((entry.text, nxt.text if nxt else ""))
        return out

    def env_steps(self) -> int:
        """Actions in this chunk that were played in the env."""
        return sum(1 for e in self.entries if e.kind == "Action" and not e.internal)

    def last_observation(self) -> Entry | None:
        """The newest observation of the chunk, if any."""
        return next((e for e in reversed(self.entries) if e.kind == "Observation"), None)


@dataclass(frozen=True)
class Item:
    """One entry of the memory as ``memory_size`` counts it [H:cme_final.py]: a subgoal, the opening
    observation, or an action with its observation."""

    chunk: int
    """The number of the chunk it belongs to."""
    lines: tuple[str, ...]
    subgoal: bool = False
    """The subgoal line that opens chunk ``chunk``."""


Summarizer = Callable[[Chunk], tuple[str, str]]
"""Turns a closing chunk into ``(summary, source)``."""


def last_observation_summary(chunk: Chunk) -> tuple[str, str]:
    """The chunk's last observation (the release's ``summarization=False``; exact if fully observable)."""
    last = chunk.last_observation()
    return (last.text.strip() if last else "Nothing happened."), "last_observation"


def composite_summary(chunk: Chunk) -> tuple[str, str]:
    """Location + inventory + last observation: a no-LLM summary for partially observable games."""
    last = chunk.last_observation()
    if last is None:
        return "Nothing happened.", "composite"
    parts = [
        f"Location: {last.room}." if last.room else "",
        f"Inventory: {last.inventory.strip()}" if last.inventory else "",
        f"Last observation: {last.text.strip()}",
    ]
    return " ".join(p for p in parts if p), "composite"


def parse_retrieve(command: str) -> list[int] | None:
    """The subgoal ids of a ``retrieve(...)`` command, or None when it is not one.

    >>> parse_retrieve("retrieve(1, 3)"), parse_retrieve("Retrieve( 2 )"), parse_retrieve("open door")
    ([1, 3], [2], None)
    """
    match = RETRIEVE.search(command)
    if match is None:
        return None
    return [int(n) for n in re.findall(r"\d+", match.group(1))]


class WorkingMemory:
    """Subgoal-chunked working memory of one trial (HiAgent keeps nothing across trials)."""

    def __init__(self, memory_size: int = 100, trial: int = 0, expand_in_place: bool = False) -> None:
        self.memory_size = memory_size
        self.trial = trial
        self.expand_in_place = expand_in_place
        self.chunks: list[Chunk] = [Chunk(number=0, subgoal=None, opened_step=0)]
        self.expanded: set[int] = set()
        """Subgoals retrieved since the last new subgoal (reset when a subgoal opens, as released)."""
        self.retrieved_now: list[int] = []
        """Subgoals retrieved at the current step (highlighted in the lab)."""
        self.prompt_text = ""
        self.truncated_entries = 0
        """Entries (:class:`Item`) left out of the last serialisation."""

    @property
    def current(self) -> Chunk:
        """The open chunk."""
        return self.chunks[-1]

    @property
    def is_empty(self) -> bool:
        """True before the first observation."""
        return not any(c.entries for c in self.chunks)

    def add(
        self,
        kind: EntryKind,
        text: str,
        step: int,
        *,
        internal: bool = False,
        room: str | None = None,
        inventory: str | None = None,
    ) -> None:
        """Append one entry to the current chunk."""
        self.current.entries.append(Entry(kind, text, step, internal, room, inventory))

    def add_pair(
        self,
        action: str,
        observation: str,
        step: int,
        *,
        internal: bool = False,
        room: str | None = None,
        inventory: str | None = None,
    ) -> None:
        """Append an action and what came of it."""
        self.add("Action", action, step, internal=internal)
        self.add("Observation", observation, step, internal=internal, room=room, inventory=inventory)

    def open_subgoal(self, text: str, step: int, summarize: Summarizer) -> Chunk | None:
        """Start subgoal ``text``; return the chunk this closed (summarised once, now), if any.

        A subgoal emitted while the current one has played no env action yet replaces it (prompt
        rules 1 and 3: never two subgoals in a row, every subgoal has an action), so a chunk is
        never closed before it did anything; its pseudo-command pairs stay in it.
        """
        cur = self.current
        if cur.number > 0 and cur.env_steps() == 0:
            cur.subgoal = text
            return None
        closed = None
        if cur.number > 0:
            cur.summary, cur.summary_source = summarize(cur)
            cur.closed_step = step
            closed = cur
        self.chunks.append(Chunk(number=len(self.chunks), subgoal=text, opened_step=step))
        self.expanded = set()
        return closed

    def retrieve(self, ids: list[int]) -> str:
        """Re-expand finished subgoals ``ids``: their full pairs as text (the observation of ``retrieve``)."""
        blocks, unknown = [], []
        for number in ids:
            chunk = self.chunks[number] if 0 < number < len(self.chunks) else None
            if chunk is None or not chunk.closed or chunk.removed_step is not None:
                unknown.append(number)
                continue
            self.expanded.add(number)
            self.retrieved_now.append(number)
            pairs = "\n".join(f"Action: {a}\nObservation: {o.strip()}" for a, o in chunk.pairs())
            blocks.append(f"Trajectory of subgoal {number} ({chunk.subgoal}):\n{pairs or '(no actions)'}")
        if unknown:
            blocks.append(
                f"No finished subgoal with id {', '.join(map(str, unknown))}; "
                f"finished subgoals: "
                f"{', '.join(str(c.number) for c in self.chunks if c.closed and c.removed_step is None) or 'none'}."
            )
        return "\n".join(blocks)

    def items(self) -> list[Item]:
        """The memory as entries, oldest first: each subgoal, lone observation and action-observation pair."""
        out: list[Item] = []
        for chunk in self.chunks:
            if chunk.removed_step is not None:
                continue
            if chunk.number > 0:
                out.append(Item(chunk.number, (chunk.header(),), subgoal=True))
            pending: tuple[str, ...] = ()  # an action waiting for its observation
            for entry in chunk.entries:
                if entry.kind == "Action":
                    if pending:
                        out.append(Item(chunk.number, pending))
                    pending = (entry.line(),)
                else:
                    out.append(Item(chunk.number, (*pending, entry.line())))
                    pending = ()
            if pending:
                out.append(Item(chunk.number, pending))
        return out

    def collapsed(self, chunk: Chunk) -> bool:
        """Whether a chunk is shown as its summary (closed, and not expanded in place)."""
        return chunk.closed and not (self.expand_in_place and chunk.number in self.expanded)

    def render(self, items: list[Item]) -> list[str]:
        """The lines of a run of entries. A collapsed chunk whose subgoal line is among them is its header
        and summary; one whose subgoal line was cut off shows its remaining pairs verbatim (the released
        code keeps everything before the first subgoal of the window as it is)."""
        out: list[str] = []
        headed: set[int] = set()
        for item in items:
            chunk = self.chunks[item.chunk]
            if item.subgoal:
                headed.add(item.chunk)
                out.extend(item.lines)
                if self.collapsed(chunk):
                    out.append(f"Observation: {chunk.summary}")
            elif not (item.chunk in headed and self.collapsed(chunk)):
                out.extend(item.lines)
        return out

    def lines(self) -> list[str]:
        """The whole working memory as lines, oldest first, before any truncation."""
        return self.render(self.items())

    def serialize(self, budget_tokens: int | None = None, count: Callable[[str], int] = len) -> str:
        """The prompt text: the last ``memory_size`` entries, the oldest dropped to fit ``budget_tokens``.

        ``count`` measures tokens of a text; the released code drops the oldest entry and
        re-serialises while the whole prompt is over budget, which this reproduces.
        """
        items = self.items()
        kept = self.kept(items, budget_tokens, count)
        self.truncated_entries = len(items) - len(kept)
        self.prompt_text = "\n".join(self.render(kept))
        return self.prompt_text

    def kept(
        self, items: list[Item], budget_tokens: int | None = None, count: Callable[[str], int] = len
    ) -> list[Item]:
        """The last ``memory_size`` entries, the oldest dropped to fit ``budget_tokens`` (writes nothing)."""
        kept = items[-self.memory_size :] if self.memory_size > 0 else []
        if budget_tokens is not None:
            while kept and count("\n".join(self.render(kept))) > budget_tokens:
                kept = kept[1:]
        return kept

    def query(self, question: str) -> str:
        """The working memory as it would be serialised (the last ``memory_size`` entries), whatever the
        question: closed subgoals show their summaries, the current one its pairs. Nothing is written."""
        return "\n".join(self.render(self.kept(self.items())))

    EDITS = ("remove a finished subgoal's chunk; change a chunk's subgoal (text) or a finished chunk's "
             "summary (attrs summary); chunks follow the agent's own subgoals, so none can be added")

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`): a removed chunk stays in the snapshot
        marked removed at ``step``; a changed summary is what the prompt shows from then on."""
        if edit.op == "add" or set(edit.attrs) - {"summary"}:
            raise refuse("hiagent", edit, self.EDITS)
        chunk = next((c for c in self.chunks if self.record_id(c) == edit.id and c.removed_step is None), None)
        if chunk is None:
            raise unknown("hiagent", edit, [self.record_id(c) for c in self.chunks
                                            if c.removed_step is None and (c.number > 0 or c.entries)])
        finished = chunk.closed or (edit.op == "remove" and chunk is not self.current)  # chunk 0 never closes
        if (edit.op == "remove" or "summary" in edit.attrs) and not finished:
            raise refuse("hiagent", edit, self.EDITS + f" ({edit.id} is not finished)")
        if edit.op == "remove":
            chunk.removed_step = step
            return [edit.id]
        if edit.text:
            chunk.subgoal = edit.text
        if "summary" in edit.attrs:
            chunk.summary, chunk.summary_source = str(edit.attrs["summary"]), "edit"
        return [edit.id]

    def begin_step(self) -> None:
        """Clear the per-step retrieval highlight."""
        self.retrieved_now = []

    def record_id(self, chunk: Chunk) -> str:
        """The snapshot id of a chunk (trial-scoped: each trial starts a new working memory)."""
        return f"t{self.trial}-chunk-{chunk.number}"

    def _record(self, chunk: Chunk) -> MemRecord:
        if chunk.closed:
            shown = "full" if self.expand_in_place and chunk.number in self.expanded else "summary"
        else:
            shown = "full"
        attrs = {
            "trial": self.trial,
            "number": chunk.number,
            "subgoal": chunk.subgoal,
            "status": "closed" if chunk.closed else "open",
            "summary": chunk.summary,
            "summary_source": chunk.summary_source,
            "shown": shown,
            "env_steps": chunk.env_steps(),
            "pairs": [list(p) for p in chunk.pairs()],
            "closed_step": chunk.closed_step,
        }
        text = chunk.subgoal if chunk.number > 0 else "(before the first subgoal)"
        return MemRecord(
            id=self.record_id(chunk), kind="chunk", text=text or "", attrs=attrs, added_step=chunk.opened_step,
            removed_step=chunk.removed_step,
        )

    def snapshot(self) -> MemorySnapshot:
        """Chunks as rows (subgoal, status, summary, pairs) and the memory text as it entered the prompt."""
        records = [self._record(c) for c in self.chunks if c.number > 0 or c.entries]
        retrieved = [self.record_id(self.chunks[n]) for n in self.retrieved_now]
        return MemorySnapshot(records=records, prompt_text=self.prompt_text, retrieved=retrieved)
