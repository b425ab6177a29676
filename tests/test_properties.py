"""Properties of the lab's lossless paths, over generated records: a memory diff applied to its base gives
the target snapshot; a JSONL export imports back to the same run; the HTML report keeps arbitrary text
inside its data block; SAT's write strategies keep what they promise.

The record strategies here (texts, JSON values, memory snapshots, whole runs) are shared with
``tests/test_bad_input.py``, which breaks the same runs on purpose. Example counts come from the loaded
Hypothesis profile (``ci``: 100 per test, derandomized), scaled by :func:`examples` for cheap targets.
"""

from __future__ import annotations

import json
import math
import operator
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any, get_args

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.sat.config import STRATEGIES
from agents.sat.memory import REJECT, Slot, SlotMemory, keep_indices
from lab.core import memory as memlib
from lab.core.records import (
    LLMCall, MemEdge, MemNode, MemoryDiff, MemorySnapshot, MemRecord, Message, ObservationRecord, Record,
    RunConfig, RunInfo, RunStatus, RunSummary, Step, Timings, TrialResult,
)
from lab.export import export_run, import_file, jsonl_lines
from lab.exporters.html_report import TEMPLATE, safe_json
from lab.store import RunStore


def examples(factor: float) -> settings:
    """The loaded profile's example count scaled by ``factor`` (cheap targets get more)."""
    return settings(max_examples=max(1, round(settings().max_examples * factor)))


# -- texts and JSON values -----------------------------------------------------------------------------
TEXT = st.text(max_size=24)
"""Any code point but lone surrogates (the store cannot hold those): NUL and control characters,
combining marks, right-to-left text, emoji, markup."""
MARKUP = st.sampled_from(["</script>", "<!--", "<script>alert(1)</script>", "&amp;", "\u2028", "\r\n", '"\\',
                          "</SCRIPT >", "]]>", "{{DATA}}", "\x00", "\ufeff"])
TEXTS = st.one_of(TEXT, TEXT, st.lists(st.one_of(TEXT, MARKUP), max_size=4).map("".join))
HUGE = st.builds(operator.mul, st.text(min_size=1, max_size=4), st.integers(10_000, 120_000))
"""Up to ~0.5 M characters (a few MB of JSON once escaped)."""
INT64 = st.integers(-(2**63), 2**63 - 1)
SEEDS = st.integers(0, 2**63 - 1)
"""Seeds as RunConfig bounds them (the store's 64-bit INTEGER, and no negative seed)."""
"""SQLite's INTEGER range: the store binds these fields as columns."""
COUNTS = st.integers(0, 10**9)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
"""Finite: pydantic writes NaN and infinities as JSON null, which the store reads back as another value."""
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), FLOATS, TEXTS)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                               st.dictionaries(TEXT, kids, max_size=3)),
                           max_leaves=8)
