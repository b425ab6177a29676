"""The MiniGrid/BabyAI adapter: ``minigrid:<gymnasium id>`` with string actions.

Any registered ``MiniGrid-*`` or ``BabyAI-*`` gymnasium id works after the prefix, e.g.
``minigrid:MiniGrid-FourRooms-v0``. The adapter is thin: one ``env.step`` plus a cheap text
rendering (:mod:`envs.text_render`) per action. Frames are never stored; they are re-rendered by
replaying a trial's seed and actions (:func:`render_frames`, :func:`render_frame`).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (importing registers the MiniGrid and BabyAI ids)
import numpy as np
from minigrid.core.actions import Actions
from pydantic import Field, field_validator

from lab.core.env import EnvOptions, EnvSpec, Observation, replay_frames
from envs.registry import parse_options
from envs.text_render import carried_object, render_text
from lab.core.errors import MissingDependencyError, UnknownIdError

PREFIX = "minigrid:"
ACTION_NAMES: list[str] = [action.name for action in Actions]
"""MiniGrid's actions in index order: left, right, forward, pickup, drop, toggle, done."""
_ACTION_INDEX = {name: index for index, name in enumerate(ACTION_NAMES)}
_EPISODE_OVER = "the episode is over; reset to play again"


class MiniGridOptions(EnvOptions):
    """Options of the ``minigrid:`` family."""

    max_steps: int | None = Field(default=None, ge=1, le=100_000)
    """Steps before the trial is truncated; ``None`` keeps the env's own limit."""
    view_size: int | None = Field(default=None, ge=3, le=15)
    """Side of the agent's square egocentric view (odd, 3..15); ``None`` keeps the env's (7)."""

    @field_validator("view_size")
    @classmethod
    def _odd(cls, value: int | None) -> int | None:
        """MiniGrid needs an odd view so that the agent sits in the middle column."""
        if value is not None and value % 2 == 0:
            raise ValueError("must be odd (3, 5, ..., 15)")
        return value


@cache
def registered_ids() -> tuple[str, ...]:
    """The registered gymnasium ids of MiniGrid and BabyAI, sorted."""
    return tuple(sorted(k for k in gym.envs.registry if k.startswith(("MiniGrid-", "BabyAI-"))))


def gym_id(env_id: str) -> str:
    """The gymnasium id inside ``minigrid:<id>``; an unregistered one raises :class:`UnknownIdError`."""
    name = env_id[len(PREFIX) :] if env_id.startswith(PREFIX) else env_id
    if name not in registered_ids():
        raise UnknownIdError("MiniGrid env", name, list(registered_ids()))
    return name


def make_gym(name: str, options: MiniGridOptions, render_mode: str | None = None) -> gym.Env:
    """Build the gymnasium env ``name`` with the options applied as constructor kwargs."""
    kwargs: dict[str, Any] = {}
    if options.max_steps is not None:
        kwargs["max_steps"] = options.max_steps
    if options.view_size is not None:
        kwargs["agent_view_size"] = options.view_size
    with missing_dependency(name):
        return gym.make(name, render_mode=render_mode, disable_env_checker=True, **kwargs)


@contextlib.contextmanager
def missing_dependency(name: str) -> Iterator[None]:
    """Turn gymnasium's ``DependencyNotInstalled`` (e.g. the WFC envs' imageio) into a lab error."""
    try:
        yield
    except gym.error.DependencyNotInstalled as err:
        match = re.search(r'pip install "?([\w\-\[\]]+)', str(err))
        package = match[1] if match else "minigrid"
        raise MissingDependencyError(f"the MiniGrid env {name!r}", package) from None


