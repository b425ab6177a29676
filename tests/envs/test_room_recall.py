"""minigrid-room-recall: worlds, the scripted explorer, queries, grading, navigation, the data generator."""

from __future__ import annotations

import numpy as np
import pytest

from envs.registry import ENV_MODULES, parse_options
from envs.room_recall import (
    N_ROOMS,
    OBJECT_CLASSES,
    PATTERN_CELLS,
    SPECS,
    VEC,
    Episode,
    RoomGrid,
    RoomRecallEnv,
    RoomRecallOptions,
    answers,
    generate,
    make_layout,
)
from lab.core.errors import ConfigError


def play_exploration(env: RoomRecallEnv, seed: int):
    obs = env.reset(seed=seed)
    trace = [obs]
    while obs.extra["phase"] == "explore":
        obs = env.step("continue")
        trace.append(obs)
    return trace


def test_world_has_nine_rooms_distinct_objects_and_open_doorways() -> None:
    layout = make_layout(np.random.default_rng(0), dynamic=False, skew=0.0)
    grid = RoomGrid(layout)
    assert grid.width == grid.height == 13 and len(layout.doors) == 12 and layout.home == -1
    assert len(set(layout.objects.tolist())) == N_ROOMS
    for room in range(N_ROOMS):
        x, y = grid.object_at[room]
        assert layout.room_at(x, y) == room
        assert grid.grid.get(x, y).type in ("ball", "key", "box")
        assert all((x + dx, y + dy) not in layout.doors.values() for dx, dy in VEC)  # never blocks a doorway
    assert all(grid.free(*cell) for cell in layout.doors.values())
    assert RoomGrid(make_layout(np.random.default_rng(0), dynamic=True, skew=0.0)).width == 16


def test_same_seed_replays_the_episode_and_another_seed_differs() -> None:
    env = RoomRecallEnv(options=RoomRecallOptions(family="Q1", steps=24))
    first = [(o.extra["place"], tuple(o.extra["agent_pos"]), o.direction) for o in play_exploration(env, 3)]
    again = [(o.extra["place"], tuple(o.extra["agent_pos"]), o.direction) for o in play_exploration(env, 3)]
    other = [(o.extra["place"], tuple(o.extra["agent_pos"]), o.direction) for o in play_exploration(env, 4)]
    assert first == again and first != other
    assert len(first) == 25  # 24 exploration observations, then the first question


def test_explorer_moves_one_cell_at_a_time_and_skewed_dwell_favours_home() -> None:
    rng = np.random.default_rng(1)
    shares = []
    for _ in range(6):
        ep = Episode(rng, dynamic=False, steps=96, skew=1.0).run()
        steps = np.abs(np.diff(np.array(ep.pos), axis=0)).sum(1)
        assert set(steps.tolist()) <= {0, 1}
        shares.append(np.mean(np.array(ep.places) == ep.layout.home))
    assert np.mean(shares) >= 0.5


def test_answers_are_graded_and_invalid_ones_change_nothing() -> None:
    env = RoomRecallEnv(options=RoomRecallOptions(family="Q2", steps=20, queries=3))
    last = play_exploration(env, 5)[-1]
    assert last.admissible == list(answers("Q2")) and "In which room is the" in last.text
    truth = last.privileged["answers"]
    same = env.step("banana")
    assert same.reward == 0 and "unknown action" in same.feedback and env.k == 0
    obs = env.step(f"room {truth[0]}")
    assert obs.reward == 1.0 and obs.feedback == "Correct."
    wrong = f"room {(truth[1] + 1) % 9}"
    obs = env.step(wrong)
    assert obs.reward == 0.0 and obs.feedback.startswith("Wrong")
    obs = env.step(f"room {truth[2]}")
    assert obs.done and obs.score == 2.0 and obs.max_score == 3.0 and obs.lost and not obs.won


@pytest.mark.parametrize("family", ["Q1", "Q3", "Q4", "QR"])
def test_every_family_asks_answerable_questions(family: str) -> None:
    env = RoomRecallEnv(options=RoomRecallOptions(family=family, steps=40, queries=2))
    last = play_exploration(env, 2)[-1]
    assert last.extra["query"]["family"] == family
    assert set(last.admissible) == set(answers(family))
    for truth in last.privileged["answers"]:
        last = env.step(answers(family)[truth])
    assert last.won and last.score == 2.0


def test_moving_objects_follow_their_periodic_pattern() -> None:
    ep = Episode(np.random.default_rng(3), dynamic=True, steps=40, skew=0.0)
    lay, hits = ep.layout, 0
    for t in range(1, 40):
        ep.advance()
        for room in range(N_ROOMS):
            want = lay.object_cell(room, t)
            if want != tuple(ep.grid.agent_pos):  # an object waits while the agent stands on its next cell
                hits += ep.grid.object_at[room] == want
    assert hits >= 0.95 * 39 * N_ROOMS
    assert all(len(set(cells)) >= 3 for cells in PATTERN_CELLS)


def test_navigate_shortest_route_wins_and_dithering_loses() -> None:
    env = RoomRecallEnv(options=RoomRecallOptions(family="navigate", steps=40))
    last = play_exploration(env, 6)[-1]
    assert last.admissible == ["left", "right", "forward"] and "Go to the" in last.text
    for move in env.route():
        last = env.step(("left", "right", "forward")[move])
    assert last.done and last.won
    play_exploration(env, 6)
    moves = 0
    while not (obs := env.step("left")).done:
        moves += 1
    assert obs.lost and moves + 1 == env.budget


def test_generator_is_a_pure_function_of_its_arguments() -> None:
    a, b = generate(3, seed=11, dynamic=False, steps=20), generate(3, seed=11, dynamic=False, steps=20)
    assert (
        a["images"].shape == (3, 20, 5, 5, 3)
        and a["places"].shape == (3, 20)
        and a["objects"].shape == (3, 9)
    )
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (a["patterns"] == -1).all() and a["seen"].any(1).all()
    assert len(OBJECT_CLASSES) == 18


def test_registered_spec_builds_it_and_rejects_bad_options() -> None:
    assert "envs.room_recall" in ENV_MODULES and SPECS[0].id == "minigrid-room-recall"
    env = SPECS[0].factory(SPECS[0].id, parse_options(SPECS[0], {"family": "QR", "steps": "30"}))
    assert env.reset(seed=0).extra["steps"] == 30
    with pytest.raises(ConfigError, match="family"):
        parse_options(SPECS[0], {"family": "Q9"})
