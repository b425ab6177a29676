"""Generic memory diffs: every agent's snapshots diff and replay the same way.

``diff(prev, cur)`` lists added / removed / changed nodes, edges and records by id;
``apply(snapshot, diff)`` rebuilds the next snapshot. The run loop stores a diff per step
and a full snapshot on keyframes, so any step is keyframe + a few diffs.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

from lab.core.errors import EditError
from lab.core.records import MemEdge, MemNode, MemoryDiff, MemoryEdit, MemorySnapshot, MemRecord

Item = TypeVar("Item", MemNode, MemEdge, MemRecord)

EMPTY = MemorySnapshot()


def _diff_items(prev: list[Item], cur: list[Item]) -> tuple[list[Item], list[str], list[Item]]:
    before = {item.id: item for item in prev}
    after = {item.id: item for item in cur}
    added = [item for key, item in after.items() if key not in before]
    removed = [key for key in before if key not in after]
    changed = [item for key, item in after.items() if key in before and before[key] != item]
    return added, removed, changed


def diff(prev: MemorySnapshot | None, cur: MemorySnapshot) -> MemoryDiff:
    """The changes that turn ``prev`` (None: empty memory) into ``cur``."""
    prev = prev or EMPTY
    na, nr, nc = _diff_items(prev.nodes, cur.nodes)
    ea, er, ec = _diff_items(prev.edges, cur.edges)
    ra, rr, rc = _diff_items(prev.records, cur.records)
    return MemoryDiff(
        nodes_added=na, nodes_removed=nr, nodes_changed=nc,
        edges_added=ea, edges_removed=er, edges_changed=ec,
        records_added=ra, records_removed=rr, records_changed=rc,
        prompt_text=cur.prompt_text if cur.prompt_text != prev.prompt_text else None,
        retrieved=list(cur.retrieved) if cur.retrieved != prev.retrieved else None,
    )


def _apply_items(items: list[Item], added: list[Item], removed: list[str], changed: list[Item]) -> list[Item]:
    gone = set(removed)
    new = {item.id: item for item in changed}
    out = [new.get(item.id, item) for item in items if item.id not in gone]
    return out + list(added)


def apply(snapshot: MemorySnapshot | None, change: MemoryDiff) -> MemorySnapshot:
    """The snapshot after ``change``; ``apply(a, diff(a, b)) == b`` up to item order."""
    snapshot = snapshot or EMPTY
    return MemorySnapshot(
        nodes=_apply_items(snapshot.nodes, change.nodes_added, change.nodes_removed, change.nodes_changed),
        edges=_apply_items(snapshot.edges, change.edges_added, change.edges_removed, change.edges_changed),
        records=_apply_items(
            snapshot.records, change.records_added, change.records_removed, change.records_changed
        ),
        prompt_text=snapshot.prompt_text if change.prompt_text is None else change.prompt_text,
        retrieved=snapshot.retrieved if change.retrieved is None else change.retrieved,
    )


def is_empty(change: MemoryDiff) -> bool:
    """True when the diff changes nothing."""
    return change == MemoryDiff()


def size(snapshot: MemorySnapshot) -> dict[str, int]:
    """Counts for the memory-size timeline (removed items still shown faded are not counted)."""
    return {
        "nodes": sum(1 for n in snapshot.nodes if n.removed_step is None),
        "edges": sum(1 for e in snapshot.edges if e.removed_step is None),
        "records": sum(1 for r in snapshot.records if r.removed_step is None),
    }


def refuse(memory: str, edit: MemoryEdit, supported: str) -> EditError:
    """The one-line error for an edit ``memory`` does not support; ``supported`` says what it does."""
    return EditError(f"{memory} memory cannot {edit.describe()}: it supports {supported}")


def unknown(memory: str, edit: MemoryEdit, held: Iterable[str]) -> EditError:
    """The one-line error for an edit naming an item ``memory`` does not hold (a few held ids listed)."""
    ids = list(held)
    shown = ", ".join(ids[:8]) + (f" ... ({len(ids)} in all)" if len(ids) > 8 else "")
    return EditError(f"{memory} memory holds no item {edit.id!r} to {edit.op}; it holds: {shown or 'nothing'}")


def edit_records(name: str, records: list[MemRecord], edit: MemoryEdit, step: int, supported: str,
                 attrs: tuple[str, ...] = ()) -> tuple[int, MemRecord]:
    """Apply ``edit`` to a memory that is a list of records, in place; return the index and the record it
    added, removed or changed. An added record enters first (the oldest, so windows over the newest records
    stay as they were) with the id ``edit<step>-<n>``; ``attrs`` are the attributes an edit may set."""
    if set(edit.attrs) - set(attrs) or (edit.op == "add" and not edit.text):
        raise refuse(name, edit, supported)
    if edit.op == "add":
        record = MemRecord(id=f"edit{step}-{len(records)}", kind="episodic", text=edit.text, added_step=step,
                           attrs=dict(edit.attrs))
        records.insert(0, record)
        return 0, record
    index = next((i for i, r in enumerate(records) if r.id == edit.id), None)
    if index is None:
        raise unknown(name, edit, [r.id for r in records])
    if edit.op == "remove":
        return index, records.pop(index)
    old = records[index]
    records[index] = old.model_copy(update={"text": edit.text or old.text, "attrs": {**old.attrs, **edit.attrs}})
    return index, records[index]
