"""``memlab fork RUN_ID --step N``: a new run that replays its parent's first N steps, then goes on live,
optionally with edited memory, another model or other options.

The fork is built as ``memlab resume`` rebuilds a run: the env from the seed and the actions, the agent from
the parent's recorded replies (its first N steps' calls, then the live model). Each rebuilt step is checked
against the parent's: the same action and the same memory change, so the fork's memory at step N *is* the
parent's. There the edits (:class:`~lab.core.records.MemoryEdit`) are applied to the agent's memory, before
it acts; the step records them (``Step.edits``) and the run records where it came from
(``RunConfig.fork``).

The fork is stored only once its prefix is verified and its edits are applied: a bad edit (one the memory
does not support, an id it does not hold) or a prefix that no longer reproduces the parent is a one-line
error that stores nothing. A counterfactual set (:func:`ablate_each_retrieved`) forks once per item the
parent's step N retrieved, with that item removed, and tabulates what each removal changed over the rest
of the episode.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from lab.core import llm as llmlib
from lab.core.errors import ConfigError, LabError
from lab.core.records import ForkOrigin, MemoryEdit, MemorySnapshot, RunConfig, RunInfo, Step
from lab.core.versions import versions
from lab.memdiff import divergence
from lab.resume import is_failure, resuming_llm, resuming_probes
from lab.runner import Progress, drive, prepare
from lab.store import RunStore, new_run_id


def load_edits(path: Path | str) -> list[MemoryEdit]:
    """The edits of an ``--edit-file``: a JSON list of edits, or an object with an ``edits`` list."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"cannot read the edit file {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"the edit file {path} is not JSON: {err.msg} at line {err.lineno}") from None
    return parse_edits(data.get("edits") if isinstance(data, dict) else data, str(path))


def parse_edits(data: Any, where: str = "the edits") -> list[MemoryEdit]:
    """Edits from JSON data (a list of objects with ``op``, ``id``, ``text``, ``attrs``)."""
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of edits like "
                          '[{"op": "remove", "id": "t3"}, {"op": "add", "text": "kitchen, has, fridge"}]')
    edits = []
    for n, item in enumerate(data):
        try:
            edit = MemoryEdit.model_validate(item)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "edit"
            raise ConfigError(f"{where}: edit {n}: {field}: {first['msg']}") from None
        if edit.op in ("remove", "change") and not edit.id:
            raise ConfigError(f"{where}: edit {n}: {edit.op} needs the id of the item (as the memory view shows it)")
        if edit.op == "change" and not (edit.text or edit.attrs):
            raise ConfigError(f"{where}: edit {n}: change needs a new text or attrs")
        edits.append(edit)
    return edits


def fork_config(parent: RunInfo, step: int, edits: list[MemoryEdit], *, llm: str | None = None,
                agent_options: dict[str, Any] | None = None, max_steps: int | None = None,
                ablated: str = "") -> RunConfig:
    """The fork's config: the parent's, with the fork's origin and any other model, options or length."""
    config = parent.config
    if not 0 <= step < parent.n_steps:
        raise ConfigError(f"run {parent.run_id} has steps 0-{parent.n_steps - 1}: cannot fork at step {step}")
    spec = llm or config.llm
    if config.llm != "none" and llmlib.split(spec)[0] == "replay":
        raise ConfigError(f"run {parent.run_id} replays {llmlib.split(config.llm)[1]}: give the fork a live "
                          "model with --llm" if not llm else "a fork goes on live: --llm cannot be a replay")
    label = f"fork of {parent.run_id}@{step}" + (f" -{ablated}" if ablated else "")
    return config.model_copy(update={
        "llm": spec if config.llm != "none" else "none",
        "agent_config": {**config.agent_config, **(agent_options or {})},
        "max_steps": max_steps or config.max_steps, "label": label,
        "fork": ForkOrigin(parent=parent.run_id, step=step, edits=edits, ablated=ablated,
                           inherited=inherited(config, step)),
    })