JSON_DICTS = st.dictionaries(TEXT, JSON_VALUES, max_size=3)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def plain(value: Any) -> Any:
    """JSON-ready data made comparable: NaN equals NaN, and -0.0 is 0.0 (a field equal to its default
    is left out of the stored record, so a default's sign of zero is not kept)."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else value + 0.0
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def canonical(record: Record | None) -> Any:
    """A record as comparable data."""
    return None if record is None else plain(record.model_dump(mode="json"))


# -- memory --------------------------------------------------------------------------------------------
IDS = st.one_of(st.sampled_from([f"n{k}" for k in range(6)]), TEXT)
"""A small pool, so that consecutive snapshots share ids (changed, kept and removed items)."""
STEPS_OR_NONE = st.none() | st.integers(0, 50)
SMALL = st.sampled_from(["a", "b"]) | TEXTS
NODES = st.builds(MemNode, id=IDS, kind=st.sampled_from(["room", "object", "episodic"]), label=SMALL,
                  attrs=st.dictionaries(st.sampled_from(["x", "y"]), JSON_VALUES, max_size=2),
                  added_step=STEPS_OR_NONE, removed_step=STEPS_OR_NONE)
EDGES = st.builds(MemEdge, id=IDS, source=IDS, target=IDS, kind=st.sampled_from(["spatial", "semantic"]),
                  label=SMALL, attrs=st.dictionaries(st.sampled_from(["w"]), JSON_VALUES, max_size=1),
                  added_step=STEPS_OR_NONE, removed_step=STEPS_OR_NONE)
RECORDS = st.builds(MemRecord, id=IDS, kind=st.sampled_from(["slot", "learning"]), text=SMALL,
                    attrs=st.dictionaries(st.sampled_from(["place", "time"]), JSON_VALUES, max_size=2),
                    added_step=STEPS_OR_NONE, removed_step=STEPS_OR_NONE)


def unique(items: st.SearchStrategy, size: int = 3) -> st.SearchStrategy:
    return st.lists(items, max_size=size, unique_by=lambda item: item.id)


SNAPSHOTS = st.builds(MemorySnapshot, nodes=unique(NODES), edges=unique(EDGES), records=unique(RECORDS),
                      prompt_text=st.sampled_from(["", "memory"]) | TEXTS,
                      retrieved=st.lists(IDS, max_size=3))


def by_id(snapshot: MemorySnapshot) -> tuple:
    """A snapshot with its items keyed by id: equal up to item order (what ``apply`` promises)."""
    return ({n.id: canonical(n) for n in snapshot.nodes}, {e.id: canonical(e) for e in snapshot.edges},
            {r.id: canonical(r) for r in snapshot.records}, snapshot.prompt_text, snapshot.retrieved)


@examples(2)
@given(snapshots=st.lists(SNAPSHOTS, min_size=1, max_size=6), keyframe=st.integers(0, 5))
def test_a_chain_of_diffs_applied_to_a_keyframe_gives_every_snapshot(snapshots: list[MemorySnapshot],
                                                                     keyframe: int) -> None:
    previous, diffs = None, []
    for snapshot in snapshots:
        change = memlib.diff(previous, snapshot)
        rebuilt = memlib.apply(previous, change)
        assert by_id(rebuilt) == by_id(snapshot)
        assert memlib.is_empty(memlib.diff(snapshot, rebuilt))
        assert MemoryDiff.model_validate_json(change.model_dump_json()) == change  # stored as JSON
        diffs.append(change)
        previous = snapshot
    start = min(keyframe, len(snapshots) - 1)  # replay from a keyframe, as the store's memory_at does
    state = snapshots[start]
    for index in range(start + 1, len(snapshots)):
        state = memlib.apply(state, diffs[index])
        assert by_id(state) == by_id(snapshots[index])
    assert memlib.size(state) == memlib.size(snapshots[-1])


# -- runs ----------------------------------------------------------------------------------------------
MESSAGES = st.builds(Message, role=st.sampled_from(["system", "user", "assistant"]) | TEXT, content=TEXTS)
CALLS = st.builds(
    LLMCall, purpose=TEXT, model=TEXT,
    kind=st.sampled_from(get_args(LLMCall.model_fields["kind"].annotation)),
    messages=st.lists(MESSAGES, max_size=2), response=TEXTS, options=st.none() | st.lists(TEXT, max_size=3),
    scores=st.none() | st.lists(FLOATS, max_size=3), tokens_in=COUNTS, tokens_out=COUNTS, latency_s=FLOATS,
    attempts=st.integers(1, 5), error=st.none() | TEXTS, retry_errors=st.lists(TEXTS, max_size=2))
OBSERVATIONS = st.builds(
    ObservationRecord, text=TEXTS, feedback=TEXTS, admissible=st.lists(TEXT, max_size=4), objective=TEXTS,
    room=st.none() | TEXT, description=st.none() | TEXTS, inventory=st.none() | TEXTS,
    direction=st.none() | st.integers(0, 3), extra=JSON_DICTS)
TIMINGS = st.builds(Timings, **{name: FLOATS for name in Timings.model_fields})
STATUSES = st.sampled_from(get_args(RunStatus))


@dataclass
class GeneratedRun:
    """A run as the store is given it, with the memory snapshot after each step."""

    config: RunConfig
    versions: dict[str, str]
    steps: list[Step]
    summary: RunSummary
    created_at: str
    memory: list[MemorySnapshot | None]


@st.composite
def step_records(draw: st.DrawFn, n: int, snapshot_every: int, with_memory: bool) -> tuple[list, list]:
    """``n`` steps in order (trial and t as the loop numbers them), with memory diffs and keyframes."""
    steps, memory, previous, trial, t = [], [], None, 0, 0
    for index in range(n):
        trial_end = index == n - 1 or draw(st.booleans())
        parts: dict[str, Any] = {}
        if with_memory:
            current = draw(SNAPSHOTS)
            keyframe = trial_end or index % snapshot_every == 0
            parts = {"memory_diff": memlib.diff(previous, current),
                     "memory_snapshot": current if keyframe else None, "memory_size": memlib.size(current)}
            previous = current
        memory.append(previous)
        steps.append(Step(
            index=index, trial=trial, t=t, observation=draw(OBSERVATIONS), action=draw(TEXTS),
            env_actions=draw(st.lists(TEXT, max_size=2)), feedback=draw(TEXTS), reward=draw(FLOATS),
            score=draw(FLOATS), max_score=draw(st.none() | FLOATS), done=draw(st.booleans()),
            won=draw(st.booleans()), lost=draw(st.booleans()), thoughts=draw(JSON_DICTS),
            llm_calls=draw(st.lists(CALLS, max_size=2)),
            facts=draw(st.none() | st.lists(TEXT, max_size=3)),
            metrics=draw(st.dictionaries(TEXT, FLOATS | NON_FINITE, max_size=2)),
            timings=draw(TIMINGS), trial_end=trial_end, **parts))
        trial, t = (trial + 1, 0) if trial_end else (trial, t + 1)
    return steps, memory


@st.composite
def runs(draw: st.DrawFn, max_steps: int = 4, min_steps: int = 0) -> GeneratedRun:
    """Any run the store can hold: arbitrary ids, options, text and memory (not only the lab's own)."""
    config = RunConfig(env_id=draw(TEXTS), agent_id=draw(TEXTS), env_options=draw(JSON_DICTS),
                       agent_config=draw(JSON_DICTS), llm=draw(TEXT), seed=draw(SEEDS),
                       max_steps=draw(st.integers(1, 10**6)), trials=draw(st.integers(1, 100)),
                       snapshot_every=draw(st.integers(1, 4)), label=draw(TEXTS))
    n = draw(st.integers(min_steps, max_steps))
    steps, memory = draw(step_records(n, config.snapshot_every, draw(st.booleans())))
    huge = draw(st.none() | HUGE)
    if steps and huge is not None:  # one huge text per run, where games and models put theirs
        where = draw(st.sampled_from(["observation", "feedback", "reply"]))
        step = steps[draw(st.integers(0, n - 1))]
        if where == "observation":
            step.observation.text = huge
        elif where == "feedback":
            step.feedback = huge
        else:
            prompt = [Message(role="user", content=huge)]
            step.llm_calls.append(LLMCall(purpose="act", model="m", messages=prompt, response=huge[:1000]))
    trials = draw(st.lists(st.builds(TrialResult, trial=COUNTS, steps=COUNTS, score=FLOATS,
                                     max_score=st.none() | FLOATS, won=st.booleans(), lost=st.booleans()),
                           max_size=2))
    summary = RunSummary(status=draw(STATUSES), steps=n, env_steps=draw(COUNTS), trials=trials,
                         score=draw(FLOATS), max_score=draw(st.none() | FLOATS),
                         normalized_score=draw(st.none() | FLOATS),
                         won=draw(st.booleans()), llm_calls=draw(COUNTS), tokens_in=draw(COUNTS),
                         tokens_out=draw(COUNTS), wall_s=draw(FLOATS), message=draw(TEXTS))
    versions = draw(st.dictionaries(TEXT, TEXT, max_size=3))
    created = draw(st.sampled_from(["2026-01-02T03:04:05+00:00"]) | st.text(min_size=1, max_size=24))
    return GeneratedRun(config, versions, steps, summary, created, memory)


def store_run(store: RunStore, run: GeneratedRun) -> str:
    return store.add_run(run.config, run.versions, run.steps, run.summary, created_at=run.created_at)


def header(info: RunInfo) -> dict[str, Any]:
    """A run's header without ``updated_at`` (the time of the last write, new on import)."""
    return info.model_dump(mode="json", exclude={"updated_at"})


@examples(1.5)
@given(run=runs())
def test_jsonl_export_then_import_equals_the_original_run(run: GeneratedRun) -> None:
    with tempfile.TemporaryDirectory(prefix="memlab-prop-") as tmp:
        source, target = RunStore(Path(tmp) / "a.sqlite"), RunStore(Path(tmp) / "b.sqlite")
        try:
            run_id = store_run(source, run)
            path = Path(tmp) / "run.jsonl"
            assert export_run(source, run_id, "jsonl", path) == len(run.steps) + 1
            assert import_file(target, path) == run_id
            assert header(target.get_run(run_id)) == header(source.get_run(run_id))
            info = target.get_run(run_id)
            assert (info.config, info.versions, info.created_at, info.n_steps) == (
                run.config, run.versions, run.created_at, len(run.steps))
            assert canonical(info.summary) == canonical(run.summary)
            again = target.steps(run_id, with_snapshots=True)
            assert [canonical(s) for s in again] == [canonical(s) for s in run.steps]
            for index, snapshot in enumerate(run.memory):
                if snapshot is not None:
                    assert by_id(target.memory_at(run_id, index)) == by_id(snapshot)
            assert target.series(run_id) == source.series(run_id)
            assert list(jsonl_lines(target, run_id))[1:] == list(jsonl_lines(source, run_id))[1:]
        finally:
            source.close()
            target.close()


@examples(0.3)
@given(run=runs(max_steps=3))
def test_a_run_exported_while_running_imports_as_interrupted(run: GeneratedRun) -> None:
    """No summary in the header (the process was still running, or was killed): the documented exception."""
    with tempfile.TemporaryDirectory(prefix="memlab-prop-") as tmp:
        source, target = RunStore(Path(tmp) / "a.sqlite"), RunStore(Path(tmp) / "b.sqlite")
        try:
            run_id = source.create_run(run.config, run.versions)
            source.append_steps(run_id, run.steps)
            export_run(source, run_id, "jsonl", Path(tmp) / "run.jsonl")
            assert import_file(target, Path(tmp) / "run.jsonl") == run_id
            info = target.get_run(run_id)
            assert info.status == "interrupted" and info.summary is not None
            assert (info.summary.status, info.summary.steps) == ("interrupted", len(run.steps))
            assert info.config == run.config and info.n_steps == len(run.steps)
            assert [canonical(s) for s in target.steps(run_id, with_snapshots=True)] == [
                canonical(s) for s in run.steps]
        finally:
            source.close()
            target.close()


# -- HTML report ---------------------------------------------------------------------------------------
ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)
"""Every code point, lone surrogates included (a model's reply decoded from JSON escapes can hold one)."""
ANY_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), FLOATS, ANY_TEXT, MARKUP),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(ANY_TEXT, kids, max_size=3),
                        max_leaves=10)


