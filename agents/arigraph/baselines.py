"""The paper's baselines: the same planner and actor as Ariadne, a different memory [AP §4].

* ``arigraph-full-history``: the whole trajectory in the prompt (the paper's Full History).
* ``summary``: an LLM rewrites a summary every step from the last pairs, the observation and the
  previous summary [A:pipeline_summary.py].
* ``reflexion``: Full History within a trial, plus verbal self-reflections written by the LLM after each
  failed trial and shown in every later trial (Reflexion, Shinn et al. 2023; the paper's Table 4 row, whose
  pipeline is not in the reference). It needs a multi-trial run (``trials`` > 1) to differ from Full History.
* ``rag``: Generative-Agents retrieval: recency 0.99^Δt, LLM-rated importance 1-10, relevance =
  cosine(observation + plan, stored observation + plan); each min-max normalised, summed, the top 5
  added to the last 5 steps [A:pipeline_smartrag.py].

As in the reference, the baselines have no map, so no exploration section and no ``go to``.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import torch

from agents.arigraph import prompts
from agents.arigraph.baseline_memory import (
    DEFAULT_IMPORTANCE,
    HISTORY_TITLE,
    RAG_TITLE,
    REFLECTIONS_TITLE,
    SUMMARY_TITLE,
    PairsMemory,
    RagMemory,
    RecordMemory,
    SummaryMemory,
    amend_pair,
)
from agents.arigraph.config import FullHistoryPlanConfig, RagConfig, ReflexionConfig, SummaryConfig
from agents.arigraph.planact import PlanActAgent
from agents.arigraph.retrieval import make_encoder
from agents.arigraph.triplets import parse_rating
from lab.core.env import Observation
from lab.core.prompts import render
from lab.core.protocols import Action, AgentContext, Task, TrialOutcome
from lab.core.records import MemRecord



class BaselineAgent(PlanActAgent):
    """A planner-actor agent whose memory is a list of records."""

    def __init__(self, config: Any, ctx: AgentContext) -> None:
        super().__init__(config, ctx)
        self.store = self.new_memory()

    def new_memory(self) -> RecordMemory:
        """The memory of this baseline (built once; cleared at each trial)."""
        return RecordMemory()

    @property
    def memory(self) -> RecordMemory:
        """The records."""
        return self.store

    def reset(self, task: Task) -> None:
        """A blank memory per trial."""
        super().reset(task)
        self.store.clear()

    def remember(self, text: str, action: Action) -> None:
        """Keep the pair as a record."""
        self.store.records.append(
            MemRecord(
                id=f"p{self.t}",
                kind="episodic",
                added_step=self.t,
                text=f"Observation: {text}\nAction taken: {action.command}",
            )
        )

    def amend(self, command: str) -> None:
        """A forced policy played ``command``: the pair stored at this step records it instead."""
        records = self.store.records
        if records and records[-1].kind == "episodic" and records[-1].added_step == self.t - 1:
            records[-1] = amend_pair(records[-1], command)


class FullHistoryPlanAgent(BaselineAgent):
    """Full History: every pair in the history section (oldest dropped past ``max_history_chars``)."""

    id: ClassVar[str] = "arigraph-full-history"
    history_title: ClassVar[str] = HISTORY_TITLE

    def new_memory(self) -> PairsMemory:
        """The pairs within ``max_history_chars``."""
        return PairsMemory(self.config.max_history_chars)

    def history_text(self) -> str:
        """The newest pairs that fit the budget, oldest first."""
        kept, used = [], 0
        for pair in reversed(self.history):
            used += len(pair) + 1
            if used > self.config.max_history_chars:
                break
            kept.append(pair)
        self.store.prompt_text = "\n".join(reversed(kept))
        return self.store.prompt_text

    def section_limit(self, title: str) -> int:
        """The history has its own budget (``max_history_chars``)."""
        return self.config.max_history_chars if title == self.history_title else super().section_limit(title)


class ReflexionAgent(FullHistoryPlanAgent):
    """Reflexion: after a failed trial the LLM reflects on the trajectory; the newest reflections persist
    across trials and enter every prompt as their own section. Each trial's end (outcome, and the reflection
    or why there is none) is a ``trial`` record of the snapshot."""

    id: ClassVar[str] = "reflexion"
    reflections_title: ClassVar[str] = REFLECTIONS_TITLE

    def __init__(self, config: ReflexionConfig, ctx: AgentContext) -> None:
        super().__init__(config, ctx)
        self.config: ReflexionConfig = config
        self.reflections: list[tuple[int, str]] = []  # (trial that wrote it, text), oldest first
        self.trial_records: list[MemRecord] = []

    def reset(self, task: Task) -> None:
        """The trajectory starts blank; the reflections and trial records stay."""
        super().reset(task)
        self.store.records = self.carried()

    def carried(self) -> list[MemRecord]:
        """The records that cross trials: the kept reflections, then one record per ended trial."""
        reflections = [
            MemRecord(id=f"reflection-{trial}", kind="reflection", text=text, attrs={"trial": trial})
            for trial, text in self.reflections
        ]
        return reflections + self.trial_records

    def recall(self, obs: Observation, text: str, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """The reflections section (none before the first failed trial)."""
        if not self.reflections:
            return []
        body = "\n".join(f"Trial {trial + 1}: {text}" for trial, text in self.reflections)
        return [(self.reflections_title, body)]

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Reflect on a failed trial (LLM call "reflect"); an empty reply adds no reflection, and the trial
        record says so."""
        attrs: dict[str, Any] = {"trial": outcome.trial, "score": outcome.score, "won": outcome.won}
        if not outcome.won or self.config.reflect_on_win:
            with self.ctx.clock.phase("memory_write"):
                trajectory = "\n".join(self.history)[-self.config.max_trajectory_chars :]
                prompt = render(prompts.REFLECT, outcome=verbal_outcome(outcome), goal=self.goal,
                                trajectory=trajectory or "(no steps)")
                reply = self.llm.chat([("system", prompts.ASSISTANT), ("user", prompt)], purpose="reflect")
            text = clean_reflection(reply)
            if text:
                attrs["reflection"] = text
                kept = self.reflections + [(outcome.trial, text)]
                self.reflections = kept[-self.config.max_reflections :]
            else:
                attrs["reflection_parse_failure"] = reply[:500] or "empty reply"
        self.trial_records.append(MemRecord(id=f"trial-{outcome.trial}", kind="trial", attrs=attrs,
                                            text=f"Trial {outcome.trial + 1}: {verbal_outcome(outcome)}"))
        self.store.records = [r for r in self.store.records if r.kind not in ("reflection", "trial")]
        self.store.records = self.carried() + self.store.records


