"""Forced policies: one trajectory for every memory (``RunConfig.policy``).

Under a forced policy the agent still runs its full ``act`` (memory reads and writes, LLM calls, its
choice), but the env plays the policy's command, and ``observe`` is told what was played. So agents with
different memories see the same observations, step for step, and their memories can be compared.

* ``walkthrough``: the env's walkthrough (``privileged["walkthrough"]``), in order. When it runs out
  before the game ends, the trial ends.
* ``walkthrough+explore``: before each walkthrough command, with probability ``explore``, an excursion:
  a move through a random exit of the current room (seeded by the run's seed and the trial) and the move
  back, so the walkthrough stays playable. A move that does not change the room is not undone.

The policy reads the walkthrough (privileged) and the public observation; the agent is given none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lab.core.env import Observation
from lab.core.errors import LabError
from lab.core.protocols import Action

OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


@dataclass
class Forced:
    """The command a forced policy plays next, and where it came from."""

    command: str
    source: str
    """``walkthrough`` or ``explore``."""


@dataclass
class ForcedPolicy:
    """The walkthrough, optionally with seeded excursions between its steps."""

    walkthrough: list[str]
    explore: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    position: int = 0
    """Walkthrough commands played so far."""
    back: tuple[str, str | None] | None = None
    """The move that undoes the excursion under way, and the room it left."""
    decided: bool = False
    """Whether the excursion before the next walkthrough command was drawn already."""

    @classmethod
    def start(cls, mode: str, obs: Observation, explore: float, seed: int, trial: int) -> ForcedPolicy:
        """The policy of a trial, from its first observation; an env without a walkthrough is an error."""
        walkthrough = list(obs.privileged.get("walkthrough") or [])
        if not walkthrough:
            raise LabError(f"--policy {mode} needs a walkthrough, and this env gives none; "
                           "use --policy agent")
        rate = explore if mode == "walkthrough+explore" else 0.0
        return cls(walkthrough, rate, np.random.default_rng([seed, trial, 7]))

    def next(self, obs: Observation) -> Forced | None:
        """The command to play in the state of ``obs`` (None: the walkthrough is over)."""
        if self.back is not None:
            move, origin = self.back
            self.back = None
            if obs.room is not None and obs.room != origin:  # the excursion moved: come back
                return Forced(move, "explore")
        if self.position >= len(self.walkthrough):
            return None
        if not self.decided:
            self.decided = True
            exits = sorted(c for c in obs.admissible if c.split()[:1] == ["go"] and c.split()[-1] in OPPOSITE)
            if exits and self.explore > 0 and self.rng.random() < self.explore:
                move = exits[int(self.rng.integers(len(exits)))]
                self.back = (f"go {OPPOSITE[move.split()[-1]]}", obs.room)
                return Forced(move, "explore")
        self.position, self.decided = self.position + 1, False
        return Forced(self.walkthrough[self.position - 1], "walkthrough")

    def override(self, obs: Observation, chosen: Action) -> tuple[Action, str]:
        """The action to play instead of the agent's (its thoughts and metrics kept) and its source; once the
        walkthrough is over, an action that plays nothing and ends the trial."""
        forced = self.next(obs)
        if forced is None:
            chosen.thoughts["forced"] = "the walkthrough is over: the trial ends"
            return replace(chosen, env_commands=[], stop=True), "walkthrough"
        return replace(chosen, command=forced.command, env_commands=None, stop=False), forced.source


def agrees(choice: str, env_commands: list[str] | None, played: str) -> bool:
    """Whether the agent's choice is the forced command (or a macro whose first env command is).

    >>> agrees("Go North", None, "go north"), agrees("go to kitchen", ["go east", "go north"], "go east")
    (True, True)
    """
    first = env_commands[0] if env_commands else choice
    return played.strip().lower() in (choice.strip().lower(), first.strip().lower())