def inherited(parent: RunConfig, step: int) -> dict[int, list[MemoryEdit]]:
    """The edits a forked parent applied before ``step`` (which a fork of it at ``step`` replays)."""
    if parent.fork is None:
        return {}
    return {at: edits for at, edits in parent.fork.edits_at().items() if at < step and edits}


class ForkSink:
    """Checks the rebuilt prefix against the parent's steps, and stores the fork only from its edited step on
    (so a bad edit or a diverged prefix stores nothing)."""

    def __init__(self, store: RunStore, run_id: str, config: RunConfig, parent: list[Step], cross_run: Any):
        self.store, self.run_id, self.config, self.parent = store, run_id, config, parent
        self.at = config.fork.step if config.fork else 0
        self.cross_run = cross_run
        self.pending: list[Step] = []
        self.created = False

    def check(self, step: Step) -> None:
        want = self.parent[step.index]
        same_memory = (step.memory_diff.model_dump_json() if step.memory_diff else None) == (
            want.memory_diff.model_dump_json() if want.memory_diff else None)
        if step.action != want.action or not same_memory:
            what = "action" if step.action != want.action else "memory change"
            raise LabError(f"the fork's step {step.index} does not reproduce its parent's {what} "
                           f"(parent {want.action!r}, fork {step.action!r}): the changed options act before "
                           f"step {self.at}; fork at an earlier step or keep the parent's options")

    def append_steps(self, run_id: str, steps: list[Step]) -> None:
        for step in steps:
            if step.index < self.at and not is_failure(step):
                self.check(step)
        if self.created:
            self.store.append_steps(self.run_id, steps)
            return
        self.pending += steps
        if any(s.index >= self.at for s in self.pending) and not any(is_failure(s) for s in self.pending):
            self.store.create_run(self.config, versions(), run_id=self.run_id)
            self.created = True
            self.store.append_steps(self.run_id, self.pending)
            for entry in self.cross_run.pending or []:
                self.store.put_entry(entry)
            self.cross_run.pending, self.pending = None, []

    def stop_requested(self, run_id: str) -> bool:
        return self.created and self.store.stop_requested(self.run_id)


def fork(parent_id: str, step: int, edits: list[MemoryEdit] = (), store: RunStore | None = None, *,  # type: ignore[assignment]
         llm: str | None = None, agent_options: dict[str, Any] | None = None, max_steps: int | None = None,
         chat_model: object | None = None, progress: Progress | None = None,
         stop: threading.Event | None = None, run_id: str | None = None, ablated: str = "") -> RunInfo:
    """Fork ``parent_id`` at ``step`` with ``edits``; returns the stored fork when it ends.

    ``chat_model`` stands in for the model the spec names (tests). Everything that can be checked before the
    replay (the step, the spec, the options) raises before anything runs; a bad edit or a diverged prefix
    raises after the replay, with nothing stored."""
    store = store or RunStore()
    parent = store.get_run(parent_id)
    config = fork_config(parent, step, list(edits), llm=llm, agent_options=agent_options, max_steps=max_steps,
                         ablated=ablated)
    prepared = prepare(config, store)
    steps = store.steps(parent_id)
    calls = [call for s in steps[:step] for call in s.llm_calls if call.error is None]
    spec = prepared.config.llm
    client = resuming_llm(spec, prepared, calls, chat_model, store)
    probes = resuming_probes(prepared, client, calls, store, parent_id)
    run_id = run_id or new_run_id()
    cross_run = store.cross_run_memory(run_id, config.agent_id, before=parent.created_at)
    cross_run.pending = []
    sink = ForkSink(store, run_id, prepared.config, steps, cross_run)
    summary = drive(prepared, client, sink, run_id, progress, stop, probes, cross_run=cross_run)
    if not sink.created:
        raise LabError(summary.message or f"the fork ended before step {step}")
    store.finish_run(run_id, summary)
    return store.get_run(run_id)