class MiniGridEnv:
    """A MiniGrid/BabyAI env behind the lab's string-action :class:`lab.core.env.Env` protocol."""

    kind = "grid"
    action_names: list[str] = ACTION_NAMES

    def __init__(
        self, env_id: str, options: MiniGridOptions | None = None, render_mode: str | None = None
    ) -> None:
        """``render_mode="rgb_array"`` enables :meth:`render` (used to replay frames)."""
        self.env_id = env_id
        self.options = options or MiniGridOptions()
        self._env = make_gym(gym_id(env_id), self.options, render_mode)
        self._last: Observation | None = None
        self._view_text = ""

    def reset(self, seed: int | None = None) -> Observation:
        """Start a trial; the same seed gives the same layout and mission."""
        quiet = contextlib.redirect_stdout(io.StringIO())  # BabyAI prints its level-sampling retries
        with quiet, missing_dependency(self._env.spec.id):
            obs, _ = self._env.reset(seed=seed)
        self._last = self._observe(obs, 0.0, 0.0, False, False)
        return self._last

    def step(self, action: str) -> Observation:
        """Play one action name; an unknown name (or a finished trial) leaves the env untouched."""
        last = self._last
        if last is None:
            raise RuntimeError("MiniGridEnv.step called before reset()")
        index = _ACTION_INDEX.get(action)
        if index is None:
            return self._unchanged(f"unknown action {action!r}; valid: {', '.join(ACTION_NAMES)}")
        if last.done:
            return self._unchanged(_EPISODE_OVER)
        obs, reward, terminated, truncated, _ = self._env.step(index)
        reward = float(reward)
        self._last = self._observe(obs, reward, last.score + reward, terminated, truncated)
        return self._last

    def render(self) -> np.ndarray:
        """The full-grid RGB frame now (needs ``render_mode="rgb_array"``)."""
        return self._env.render()

    def close(self) -> None:
        """Close the gymnasium env."""
        self._env.close()

    def _unchanged(self, feedback: str) -> Observation:
        """The last state again, with ``feedback`` and no reward."""
        last = self._last
        return replace(last, feedback=feedback, reward=0.0, text=f"{feedback}. {self._view_text}")

    def _observe(
        self, obs: dict[str, Any], reward: float, score: float, terminated: bool, truncated: bool
    ) -> Observation:
        """Turn a gymnasium observation into the lab's :class:`Observation`."""
        image, direction, mission = obs["image"], int(obs["direction"]), obs["mission"]
        self._view_text = render_text(image, direction, mission)
        x, y = self._env.unwrapped.agent_pos
        won = terminated and reward > 0
        return Observation(
            text=self._view_text,
            admissible=list(ACTION_NAMES),
            reward=reward,
            score=score,
            max_score=1.0,
            done=terminated or truncated,
            won=won,
            lost=(terminated or truncated) and not won,
            objective=mission,
            image=image,
            direction=direction,
            extra={"agent_pos": [int(x), int(y)], "carrying": carried_object(image)},
        )


def _replay_env(env_id: str, options: dict[str, Any], seed: int) -> MiniGridEnv:
    """A fresh rgb_array env for ``env_id`` with validated ``options``, reset with ``seed``."""
    env = MiniGridEnv(env_id, parse_options(SPEC, options), render_mode="rgb_array")
    env.reset(seed)
    return env


def render_frames(env_id: str, options: dict[str, Any], seed: int, actions: list[str]) -> list[np.ndarray]:
    """Replay a trial: the RGB frame after reset and after each action (unknown actions are no-ops)."""
    return replay_frames(_replay_env(env_id, options, seed), actions)


def render_frame(
    env_id: str, options: dict[str, Any], seed: int, actions: list[str], index: int
) -> np.ndarray:
    """Frame ``index`` of a replayed trial (0 is after reset), replaying only ``actions[:index]``."""
    if not 0 <= index <= len(actions):
        raise IndexError(f"frame {index} out of range 0..{len(actions)}")
    env = _replay_env(env_id, options, seed)
    try:
        for action in actions[:index]:
            env.step(action)
        return env.render()
    finally:
        env.close()


def frame_png(frame: np.ndarray) -> bytes:
    """Encode an RGB frame as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


SPEC = EnvSpec(
    id=PREFIX,
    description="Any registered MiniGrid or BabyAI gymnasium id, e.g. minigrid:MiniGrid-FourRooms-v0",
    kind="grid",
    options=MiniGridOptions,
    factory=MiniGridEnv,
    frames=render_frames,
    check_id=gym_id,
)
"""The ``minigrid:`` prefix family."""

SPECS: list[EnvSpec] = [SPEC]
