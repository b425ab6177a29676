"""Minari dataset export of a MiniGrid/BabyAI run, through the ``minari`` package.

Frames and observations are not stored by the lab, so the export re-simulates each trial from
the run's seed and env-level actions (the Minari maintainers' recommended way to re-render,
Minari #298), one episode per trial, and writes the episodes with
``minari.create_dataset_from_buffers`` (Arrow format; Minari's ``DataCollector`` would need jax).
The replay is checked against the stored rewards; a mismatch (a different env version) fails the
export instead of writing a wrong dataset. Observations keep MiniGrid's dict (``image``, ``direction``,
``mission``; the mission as a ``Text`` space) and images are stored without JPEG compression, so
the dataset is exact.

The dataset is written under ``root`` (used as ``MINARI_DATASETS_PATH``) with the id
``memlab/<gym id>/<run id>-v0``; load it with
``MINARI_DATASETS_PATH=root python -c "import minari; minari.load_dataset('<id>')"``.
"""

from __future__ import annotations

import os
import string
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import gymnasium as gym

from envs.minigrid_env import ACTION_NAMES, SPEC, gym_id, make_gym
from envs.registry import get_spec, parse_options
from lab.core.errors import ConfigError, MissingDependencyError
from lab.core.records import RunInfo, Step
from lab.store import RunStore

_env_lock = threading.Lock()
MISSION_CHARSET = string.ascii_letters + string.digits + " ,.'-_:;!?()"


def dataset_id(info: RunInfo) -> str:
    """``memlab/<gym id>/<run id>-v0``."""
    return f"memlab/{gym_id(info.config.env_id)}/{info.run_id}-v0"


@contextmanager
def datasets_root(root: Path) -> Iterator[None]:
    """Point Minari at ``root`` for the duration (Minari reads the path from the environment only)."""
    with _env_lock:
        old = os.environ.get("MINARI_DATASETS_PATH")
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = old


def observation_space(env: gym.Env) -> gym.spaces.Dict:
    """MiniGrid's observation space with the mission as a Minari-serialisable ``Text`` space."""
    space = env.observation_space
    return gym.spaces.Dict({"image": space["image"], "direction": space["direction"],
                            "mission": gym.spaces.Text(max_length=512, charset=MISSION_CHARSET)})


def trials(steps: list[Step]) -> dict[int, list[Step]]:
    """Steps grouped by trial, in order."""
    out: dict[int, list[Step]] = {}
    for step in steps:
        out.setdefault(step.trial, []).append(step)
    return out


def replay_trial(env: gym.Env, seed: int, steps: list[Step], run_id: str, episode_id: int) -> object:
    """Play one trial's env actions; the rewards must match the stored ones. Returns its episode buffer."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    obs, _ = env.reset(seed=seed)
    observations: dict[str, list] = {key: [obs[key]] for key in ("image", "direction", "mission")}
    actions, rewards, terminations, truncations = [], [], [], []
    for step in steps:
        reward = 0.0
        for action in step.env_actions or [step.action]:
            if action not in ACTION_NAMES:
                raise ConfigError(f"step {step.index} of run {run_id} has the non-MiniGrid action {action!r}")
            obs, r, terminated, truncated, _ = env.step(ACTION_NAMES.index(action))
            for key in observations:
                observations[key].append(obs[key])
            actions.append(ACTION_NAMES.index(action))
            rewards.append(float(r))
            terminations.append(bool(terminated))
            truncations.append(bool(truncated))
            reward += float(r)
            if terminated or truncated:
                break
        if abs(reward - step.reward) > 1e-6:
            raise ConfigError(f"the replay of run {run_id} diverged at step {step.index} (reward "
                              f"{reward:g}, stored {step.reward:g}): the env version differs from the one "
                              "that made the run")
    if not (terminations and terminations[-1]):
        truncations[-1] = True  # the lab ended the trial (step limit or stop): Minari marks it truncated
    return EpisodeBuffer(id=episode_id, seed=seed, observations=observations, actions=actions,
                         rewards=rewards, terminations=terminations, truncations=truncations)


def export_minari(store: RunStore, run_id: str, root: Path) -> int:
    """Write the run as a Minari dataset under ``root``; returns the number of episodes."""
    info = store.get_run(run_id)
    if get_spec(info.config.env_id).kind != "grid":
        raise ConfigError(f"minari export needs a MiniGrid/BabyAI run; {run_id} ran in {info.config.env_id}")
    try:
        import minari
    except ImportError:
        raise MissingDependencyError("minari export", "minari") from None
    steps = store.steps(run_id)
    if not steps:
        raise ConfigError(f"run {run_id} has no steps to export")
    env = make_gym(gym_id(info.config.env_id), parse_options(SPEC, info.config.env_options))
    try:
        parts = trials(steps).values()
        buffers = [replay_trial(env, info.config.seed, part, run_id, k) for k, part in enumerate(parts)]
        root.mkdir(parents=True, exist_ok=True)
        with datasets_root(root), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minari.create_dataset_from_buffers(
                dataset_id(info), buffers, env=env, observation_space=observation_space(env),
                action_space=env.action_space, algorithm_name=info.config.agent_id, author="memlab",
                author_email="memlab@localhost",
                code_permalink=f"memlab git {info.versions.get('git_sha', 'unknown')}",
                description=f"memlab run {run_id}: {info.config.agent_id} on {info.config.env_id}, seed "
                            f"{info.config.seed}, {len(steps)} steps in {len(buffers)} trial(s)",
                data_format="arrow", jpeg_encoding=False)
    finally:
        env.close()
    return len(buffers)
