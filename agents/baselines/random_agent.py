"""The random baseline: uniform over admissible commands (text) or actions (grid)."""

from __future__ import annotations

from typing import ClassVar

from lab.core.env import Observation
from lab.core.protocols import Action, AgentConfig, AgentContext, Task, TrialOutcome, Transition


class RandomConfig(AgentConfig):
    """The random agent has no hyperparameters."""


class RandomAgent:
    """Picks uniformly among the valid actions with the run's seeded generator."""

    id: ClassVar[str] = "random"

    def __init__(self, config: RandomConfig, ctx: AgentContext) -> None:
        self.config = config
        self.rng = ctx.rng
        self.action_names: list[str] = []

    @property
    def memory(self) -> None:
        """Memoryless."""
        return None

    def reset(self, task: Task) -> None:
        """Keep the fixed action set of grid envs."""
        self.action_names = list(task.action_names)

    def act(self, observation: Observation) -> Action:
        """A uniform draw; ``look`` when a text env lists no commands."""
        options = observation.admissible or self.action_names or ["look"]
        return Action(command=options[int(self.rng.integers(len(options)))])

    def observe(self, transition: Transition) -> None:
        """Nothing to learn."""

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Nothing to carry over."""