def memory_before(store: RunStore, run_id: str, step: int) -> MemorySnapshot:
    """The run's memory as step ``step`` found it (after step ``step - 1``): what a fork there edits."""
    return store.memory_at(run_id, step - 1) if step > 0 else MemorySnapshot()


def retrieved_items(store: RunStore, run_id: str, step: int) -> list[str]:
    """The items a fork at ``step`` can remove that the run relied on from there: held by the memory before
    step ``step`` acted, and retrieved at that step or later, in the order first retrieved.

    An item written and retrieved within one step (AriGraph writes an observation's triplets before it
    retrieves) is not among them: before the step it did not exist."""
    before = memory_before(store, run_id, step)
    held = {i.id for i in [*before.nodes, *before.edges, *before.records] if i.removed_step is None}
    later = [i for k in range(step, store.n_steps(run_id)) for i in store.memory_at(run_id, k).retrieved]
    return [i for i in dict.fromkeys(later) if i in held]


@dataclass(frozen=True)
class Ablation:
    """One fork of a counterfactual set: the item it removed and what came of it."""

    item: str
    text: str
    run_id: str
    status: str
    steps: int
    score: float
    won: bool
    diverged_at: int | None
    """The first step whose action differs from the parent's (None: the same actions throughout)."""


def item_text(snapshot: MemorySnapshot, item: str) -> str:
    """An item's text as the memory view shows it."""
    for node in snapshot.nodes:
        if node.id == item:
            return node.label
    for edge in snapshot.edges:
        if edge.id == item:
            return str(edge.attrs.get("triplet") or edge.label)
    return next((r.text for r in snapshot.records if r.id == item), item)


def ablate_each_retrieved(parent_id: str, step: int, store: RunStore | None = None, *,
                          llm: str | None = None, max_steps: int | None = None, chat_model: object | None = None,
                          each: Callable[[int, int], None] | None = None) -> list[Ablation]:
    """One fork per item the parent relied on from ``step`` on (:func:`retrieved_items`), removed before the
    step; ``each(done, total)`` after each fork."""
    store = store or RunStore()
    items = retrieved_items(store, parent_id, step)
    if not items:
        raise ConfigError(f"run {parent_id} retrieved nothing from step {step} on that its memory held before "
                          f"step {step}; name the items to remove with --edit-file")
    before = memory_before(store, parent_id, step)
    out = []
    for n, item in enumerate(items):
        info = fork(parent_id, step, [MemoryEdit(op="remove", id=item)], store, llm=llm, max_steps=max_steps,
                    chat_model=chat_model, ablated=item)
        s = info.summary
        assert s is not None
        out.append(Ablation(item=item, text=item_text(before, item), run_id=info.run_id, status=info.status,
                            steps=s.steps, score=s.score, won=s.won,
                            diverged_at=divergence(store, parent_id, info.run_id).actions))
        if each:
            each(n + 1, len(items))
    return out


def ablation_rows(parent: RunInfo, ablations: list[Ablation]) -> list[list[str]]:
    """The set's table: the parent, then each fork (item, its text, the first differing action, the end)."""
    s = parent.summary
    rows = [["removed", "text", "diverged at", "steps", "score", "won", "run"]]
    if s is not None:
        rows.append(["(nothing: parent)", "", "", str(s.steps), f"{s.score:g}", "yes" if s.won else "no",
                     parent.run_id])
    for a in ablations:
        text = a.text if len(a.text) <= 48 else a.text[:47] + "…"
        rows.append([a.item, text.replace("\n", " "), "-" if a.diverged_at is None else str(a.diverged_at),
                     str(a.steps), f"{a.score:g}", "yes" if a.won else "no", a.run_id])
    return rows


__all__ = ["Ablation", "ForkSink", "ablate_each_retrieved", "ablation_rows", "fork", "fork_config",
           "item_text", "load_edits", "memory_before", "parse_edits", "retrieved_items"]