def verbal_outcome(outcome: TrialOutcome) -> str:
    """How the trial ended, for the reflection prompt.

    >>> verbal_outcome(TrialOutcome(trial=0, steps=30, score=1, max_score=3, won=False, lost=False))
    'ran out of steps after 30 steps with a score of 1 out of 3'
    """
    how = "won" if outcome.won else "lost" if outcome.lost else "ran out of steps"
    score = f"{outcome.score:g}" + (f" out of {outcome.max_score:g}" if outcome.max_score else "")
    return f"{how} after {outcome.steps} steps with a score of {score}"


def clean_reflection(reply: str, sentences: int = 3) -> str:
    """The first ``sentences`` sentences of a reply, without a leading "Reflection:" label.

    >>> clean_reflection("Reflection: I looped. Next time open the locker first. Then go east. Extra.")
    'I looped. Next time open the locker first. Then go east.'
    """
    text = re.sub(r"^\s*(reflection|answer)\s*:\s*", "", reply.strip(), flags=re.IGNORECASE)
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(p for p in parts[:sentences] if p).strip()[:1000]


class SummaryAgent(BaselineAgent):
    """Summary: LLM call "summary" before planning; the summary and the last pairs enter the prompt."""

    id: ClassVar[str] = "summary"

    def new_memory(self) -> SummaryMemory:
        """The pairs and the summary (which starts from "Yet nothing", as the reference)."""
        return SummaryMemory()

    @property
    def summary(self) -> str:
        """The current summary."""
        return self.store.summary

    def recall(self, obs: Observation, text: str, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """Rewrite the summary (an empty reply keeps the previous one)."""
        with self.ctx.clock.phase("memory_write"):
            prompt = render(
                prompts.SUMMARY,
                goal=self.goal,
                history=self.history_text() or "(none yet)",
                observation=text,
                summary=self.summary,
            )
            reply = self.llm.chat(
                [("system", prompts.ASSISTANT), ("user", prompt)], purpose="summary"
            ).strip()
        if reply:
            self.store.summary = reply
        else:
            thoughts["summary_parse_failure"] = "empty reply: previous summary kept"
        self.store.records = [r for r in self.store.records if r.id != "summary"]
        self.store.records.append(
            MemRecord(id="summary", kind="summary", text=self.summary, added_step=self.t)
        )
        self.store.prompt_text = self.summary
        return [(SUMMARY_TITLE, self.summary)]


class RagAgent(BaselineAgent):
    """RAG with recency, importance and relevance (Generative Agents' retrieval)."""

    id: ClassVar[str] = "rag"

    def __init__(self, config: RagConfig, ctx: AgentContext) -> None:
        self.config: RagConfig = config
        super().__init__(config, ctx)
        self.current = torch.zeros(0)

    def new_memory(self) -> RagMemory:
        """The scored pairs (the encoder embeds each step's observation and plan once)."""
        return RagMemory(make_encoder(self.config.encoder), self.config.top_k, self.config.recency_decay)

    @property
    def entries(self) -> list[tuple[int, str, float, torch.Tensor]]:
        """(step, text, importance, embedding) of every stored step."""
        return self.store.entries

    def reset(self, task: Task) -> None:
        """A blank store."""
        super().reset(task)
        self.current = torch.zeros(0)

    def recall(self, obs: Observation, text: str, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """Score every stored step and return the best (the last ``n_prev`` are in the history already)."""
        with self.ctx.clock.phase("memory_read"):
            seen = text + (f"\nInventory: {obs.inventory}" if obs.inventory else "")
            self.current = self.store.encoder.encode([f"{seen}\nPlan: {json.dumps(self.plan)}"])[0]
            top = self.store.top(self.store.scores(self.current, self.t), skip_last=self.config.n_prev)
        self.store.retrieved = [self.store.records[i].id for i in top]  # records and entries are aligned
        body = self.store.body(top)
        self.store.prompt_text = body
        thoughts["retrieved_steps"] = [self.entries[i][0] for i in top]
        return [(RAG_TITLE, body)]

    def remember(self, text: str, action: Action) -> None:
        """Rate the step's importance (:meth:`rate`) and store it."""
        super().remember(text, action)
        llm = self.config.importance == "llm"
        importance = self.rate(text, action.thoughts) if llm else DEFAULT_IMPORTANCE
        entry = f"Observation: {text}\nAction taken: {action.command}"
        self.entries.append((self.t, entry, importance, self.current))
        self.store.records[-1] = MemRecord(
            id=f"r{self.t}", kind="episodic", text=entry, added_step=self.t, attrs={"importance": importance}
        )

    def rate(self, text: str, thoughts: dict[str, Any]) -> float:
        """LLM call "importance": a scoring model (the embedded one) scores the options 1-10; a generating
        model's reply is read as a number on the scale (``7/10`` is 7), clamped to 1-10. A reply with no
        number counts as :data:`DEFAULT_IMPORTANCE`, noted in ``thoughts["importance_parse_failure"]``."""
        messages = [("user", render(prompts.IMPORTANCE, memory=text, plan=json.dumps(self.plan)))]
        if self.llm.can_score:
            choice = self.llm.choose(messages, [str(i) for i in range(1, 11)], purpose="importance")
            return float(choice.option)
        reply = self.llm.chat(messages, purpose="importance")
        rating = parse_rating(reply)
        if rating is None:
            failure = reply.strip()[:500] or "empty reply"
            thoughts["importance_parse_failure"] = f"{failure} (counted as {DEFAULT_IMPORTANCE:g})"
            return DEFAULT_IMPORTANCE
        return rating

    def amend(self, command: str) -> None:
        """A forced policy played ``command``: the stored pair and its retrievable entry record it instead."""
        super().amend(command)
        if self.entries and self.entries[-1][0] == self.t - 1:
            step, _, importance, vector = self.entries[-1]
            self.entries[-1] = (step, self.store.records[-1].text, importance, vector)


CONFIGS = {"arigraph-full-history": FullHistoryPlanConfig, "summary": SummaryConfig, "rag": RagConfig,
           "reflexion": ReflexionConfig}
