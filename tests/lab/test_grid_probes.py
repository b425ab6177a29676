"""Grid probes: grid memories' beliefs scored against the env's ground truth, by hand and in real runs.

Hand-built beliefs are scored against the privileged state of real aliased rooms and RoomRecall episodes,
with known accuracy; the env's true shortest paths are checked against its real dynamics; real runs of graph
schemas, a from-scratch CSCG and SAT store the metrics on the steps ``probe_every`` says, from the lab's
ground truth only: the agents' ``act`` and ``observe`` never see a privileged field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.graph_schemas import GraphSchemaAgent, GraphSchemaConfig, ScratchCSCGAgent
from agents.graph_schemas.memory import LatentGraphMemory
from agents.graph_schemas.schema import Schema, save_schema
from agents.graph_schemas.train import train_schema
from agents.sat.agent import SatAgent
from agents.sat.memory import SlotMemory
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions, EgoRoomOptions
from envs.room_recall import RoomRecallEnv, RoomRecallOptions
from lab.core.env import Observation
from lab.core.protocols import AgentContext, Answer, Belief, BeliefMemory, Task
from lab.core.records import MemorySnapshot, RunConfig
from lab.grid_probes import GridProber
from lab.runner import execute

ROOM = {"width": 4, "height": 4}
ALLO = "minigrid-aliased-room"
EGO = "minigrid-aliased-room-ego"


class Stated:
    """A memory whose belief is set by hand."""

    def __init__(self) -> None:
        self.belief = Belief()

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot()

    def current_belief(self) -> Belief:
        return self.belief


class Plain:
    """A memory without a belief."""

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot()


@pytest.fixture(scope="module")
def room_schema() -> Schema:
    """A schema of the 4x4 room (about 20 clones for 16 cells; ~1 s)."""
    return train_schema("grid-probe-room", AliasedRoomOptions(**ROOM), steps=3000, max_iter=300, chunk_len=20,
                        device="cpu")


@pytest.fixture
def schema_home(room_schema: Schema, home: Path) -> Path:
    save_schema(room_schema)
    return home


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def walk(env: AliasedRoomEnv, steps: int, seed: int) -> list[Observation]:
    """A random walk's observations (the reset one first)."""
    rng, moves = np.random.default_rng(seed), [a for a in env.action_names if a != "done"]
    out = [env.reset(seed=seed)]
    for _ in range(steps):
        out.append(env.step(moves[int(rng.integers(len(moves)))]))
    return out


# ---- hand-built beliefs against real envs -----------------------------------------------------------------


def test_a_perfect_latent_state_is_scored_right_on_every_revisit_and_a_new_model_maps_afresh() -> None:
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM))
    obs = walk(env, 80, seed=1)
    index = {cell: i for i, cell in enumerate(env.cells())}
    prober, memory, scores = GridProber(every=1), Stated(), []
    for k, o in enumerate(obs):
        memory.belief = Belief(state=index[tuple(o.privileged["state"])], model="a" if k < 40 else "b")
        scores.append(prober.score(memory, o.privileged))
    for part in (slice(0, 40), slice(40, None)):
        cells = [tuple(o.privileged["state"]) for o in obs[part]]
        scored = [s for s in scores[part] if "probe/localisation/cooccurrence" in s]
        assert len(scored) == len(cells) - len(set(cells)) > 10  # a state's first visit is not scored
        assert all(s["probe/localisation/cooccurrence"] == s["probe/localisation/accuracy"] == 1.0
                   for s in scored)


def test_one_state_for_every_cell_is_wrong_wherever_it_is_not_the_most_visited_cell() -> None:
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM))
    obs = walk(env, 60, seed=2)
    prober, memory, hits = GridProber(every=1), Stated(), []
    memory.belief = Belief(state=0, model="one clone")
    counts: dict[tuple[int, ...], int] = {}
    for k, o in enumerate(obs):
        cell = tuple(o.privileged["state"])
        score = prober.score(memory, o.privileged)
        if k == 0:
            assert score == {}  # nothing mapped yet
        else:
            best = max(counts.values())
            expected = next(c for c, n in counts.items() if n == best) == cell  # ties: the first seen
            hits.append(score["probe/localisation/cooccurrence"])
            assert score["probe/localisation/cooccurrence"] == float(expected)
        counts[cell] = counts.get(cell, 0) + 1
    assert 0 < np.mean(hits) < 0.5