@examples(4)
@given(data=ANY_JSON)
def test_safe_json_cannot_close_its_script_and_reads_back(data: Any) -> None:
    text = safe_json(data)
    assert not re.search(r"[<>&]", text)
    assert json.loads(text) == json.loads(json.dumps(data))  # what any JSON reader makes of the data
    text.encode("utf-8")  # the report is written as UTF-8: every character must be encodable


def block(page: str, opening: str, closing: str) -> str:
    """The text between ``opening`` and the first ``closing`` after it (any case): where an HTML parser
    ends the element."""
    start = page.index(opening) + len(opening)
    return page[start:re.compile(re.escape(closing), re.I).search(page, start).start()]


@examples(0.4)
@given(run=runs(max_steps=3), agent=TEXTS, env=TEXTS.filter(lambda e: not e.startswith("minigrid")),
       cut=st.sampled_from(["", "\ud83d", "\ude00 tail"]))
def test_the_html_report_keeps_arbitrary_text_inside_its_data_block(run: GeneratedRun, agent: str, env: str,
                                                                    cut: str) -> None:
    run.config = run.config.model_copy(update={"agent_id": agent, "env_id": env})  # in the title too
    if cut and run.steps:  # a reply cut inside an emoji: JSON escapes decode to a lone surrogate
        run.steps[0].thoughts["reply"] = f"I will go north {cut}"
    with tempfile.TemporaryDirectory(prefix="memlab-prop-") as tmp:
        store = RunStore(Path(tmp) / "a.sqlite")
        try:
            run_id = store_run(store, run)
            export_run(store, run_id, "html", Path(tmp) / "r.html")  # rendered and written as UTF-8
            page = (Path(tmp) / "r.html").read_bytes().decode("utf-8")  # as written: no newline translation
        finally:
            store.close()
    title = f"memlab run {run_id}: {agent} on {env} (seed {run.config.seed})"
    raw_title = block(page, "<title>", "</title")
    assert "<" not in raw_title and unescape(raw_title) == title
    raw = block(page, '<script type="application/json" id="data">', "</script")
    assert not re.search(r"[<>&]", raw)
    data = json.loads(raw)
    assert [(s["action"], s["obs"], s["feedback"]) for s in data["steps"]] == [
        (s.action, s.observation.text, s.feedback) for s in run.steps]
    assert [s["thoughts"] for s in data["steps"]] == [json.loads(json.dumps(s.thoughts)) for s in run.steps]
    assert data["run"]["config"]["label"] == run.config.label
    assert page.endswith(TEMPLATE.read_text(encoding="utf-8").rsplit("{{DATA}}", 1)[1])  # its own script


