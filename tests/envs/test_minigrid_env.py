"""The MiniGrid adapter on real MiniGrid/BabyAI envs, and the text rendering of the view."""

from __future__ import annotations

import io
import random
import time

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from envs.minigrid_env import ACTION_NAMES, MiniGridEnv, frame_png, render_frame, render_frames
from envs.registry import make_env
from envs.text_render import offset_phrase, object_phrase, render_text, visible_objects
from lab.core.errors import ConfigError, UnknownIdError

EMPTY = "minigrid:MiniGrid-Empty-5x5-v0"
PATH_TO_GOAL = ["forward", "forward", "right", "forward", "forward"]
"""Empty-5x5: the agent starts at (1, 1) facing east; the goal is at (3, 3)."""


def random_actions(seed: int, count: int) -> list[str]:
    """A reproducible random action sequence, with a few unknown actions mixed in."""
    rng = random.Random(seed)
    return [rng.choice(ACTION_NAMES + ["jump"]) for _ in range(count)]


def test_make_env_builds_a_registered_minigrid_env() -> None:
    env = make_env("minigrid:MiniGrid-FourRooms-v0")
    obs = env.reset(seed=3)
    assert isinstance(env, MiniGridEnv) and env.kind == "grid"
    assert env.env_id == "minigrid:MiniGrid-FourRooms-v0"
    names = ["left", "right", "forward", "pickup", "drop", "toggle", "done"]
    assert obs.admissible == env.action_names == names
    assert obs.image is not None and obs.image.shape == (7, 7, 3)
    assert obs.objective == "reach the goal" and obs.text.startswith("Mission: reach the goal. Facing: ")
    assert obs.max_score == 1.0 and obs.score == 0.0 and not obs.done
    assert obs.extra["carrying"] is None and len(obs.extra["agent_pos"]) == 2
    assert obs.privileged == {}
    env.close()


def test_babyai_ids_work_too() -> None:
    env = make_env("minigrid:BabyAI-GoToLocal-v0")
    obs = env.reset(seed=1)
    assert obs.objective.startswith("go to ") and "Visible: " in obs.text
    env.close()


def test_unknown_id_lists_the_valid_ids() -> None:
    with pytest.raises(UnknownIdError) as info:
        make_env("minigrid:MiniGrid-NoSuchThing-v0")
    message = str(info.value)
    assert "unknown MiniGrid env 'MiniGrid-NoSuchThing-v0'" in message
    assert "MiniGrid-FourRooms-v0" in message and "BabyAI-GoToLocal-v0" in message
    assert all(v.startswith(("MiniGrid-", "BabyAI-")) for v in info.value.valid)


@pytest.mark.parametrize(
    ("options", "field"),
    [({"view_size": 4}, "view_size"), ({"view_size": 17}, "view_size"), ({"max_steps": 0}, "max_steps"),
     ({"colour": "red"}, "colour")],
)
def test_bad_options_are_config_errors_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        make_env(EMPTY, options)


def test_view_size_and_max_steps_apply() -> None:
    env = make_env(EMPTY, {"view_size": "5", "max_steps": 2})
    assert env.reset(seed=0).image.shape == (5, 5, 3)
    assert not env.step("left").done
    last = env.step("left")
    assert last.done and last.lost and not last.won
    env.close()


def test_same_seed_same_actions_same_observations() -> None:
    first, second = make_env("minigrid:MiniGrid-DoorKey-6x6-v0"), make_env("minigrid:MiniGrid-DoorKey-6x6-v0")
    pairs = [(first.reset(seed=11), second.reset(seed=11))]
    pairs += [(first.step(a), second.step(a)) for a in random_actions(5, 60)]
    for a, b in pairs:
        assert a.text == b.text and a.feedback == b.feedback and a.extra == b.extra
        assert np.array_equal(a.image, b.image)
        assert (a.reward, a.score, a.done, a.direction) == (b.reward, b.score, b.done, b.direction)
    again = first.reset(seed=11)
    assert again.text == pairs[0][0].text and np.array_equal(again.image, pairs[0][0].image)
    first.close()
    second.close()