def test_a_declared_cell_is_used_when_the_memory_has_one() -> None:
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM))
    prober, memory = GridProber(every=1), Stated()
    for o in walk(env, 20, seed=3):
        x, y = o.privileged["state"]
        memory.belief = Belief(state=7, model="m", cell=(x, y))
        assert prober.score(memory, o.privileged)["probe/localisation/accuracy"] == 1.0
        memory.belief = Belief(state=7, model="m", cell=(x, y + 1))
        assert prober.score(memory, o.privileged)["probe/localisation/accuracy"] == 0.0


def replay(env_id: str, options, seed: int, actions: list[str]) -> tuple[AliasedRoomEnv, Observation]:
    env = AliasedRoomEnv(env_id, options)
    last = env.reset(seed=seed)
    for action in actions:
        last = env.step(action)
    return env, last


@pytest.mark.parametrize("env_id,options", [(ALLO, AliasedRoomOptions(**ROOM)), (EGO, EgoRoomOptions())])
def test_the_true_goal_distance_follows_the_real_dynamics_and_scores_plans(env_id: str, options) -> None:
    """Walking down the distance one real step at a time reaches the goal, where ``done`` wins; no move
    shortens it by more than one; a plan that long is optimal, one move more is not."""
    env, start = replay(env_id, options, 5, [])
    distance, moves = start.privileged["goal_distance"], [a for a in env.action_names if a != "done"]
    assert distance > 0
    prober, memory = GridProber(every=1), Stated()
    memory.belief = Belief(plan=("forward",) * distance)
    assert prober.score(memory, start.privileged)["probe/plan/optimal"] == 1.0
    memory.belief = Belief(plan=("forward",) * (distance + 1))
    assert prober.score(memory, start.privileged) == {"probe/plan/optimal": 0.0, "probe/plan/excess": 1.0}
    played: list[str] = []
    for left in range(distance, 0, -1):
        after = {a: replay(env_id, options, 5, [*played, a])[1].privileged["goal_distance"] for a in moves}
        assert min(after.values()) == left - 1
        played.append(min(after, key=after.get))
    env, last = replay(env_id, options, 5, played)
    assert last.privileged["goal_distance"] == 0 and env.step("done").won


def test_answers_are_scored_per_family_against_the_episode_truth() -> None:
    env = RoomRecallEnv(options=RoomRecallOptions(family="Q2", steps=20, queries=3))
    obs = env.reset(seed=4)
    while obs.extra["phase"] == "explore":
        assert obs.privileged == {}
        obs = env.step("continue")
    truth = obs.privileged["queries"]
    assert [q["family"] for q in truth] == ["Q2"] * 3 and obs.extra["query_index"] == 0
    wrong = next(r for r in (f"room {i}" for i in range(9)) if r != truth[1]["answer"])
    given = [Answer(0, "Q2", truth[0]["answer"]), Answer(1, "Q2", wrong), Answer(2, "Q2", truth[2]["answer"])]
    prober, memory = GridProber(every=1), Stated()
    for k, answer in enumerate(given):
        memory.belief = Belief(answers=tuple(given[: k + 1]))
        score = prober.score(memory, obs.privileged)
        assert score["probe/Q2/count"] == k + 1 and score["probe/Q2/answer"] == [1.0, 0.5, 2 / 3][k]
        obs = env.step(answer.answer)
    assert obs.done and obs.score == 2.0  # the env grades the same answers the same way
    memory.belief = Belief(answers=(Answer(5, "Q2", "room 0"),))  # no such question: not scored
    assert prober.score(memory, obs.privileged) == {}


