"""The run store on a real SQLite file: steps, keyframes + diffs, recovery, bad data dirs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.core import memory as memlib
from lab.core.errors import RunNotFoundError, SchemaVersionError, StoreError
from lab.core.records import (
    CrossRunEntry, MemNode, MemorySnapshot, ObservationRecord, RunConfig, RunSummary, Step,
)
from lab import store as storelib
from lab.store import RunStore

from tests.conftest import ROOT


def make_steps(n: int, every: int = 4) -> list[Step]:
    """Steps whose memory grows one node per step; keyframes every ``every`` steps."""
    steps, prev = [], None
    for i in range(n):
        cur = MemorySnapshot(nodes=[MemNode(id=f"n{j}", kind="room", label=f"room {j}") for j in range(i + 1)],
                             prompt_text=f"step {i}")
        steps.append(Step(index=i, t=i, observation=ObservationRecord(text=f"obs {i}"), action=f"go {i}",
                          score=float(i), memory_diff=memlib.diff(prev, cur),
                          memory_snapshot=cur if i % every == 0 else None, memory_size=memlib.size(cur)))
        prev = cur
    return steps


def test_runs_and_steps_round_trip(store: RunStore) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"), {"torch": "x"})
    steps = make_steps(10)
    store.append_steps(run_id, steps[:6])
    store.append_steps(run_id, steps[6:])
    info = store.get_run(run_id)
    assert info.status == "running" and info.n_steps == 10 and info.versions == {"torch": "x"}
    assert [s.action for s in store.steps(run_id)] == [f"go {i}" for i in range(10)]
    assert store.step(run_id, 7).observation.text == "obs 7"
    assert store.series(run_id)["score"] == [float(i) for i in range(10)]
    store.finish_run(run_id, RunSummary(status="finished", steps=10, score=9))
    assert store.get_run(run_id).summary.score == 9


def test_memory_at_any_step_equals_the_snapshot_then(store: RunStore) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    steps = make_steps(11, every=4)
    store.append_steps(run_id, steps)
    for i in (0, 3, 4, 5, 10):
        got = store.memory_at(run_id, i)
        assert [n.id for n in got.nodes] == [f"n{j}" for j in range(i + 1)]
        assert got.prompt_text == f"step {i}"
    # keyframes only where asked
    assert store.steps(run_id, 4, 5, with_snapshots=True)[0].memory_snapshot is not None
    assert store.steps(run_id, 5, 6, with_snapshots=True)[0].memory_snapshot is None


def test_missing_run_and_step_give_clear_errors(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        store.get_run("nope")
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    with pytest.raises(IndexError, match="has no step 3"):
        store.step(run_id, 3)


def test_list_filters_and_delete(store: RunStore) -> None:
    a = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    b = store.create_run(RunConfig(env_id="tw-cooking", agent_id="full-history"))
    store.append_steps(b, make_steps(3))
    assert [r.run_id for r in store.list_runs(env_id="tw-cooking")] == [b]
    assert {r.run_id for r in store.list_runs()} == {a, b}
    store.delete_run(b)
    assert [r.run_id for r in store.list_runs()] == [a]
    assert store._db().execute("SELECT count(*) FROM steps").fetchone()[0] == 0


def test_cross_run_memory_is_owned_by_its_run(store: RunStore) -> None:
    a = store.create_run(RunConfig(env_id="tw-cooking", agent_id="clin"))
    b = store.create_run(RunConfig(env_id="tw-cooking", agent_id="clin"))
    other = store.create_run(RunConfig(env_id="tw-cooking", agent_id="random"))
    mine = {"llm": "x", "config": {"k": 1, "j": [0.5]}}
    for run_id in (a, b, other):
        store.cross_run_memory(run_id).record("e1", mine, {"score": 1})
    same = {"config": {"j": [0.5], "k": 1}, "llm": "x"}  # the same provenance, keys in another order
    store.cross_run_memory(a).record("e1", same, {"score": 2})  # replaces a's entry
    store.cross_run_memory(a).record("e2", {"llm": "y"}, {"score": 3})
    view = store.cross_run_memory(b)
    assert [(e.run_id, e.key, e.data) for e in view.entries(mine)] == [(a, "e1", {"score": 2})]
    assert [e.key for e in store.cross_run_entries(a)] == ["e1", "e2"]
    store.delete_run(a)
    assert view.entries(mine) == [] and [e.run_id for e in store.find_entries("clin", mine)] == [b]


def test_a_store_made_before_cross_run_memory_is_migrated(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite"
    monkeypatch.setattr(storelib, "MIGRATIONS", [storelib.m001_initial])
    old = RunStore(path)
    run_id = old.create_run(RunConfig(env_id="tw-cooking", agent_id="clin"))
    old.append_steps(run_id, make_steps(2))
    old.close()
    raw = sqlite3.connect(path)
    tables = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "cross_run_memory" not in tables
    raw.close()
    monkeypatch.undo()

    store = RunStore(path)
    applied = [n for (n,) in store._db().execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == ["m001_initial", "m002_cross_run_memory", "m003_attributions"]
    assert store.n_steps(run_id) == 2 and store.cross_run_entries(run_id) == []
    store.put_entry(CrossRunEntry(run_id=run_id, key="e", provenance={"llm": "x"}, data={"n": 1}))
    assert [e.data for e in store.find_entries("clin", {"llm": "x"})] == [{"n": 1}]
    store.close()
    again = RunStore(path)  # applied once: opening again changes nothing
    assert [e.key for e in again.cross_run_entries(run_id)] == ["e"]
    again._db().execute("DELETE FROM runs WHERE run_id=?", (run_id,))  # the foreign key cascades too
    assert again._db().execute("SELECT COUNT(*) FROM cross_run_memory").fetchone() == (0,)


def test_newer_schema_is_refused(store: RunStore) -> None:
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    store.append_steps(run_id, make_steps(1))
    record = json.loads(store._db().execute("SELECT record FROM steps").fetchone()[0])
    record["schema_version"] = 99
    store._db().execute("UPDATE steps SET record=?", (json.dumps(record),))
    with pytest.raises(SchemaVersionError, match="newer than this lab"):
        store.steps(run_id)


def test_dead_process_runs_become_interrupted(home: Path) -> None:
    store = RunStore()
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="random"))
    store.append_steps(run_id, make_steps(2))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.claim_run(run_id, dead.pid)
    reopened = RunStore()
    info = reopened.get_run(run_id)
    assert info.status == "interrupted" and info.n_steps == 2
    assert len(reopened.steps(run_id)) == 2


def test_read_only_data_dir_gives_a_store_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions: a store path under a regular file fails the same way
        blocker = tmp_path / "file"
        blocker.write_text("x")
        target = blocker / "runs.sqlite"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "runs.sqlite"
    with pytest.raises(StoreError, match="cannot open the run store"):
        RunStore(target)


def test_sigkilled_run_keeps_every_committed_step(home: Path) -> None:
    """A run process killed with SIGKILL: its committed steps stay readable and contiguous."""
    env = {**os.environ, "MEMLAB_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "run", "--env", "minigrid:MiniGrid-Empty-8x8-v0", "--agent", "random",
         "--max-steps", "300", "--trials", "500"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = home / "runs.sqlite"
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline and committed < 500:
        time.sleep(0.2)
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=5) as db:
                    committed = db.execute("SELECT count(*) FROM steps").fetchone()[0]
            except sqlite3.OperationalError:
                continue
    assert committed >= 500, "the run did not write steps live"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore()
    (info,) = store.list_runs()
    assert info.status == "interrupted"
    steps = store.steps(info.run_id)
    assert len(steps) == info.n_steps >= committed
    assert [s.index for s in steps] == list(range(len(steps)))


def test_runs_created_in_the_same_second_list_newest_first(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    config = RunConfig(env_id="tw-coin", agent_id="random", llm="none")
    ids = [store.create_run(config, run_id=f"20261204-120000-{suffix}") for suffix in ("ffffff", "000000", "888888")]
    assert [i.run_id for i in store.list_runs()] == ids[::-1]  # not by the ids' random suffixes
