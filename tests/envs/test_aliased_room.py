"""The aliased rooms: real MiniGrid grids, seeded layouts, recolouring, the observation goal."""

from __future__ import annotations

import numpy as np
import pytest

from envs.aliased_room import (
    ALLO_ACTIONS,
    EGO_ACTIONS,
    LANDMARK_COLOUR,
    AliasedRoomEnv,
    floor_classes,
    frame_png,
    render_frames,
    view_symbol,
)
from envs.registry import make_env
from lab.core.errors import ConfigError


def rollout(env_id: str, options: dict, seed: int, actions: list[str]) -> list[tuple]:
    env = make_env(env_id, options)
    obs = env.reset(seed=seed)
    seen = [(obs.text, obs.extra["symbol"], tuple(obs.privileged["agent_pos"]))]
    for action in actions:
        obs = env.step(action)
        seen.append((obs.text, obs.extra["symbol"], tuple(obs.privileged["agent_pos"]), obs.done, obs.won))
    env.close()
    return seen


@pytest.mark.parametrize("env_id", ["minigrid-aliased-room", "minigrid-aliased-room-ego"])
def test_same_seed_same_trajectory_and_different_seed_different_start(env_id: str) -> None:
    names = ALLO_ACTIONS if env_id == "minigrid-aliased-room" else EGO_ACTIONS
    rng = np.random.default_rng(0)
    actions = [names[int(i)] for i in rng.integers(len(names) - 1, size=60)]
    first, again = rollout(env_id, {}, 5, actions), rollout(env_id, {}, 5, actions)
    assert first == again
    starts = {rollout(env_id, {}, seed, [])[0][2] for seed in range(6)}
    assert len(starts) > 1


def test_allocentric_room_is_heavily_aliased_with_one_landmark() -> None:
    env = AliasedRoomEnv("minigrid-aliased-room", None)
    obs = env.reset(seed=0)
    assert obs.admissible == ["north", "east", "south", "west", "done"]
    assert obs.extra["goal_symbol"] == LANDMARK_COLOUR and obs.image is None
    colours = [env.grid_env.grid.get(x, y).color for x, y in env.cells()]
    assert len(colours) == 48 and colours.count(LANDMARK_COLOUR) == 1
    assert sorted(set(colours) - {LANDMARK_COLOUR}) == ["blue", "green", "red", "yellow"]
    assert max(colours.count(c) for c in set(colours)) >= 11  # balanced: ~12 cells per colour
    assert "agent_pos" not in obs.extra and obs.privileged["agent_pos"] == list(env.position)


def test_moves_bump_walls_and_done_only_wins_on_the_goal() -> None:
    env = AliasedRoomEnv("minigrid-aliased-room", make_env("minigrid-aliased-room", {"goal": [0, 0]}).options)
    env.reset(seed=1)
    for _ in range(10):
        env.step("north")
    assert env.position[1] == 1  # stopped at the wall
    for _ in range(10):
        obs = env.step("west")
    assert env.position == (1, 1) and obs.extra["symbol"] == LANDMARK_COLOUR and not obs.done
    obs = env.step("east")
    obs = env.step("done")
    assert not obs.done and "not the goal" in obs.feedback
    env.step("west")
    obs = env.step("done")
    assert obs.done and obs.won and obs.reward == 1.0
    assert "episode is over" in env.step("north").feedback


def test_recolouring_keeps_the_layout_and_permutes_the_colours() -> None:
    base = AliasedRoomEnv("minigrid-aliased-room", make_env("minigrid-aliased-room", {}).options)
    new = AliasedRoomEnv(
        "minigrid-aliased-room", make_env("minigrid-aliased-room", {"recolour_seed": 3}).options
    )
    assert sorted(new.palette) == sorted(base.palette) and new.palette != base.palette
    mapping = dict(zip(base.palette, new.palette)) | {LANDMARK_COLOUR: LANDMARK_COLOUR}
    for x, y in base.cells():
        assert mapping[base.grid_env.grid.get(x, y).color] == new.grid_env.grid.get(x, y).color
    assert (floor_classes(6, 8, 4, 0) == floor_classes(6, 8, 4, 0)).all()
    assert not (floor_classes(6, 8, 4, 0) == floor_classes(6, 8, 4, 1)).all()


def test_egocentric_room_goal_is_the_corner_view() -> None:
    env = make_env("minigrid-aliased-room-ego", {"goal": "ne"})
    obs = env.reset(seed=2)
    assert obs.admissible == EGO_ACTIONS and obs.image.shape == (3, 3, 3)
    assert obs.extra["symbol"] == view_symbol(obs.image) and obs.extra["symbol"].endswith(tuple("^.RGBY"))
    assert obs.extra["goal_symbol"] == "???/RRR/.^G"  # north wall red, east wall green
    recoloured = make_env("minigrid-aliased-room-ego", {"recolour_seed": 1}).reset(seed=2)
    assert recoloured.extra["goal_symbol"] != obs.extra["goal_symbol"]


def test_bad_options_and_actions_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="goal"):
        make_env("minigrid-aliased-room", {"goal": [9, 9]})
    with pytest.raises(ConfigError, match="unknown option 'size'"):
        make_env("minigrid-aliased-room", {"size": 5})
    env = make_env("minigrid-aliased-room", {})
    env.reset(seed=0)
    assert "unknown action 'jump'" in env.step("jump").feedback


def test_frames_render_as_png() -> None:
    frames = render_frames("minigrid-aliased-room", {"width": 4, "height": 4}, 0, ["north", "east"])
    assert len(frames) == 3 and frames[0].shape[2] == 3
    assert frame_png(frames[-1]).startswith(b"\x89PNG")
