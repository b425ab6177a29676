"""The full-history baseline: the prompt holds every observation and action so far.

It is the "Full History" baseline of AriGraph (Anokhin et al., 2024, §4): an LLM agent
whose memory is the raw trajectory. On a model that scores (the embedded default) the
action is the admissible command with the highest mean log-likelihood; on other models it
is generated and matched to the closest admissible command.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field

from agents.baselines import prompts
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.llm import LLM
from lab.core.llm.sampling import Sampling
from lab.core.prompts import render
from lab.core.protocols import (
    Action,
    AgentConfig,
    AgentContext,
    PromptItem,
    PromptSection,
    SplitPrompt,
    Task,
    TrialOutcome,
    Transition,
)
from lab.core.memory import edit_records
from lab.core.records import MemoryEdit, MemorySnapshot, MemRecord


class FullHistoryConfig(AgentConfig):
    """Hyperparameters of the full-history baseline."""

    max_history_chars: int = 24_000
    """Oldest entries are dropped past this many characters: 24,000 (~6k tokens) fits the embedded
    model's 8,192-token context, and a run scales it to its model's window when left unset. The
    paper's baseline has no limit (GPT-4's context held whole episodes)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {"act": Sampling(temperature=0.2)})
    """Acting at 0.2, as the AriGraph paper's actor (call 6 [A:pipeline_fullhist.py])."""

    CONTEXT_SCALED = ("max_history_chars",)
    keep_across_trials: bool = False
    """Carry the history into the next trial (off: each trial starts blank, as in the paper)."""


class HistoryMemory:
    """The trajectory as records: one row per step, rendered oldest first into the prompt."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.entries: list[MemRecord] = []
        self.prompt_text = ""

    def add(self, step: int, observation: str, action: str) -> None:
        """Append one observation-action pair."""
        text = f"Observation: {observation.strip()}\nAction: {action}"
        self.entries.append(MemRecord(id=f"h{step}", kind="episodic", text=text, added_step=step))

    def text(self) -> str:
        """The newest entries that fit the budget, oldest first (nothing is written)."""
        kept: list[str] = []
        used = 0
        for entry in reversed(self.entries):
            used += len(entry.text) + 1
            if used > self.max_chars:
                break
            kept.append(entry.text)
        return "\n".join(reversed(kept)) or "(nothing yet)"

    def render(self) -> str:
        """The history as it enters this step's prompt (kept as the snapshot's prompt text)."""
        self.prompt_text = self.text()
        return self.prompt_text

    def query(self, question: str) -> str:
        """The whole history (within the budget), whatever the question: this memory does not retrieve."""
        return self.text()

    def clear(self) -> None:
        """Forget everything."""
        self.entries = []

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`): remove or change an entry, or add one
        (entered as the oldest, so the budget's window over the newest entries stays as it was)."""
        supported = "remove an entry; change an entry's text; add an entry (entered as the oldest)"
        return [edit_records("full-history", self.entries, edit, step, supported)[1].id]

    def snapshot(self) -> MemorySnapshot:
        """Records + the history text that entered the last prompt."""
        return MemorySnapshot(records=list(self.entries), prompt_text=self.prompt_text)


class FullHistoryAgent:
    """An LLM agent whose prompt is the whole history."""

    id: ClassVar[str] = "full-history"

    def __init__(self, config: FullHistoryConfig, ctx: AgentContext) -> None:
        if ctx.llm is None:
            raise ConfigError("full-history needs an LLM (--llm embedded, openai:<model>, ...)")
        self.config = config
        self.llm: LLM = ctx.llm
        self.history = HistoryMemory(config.max_history_chars)
        self.task: Task | None = None
        self.step = 0

    @property
    def memory(self) -> HistoryMemory:
        """The trajectory memory."""
        return self.history

    def reset(self, task: Task) -> None:
        """A new trial: the history starts blank unless configured to carry over."""
        self.task = task
        if not self.config.keep_across_trials:
            self.history.clear()

    def messages(self, observation: Observation, options: list[str]) -> list[tuple[str, str]]:
        """The prompt for one decision."""
        assert self.task is not None, "reset() must come before act()"
        kind = "text adventure" if self.task.env_kind == "text" else "grid-world"
        user = render(prompts.FULL_HISTORY_USER, objective=observation.objective or self.task.objective,
                      history=self.history.render(), observation=observation.text.strip(),
                      actions="\n".join(f"- {o}" for o in options))
        return [("system", render(prompts.SYSTEM, kind=kind)), ("user", user)]

    def act(self, observation: Observation) -> Action:
        """Choose among the valid actions."""
        assert self.task is not None, "reset() must come before act()"
        options = observation.admissible or self.task.action_names or ["look"]
        choice = self.llm.choose(self.messages(observation, options), options, purpose="act")
        thoughts: dict[str, object] = {"rationale": "highest-scoring valid action given the full history"}
        if choice.raw:
            thoughts = {"generated": choice.raw, "rationale": "generated text matched to a valid action"}
        return Action(command=choice.option, thoughts=thoughts)

    def observe(self, transition: Transition) -> None:
        """Append the pair to the history."""
        self.history.add(self.step, transition.observation.text, transition.action.command)
        self.step += 1

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Nothing beyond the history."""


HISTORY_MARK = "History of your observations and actions so far:\n"
CURRENT_MARK = "\n\nCurrent observation:\n"
ACTIONS_MARK = "\n\nValid actions:\n"


def act_prompt_items(messages: list[tuple[str, str]]) -> SplitPrompt | None:
    """The decision prompt split into its history pairs (``HistoryMemory.text`` joins them with new lines),
    with the valid actions it lists; None when the messages are not this agent's prompt."""
    found = SplitPrompt.user_message(messages)
    if found is None:
        return None
    index, text = found
    head = text.find(HISTORY_MARK)
    if head == -1:
        return None
    start = head + len(HISTORY_MARK)
    end = text.find(CURRENT_MARK, start)
    if end == -1:
        return None
    body = text[start:end]
    parts = [] if body == "(nothing yet)" else [p for p in re.split(r"\n(?=Observation: )", body) if p]
    items = tuple(PromptItem(key=f"history:{i}", kind="history", text=p) for i, p in enumerate(parts))
    listed = text.partition(ACTIONS_MARK)[2].split("\n\n")[0]
    options = tuple(line[2:].strip() for line in listed.splitlines() if line.startswith("- "))
    return SplitPrompt(messages=tuple(messages), sections=(PromptSection(index, start, end, items, "\n",
                                                                         "(nothing yet)"),), options=options)
