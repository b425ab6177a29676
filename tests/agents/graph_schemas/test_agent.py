"""The graph-schemas agent and its from-scratch baseline: statuses, bad input, a real run, the views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.graph_schemas import GraphSchemaAgent, GraphSchemaConfig, ScratchConfig, ScratchCSCGAgent
from agents.graph_schemas.schema import Schema, save_schema
from agents.graph_schemas.views import bps_curve_figure, grid_figure, latent_graph_figure
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.protocols import AgentContext, Task
from lab.core.records import RunConfig
from lab.runner import execute
from lab.views.hooks import agent_figures

MOVES = ["north", "east", "south", "west", "done"]


def make(agent_cls, config, seed: int = 0):
    agent = agent_cls(config, AgentContext(llm=None, rng=np.random.default_rng(seed), seed=seed))
    agent.reset(Task(env_id="minigrid-aliased-room", env_kind="grid", objective="", action_names=MOVES))
    return agent


def obs(symbol: str, goal: str | None = "purple") -> Observation:
    extra = {"symbol": symbol} | ({"goal_symbol": goal} if goal else {})
    return Observation(text=f"You stand on a {symbol} tile.", admissible=MOVES, extra=extra)


@pytest.fixture
def schema_home(small_schema: Schema, home: Path) -> Path:
    save_schema(small_schema)
    return home


def play(agent, env: AliasedRoomEnv, seed: int, steps: int) -> tuple[Observation, list[dict]]:
    observation, thoughts = env.reset(seed=seed), []
    for _ in range(steps):
        action = agent.act(observation.public())
        thoughts.append(action.thoughts)
        observation = env.step(action.command)
        if observation.done:
            break
    return observation, thoughts


def test_goal_never_observed_gives_a_status_not_an_error(schema_home: Path) -> None:
    agent = make(GraphSchemaAgent, GraphSchemaConfig(schemas=["test-room"], explore_steps=5))
    statuses = [agent.act(obs(["red", "green"][t % 2])).thoughts["status"] for t in range(12)]
    assert statuses[0].startswith("exploring (0/5")
    assert statuses[-1] == "goal not yet observed: exploring"
    no_goal = make(GraphSchemaAgent, GraphSchemaConfig(schemas=["test-room"], explore_steps=2))
    assert [no_goal.act(obs("red", goal=None)).thoughts["status"] for _ in range(4)][-1] == (
        "no goal observation given: exploring"
    )


@pytest.mark.parametrize(
    "agent_cls,config",
    [
        (GraphSchemaAgent, GraphSchemaConfig(schemas=["test-room"], explore_steps=150)),
        (ScratchCSCGAgent, ScratchConfig(explore_steps=150, em_iters=60)),
    ],
)
def test_unseen_observation_symbol_gives_a_status_and_a_rebinding(
    schema_home: Path, agent_cls, config
) -> None:
    env = AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions(width=4, height=4, recolour_seed=1))
    agent = make(agent_cls, config, seed=2)
    observation, thoughts = play(agent, env, seed=2, steps=152)
    assert agent.model is not None and "ultraviolet" not in agent.model.vocab
    action = agent.act(obs("ultraviolet"))
    assert action.command in MOVES
    assert "observation 'ultraviolet' was never seen" in action.thoughts["status"]
    assert "ultraviolet" in agent.model.vocab and "learned" in action.thoughts


def test_missing_schema_and_unusable_actions_are_one_line_errors(schema_home: Path) -> None:
    with pytest.raises(ConfigError, match="memlab train schemas --name room-9x9"):
        GraphSchemaAgent(
            GraphSchemaConfig(schemas=["room-9x9"]), AgentContext(None, np.random.default_rng(0), 0)
        )
    agent = GraphSchemaAgent(
        GraphSchemaConfig(schemas=["test-room"]), AgentContext(None, np.random.default_rng(0), 0)
    )
    with pytest.raises(ConfigError, match="no schema fits"):
        agent.reset(
            Task(
                env_id="minigrid-aliased-room-ego",
                env_kind="grid",
                objective="",
                action_names=["left", "right", "forward", "done"],
            )
        )


def test_a_real_run_rebinds_navigates_and_wins(schema_home: Path, store) -> None:
    config = RunConfig(
        env_id="minigrid-aliased-room",
        env_options={"width": 4, "height": 4, "recolour_seed": 2},
        agent_id="graph-schemas",
        agent_config={"schemas": ["test-room"], "explore_steps": 120},
        max_steps=200,
        seed=3,
        snapshot_every=50,
    )
    info = execute(config, store)
    assert info.status == "finished" and info.summary.won, info.summary.message
    steps = store.steps(info.run_id)
    statuses = [s.thoughts["status"] for s in steps]
    assert statuses[0].startswith("exploring") and statuses[-1] == "at the goal: done"
    first_nav = next(s for s in steps if s.thoughts["status"].startswith("navigating"))
    assert first_nav.t >= 120 and "learning_curve" in first_nav.thoughts and first_nav.thoughts["plan"]
    assert first_nav.thoughts["bits_per_step"] < 0.5 and first_nav.thoughts["binding"]["purple"] == "purple"
    assert len(steps) - first_nav.t <= 12  # a 4x4 room: at most 6 moves to the goal, plus replans
    snapshot = store.memory_at(info.run_id, first_nav.index)
    clones = [n for n in snapshot.nodes if n.kind == "clone"]
    assert clones and all({"observation", "colour", "cell", "slot"} <= set(n.attrs) for n in clones)
    assert all(e.kind == "transition" and e.label in MOVES for e in snapshot.edges)
    assert snapshot.retrieved[0] == first_nav.thoughts["clone"]
    assert {r.kind for r in snapshot.records} >= {"belief", "plan", "learning_curve", "status"}
    assert latent_graph_figure(snapshot).data and grid_figure(snapshot).layout.shapes
    assert len(agent_figures("graph-schemas", snapshot, first_nav)) == 3  # latent graph, grid, curves
    assert {t.name for t in bps_curve_figure(snapshot).data} >= {
        "schema em",
        "schema viterbi",
        "schema test-room",
    }
