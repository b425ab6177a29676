"""A recorded demo run with a growing graph memory, for the UI benchmark, screenshots and tests.

It plays a real MiniGrid env with random turns and forward moves (no pickup or toggle, so in the
default DoorKey-16x16 the agent wanders its first room and the trial lasts ``n_steps``) and records
a *place-graph* memory that the script itself builds (agent id ``demo-graph``, not a registered
agent): a node per visited cell, transition edges between cells, an episode node every
``episode_every`` steps chained to the previous one and linked to its cell, a bounded buffer of
observation records, and retrieval of the current cell and recent episodes. Old ``at`` edges are
marked outdated (kept, faded), and the oldest observation records are dropped. Steps, diffs and
keyframes are written exactly as the run loop writes them, so every page reads the run like any
other.
"""

from __future__ import annotations

import time

import numpy as np

from envs.minigrid_env import MiniGridEnv, MiniGridOptions
from lab.core import memory as memlib
from lab.core.records import (
    MemEdge, MemNode, MemorySnapshot, MemRecord, RunConfig, RunSummary, Step, Timings, TrialResult,
)
from lab.runner import observation_record
from lab.store import RunStore

AGENT_ID = "demo-graph"
MOVES = ("left", "right", "forward", "forward", "forward")
MOVE_NAMES = ", ".join(sorted(set(MOVES)))


class PlaceGraph:
    """The demo memory: cells, transitions, an episode chain, recent observations."""

    def __init__(self, episode_every: int, buffer: int) -> None:
        self.episode_every, self.buffer = episode_every, buffer
        self.nodes: dict[str, MemNode] = {}
        self.edges: dict[str, MemEdge] = {}
        self.records: list[MemRecord] = []
        self.retrieved: list[str] = []
        self.last_place: str | None = None
        self.last_episode: str | None = None

    def write(self, step: int, pos: list[int], action: str, text: str) -> None:
        """Add what step ``step`` saw."""
        place = f"cell {pos[0]},{pos[1]}"
        if place not in self.nodes:
            self.nodes[place] = MemNode(id=place, kind="place", label=place, added_step=step,
                                        attrs={"x": pos[0], "y": pos[1]})
        if self.last_place and self.last_place != place:
            self._edge(f"{self.last_place}->{place}", self.last_place, place, "transition", action, step)
        if step % self.episode_every == 0:
            episode = f"ep {step}"
            self.nodes[episode] = MemNode(id=episode, kind="episode", label=episode, added_step=step,
                                          attrs={"action": action, "observation": text[:200]})
            self._edge(f"at {step}", episode, place, "at", "at", step)
            if self.last_episode:
                self._edge(f"next {step}", self.last_episode, episode, "next", "then", step)
            self.last_episode = episode
        if step % 25 == 24:
            self._outdate(step)
        self.records.append(MemRecord(id=f"obs {step}", kind="observation", text=f"{action}: {text[:160]}",
                                      added_step=step))
        self.records = self.records[-self.buffer :]
        self.last_place = place

    def _edge(self, edge_id: str, source: str, target: str, kind: str, label: str, step: int) -> None:
        if edge_id not in self.edges:
            self.edges[edge_id] = MemEdge(id=edge_id, source=source, target=target, kind=kind, label=label,
                                          added_step=step)

    def _outdate(self, step: int) -> None:
        """Mark the oldest live ``at`` edge outdated (kept in the snapshot, shown faded)."""
        for edge_id, edge in self.edges.items():
            if edge.kind == "at" and edge.removed_step is None:
                self.edges[edge_id] = edge.model_copy(update={"removed_step": step})
                return

    def read(self) -> None:
        """Retrieve the current cell, the last episode and the newest observation records."""
        nodes = [n for n in (self.last_place, self.last_episode) if n]
        self.retrieved = nodes + [r.id for r in self.records[-3:]]

    def snapshot(self) -> MemorySnapshot:
        """The memory in the shared snapshot shape."""
        prompt = "\n".join(r.text for r in self.records[-5:])
        return MemorySnapshot(nodes=list(self.nodes.values()), edges=list(self.edges.values()),
                              records=list(self.records), prompt_text=prompt, retrieved=list(self.retrieved))


def record_demo(store: RunStore, n_steps: int = 200, seed: int = 0, env: str = "MiniGrid-DoorKey-16x16-v0",
                episode_every: int = 1, buffer: int = 60, snapshot_every: int = 10,
                label: str = "demo") -> str:
    """Play ``n_steps`` random steps in one trial and store them with the demo memory; returns the run id."""
    config = RunConfig(env_id=f"minigrid:{env}", env_options={"max_steps": n_steps + 1}, agent_id=AGENT_ID,
                       llm="none", seed=seed, max_steps=n_steps, snapshot_every=snapshot_every, label=label)
    run_id = store.create_run(config, {"demo": "lab.views.demo"})
    game = MiniGridEnv(config.env_id, MiniGridOptions(max_steps=n_steps + 1))
    rng, memory = np.random.default_rng(seed), PlaceGraph(episode_every, buffer)
    obs, prev, started, batch = game.reset(seed), None, time.perf_counter(), []
    for i in range(n_steps):
        t0 = time.perf_counter()
        memory.read()
        read_s = time.perf_counter() - t0
        action = MOVES[int(rng.integers(len(MOVES)))]
        t1 = time.perf_counter()
        nxt = game.step(action)
        env_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        memory.write(i, nxt.extra["agent_pos"], action, nxt.text)
        current = memory.snapshot()
        write_s = time.perf_counter() - t2
        ended = nxt.done or i == n_steps - 1
        batch.append(Step(
            index=i, t=i, observation=observation_record(obs), action=action, feedback=nxt.text,
            reward=nxt.reward,
            score=nxt.score, max_score=nxt.max_score, done=nxt.done, won=nxt.won, lost=nxt.lost,
            thoughts={"plan": "explore unseen cells", "rationale": f"random move among {MOVE_NAMES}"},
            memory_diff=memlib.diff(prev, current), memory_size=memlib.size(current),
            memory_snapshot=current if ended or i % snapshot_every == 0 else None, trial_end=ended,
            timings=Timings(env_s=env_s, memory_read_s=read_s, memory_write_s=write_s,
                            total_s=time.perf_counter() - t0)))
        prev, obs = current, nxt
        if len(batch) >= 100 or ended:
            store.append_steps(run_id, batch)
            batch = []
        if ended:
            break
    game.close()
    steps = i + 1
    trial = TrialResult(trial=0, steps=steps, score=obs.score, max_score=obs.max_score, won=obs.won,
                        lost=obs.lost)
    store.finish_run(run_id, RunSummary(status="finished", steps=steps, env_steps=steps, trials=[trial],
                                        score=obs.score, max_score=obs.max_score, normalized_score=obs.score,
                                        won=obs.won, wall_s=time.perf_counter() - started))
    return run_id