# -- SAT write strategies ------------------------------------------------------------------------------
def reference_keep(places: list[int], capacity: int, strategy: str, n_places: int) -> list[int]:
    """The spec's rules (agents/sat/memory.py docstring) written out slot by slot, as an oracle."""
    kept: list[tuple[int, int]] = []  # (time, place), oldest first

    def oldest_of(pick) -> int:
        counts = Counter(p for _, p in kept)
        best = pick(counts.values())
        tied = {p for p, c in counts.items() if c == best}
        return next(i for i, (_, p) in enumerate(kept) if p in tied)  # the tied place whose oldest is oldest

    for t, place in enumerate(places):
        full = len(kept) >= capacity
        if strategy == "pm":
            mine = [i for i, (_, p) in enumerate(kept) if p == place]
            if len(mine) >= math.ceil(capacity / n_places):
                del kept[mine[0]]
            elif full:
                del kept[oldest_of(max)]
        elif full:
            if strategy == "lifo":
                continue
            del kept[0 if strategy == "fifo" else oldest_of(max if strategy == "mvfo" else min)]
        kept.append((t, place))
    return [t for t, _ in kept]


@examples(5)
@given(places=st.lists(st.integers(0, 11), max_size=60), capacity=st.integers(1, 20),
       strategy=st.sampled_from(STRATEGIES), n_places=st.integers(1, 12))
