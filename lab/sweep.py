"""Sweeps: a grid of agents x envs x seeds, run in a local process pool or on a Ray cluster.

Workers run whole cells away from the store and send each finished run back; the driver alone
writes the SQLite store, one transaction per run, so a worker killed mid-sweep leaves every
finished run intact. Running the same sweep again skips the finished cells (resume).
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable

from pydantic import Field

from lab.core.errors import ConfigError, LabError, MissingDependencyError
from lab.core.records import Record, RunConfig
from lab.runner import DetachedRun, execute_detached, prepare
from lab.store import RunStore


class SweepSpec(Record):
    """A grid of runs; everything but agents, envs and seeds is shared by all cells."""

    agents: list[str]
    envs: list[str]
    seeds: list[int]
    env_options: dict[str, Any] = Field(default_factory=dict)
    agent_config: dict[str, Any] = Field(default_factory=dict)
    llm: str = "embedded"
    llm_options: dict[str, float | int | None] = Field(default_factory=dict)
    max_steps: int = Field(default=100, ge=1)
    trials: int = Field(default=1, ge=1)
    name: str = ""
    """Names the sweep (its runs carry the label ``sweep:<name>``); by default a hash of the shared settings,
    so the same command resumes the same sweep and adding seeds or agents extends it."""

    def label(self) -> str:
        """The run label of this sweep's cells."""
        if self.name:
            return f"sweep:{self.name}"
        shared = self.model_dump(include={"env_options", "agent_config", "llm", "max_steps", "trials"})
        if self.llm_options:  # sweeps named before the field existed keep their hash
            shared["llm_options"] = self.llm_options
        return "sweep:" + hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:8]

    def cells(self) -> list[RunConfig]:
        """One config per (env, agent, seed), validated."""
        configs = [RunConfig(env_id=env, agent_id=agent, seed=seed, env_options=self.env_options,
                             agent_config=self.agent_config, llm=self.llm, llm_options=self.llm_options,
                             max_steps=self.max_steps,
                             trials=self.trials, label=self.label())
                   for env in self.envs for agent in self.agents for seed in self.seeds]
        for config in configs:
            prepare(config)
        return configs


def parse_seeds(text: str, field: str = "--seeds") -> list[int]:
    """``"0-9"``, ``"1,3,5"`` or a mix; a bad value raises a ``ConfigError`` naming ``field``.

    >>> parse_seeds("0-2, 7")
    [0, 1, 2, 7]
    """
    seeds: list[int] = []
    for part in filter(None, text.replace(" ", "").split(",")):
        lo, sep, hi = part.partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise ConfigError(f"{field}: {part!r} is not a seed, a list (0,3) or a range (0-4)") from None
    if not seeds:
        raise ConfigError(f"{field}: give at least one seed (0, a list 0,3 or a range 0-4)")
    return sorted(set(seeds))


def pending(spec: SweepSpec, store: RunStore) -> tuple[list[RunConfig], int]:
    """The cells without a finished run, and how many are already done."""
    finished = {(r.config.env_id, r.config.agent_id, r.config.seed)
                for r in store.list_runs(limit=10**9, label=spec.label(), status="finished")}
    cells = spec.cells()
    todo = [c for c in cells if (c.env_id, c.agent_id, c.seed) not in finished]
    return todo, len(cells) - len(todo)


def run_cell(config_json: str) -> str:
    """The worker's job: one cell, as JSON in and out (no pickled objects cross the boundary)."""
    return execute_detached(RunConfig.model_validate_json(config_json)).model_dump_json()


@dataclass
class SweepResult:
    """What a sweep did."""

    label: str
    run_ids: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0


Progress = Callable[[int, int], None]


def _store_result(store: RunStore, result: SweepResult, payload: str) -> None:
    run = DetachedRun.model_validate_json(payload)
    result.run_ids.append(store.add_run(run.config, run.versions, run.steps, run.summary,
                                        cross_run=run.cross_run))
    result.failed += run.summary.status != "finished"


@contextmanager
def main_not_reimported() -> Iterator[None]:
    """Start worker processes without re-running the caller's ``__main__`` script in each of them.

    multiprocessing re-imports ``__main__`` from its file in every new worker unless it was run as a
    module. The workers need only :func:`run_cell` (in this module), and the caller may be a script that
    cannot be re-run: a Streamlit page, a notebook kernel, a script without an ``if __name__`` guard.
    While workers start, ``__main__`` is a bare module; the caller's is put back at once.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None):
        yield  # run as a module (``python -m lab.cli``): workers import it by name, which is safe
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def run_local(todo: list[RunConfig], store: RunStore, result: SweepResult, workers: int,
              progress: Progress | None) -> None:
    """A local process pool; a dead worker ends the sweep with a clear error."""
    # forkserver: a fresh, single-threaded server imports the lab once and forks each worker from it
    # (spawn would re-import torch and the envs per worker; fork could inherit a busy torch thread pool)
    context = get_context("forkserver")
    context.set_forkserver_preload(["lab.sweep"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        with main_not_reimported():  # the workers start with the first submits
            futures = [pool.submit(run_cell, config.model_dump_json()) for config in todo]
        try:
            for done, future in enumerate(as_completed(futures), 1):
                _store_result(store, result, future.result())
                if progress:
                    progress(done, len(todo))
        except BrokenProcessPool:
            raise LabError(f"a sweep worker died; {len(result.run_ids)} finished run(s) of this pass are "
                           "stored; run the same command again to resume") from None


def run_ray(todo: list[RunConfig], store: RunStore, result: SweepResult, address: str | None,
            progress: Progress | None) -> None:
    """Ray tasks (a local instance when ``address`` is empty); results come back to this driver."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("memlab sweep --ray", "ray") from None
    ray.init(address=address or None, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    task = ray.remote(run_cell)
    waiting = [task.remote(config.model_dump_json()) for config in todo]
    done = 0
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        try:
            _store_result(store, result, ray.get(ready[0]))
        except ray.exceptions.RayError as err:  # a worker died: its cell stays pending for the next pass
            result.failed += 1
            print(f"a sweep cell failed on Ray: {type(err).__name__}")
        done += 1
        if progress:
            progress(done, len(todo))


def sweep(spec: SweepSpec, store: RunStore | None = None, workers: int = 2, ray_address: str | None = None,
          use_ray: bool = False, progress: Progress | None = None) -> SweepResult:
    """Run the pending cells of a sweep and store each finished run."""
    store = store or RunStore()
    todo, skipped = pending(spec, store)
    result = SweepResult(label=spec.label(), skipped=skipped)
    if not todo:
        return result
    if use_ray:
        run_ray(todo, store, result, ray_address, progress)
    else:
        run_local(todo, store, result, max(1, workers), progress)
    return result