def test_no_probes_when_off_without_ground_truth_or_without_a_belief() -> None:
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM))
    truth, memory = env.reset(seed=0).privileged, Stated()
    memory.belief = Belief(state=1, model="m", cell=tuple(truth["state"]), plan=("north",))
    assert GridProber(every=1).score(memory, truth)
    assert GridProber(every=0).score(memory, truth) == {}
    assert GridProber(every=1).score(memory, {"facts": ["at(P, kitchen)"]}) == {}  # a text env's truth
    assert GridProber(every=1).score(Plain(), truth) == {}  # a memory that states no belief
    assert GridProber(every=1).score(None, truth) == {}


# ---- real runs --------------------------------------------------------------------------------------------


def spy(monkeypatch: pytest.MonkeyPatch, agent_cls: type, env_cls: type) -> dict[str, list[dict]]:
    """Record the privileged dict of what the agent is given and of what the env returns."""
    seen: dict[str, list[dict]] = {"agent": [], "env": []}
    act, observe, step = agent_cls.act, agent_cls.observe, env_cls.step

    def spy_act(self, observation):
        seen["agent"].append(observation.privileged)
        return act(self, observation)

    def spy_observe(self, transition):
        seen["agent"] += [transition.observation.privileged, transition.next_observation.privileged]
        return observe(self, transition)

    def spy_step(self, action):
        out = step(self, action)
        seen["env"].append(out.privileged)
        return out

    monkeypatch.setattr(agent_cls, "act", spy_act)
    monkeypatch.setattr(agent_cls, "observe", spy_observe)
    monkeypatch.setattr(env_cls, "step", spy_step)
    return seen


def room_run(agent_id: str, agent_config: dict, probe_every: int = 1, max_steps: int = 200) -> RunConfig:
    return RunConfig(env_id=ALLO, env_options={**ROOM, "recolour_seed": 2}, agent_id=agent_id,
                     agent_config=agent_config, max_steps=max_steps, seed=3, probe_every=probe_every)


def test_a_graph_schemas_run_is_localised_and_plans_optimally_without_seeing_ground_truth(
    schema_home: Path, store, room_schema: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = spy(monkeypatch, GraphSchemaAgent, AliasedRoomEnv)
    info = execute(room_run("graph-schemas", {"schemas": ["grid-probe-room"], "explore_steps": 120}), store)
    assert info.status == "finished" and info.summary.won, info.summary.message
    assert seen["env"] and all(p["state"] for p in seen["env"])  # the env gave ground truth...
    assert seen["agent"] and not any(seen["agent"])  # ...and the agent never saw any of it
    steps = store.steps(info.run_id)
    navigating = [s for s in steps if s.thoughts["status"].startswith("navigating")]
    assert navigating and all(s.metrics["probe/plan/optimal"] == 1.0 for s in navigating)
    assert not any("probe/plan/optimal" in s.metrics for s in steps if s not in navigating)
    # the clone's cell in the schema's own map against the true cell, from a replay of the played actions
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM, recolour_seed=2))
    env.reset(seed=3)
    for s in steps:
        if "clone" in s.thoughts:
            expected = room_schema.cells[int(s.thoughts["clone"][1:])] == list(env.true_state)
            assert s.metrics["probe/localisation/accuracy"] == float(expected)
        env.step(s.action)
    assert np.mean([s.metrics["probe/localisation/accuracy"] for s in navigating]) == 1.0
    assert all(s.metrics == {} for s in steps if s.t < 120)  # exploring: no model, no belief
    snap = LatentGraphMemory()
    assert isinstance(snap, BeliefMemory) and snap.current_belief() == Belief()


def test_grid_probes_follow_probe_every(schema_home: Path, store) -> None:
    agent = {"schemas": ["grid-probe-room"], "explore_steps": 120}
    off = execute(room_run("graph-schemas", agent, probe_every=0), store)
    assert not any(k.startswith("probe/") for s in store.steps(off.run_id) for k in s.metrics)
    every3 = execute(room_run("graph-schemas", agent, probe_every=3), store)
    steps = store.steps(every3.run_id)
    probed = {s.t for s in steps if "probe/localisation/accuracy" in s.metrics}
    assert probed and probed == {s.t for s in steps if s.t >= 120 and ((s.t + 1) % 3 == 0 or s.trial_end)}


