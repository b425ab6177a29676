"""Memory diffs between runs: what one run's memory holds and another's does not, matched by content.

Ids are an agent's own business (``v:kitchen``, ``e17``, a step number), so two runs, above all two
agents, are compared by the normalised content of their items: a fact's triplet text, a node's label,
a record's text. :func:`compare` diffs two snapshots; :func:`divergence` walks two runs step by step and
finds the first step where their actions differ and the first where their memories do.

Only live items count: an item the memory has dropped (``removed_step`` set, shown faded) is not held.

>>> from lab.core.records import MemEdge, MemorySnapshot, MemRecord
>>> a = MemorySnapshot(edges=[MemEdge(id="e1", source="v:key", target="v:box", kind="semantic",
...                                   attrs={"triplet": "key, is in, box"})],
...                    records=[MemRecord(id="1", kind="episodic", text="Game step #1 | -= Hall =-")])
>>> b = MemorySnapshot(records=[MemRecord(id="s0", kind="episodic", text="Observation: -= Hall =-"),
...                             MemRecord(id="s1", kind="episodic", text="key, is in, box")])
>>> diff = compare(a, b)
>>> [i.text for i in diff.only_a], [i.text for i in diff.only_b], [(x.id, y.id) for x, y in diff.both]
([], [], [('e1', 's1'), ('1', 's0')])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lab.core import memory as memlib
from lab.core.records import MemEdge, MemorySnapshot, Step
from lab.store import RunStore

MARKERS = re.compile(r"^(?:observation:\s*)?(?:game step #\d+\s*\|?\s*)?", re.IGNORECASE)
"""Prefixes that differ between agents storing the same observation (AriGraph's ``Game step #N |``, the
baselines' ``Observation:``)."""


def normalise(text: str) -> str:
    """Lower case, single spaces, no step or ``Observation:`` prefix, no trailing full stop.

    >>> normalise("Observation: Game step #3 | You  see a KEY.")
    'you see a key'
    """
    text = " ".join(text.replace("|", " ").split()).lower()
    return MARKERS.sub("", text).strip().rstrip(".").strip()


@dataclass(frozen=True)
class Item:
    """One memory item as compared: where it lives (``node``, ``edge``, ``record``), its id, its kind, its
    text as shown, and the key it is matched by."""

    part: str
    id: str
    kind: str
    text: str
    key: str


def items(snapshot: MemorySnapshot) -> list[Item]:
    """The live items of a snapshot, facts first (edges), then nodes, then records."""
    labels = {n.id: n.label for n in snapshot.nodes}
    out = [edge_item(e, labels) for e in snapshot.edges if e.removed_step is None]
    out += [Item("node", n.id, n.kind, n.label, normalise(n.label)) for n in snapshot.nodes
            if n.removed_step is None]
    out += [Item("record", r.id, r.kind, r.text, normalise(r.text)) for r in snapshot.records
            if r.removed_step is None]
    return [i for i in out if i.key]


def edge_item(edge: MemEdge, labels: dict[str, str]) -> Item:
    """An edge as a fact: its triplet where the memory states one, else ``source, label, target``."""
    text = str(edge.attrs.get("triplet") or ", ".join(
        (labels.get(edge.source, edge.source), edge.label or edge.kind, labels.get(edge.target, edge.target))))
    return Item("edge", edge.id, edge.kind, text, normalise(text))


@dataclass
class Comparison:
    """Items only run A holds, only run B holds, and the pairs both hold (matched by content)."""

    only_a: list[Item] = field(default_factory=list)
    only_b: list[Item] = field(default_factory=list)
    both: list[tuple[Item, Item]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.only_a and not self.only_b


def compare(a: MemorySnapshot, b: MemorySnapshot) -> Comparison:
    """Match the live items of two snapshots by content; each item is matched at most once."""
    waiting: dict[str, list[Item]] = {}
    for item in items(b):
        waiting.setdefault(item.key, []).append(item)
    out = Comparison()
    for item in items(a):
        match = waiting.get(item.key)
        if match:
            out.both.append((item, match.pop(0)))
        else:
            out.only_a.append(item)
    out.only_b = [item for rest in waiting.values() for item in rest]
    return out


def memories(steps: Iterable[Step]) -> Iterator[MemorySnapshot]:
    """The memory after each of a run's steps (from step 0), built in one pass from their diffs (equal to
    ``store.memory_at`` up to item order, without a keyframe lookup per step)."""
    snapshot = MemorySnapshot()
    for step in steps:
        if step.memory_diff is not None:
            snapshot = memlib.apply(snapshot, step.memory_diff)
        yield snapshot


@dataclass(frozen=True)
class Divergence:
    """Where two runs part: the first step whose actions differ and the first whose memories differ (by
    content), each None when they never do over the steps both have; ``shared``: that number of steps."""

    actions: int | None
    memory: int | None
    shared: int


def divergence(store: RunStore, run_a: str, run_b: str) -> Divergence:
    """Walk both runs over their shared steps."""
    steps_a, steps_b = store.steps(run_a), store.steps(run_b)
    shared = min(len(steps_a), len(steps_b))
    actions = next((k for k in range(shared) if steps_a[k].action != steps_b[k].action), None)
    pairs = enumerate(zip(memories(steps_a[:shared]), memories(steps_b[:shared])))
    memory = next((k for k, (mem_a, mem_b) in pairs if not compare(mem_a, mem_b).same), None)
    return Divergence(actions=actions, memory=memory, shared=shared)


__all__ = ["Comparison", "Divergence", "Item", "compare", "divergence", "items", "memories", "normalise"]
