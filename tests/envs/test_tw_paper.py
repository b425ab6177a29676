"""The AriGraph paper's tasks: seeded Treasure Hunt and Cleaning generators, and the cleaning reward."""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.registry import make_env
from envs.tw_paper import CleaningRules, build_hunt, cleaning_reward, cleaning_rules, grid_tree, paths_from
from lab.core.errors import ConfigError

PAPER = Path(__file__).resolve().parents[2].parent / "shared" / "games" / "arigraph"


@pytest.fixture
def games(games_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Generated games are cached for the whole session."""
    monkeypatch.setenv("MEMLAB_HOME", str(games_home))
    return games_home


def play(env, commands):
    obs = env.reset()
    rewards = []
    for command in commands:
        obs = env.step(command)
        rewards.append(obs.reward)
    return obs, rewards


def test_hunt_design_is_seeded_and_its_walkthrough_wins(games) -> None:
    game = build_hunt(7, True)
    lockers = [i.name for i in game.infos.values() if i.type == "c"]
    keys = [i.name for i in game.infos.values() if i.type == "k"]
    assert (
        len(lockers) == 16 and "Golden locker" in lockers and sorted(keys)[-1] == "Key 4" and len(keys) == 5
    )
    env = make_env("tw-hunt", {"rooms": 5, "keys": 2, "game_seed": 3})  # built in a child process
    first = env.reset()
    assert first.privileged["walkthrough"] == build_hunt(3, False, 5, 2).metadata["walkthrough"]
    assert "Golden locker" in first.objective and "Key 1" in first.text and first.max_score == 3
    obs, rewards = play(env, first.privileged["walkthrough"])
    assert obs.won and obs.done and rewards.count(1.0) == 3 and sum(rewards) == 3
    env.close()


def test_grid_tree_is_a_spanning_tree_whose_paths_reach_every_room() -> None:
    import numpy as np

    edges = grid_tree(12, np.random.RandomState(0))
    assert len(edges) == 11 and len(paths_from(0, edges)) == 12


def test_cleaning_reward_rule() -> None:
    rules = CleaningRules({"cup": [("in", "dishwasher")], "book": [("on", "shelf")]}, ["cup"])
    take = {"cup": ("in", "I"), "book": ("on", "shelf")}
    assert (
        cleaning_reward({"cup": ("on", "sofa"), "book": ("on", "shelf")}, take, rules) == 1.0
    )  # misplaced taken
    assert (
        cleaning_reward(take, {"cup": ("in", "dishwasher"), "book": ("on", "shelf")}, rules) == 1.0
    )  # placed
    assert (
        cleaning_reward(take, {"cup": ("at", "Hall"), "book": ("on", "shelf")}, rules) == -1.0
    )  # dropped elsewhere
    assert cleaning_reward({"book": ("on", "shelf")}, {"book": ("in", "I")}, rules) == -1.0  # disturbed
    assert cleaning_reward(take, take, rules) == 0.0


def test_clean_walkthrough_scores_the_maximum_and_wins(games) -> None:
    env = make_env("tw-clean", {"game_seed": 2, "misplaced": 3})
    first = env.reset()
    assert first.max_score == 6 and not first.won and "out of place" in first.objective
    obs, rewards = play(env, first.privileged["walkthrough"])
    assert obs.won and obs.done and obs.score == 6 and rewards.count(1.0) == 6
    env.close()


@pytest.mark.skipif(not (PAPER / "clean_3x3.z8").is_file(), reason="the paper's game files are not here")
def test_the_papers_clean_3x3_gets_the_cleaning_reward(games) -> None:
    rules = cleaning_rules(PAPER / "clean_3x3.z8")
    assert (
        rules is not None
        and len(rules.misplaced) == 11
        and rules.places["candles"] == [("on", "dining table")]
    )
    env = make_env("tw-clean", {"path": str(PAPER / "clean_3x3.z8")})
    first = env.reset()
    assert first.max_score == 22 and first.objective
    obs, rewards = play(env, ["take toothbrush from dining table", "take candles from dining table", "look"])
    assert rewards == [1.0, -1.0, 0.0] and obs.score == 0.0
    env.close()
    with pytest.raises(ConfigError, match="no cleaning metadata"):
        make_env("tw-clean", {"path": str(PAPER / "hunt.z8")})
