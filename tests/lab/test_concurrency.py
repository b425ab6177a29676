"""Four runs write the same store at once while a reader pages through all of them, as the UI does.

The writers are real processes running the real run loop (``lab.runner.execute``, the random agent on
MiniGrid) on a fresh data dir, so they also race to create the file, switch it to WAL and migrate it.
Each commits after every step (``FLUSH_EVERY_S = 0``) instead of every 0.1 s: the most write-lock
traffic the loop can make. What makes it hold is set in ``lab/store.py`` and asserted here: WAL (the
reader never blocks a writer), a 30 s busy timeout, and ``BEGIN IMMEDIATE`` for every write of several
statements (a writer waits for the lock instead of failing with "database is locked").
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path

from lab.core.records import RunConfig
from lab.store import BUSY_TIMEOUT_MS, RunStore
from lab.sweep import main_not_reimported

GRID = "minigrid:MiniGrid-Empty-8x8-v0"
WRITERS = 4
STEPS, TRIALS = 100, 3
"""Per writer: up to 300 steps, one commit each (a trial ends early only when the agent finds the goal)."""
DEADLINE_S = 120
PAGE = 25
"""Steps per read, like a page of the step table; Explore reads one step plus the memory at it."""


def write_one_run(seed: int, home: Path, results: Queue) -> None:
    """A writer process: one run through the real loop, committing after every step."""
    import lab.runner

    lab.runner.FLUSH_EVERY_S = 0.0
    store = RunStore(home / "runs.sqlite")  # the fork server may predate this test's MEMLAB_HOME
    config = RunConfig(env_id=GRID, agent_id="random", seed=seed, max_steps=STEPS, trials=TRIALS)
    info = lab.runner.execute(config, store)
    results.put({"run_id": info.run_id, "status": info.status, "steps": info.summary.steps,
                 "message": info.message, "settings": store.settings()})


def start_writers(n: int, home: Path) -> tuple[list[BaseProcess], Queue]:
    """``n`` writer processes forked from a server that imported the run loop once (not once each)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lab.runner", __name__])
    results = context.Queue()
    writers = [context.Process(target=write_one_run, args=(seed, home, results)) for seed in range(n)]
    with main_not_reimported():  # an AppTest earlier in the session leaves its page script as __main__
        for writer in writers:
            writer.start()
    return writers, results


def read_like_the_ui(store: RunStore, seen: dict[str, int]) -> int:
    """One pass over the store as pages read it; returns the steps read. Raises on any inconsistency."""
    read = 0
    for info in store.list_runs(limit=300):  # Home and Runs: the run list
        n = store.get_run(info.run_id).n_steps  # a picked run's header
        series = store.series(info.run_id)  # curves: the per-step columns
        assert series["idx"][:n] == list(range(n)), "a committed step is missing from the series"
        for start in range(0, n, PAGE):  # page through every committed step
            page = store.steps(info.run_id, start, min(start + PAGE, n))
            assert [s.index for s in page] == list(range(start, min(start + PAGE, n)))
            read += len(page)
        if n:
            store.step(info.run_id, n - 1)  # Explore: the step shown and the memory at it
            store.memory_at(info.run_id, n - 1)
        assert n >= seen.get(info.run_id, 0), "a run lost committed steps"
        seen[info.run_id] = n
    return read


def test_four_writers_and_a_paging_reader_lose_nothing_and_never_lock(home: Path) -> None:
    started = time.perf_counter()
    writers, results = start_writers(WRITERS, home)
    errors: list[str] = []
    seen: dict[str, int] = {}
    passes = steps_read = 0
    store: RunStore | None = None
    try:
        while any(w.is_alive() for w in writers) and time.perf_counter() - started < DEADLINE_S:
            try:
                store = store or RunStore()  # the first writers may still be creating the file
                steps_read += read_like_the_ui(store, seen)
                passes += 1
            except Exception as err:  # noqa: BLE001 -- whatever the reader sees is a failure: keep it
                errors.append(f"{type(err).__name__}: {err}")
            time.sleep(0.05)  # the UI polls every 2 s; this is 40 times as often
    finally:
        for w in writers:
            if w.is_alive():
                w.kill()
            w.join(timeout=30)
    wall = time.perf_counter() - started
    assert wall < DEADLINE_S, "the writers did not finish in time"
    assert not errors, f"the reader saw {len(errors)} error(s), first: {errors[0]}"
    assert [w.exitcode for w in writers] == [0] * WRITERS
    reports = [results.get(timeout=10) for _ in writers]

    store = store or RunStore()
    steps_read += read_like_the_ui(store, seen)  # a last pass after every writer finished
    written = 0
    for report in reports:
        assert report["status"] == "finished", report["message"]
        assert report["settings"] == {"busy_timeout": BUSY_TIMEOUT_MS, "journal_mode": "wal",
                                      "synchronous": "NORMAL", "foreign_keys": "ON"}
        info = store.get_run(report["run_id"])
        stored = [s.index for s in store.steps(info.run_id)]
        assert info.n_steps == report["steps"] and stored == list(range(report["steps"])), "steps were lost"
        written += report["steps"]
    assert store.settings() == reports[0]["settings"]
    assert store._db().execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert passes >= 3, "the reader did not overlap the writers"
    print(f"\n{WRITERS} writers, {written} steps written (one commit each), 0 lost; reader: {passes} passes, "
          f"{steps_read} steps read, {len(errors)} errors; {wall:.1f} s")
