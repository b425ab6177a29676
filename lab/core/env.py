"""What every environment adapter returns and implements.

Adapters own every quirk of their env (STYLE convention 11): they turn the env's own
output into an :class:`Observation`, and keep ground truth in ``privileged``, which the
run loop records in the trace and strips before the agent sees the observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

EnvKind = Literal["text", "grid"]


@dataclass
class Observation:
    """One observation of any env, after reset or after an action."""

    text: str
    """Everything an LLM agent reads: feedback, room description, inventory, mission."""
    feedback: str = ""
    """What the env said in reply to the last action (TextWorld feedback, MiniGrid: empty)."""
    admissible: list[str] = field(default_factory=list)
    """Commands that are valid now (TextWorld admissible commands, MiniGrid action names)."""
    reward: float = 0.0
    """Reward of the last action (TextWorld: the score difference)."""
    score: float = 0.0
    """Cumulative score of the trial so far."""
    max_score: float | None = None
    done: bool = False
    won: bool = False
    lost: bool = False
    objective: str = ""
    """The task: TextWorld objective or MiniGrid mission."""
    room: str | None = None
    """Room name (TextWorld ``-= Room =-`` header), when known."""
    description: str | None = None
    inventory: str | None = None
    image: np.ndarray | None = None
    """MiniGrid egocentric image (view x view x 3 encoding); never stored, re-rendered."""
    direction: int | None = None
    """MiniGrid agent direction (0 right, 1 down, 2 left, 3 up)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Structured, agent-visible details (MiniGrid: agent position; env-specific)."""
    privileged: dict[str, Any] = field(default_factory=dict)
    """Ground truth: ``facts`` (list of strings), ``walkthrough``... Never given to agents."""

    def public(self) -> Observation:
        """Without ground truth: what a (non-oracle) agent may see (itself when it holds none)."""
        return replace(self, privileged={}) if self.privileged else self


class Env(Protocol):
    """A gymnasium-style env whose actions are strings."""

    env_id: str
    kind: EnvKind

    def reset(self, seed: int | None = None) -> Observation:
        """Start a trial (same seed, same task)."""
        ...

    def step(self, action: str) -> Observation:
        """Play one action; an invalid action returns an observation saying so, never raises."""
        ...

    def close(self) -> None:
        """Free resources (game processes, files)."""
        ...


class EnvOptions(BaseModel):
    """Base of each env family's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class EnvSpec:
    """A registered env family."""

    id: str
    """Env id as typed on the CLI (``tw-cooking``), or a prefix ending in ``:`` (``minigrid:``)."""
    description: str
    kind: EnvKind
    options: type[EnvOptions]
    factory: Callable[[str, EnvOptions], Env]
    """``factory(full_env_id, options)`` builds the env."""
    check_id: Callable[[str], object] | None = None
    """For a prefix family: raises a one-line error when the id after the prefix names no env (so a
    bad id stops a run before anything is stored)."""
    frames: Callable[[str, dict[str, Any], int, list[str]], list[np.ndarray]] | None = None
    """For a grid env: ``frames(env_id, options, seed, actions)`` replays a trial and returns the RGB frame
    after reset and after each action (what Explore and the HTML export show); None: no frames."""


def replay_frames(env: Any, actions: list[str]) -> list[np.ndarray]:
    """The RGB frame of an env just reset, then after each of ``actions``; the env is closed after."""
    try:
        frames = [env.render()]
        for action in actions:
            env.step(action)
            frames.append(env.render())
        return frames
    finally:
        env.close()
