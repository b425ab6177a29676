"""CLIN's decision loop (Majumder et al. 2023, "CLIN: A Continually Learning Language Agent").

Per step, one actor call (up to ``grounding_tries`` when the action cannot be grounded or the reply
breaks the protocol ``ids $$$ rationale ### action``); ``TASK_COMPLETE`` ends the trial. On scoring
models (the embedded default) the action is chosen among the admissible commands by ``LLM.choose``,
with the learnings in the prompt. After each trial the memory is rewritten from the trace, the final
score in words and the last k trial records (LLM or deterministic generator), and the episode's best
trial is recorded in the meta-memory (the run store, through ``ctx.cross_run``); Gen-Env / Gen-Task
episodes start from the meta-memory that earlier runs recorded under the same provenance, and the first
step's thoughts (``meta_memory``) and the snapshot (``meta-source`` records) name those runs and episodes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agents.clin import prompts
from agents.clin.config import ClinConfig
from agents.clin.generator import (
    DeterministicGenerator,
    TraceStep,
    generalize,
    generation_messages,
    normalized_score,
)
from agents.clin.memory import META_TRIAL, ClinMemory, Learning, TrialRecord, parse_learnings, render
from agents.clin.meta import best_episodes, entry_data, episode_key, provenance
from agents.clin.protocol import Encoder, early_stop_reason, ground, parse_reply, stop_action
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.llm import LLM
from lab.core.prompts import render as fill
from lab.core.protocols import (
    Action,
    AgentContext,
    PromptItem,
    PromptSection,
    SplitPrompt,
    Task,
    TrialOutcome,
    Transition,
)


class ClinAgent:
    """CLIN: an LLM actor whose prompt holds causal learnings rewritten after every trial."""

    id: ClassVar[str] = "clin"

    def __init__(
        self,
        config: ClinConfig,
        ctx: AgentContext,
        encoder: Encoder | None = None,
    ) -> None:
        if ctx.llm is None:
            raise ConfigError("clin needs an LLM for its actor (--llm embedded, openai:<model>, ...)")
        self.config, self.ctx = config, ctx
        self.llm: LLM = ctx.llm
        self.clin = ClinMemory()
        self.generator = DeterministicGenerator(config.fruitless_repeats, config.max_learnings)
        self._encoder = encoder
        self.provenance = provenance(self.llm.spec, config)
        """What this run's meta-memory entries are recorded and matched under (``meta.provenance``)."""
        self.best: TrialRecord | None = None
        """The episode's best trial so far (the one recorded in the meta-memory)."""
        self.task: Task | None = None
        self.trace: list[TraceStep] = []
        self.index = 0
        """Run-wide index of the step being acted on (matches the run loop's step index)."""
        self.acts = 0
        self.episode: str | None = None
        self.meta: list[Learning] = []
        self.notes: dict[str, Any] = {}
        """Things to show in the next step's thoughts (meta-memory seeding)."""

    @property
    def memory(self) -> ClinMemory:
        """The learnings and trial records (they survive ``reset``)."""
        return self.clin

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder for grounding (loaded on the first non-exact action)."""
        if self._encoder is None:
            from lab.core.policy.encoder import get_encoder

            self._encoder = get_encoder()
        return self._encoder

    def reset(self, task: Task) -> None:
        """A new trial of the episode: the learnings stay, the trace starts empty."""
        self.task = task
        self.trace = []

    # ----------------------------------------------------------------- episode start
    def start_episode(self, observation: Observation) -> None:
        """Name the episode; in Gen-Env / Gen-Task mode, seed trial 0 with the generalised meta-memory."""
        assert self.task is not None, "reset() must come before act()"
        self.episode = episode_key(self.task.env_id, observation.text)
        if self.config.mode == "adapt" or self.task.trial != 0:
            return
        store = self.ctx.cross_run
        entries = store.entries(self.provenance) if store is not None else []
        sources = best_episodes(entries, self.task.env_id, self.config.mode == "gen-env", self.episode)
        with self.ctx.clock.phase("memory_write"):
            self.meta = self.generalize([s.learnings for s in sources]) if sources else []
            self.clin.seed(self.meta, self.index, [s.note() for s in sources])
        self.notes["meta_memory"] = {
            "episodes": len(sources),
            "learnings": len(self.meta),
            "sources": [s.note() for s in sources],
            "provenance": self.provenance,
        }
        if store is None or not store.readable:
            self.notes["meta_memory"]["unavailable"] = "this run cannot read the run store; not seeded"

    def generalize(self, memories: list[list[Learning]]) -> list[Learning]:
        """The meta-memory of earlier episodes' best trials: by the LLM, or by frequency (deterministic)."""
        limit = self.config.max_meta_learnings
        if self.config.generator == "deterministic":
            return generalize(memories, limit)
        episodes = "\n\n".join(f"EPISODE {i}:\n{render(m)}" for i, m in enumerate(memories, 1))
        user = fill(prompts.META_INSTRUCTION, episodes=episodes)
        reply = self.llm.chat([("system", prompts.META_SYSTEM), ("user", user)], purpose="meta-memory")
        learnings = parse_learnings(reply, META_TRIAL)[:limit]
        if not learnings:
            self.notes["meta_memory_fallback"] = "no learning parsed from the LLM; generalised by frequency"
            return generalize(memories, limit)
        return learnings

    # ----------------------------------------------------------------- prompts
    def memory_block(self) -> str:
        """The learnings as the actor sees them (meta-memory wording while they are the seed)."""
        text = render(self.clin.learnings)
        seeded = self.clin.learnings and all(s == "seeded" for s in self.clin.status.values())
        if seeded:
            where = prompts.WHERE_ENV if self.config.mode == "gen-env" else prompts.WHERE_TASK
            return fill(prompts.MEMORY_META, where=where, learnings=text)
        return fill(prompts.MEMORY, learnings=text)

    def messages(self, observation: Observation, error: str | None, scored: bool) -> list[tuple[str, str]]:
        """Task framing + learnings, the last steps as turns, then the current state and the protocol."""
        assert self.task is not None, "reset() must come before act()"
        framing = [fill(prompts.TASK, objective=(observation.objective or self.task.objective).strip())]
        if self.clin.learnings:
            framing.append(self.memory_block())
        framing.append(prompts.HISTORY)
        out: list[tuple[str, str]] = [("system", prompts.SYSTEM), ("user", "\n\n".join(framing))]
        recent = self.trace[-self.config.history_steps :] if self.config.history_steps else []
        for i, step in enumerate(recent):
            if step.reply:  # the actor's own reply, protocol included (scored steps have none)
                out.append(("assistant", step.reply))
            out.append(("user", fill(prompts.SELECTED, action=step.action)))
            newest = i == len(recent) - 1
            out.append(("user", step.observation.strip() + ("" if newest else "\n" + prompts.NEXT)))
        current = fill(
            prompts.CURRENT,
            opening="" if self.trace else observation.text.strip() + "\n\n",
            location=(observation.description or observation.room or "unknown").strip(),
            inventory=(observation.inventory or "unknown").strip(),
            actions="\n".join(f"- {a}" for a in observation.admissible) or "(not listed)",
        )
        tail = prompts.SCORE_CUE if scored else prompts.PROTOCOL
        if error:
            tail += "\n" + fill(prompts.ERROR, problem=error)
        out.append(("user", current + "\n" + tail))
        return out

    # ----------------------------------------------------------------- acting
    def act(self, observation: Observation) -> Action:
        """One action (or the end of the trial: early stop, ``TASK_COMPLETE``)."""
        assert self.task is not None, "reset() must come before act()"
        self.index, self.acts = self.acts, self.acts + 1
        self.clin.use([])
        if self.episode is None:
            self.start_episode(observation)
        thoughts, self.notes = dict(self.notes), {}
        reason = early_stop_reason(
            [s.action for s in self.trace],
            len(self.trace),
            getattr(self.task, "walkthrough_length", None),
            self.config.identical_action_limit,
            self.config.walkthrough_factor,
        )
        if reason:
            return stop_action(reason, thoughts)
        mode = self.config.decision
        if mode == "score" or (mode == "auto" and self.llm.can_score):
            return self.act_scored(observation, thoughts)
        return self.act_generated(observation, thoughts)

    def act_scored(self, observation: Observation, thoughts: dict[str, Any]) -> Action:
        """Choose among the admissible commands with the learnings in the prompt."""
        options = observation.admissible or [self.config.fallback_action]
        choice = self.llm.choose(self.messages(observation, None, scored=True), options, purpose="act")
        thoughts["mode"] = "score"
        if choice.raw:
            thoughts["generated"] = choice.raw
        return Action(command=choice.option, thoughts=thoughts)

    def act_generated(self, observation: Observation, thoughts: dict[str, Any]) -> Action:
        """Generate, parse and ground; retry with CLIN's error message up to ``grounding_tries`` calls."""
        thoughts.update(mode="generate", tries=[])
        error: str | None = None
        for attempt in range(1, self.config.grounding_tries + 1):
            reply = self.llm.chat(self.messages(observation, error, scored=False), purpose="act")
            parsed = parse_reply(reply)
            if parsed.complete:
                return self.task_complete(reply, thoughts)
            if parsed.action is None:
                thoughts["tries"].append({"reply": reply, "error": "malformed"})
                error = prompts.MALFORMED
                continue
            grounded = ground(
                parsed.action,
                observation.admissible,
                None if self.is_exact(parsed.action, observation) else self.encoder,
            )
            thoughts["tries"].append(
                {
                    "reply": reply,
                    "action": parsed.action,
                    "grounded": grounded.command,
                    "similarity": round(grounded.similarity, 4),
                }
            )
            last = attempt == self.config.grounding_tries
            if grounded.exact or grounded.similarity > self.config.grounding_threshold or last:
                self.clin.use(parsed.ids)
                thoughts.update(
                    used_learnings=parsed.ids,
                    rationale=parsed.rationale,
                    grounded=grounded.command,
                    reply=reply,
                )
                if last and not grounded.exact and grounded.similarity <= self.config.grounding_threshold:
                    thoughts["fallback"] = {
                        "reason": "nearest command after the last try",
                        "action": grounded.command,
                    }
                return Action(command=grounded.command, thoughts=thoughts)
            error = fill(prompts.UNMATCHED, action=parsed.action)
        thoughts["fallback"] = {
            "reason": f"no parseable reply in {self.config.grounding_tries} tries",
            "action": self.config.fallback_action,
        }
        return Action(command=self.config.fallback_action, thoughts=thoughts)

    @staticmethod
    def is_exact(action: str, observation: Observation) -> bool:
        """Whether the action is an admissible command as written (no encoder needed)."""
        return not observation.admissible or action.lower() in {a.lower() for a in observation.admissible}

    def task_complete(self, reply: str, thoughts: dict[str, Any]) -> Action:
        """``TASK_COMPLETE``: end the trial (CLIN plays ``exit``)."""
        thoughts["task_complete"] = reply
        return stop_action("the agent declared TASK_COMPLETE", thoughts)

    # ----------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        """Add the step to the trial's trace (a step that ended the trial early played nothing)."""
        if getattr(transition.action, "stop", False):
            return
        action = transition.action
        self.trace.append(
            TraceStep(
                action.command,
                transition.next_observation.text,
                transition.reward,
                str(action.thoughts.get("rationale", "")),
                str(action.thoughts.get("reply", "")),
            )
        )

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Rewrite the memory from this trial; record the episode's best trial in the meta-memory."""
        assert self.task is not None, "reset() must come before end_trial()"
        score = normalized_score(outcome.score, outcome.max_score, outcome.lost)
        with self.ctx.clock.phase("memory_write"):
            if self.config.generator == "deterministic":
                note = ""
                learnings = self.generator.generate(
                    self.trace, self.clin.learnings, outcome.trial, outcome.lost
                )
            else:
                learnings, note = self.llm_learnings(score, outcome.trial)
            self.clin.replace(learnings, self.index)
            record = TrialRecord(
                outcome.trial, score, outcome.steps, outcome.won, list(learnings), self.config.generator, note
            )
            self.clin.trials.append(record)
            self.record_best(record)

    def record_best(self, record: TrialRecord) -> None:
        """Record the trial in the meta-memory when it is the episode's best so far (ties: the later)."""
        assert self.task is not None
        store = self.ctx.cross_run
        if not self.config.record_meta_memory or not self.episode or store is None:
            return
        if self.best is not None and self.best.score > record.score:
            return
        self.best = record
        store.record(self.episode, self.provenance, entry_data(self.task.env_id, self.task.objective, record))

    def llm_learnings(self, score: float, trial: int) -> tuple[list[Learning], str]:
        """CLIN's generator call; when nothing parses, the previous memory is kept (and the fact noted)."""
        assert self.task is not None
        meta = self.meta if self.config.mode == "gen-env" else []
        messages = generation_messages(
            self.task.objective,
            self.trace,
            score,
            self.clin.last_k(self.config.last_k_memories),
            meta,
            self.config.generator_budget_tokens,
        )
        reply = self.llm.chat(messages, purpose="memory")
        learnings = parse_learnings(reply, trial)
        if not learnings:
            return list(
                self.clin.learnings
            ), "no learning could be parsed from the generator's reply; kept the previous memory"
        return learnings, ""


def act_prompt_items(messages: list[tuple[str, str]]) -> SplitPrompt | None:
    """The actor prompt split into its numbered learnings (the ids keep their numbers when some are left
    out, as the actor cites them); with none left, the learnings block goes, as :meth:`ClinAgent.messages`
    writes it. None when the messages are not CLIN's actor prompt."""
    found = SplitPrompt.user_message(messages, first=True)  # the framing: task, learnings, history heading
    if found is None:
        return None
    index, text = found
    history = text.find("\n\n" + prompts.HISTORY)
    if history == -1:
        return None
    heading = text.find(prompts.MEMORY_HEADING_END)
    if heading == -1 or heading > history:
        return SplitPrompt(messages=tuple(messages), sections=())  # no learnings in this prompt
    start = text.rfind("\n\n", 0, heading) + 2
    body_start = heading + len(prompts.MEMORY_HEADING_END)
    lines = [line for line in text[body_start:history].split("\n") if line]
    items = tuple(PromptItem(key=f"learning:{line.split('.')[0]}", kind="learning", text=line) for line in lines)
    section = PromptSection(index, start, history + 2, items, "\n", "", prefix=text[start:body_start],
                            suffix="\n\n")
    return SplitPrompt(messages=tuple(messages), sections=(section,))