def test_replayed_frames_equal_live_frames() -> None:
    env_id, seed, actions = "minigrid:MiniGrid-DoorKey-5x5-v0", 4, random_actions(9, 30)
    live = MiniGridEnv(env_id, render_mode="rgb_array")
    live.reset(seed)
    live_frames = [live.render()] + [(live.step(a), live.render())[1] for a in actions]
    live.close()
    raw = gym.make("MiniGrid-DoorKey-5x5-v0", render_mode="rgb_array")
    raw.reset(seed=seed)
    raw_frames = [raw.render()]
    for action in actions:
        if action in ACTION_NAMES:
            raw.step(ACTION_NAMES.index(action))
        raw_frames.append(raw.render())
    raw.close()
    replayed = render_frames(env_id, {}, seed, actions)
    assert len(replayed) == len(live_frames) == len(actions) + 1
    for replay_frame, live_frame, raw_frame in zip(replayed, live_frames, raw_frames):
        assert np.array_equal(replay_frame, live_frame) and np.array_equal(replay_frame, raw_frame)
    assert np.array_equal(render_frame(env_id, {}, seed, actions, 17), live_frames[17])
    with pytest.raises(IndexError):
        render_frame(env_id, {}, seed, actions, len(actions) + 1)


def test_frame_png_round_trips() -> None:
    frame = render_frame(EMPTY, {}, 0, PATH_TO_GOAL, 2)
    data = frame_png(frame)
    assert data.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), frame)


def test_known_path_to_the_goal_wins() -> None:
    env = make_env(EMPTY)
    env.reset(seed=0)
    steps = [env.step(a) for a in PATH_TO_GOAL]
    assert not any(o.done for o in steps[:-1])
    last = steps[-1]
    assert last.done and last.won and not last.lost
    assert 0 < last.reward <= 1.0 and last.score == last.reward
    assert last.extra["agent_pos"] == [3, 3]
    after = env.step("forward")
    assert after.feedback.startswith("the episode is over") and after.reward == 0.0 and after.won
    env.close()


def test_unknown_action_is_a_no_op() -> None:
    env = make_env(EMPTY, {"max_steps": 1})
    start = env.reset(seed=0)
    same = env.step("jump")
    assert same.feedback == "unknown action 'jump'; valid: left, right, forward, pickup, drop, toggle, done"
    assert same.text.startswith(same.feedback) and same.text.endswith(start.text)
    assert same.reward == 0.0 and not same.done and same.extra == start.extra
    assert np.array_equal(same.image, start.image)
    assert env.step("left").done  # the one allowed step was not spent on "jump"
    env.close()


def view(size: int = 5) -> np.ndarray:
    """A hand-made egocentric view: all empty floor, the agent at (size // 2, size - 1)."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[:, :, 0] = 1
    return image


def test_render_text_lists_objects_with_relative_positions() -> None:
    image = view()
    image[:, 0] = (0, 0, 0)  # far row unseen
    image[0, :] = (2, 5, 0)  # walls along the left edge: not mentioned
    image[2, 3] = (2, 5, 0)  # a wall directly in front
    image[1, 3] = (4, 0, 1)  # closed red door, 1 ahead 1 left
    image[4, 2] = (8, 1, 0)  # green goal, 2 ahead 2 right
    image[3, 4] = (9, 0, 0)  # lava, 1 right
    image[2, 4] = (5, 2, 0)  # the agent's own cell: it carries a blue key
    text = render_text(image, 3, "get to the green goal square")
    assert text == (
        "Mission: get to the green goal square. Facing: north. Carrying: blue key. In front: wall. "
        "Visible: lava (1 right); closed red door (1 ahead, 1 left); green goal (2 ahead, 2 right)."
    )


def test_render_text_of_an_empty_view() -> None:
    text = render_text(view(7), 0, "reach the goal.")
    assert text == (
        "Mission: reach the goal. Facing: east. Carrying: nothing. In front: empty floor. Visible: nothing."
    )


def test_front_object_is_not_listed_twice() -> None:
    image = view()
    image[2, 3] = (4, 4, 2)  # locked yellow door in front
    image[2, 1] = (6, 3, 0)  # purple ball 3 ahead
    assert "In front: locked yellow door. Visible: purple ball (3 ahead)." in render_text(image, 1, "open it")
    assert visible_objects(image) == [(3, 0, "purple ball")]


def test_phrases() -> None:
    assert object_phrase(np.array([4, 0, 0])) == "open red door"
    assert object_phrase((7, 5, 0)) == "grey box"
    assert offset_phrase(2, 0) == "2 ahead" and offset_phrase(0, -3) == "3 left"
    assert offset_phrase(1, 2) == "1 ahead, 2 right"


def test_render_text_is_cheap() -> None:
    env = gym.make("BabyAI-GoToLocal-v0")
    obs, _ = env.reset(seed=1)
    start = time.perf_counter()
    for _ in range(1000):
        render_text(obs["image"], obs["direction"], obs["mission"])
    assert (time.perf_counter() - start) / 1000 < 0.002  # measured ~15 us; generous for loaded machines
    env.close()
