"""Sweeps: local process pool, resume, a worker killed mid-sweep, and a local Ray instance."""

from __future__ import annotations

import sys
import threading
import time
import types

import psutil
import pytest

from lab.core.errors import ConfigError, LabError
from lab.store import RunStore
from lab.sweep import SweepSpec, parse_seeds, sweep

GRID = "minigrid:MiniGrid-Empty-5x5-v0"


def test_parse_seeds() -> None:
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(ConfigError, match="not a seed"):
        parse_seeds("a-b")


def test_local_sweep_runs_the_grid_and_resumes(store: RunStore) -> None:
    spec = SweepSpec(agents=["random"], envs=[GRID], seeds=[0, 1], max_steps=10)
    first = sweep(spec, store, workers=2)
    assert len(first.run_ids) == 2 and first.skipped == 0 and first.failed == 0
    runs = store.list_runs(label=spec.label())
    assert sorted(r.config.seed for r in runs) == [0, 1] and all(r.status == "finished" for r in runs)
    assert all(len(store.steps(r.run_id)) == r.n_steps == 10 for r in runs)
    again = sweep(spec, store, workers=2)
    assert again.skipped == 2 and again.run_ids == [] and again.label == first.label


def test_a_main_script_that_cannot_be_rerun_does_not_reach_the_workers(
    store: RunStore, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "page.py"  # like a Streamlit page or a notebook: re-running it in a worker fails
    script.write_text("raise SystemExit('this script must not run again in a worker')\n")
    caller = types.ModuleType("__main__")
    caller.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", caller)
    spec = SweepSpec(agents=["random"], envs=[GRID], seeds=[3], max_steps=5, name="main-script")
    result = sweep(spec, store, workers=1)
    assert len(result.run_ids) == 1 and result.failed == 0
    assert sys.modules["__main__"] is caller  # put back


def test_bad_cells_are_refused_before_anything_runs(store: RunStore) -> None:
    with pytest.raises(LabError, match="unknown agent 'nope'"):
        sweep(SweepSpec(agents=["random", "nope"], envs=[GRID], seeds=[0]), store)
    assert store.list_runs() == []


def test_a_killed_worker_keeps_finished_runs_and_the_sweep_resumes(store: RunStore) -> None:
    # runs long enough (~5k steps each) that the kill lands while most cells are still running
    spec = SweepSpec(agents=["random"], envs=["minigrid:MiniGrid-Empty-8x8-v0"], seeds=list(range(5)),
                     max_steps=256, trials=20, name="killed")
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=_catch(lambda: sweep(spec, store, workers=2))))
    thread.start()
    deadline = time.time() + 180
    while time.time() < deadline and not store.list_runs(label=spec.label()):
        time.sleep(0.2)
    assert store.list_runs(label=spec.label()), "no run finished in time"
    _pool_workers()[0].kill()
    thread.join(120)
    assert isinstance(outcome["result"], LabError) and "run the same command again" in str(outcome["result"])
    kept = store.list_runs(label=spec.label())
    assert kept and all(r.status == "finished" and len(store.steps(r.run_id)) == r.n_steps for r in kept)
    resumed = sweep(spec, store, workers=2)
    assert resumed.skipped == len(kept) and len(kept) + len(resumed.run_ids) == 5


def _pool_workers() -> list[psutil.Process]:
    """The sweep's workers: the children of this process's forkserver.

    Not every grandchild of the test process: a session-wide browser (the UI tests) has its own.
    """
    servers = [p for p in psutil.Process().children()
               if any("forkserver" in part for part in p.cmdline())]
    workers = [w for server in servers for w in server.children()]
    assert workers, "no sweep worker found"
    return workers


def _catch(fn):
    try:
        return fn()
    except LabError as err:
        return err


def test_sweep_on_a_local_ray_instance(store: RunStore) -> None:
    ray = pytest.importorskip("ray")
    spec = SweepSpec(agents=["random"], envs=[GRID], seeds=[0, 1], max_steps=5, name="ray")
    try:
        result = sweep(spec, store, use_ray=True)
    finally:
        ray.shutdown()
    assert len(result.run_ids) == 2 and result.failed == 0
    assert {r.status for r in store.list_runs(label="sweep:ray")} == {"finished"}
