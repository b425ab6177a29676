"""Cached reads of the run store for the pages: only the step shown, plus cheap per-run columns.

Committed steps never change, so reads are cached by ``(store path, run id, n_steps)``: a live run
gets a new key with each new step, a finished run is read once. The store handle is passed as
``_store`` (not hashed); its path is part of the key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import pandas as pd
import streamlit as st

from lab.core import memory as memlib
from lab.core.records import MemorySnapshot, Step
from lab.store import RunStore
from lab.views import env as envview
from lab.views.charts import series_frame
from lab.views.layout import Point, snapshot_layout

_last_layouts: dict[tuple[str, str], dict[str, Point]] = {}
_lock = threading.Lock()


@st.cache_data(show_spinner=False, max_entries=64)
def series(_store: RunStore, path: str, run_id: str, n_steps: int) -> pd.DataFrame:
    """The run's per-step columns (score, memory size, tokens, latency) as a frame."""
    return series_frame(_store.series(run_id))


@st.cache_data(show_spinner=False, max_entries=32)
def layout(_store: RunStore, path: str, run_id: str, n_steps: int) -> dict[str, Point]:
    """Graph positions over the run's latest snapshot; positions from an earlier call stay fixed."""
    if n_steps == 0:
        return {}
    latest = _store.memory_at(run_id, n_steps - 1)
    with _lock:
        previous = _last_layouts.get((path, run_id))
    positions = snapshot_layout(latest, seed=0, previous=previous)
    with _lock:
        _last_layouts[(path, run_id)] = positions
    return positions


def layout_basis(n_steps: int, running: bool) -> int:
    """The step count a layout is computed for: every step of a finished run; for a live run, the count
    rounded down to a bucket that doubles as the run grows (10, 20, 40, ... about a tenth of the run),
    so a live view lays the graph out again only now and then (newer nodes sit next to their neighbours).

    >>> layout_basis(437, False), layout_basis(437, True), layout_basis(7, True)
    (437, 400, 7)
    """
    if not running or n_steps < 10:
        return n_steps
    bucket = 10
    while bucket * 10 <= n_steps:
        bucket *= 2
    return n_steps - n_steps % bucket


SNAPSHOTS_KEPT = 64
"""Memories after a step kept in this process (a step's memory never changes once the step is stored)."""
_snapshots: OrderedDict[tuple[str, str, int], MemorySnapshot] = OrderedDict()


def memory_after(store: RunStore, run_id: str, index: int) -> MemorySnapshot:
    """The memory after step ``index``: from the recent ones kept here, or one keyframe plus diffs."""
    key = (str(store.path), run_id, index)
    with _lock:
        if key in _snapshots:
            _snapshots.move_to_end(key)
            return _snapshots[key]
    snapshot = store.memory_at(run_id, index)
    _keep(key, snapshot)
    return snapshot


def _keep(key: tuple[str, str, int], snapshot: MemorySnapshot) -> None:
    with _lock:
        _snapshots[key] = snapshot
        while len(_snapshots) > SNAPSHOTS_KEPT:
            _snapshots.popitem(last=False)


def memory_pair(store: RunStore, run_id: str,
                index: int) -> tuple[Step, MemorySnapshot | None, MemorySnapshot]:
    """The step, the memory before it and after it. Stepping forward, the memory before is the one the
    last step view built; otherwise one keyframe read plus a few diffs."""
    step = store.step(run_id, index)
    before = memory_after(store, run_id, index - 1) if index > 0 else None
    if step.memory_diff is None:
        current = before or MemorySnapshot()
    else:
        current = memlib.apply(before, step.memory_diff)
    _keep((str(store.path), run_id, index), current)
    return step, before, current


def trial_bounds(frame: pd.DataFrame, trial: int) -> tuple[int, int]:
    """First and last step index of ``trial`` in a series frame."""
    part = frame.loc[frame["trial"] == trial, "idx"]
    return int(part.min()), int(part.max())


def trial_ends(frame: pd.DataFrame) -> list[int]:
    """The last step index of each trial (memory that carries over is compared between them)."""
    return [int(v) for v in frame.groupby("trial")["idx"].max().tolist()] if len(frame) else []


@st.cache_data(show_spinner=False, max_entries=32)
def trial_moves(_store: RunStore, path: str, run_id: str, trial: int, n_steps: int) -> list[envview.Move]:
    """Room transitions of one text trial (its step records are read once, then cached)."""
    frame = series(_store, path, run_id, n_steps)
    first, last = trial_bounds(frame, trial)
    return envview.room_moves(_store.steps(run_id, first, last + 1))


def trial_env_actions(store: RunStore, frame: pd.DataFrame, run_id: str, index: int) -> tuple[int, list[str]]:
    """The trial of step ``index`` and its env-level actions up to and including that step."""
    trial = int(frame.loc[frame["idx"] == index, "trial"].iloc[0])
    first, _ = trial_bounds(frame, trial)
    actions = frame.loc[(frame["idx"] >= first) & (frame["idx"] <= index), "action"].tolist()
    macros = {pos: store.step(run_id, first + pos).env_actions or [a]
              for pos, a in enumerate(actions) if envview.is_macro(a)}
    return trial, envview.env_actions(actions, macros)
