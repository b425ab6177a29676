"""The SAT episodic memory: capacity-L slots with place and time, write strategies, read layouts, AMA.

Pure data structures plus the Adaptive Memory Allocator's bandit; no training and no env needed.

Write strategies (spec §5, reference ``ballet_dataset/ballet_environment_v2.py``), applied when a write
finds the memory full:

- ``fifo``: evict the oldest slot (keeps the last L steps);
- ``lifo``: reject the incoming slot (keeps the first L steps);
- ``mvfo``: evict the oldest slot of the place with the most stored slots (reference ``smfu``);
- ``lvfo``: evict the oldest slot of the place with the fewest stored slots, among places present
  (reference ``slfu``);
- ``pm`` (SAT-PM, place memory): each place holds at most ceil(L / places) slots, FIFO inside a place;
  when the whole memory is full the oldest slot of the most-stored place goes (the MVFO rule).

Ties between places go to the place whose oldest slot is oldest.

``SlotMemory.current_belief()`` (:class:`lab.core.protocols.BeliefMemory`) lists the answers the agent gave
this episode; the lab scores them against the env's true answers (``probe/<family>/answer``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.sat.config import STRATEGIES
from lab.core.protocols import Answer, Belief
from lab.core.memory import refuse, unknown
from lab.core.records import MemEdge, MemNode, MemoryEdit, MemorySnapshot, MemRecord

REJECT = -1
TIES = ("oldest", "lowest-place")
"""MVFO / LVFO / PM eviction among places with equally many slots: ``oldest`` evicts the oldest slot of any
of them (this lab's default); ``lowest-place`` that of the lowest place index, as the release does."""
""":func:`victim` result: drop the incoming slot (LIFO)."""


def victim(
    places: Sequence[int], new_place: int, strategy: str, capacity: int, n_places: int = 9, ties: str = "oldest"
) -> int | None:
    """The stored slot (index into ``places``, oldest first) a write evicts; None: none; REJECT: the new.
    ``ties``: see :data:`TIES`."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown write strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    full = len(places) >= capacity
    if strategy == "pm":
        mine = [i for i, p in enumerate(places) if p == new_place]
        if len(mine) >= math.ceil(capacity / n_places):
            return mine[0]
        return _by_count(places, max, ties) if full else None
    if not full:
        return None
    if strategy == "fifo":
        return 0
    if strategy == "lifo":
        return REJECT
    return _by_count(places, max if strategy == "mvfo" else min, ties)  # mvfo / lvfo


def _by_count(places: Sequence[int], pick, ties: str = "oldest") -> int:
    """Oldest slot of the place with the most (``max``) or fewest (``min``) slots; among tied places the
    oldest slot of any (``oldest``) or the oldest of the lowest place index (``lowest-place``)."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, p in enumerate(places):
        counts[p] = counts.get(p, 0) + 1
        first.setdefault(p, i)
    best = pick(counts.values())
    tied = [p for p, c in counts.items() if c == best]
    if ties == "lowest-place":
        return first[min(tied)]
    if ties != "oldest":
        raise ValueError(f"unknown tie rule {ties!r}; valid: {', '.join(TIES)}")
    return min(first[p] for p in tied)


def keep_indices(
    places: Sequence[int], capacity: int, strategy: str, n_places: int = 9, ties: str = "oldest"
) -> np.ndarray:
    """Steps still stored after writing every step of ``places`` in order (sorted by time)."""
    kept: list[int] = []
    stored: list[int] = []
    for t, place in enumerate(places):
        out = victim(stored, int(place), strategy, capacity, n_places, ties)
        if out == REJECT:
            continue
        if out is not None:
            del kept[out], stored[out]
        kept.append(t)
        stored.append(int(place))
    return np.asarray(kept, dtype=np.int64)


def flat_layout(times: np.ndarray) -> np.ndarray:
    """(n, 1): one chunk per slot, time order."""
    return np.asarray(times, dtype=np.int64).reshape(-1, 1)


def time_layout(times: np.ndarray, chunk: int) -> np.ndarray:
    """(n_chunks, chunk): consecutive slots in time order, left-padded with -1 (reference HCAMAttention)."""
    times = np.asarray(times, dtype=np.int64)
    pad = (-len(times)) % chunk
    return np.concatenate([np.full(pad, -1, dtype=np.int64), times]).reshape(-1, chunk)


def place_layout(times: np.ndarray, places: np.ndarray, chunk: int) -> np.ndarray:
    """(n_chunks, chunk): slots sorted by (place, time), each place padded at its end to a chunk multiple."""
    times, places = np.asarray(times, dtype=np.int64), np.asarray(places, dtype=np.int64)
    rows = []
    for place in np.unique(places):
        group = times[places == place]
        rows.append(np.concatenate([group, np.full((-len(group)) % chunk, -1, dtype=np.int64)]))
    return np.concatenate(rows).reshape(-1, chunk) if rows else np.zeros((0, chunk), dtype=np.int64)


def layout(kind: str, times: np.ndarray, places: np.ndarray, chunk: int) -> np.ndarray:
    """The read layout of the kept slots: ``flat``, ``time`` or ``place`` chunks."""
    if kind == "flat":
        return flat_layout(times)
    return time_layout(times, chunk) if kind == "time" else place_layout(times, places, chunk)


@dataclass
class Slot:
    """One memory slot: a step's observation with its place and time."""

    step: int
    place: int
    frame: np.ndarray
    """(F, F, 3) room-frame codes (see :func:`agents.sat.features.room_frames`)."""
    summary: str
    decision: str = ""
    removed_step: int | None = None


@dataclass
class SlotMemory:
    """A capacity-L episodic memory with one write strategy; evicted slots stay listed for the lab's view."""

    capacity: int
    strategy: str
    kind: str = "flat"
    chunk: int = 1
    n_places: int = 9
    slots: list[Slot] = field(default_factory=list)
    """Every slot ever written, evicted ones included (``removed_step`` set)."""
    attention: dict[str, object] = field(default_factory=dict)
    """The last read: per-slot and per-chunk attention, selected chunks, the query."""
    edges: set[tuple[int, int]] = field(default_factory=set)
    """Room adjacencies seen while exploring (consecutive steps in two rooms)."""
    answers: list[Answer] = field(default_factory=list)
    """The questions answered from this memory so far, in order (the agent adds them)."""

    def current_belief(self) -> Belief:
        """The answers given so far (no latent state, no plan); reads only."""
        return Belief(answers=tuple(self.answers))

    def kept(self) -> list[Slot]:
        """Stored slots, time order."""
        return [s for s in self.slots if s.removed_step is None]

    def write(self, slot: Slot) -> str:
        """Store ``slot`` under the strategy; return (and keep on the slot) the allocator's decision."""
        kept = self.kept()
        if kept and kept[-1].place != slot.place:
            self.edges.add((min(kept[-1].place, slot.place), max(kept[-1].place, slot.place)))
        out = victim([s.place for s in kept], slot.place, self.strategy, self.capacity, self.n_places)
        if out == REJECT:
            slot.decision, slot.removed_step = f"{self.strategy}: full, rejected", slot.step
        elif out is not None:
            kept[out].removed_step = slot.step
            slot.decision = f"{self.strategy}: evicted t={kept[out].step} (room {kept[out].place})"
        else:
            slot.decision = f"{self.strategy}: stored"
        self.slots.append(slot)
        return slot.decision

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`): remove a stored slot (evicted at
        ``step``, as the allocator evicts). Slots hold rendered frames, so none can be added or rewritten."""
        supported = "remove a stored slot (slot<step>); a slot holds a rendered frame, so none is added or changed"
        if edit.op != "remove":
            raise refuse("sat", edit, supported)
        slot = next((s for s in self.kept() if f"slot{s.step}" == edit.id), None)
        if slot is None:
            raise unknown("sat", edit, [f"slot{s.step}" for s in self.kept()])
        slot.removed_step, slot.decision = step, f"{slot.decision}; removed by an edit at step {step}"
        return [edit.id]

    def read_layout(self) -> np.ndarray:
        """(n_chunks, chunk) indices into :meth:`kept` (-1 = padding) in the variant's read layout."""
        kept = self.kept()
        order = layout(self.kind, np.arange(len(kept)), np.array([s.place for s in kept]), self.chunk)
        return order

    def snapshot(self) -> MemorySnapshot:
        """Rooms (nodes), seen adjacencies (spatial edges), slots and chunks (records) with the last read."""
        att = self.attention
        slot_att: dict[int, float] = att.get("slots", {})  # type: ignore[assignment]
        records = [
            MemRecord(
                id=f"slot{s.step}",
                kind="slot",
                text=s.summary,
                added_step=s.step,
                removed_step=s.removed_step,
                attrs={
                    "place": s.place,
                    "time": s.step,
                    "kept": s.removed_step is None,
                    "decision": s.decision,
                    "chunk": att.get("chunk_of", {}).get(s.step),  # type: ignore
                    "attention": slot_att.get(s.step),
                    "thumb": s.frame[..., 0].tolist(),
                },
            )
            for s in self.slots
        ]
        for c, info in enumerate(att.get("chunks", [])):  # type: ignore[arg-type]
            records.append(MemRecord(id=f"chunk{c}", kind="chunk", text=info["label"], attrs=info))
        rooms = sorted({s.place for s in self.slots})
        nodes = [
            MemNode(
                id=f"room{r}",
                kind="room",
                label=f"room {r}",
                attrs={"slots": sum(s.place == r and s.removed_step is None for s in self.slots)},
            )
            for r in rooms
        ]
        edges = [
            MemEdge(id=f"room{a}-room{b}", source=f"room{a}", target=f"room{b}", kind="spatial")
            for a, b in sorted(self.edges)
        ]
        return MemorySnapshot(
            nodes=nodes,
            edges=edges,
            records=records,
            retrieved=list(att.get("retrieved", [])),
            prompt_text=str(att.get("query", "")),
        )


class AMABandit:
    """The Adaptive Memory Allocator (spec §5): a one-step bandit Q(task, strategy) with reward -CE.

    ``qnet`` maps a one-hot task (query family) to one value per strategy; the action is chosen
    epsilon-greedily while training and greedily at evaluation. Its loss is the mean squared error
    between the (detached) reward and Q of the chosen strategy; no bootstrapping, no target net.
    """

    def __init__(self, qnet: torch.nn.Module, strategies: Sequence[str], n_tasks: int) -> None:
        self.qnet, self.strategies, self.n_tasks = qnet, tuple(strategies), n_tasks

    def values(self, tasks: torch.Tensor) -> torch.Tensor:
        """(B, n_strategies) Q values for task ids (B,)."""
        return self.qnet(torch.nn.functional.one_hot(tasks, self.n_tasks).float())

    def choose(self, tasks: torch.Tensor, eps: float, rng: np.random.Generator) -> np.ndarray:
        """Strategy indices (B,): random with probability ``eps``, else argmax Q."""
        with torch.no_grad():
            greedy = self.values(tasks).argmax(-1).numpy()
        explore = rng.random(len(greedy)) < eps
        return np.where(explore, rng.integers(len(self.strategies), size=len(greedy)), greedy)

    def loss(self, tasks: torch.Tensor, chosen: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        """Mean (reward - Q(task, chosen))^2; ``reward`` (B,) is detached here."""
        q = self.values(tasks).gather(1, chosen.view(-1, 1)).squeeze(1)
        return ((reward.detach() - q) ** 2).mean()

    def greedy(self) -> dict[int, str]:
        """The greedy strategy per task id."""
        with torch.no_grad():
            best = self.values(torch.arange(self.n_tasks)).argmax(-1).tolist()
        return {task: self.strategies[i] for task, i in enumerate(best)}


def epsilon(step: int, total: int, start: float, end: float, fraction: float) -> float:
    """Linear anneal from ``start`` to ``end`` over the first ``fraction`` of ``total`` steps."""
    span = max(1, int(total * fraction))
    return end + (start - end) * max(0.0, 1.0 - step / span)