def test_a_scratch_cscg_is_scored_by_the_labs_own_cell_map(store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy(monkeypatch, ScratchCSCGAgent, AliasedRoomEnv)
    info = execute(room_run("cscg-scratch", {"explore_steps": 150, "em_iters": 60}), store)  # replans
    assert info.status == "finished", info.summary.message
    assert seen["agent"] and not any(seen["agent"])
    metrics = [s.metrics for s in store.steps(info.run_id) if s.metrics]
    mapped = [m for m in metrics if "probe/localisation/cooccurrence" in m]
    assert mapped and all(m["probe/localisation/accuracy"] == m["probe/localisation/cooccurrence"]
                          for m in mapped)  # no map of its own: the lab's
    assert any("probe/plan/excess" in m for m in metrics)


def test_a_sat_run_reports_its_answers_per_family(store, one_thread, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy(monkeypatch, SatAgent, RoomRecallEnv)
    config = RunConfig(env_id="minigrid-room-recall", env_options={"family": "Q1", "steps": 40, "queries": 3},
                       agent_id="sat", agent_config={"variant": "SAT-PM-PH", "capacity": 16}, seed=1,
                       max_steps=80)  # probe_every 5: only the last question's step is due
    info = execute(config, store)
    assert info.status == "finished", info.summary.message
    assert any(seen["env"]) and not any(seen["agent"])
    steps = store.steps(info.run_id)
    last = steps[-1]
    assert last.trial_end and last.metrics["probe/Q1/count"] == 3.0
    assert last.metrics["probe/Q1/answer"] == sum(s.reward for s in steps) / 3  # as the env graded them
    assert not any("probe/Q1/answer" in s.metrics for s in steps[:-1])
    assert all(s.probes is None for s in steps)  # its facts are RoomRecall's, not TextWorld's: no text probes
    memory = SlotMemory(16, "fifo")
    assert isinstance(memory, BeliefMemory) and memory.current_belief() == Belief()


def test_sat_navigate_back_is_scored_on_the_room_it_predicts(store, one_thread) -> None:
    options = {"family": "navigate", "steps": 60}
    config = RunConfig(env_id="minigrid-room-recall", env_options=options, agent_id="sat",
                       agent_config={"variant": "SAT-FIFO", "capacity": 16}, seed=1, max_steps=120)
    info = execute(config, store)
    assert info.status == "finished", info.summary.message
    steps = store.steps(info.run_id)
    first = next(s for s in steps if "predicted_rooms" in s.thoughts)
    predicted = next(iter(first.thoughts["predicted_rooms"]))  # the top-ranked room
    env = RoomRecallEnv(options=RoomRecallOptions(**options))
    obs = env.reset(seed=1)
    while obs.extra["phase"] == "explore":
        obs = env.step("continue")
    (truth,) = obs.privileged["queries"]
    assert steps[-1].trial_end and steps[-1].metrics["probe/navigate/count"] == 1.0
    assert steps[-1].metrics["probe/navigate/answer"] == float(predicted == truth["answer"])


def test_reading_the_belief_changes_nothing(schema_home: Path) -> None:
    env = AliasedRoomEnv(ALLO, AliasedRoomOptions(**ROOM, recolour_seed=2))
    agent = GraphSchemaAgent(GraphSchemaConfig(schemas=["grid-probe-room"], explore_steps=60),
                             AgentContext(llm=None, rng=np.random.default_rng(0), seed=0))
    agent.reset(Task(env_id=ALLO, env_kind="grid", objective="", action_names=env.action_names))
    obs, beliefs = env.reset(seed=3), []
    for _ in range(80):
        action = agent.act(obs.public())
        before = agent.memory.snapshot()
        beliefs.append(agent.memory.current_belief())
        assert agent.memory.snapshot() == before and agent.memory.current_belief() == beliefs[-1]
        obs = env.step(action.command)
        if obs.done:
            break
    assert any(b.state is not None for b in beliefs) and any(b.plan for b in beliefs)