def test_keep_indices_follows_each_write_strategy(places: list[int], capacity: int, strategy: str,
                                                  n_places: int) -> None:
    kept = keep_indices(places, capacity, strategy, n_places)
    assert kept.dtype == np.int64 and kept.tolist() == reference_keep(places, capacity, strategy, n_places)
    assert kept.tolist() == sorted(set(kept.tolist())) and len(kept) <= min(capacity, len(places))
    if strategy != "pm":
        assert len(kept) == min(capacity, len(places))  # a full memory always drops exactly one slot
    else:
        quota = math.ceil(capacity / n_places)
        assert max(Counter(places[t] for t in kept).values(), default=0) <= quota
    if strategy == "fifo":
        assert kept.tolist() == list(range(len(places)))[-capacity:]
    if strategy == "lifo":
        assert kept.tolist() == list(range(min(capacity, len(places))))
    if places and strategy != "lifo":
        assert kept[-1] == len(places) - 1  # the newest step is always written
    memory = SlotMemory(capacity=capacity, strategy=strategy, n_places=n_places)  # the lab's live memory
    frame = np.zeros((1, 1, 3), dtype=np.int64)
    for t, place in enumerate(places):
        memory.write(Slot(step=t, place=place, frame=frame, summary=""))
    assert [s.step for s in memory.kept()] == kept.tolist()
    assert REJECT not in kept.tolist()
