"""HiAgent's decision loop (HiAgent, Hu et al. 2024, §3): subgoals, chunked working memory, retrieval.

Generating models (the paper's loop): one reply per step holding ``Action: <command>``, preceded by
``Subgoal: <text>`` when the LLM judges the current subgoal finished. A new subgoal closes the
current chunk, summarised once. Two pseudo-commands are answered by the agent itself, without an
env step, and their answer comes back as the next observation: ``retrieve(ids)`` (the expanded
trajectories of finished subgoals; the released code wrongly sends it to the env) and
``check valid actions`` (the admissible commands). A reply without an action is re-asked with an
error message, then replaced by a recorded fallback.

Scoring models (the embedded default): the action is chosen among the admissible commands by
``LLM.choose``; the subgoal is generated. Subgoals are set after a step (in ``observe``), when there
is none yet, the score went up, or the current one ran ``subgoal_max_steps`` steps. Doing it after
the step keeps every ``act`` starting with its scoring call, so a replayed run knows its mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.hiagent import prompts
from agents.hiagent.config import HiAgentConfig
from agents.hiagent.memory import (
    CHECK_VALID_ACTIONS,
    Chunk,
    WorkingMemory,
    composite_summary,
    last_observation_summary,
    parse_retrieve,
)
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.llm import LLM
from lab.core.llm.client import estimate_tokens
from lab.core.prompts import render
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

SUBGOAL_LINE = re.compile(
    r"^[ \t>*_#-]*(?:\d+[ \t.)]*)?subgoal[ \t*_]*\d*[ \t*_]*:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE
)
ACTION_MARKER = re.compile(r"[^\n:]*action[^\n:]*:", re.IGNORECASE)
LABEL_LINE = re.compile(r"^(?:\d+\s*)?(?:subgoal|observation)\s*\d*\s*:", re.IGNORECASE)
"""A line that starts another part of a turn: never an action."""
MARKUP = "\"'`*_#>/\\ \t"
"""Stripped from both ends of a subgoal or a command: quotes, markdown marks, slashes, blanks."""
FALLBACK_SUBGOAL = "Make progress towards the goal."


@dataclass
class Reply:
    """A parsed reply: the new subgoal (if any) and the action text (None when there is none)."""

    subgoal: str | None
    action: str | None


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped (summaries and subgoals)."""
    return next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")


def unmark(text: str) -> str:
    """``text`` without markdown: bold and code marks anywhere; italics, heading and quote marks, quotes
    and slashes at its ends.

    >>> unmark("** _Get the milk._")
    'Get the milk.'
    """
    return re.sub(r"\*\*|__|`", "", text).strip(MARKUP)


def clean_command(text: str) -> str:
    """The first line of ``text`` with content, unmarked and without trailing full stops; empty when that
    line is a subgoal or an observation.

    >>> clean_command(' "open fridge". \\nObservation: ...')
    'open fridge'
    >>> clean_command("**\\n`take milk from fridge`**")
    'take milk from fridge'
    """
    for line in text.splitlines():
        command = unmark(unmark(line).rstrip("."))
        if command:
            return "" if LABEL_LINE.match(command) else command
    return ""


def parse_reply(text: str) -> Reply:
    """Split a reply into subgoal and action.

    The first ``Subgoal:`` line opens a subgoal; the action is the first line after the first
    ``...action...:`` marker that follows it (or the first line after the subgoal when there is no
    marker). The released parser takes the last marker, so a model that writes on past its turn
    (``Observation: ...``, ``Action: ...``) would play its last invented action; markdown is removed.

    >>> parse_reply("Subgoal: Find the key.\\nAction: open drawer\\nObservation: Opened.\\nAction: take key")
    Reply(subgoal='Find the key.', action='open drawer')
    >>> parse_reply("**Action:** `retrieve(1, 2)`")
    Reply(subgoal=None, action='retrieve(1, 2)')
    >>> parse_reply("Subgoal: Find the key.")
    Reply(subgoal='Find the key.', action=None)
    """
    subgoal, rest = None, text
    match = SUBGOAL_LINE.search(text)
    if match:
        subgoal = unmark(match.group(1)) or None
        rest = text[match.end() :]
    marker = ACTION_MARKER.search(rest)
    action = clean_command(rest[marker.end() :] if marker else rest)
    return Reply(subgoal=subgoal, action=action or None)


class HiAgent:
    """HiAgent: an LLM agent whose working memory is chunked by the subgoals it states."""

    id: ClassVar[str] = "hiagent"

    def __init__(self, config: HiAgentConfig, ctx: AgentContext) -> None:
        if ctx.llm is None:
            raise ConfigError("hiagent needs an LLM (--llm embedded, openai:<model>, ...)")
        self.config, self.ctx = config, ctx
        self.llm: LLM = ctx.llm
        self.working = WorkingMemory(config.memory_size, 0, config.expand_in_place)
        self.task: Task | None = None
        self.step = 0
        self.scored = False
        self.last_reward = 0.0

    @property
    def memory(self) -> WorkingMemory:
        """The working memory of the current trial."""
        return self.working

    def reset(self, task: Task) -> None:
        """A new trial starts with an empty working memory (HiAgent has no cross-trial memory)."""
        self.task = task
        self.working = WorkingMemory(self.config.memory_size, task.trial, self.config.expand_in_place)
        self.last_reward = 0.0

    # ----------------------------------------------------------------- prompts
    def goal(self, observation: Observation) -> str:
        """The task's objective."""
        assert self.task is not None, "reset() must come before act()"
        return (observation.objective or self.task.objective).strip()

    def messages(self, observation: Observation, error: str | None = None) -> list[tuple[str, str]]:
        """The action prompt: note, example (unless off), goal, working memory (fit to the token budget)."""
        note = prompts.NOTE_SCORE if self.scored else prompts.NOTE_GENERATE
        cue = prompts.CUE_SCORE if self.scored else prompts.CUE_GENERATE
        if error:
            cue = (cue + "\n" + error).strip()
        example = render(prompts.EXAMPLE_SECTION, example=prompts.EXAMPLE) if self.config.example else ""
        slots = {"note": note, "example": example, "goal": self.goal(observation), "cue": cue}
        memory = self.fit_memory(prompts.SYSTEM + render(prompts.USER, memory="", **slots))
        return [("system", prompts.SYSTEM), ("user", render(prompts.USER, memory=memory, **slots).rstrip())]

    def fit_memory(self, fixed_text: str) -> str:
        """Serialise the working memory into what is left of ``context_length - reply_tokens``."""
        budget = self.config.context_length - self.config.reply_tokens - estimate_tokens(fixed_text)
        with self.ctx.clock.phase("memory_read"):
            return self.working.serialize(max(budget, 0), estimate_tokens)

    # ----------------------------------------------------------------- acting
    def act(self, observation: Observation) -> Action:
        """One env action; pseudo-commands and malformed replies are handled inside the step."""
        self.working.begin_step()
        if self.working.is_empty:
            self.working.add(
                "Observation",
                observation.text,
                self.step,
                room=observation.room,
                inventory=observation.inventory,
            )
        mode = self.config.decision
        self.scored = mode == "score" or (mode == "auto" and self.llm.can_score)
        return self.act_scored(observation) if self.scored else self.act_generated(observation)

    def act_generated(self, observation: Observation) -> Action:
        """The paper's loop: generate, parse, answer pseudo-commands, re-ask on malformed output."""
        thoughts: dict[str, Any] = {"mode": "generate", "pseudo_commands": [], "parse_failures": []}
        error, failures = None, 0
        while True:
            reply = self.llm.chat(self.messages(observation, error), purpose="act", stop=["\n\n"])
            thoughts["reply"] = reply
            parsed = parse_reply(reply)
            if parsed.subgoal:
                self.open_subgoal(parsed.subgoal, thoughts)
            if parsed.action is None:
                failures += 1
                thoughts["parse_failures"].append(reply)
                if failures > self.config.parse_retries:
                    return self.fallback(thoughts, "no action could be parsed from the reply")
                problem = "A subgoal must be followed by an action." if parsed.subgoal else "No action found."
                error = render(prompts.ERROR, problem=problem)
                continue
            error = None
            if not self.is_pseudo(parsed.action):
                return Action(command=parsed.action, thoughts=self.with_subgoal(thoughts))
            if len(thoughts["pseudo_commands"]) >= self.config.max_pseudo_commands:
                return self.fallback(thoughts, f"more than {self.config.max_pseudo_commands} pseudo-commands")
            self.answer_pseudo(parsed.action, observation, thoughts)

    def act_scored(self, observation: Observation) -> Action:
        """The embedded-model loop: choose among the admissible commands (the subgoal is in the prompt)."""
        options = observation.admissible or [self.config.fallback_action]
        choice = self.llm.choose(self.messages(observation), options, purpose="act")
        thoughts: dict[str, Any] = {"mode": "score"}
        if choice.raw:
            thoughts["generated"] = choice.raw
        return Action(command=choice.option, thoughts=self.with_subgoal(thoughts))

    def with_subgoal(self, thoughts: dict[str, Any]) -> dict[str, Any]:
        """Add the current subgoal (number and text) to a step's thoughts."""
        cur = self.working.current
        if cur.number > 0:
            thoughts["subgoal"] = f"{cur.number}: {cur.subgoal}"
        return thoughts

    def fallback(self, thoughts: dict[str, Any], reason: str) -> Action:
        """The recorded fallback action."""
        thoughts["fallback"] = {"reason": reason, "action": self.config.fallback_action}
        return Action(command=self.config.fallback_action, thoughts=self.with_subgoal(thoughts))

    # ----------------------------------------------------------------- pseudo-commands
    @staticmethod
    def is_pseudo(command: str) -> bool:
        """``retrieve(...)`` or ``check valid actions``: answered by the agent, never sent to the env."""
        return parse_retrieve(command) is not None or command.strip().lower() == CHECK_VALID_ACTIONS

    def answer_pseudo(self, command: str, observation: Observation, thoughts: dict[str, Any]) -> None:
        """Answer a pseudo-command; its answer enters the working memory as the observation."""
        ids = parse_retrieve(command)
        with self.ctx.clock.phase("memory_read"):
            if ids is not None:
                answer = self.working.retrieve(ids)
            else:
                answer = "Valid actions: " + (", ".join(observation.admissible) or "(none listed)")
        self.working.add_pair(
            command, answer, self.step, internal=True, room=observation.room, inventory=observation.inventory
        )
        thoughts["pseudo_commands"].append({"command": command, "observation": answer})

    # ----------------------------------------------------------------- subgoals and summaries
    def open_subgoal(self, text: str, thoughts: dict[str, Any]) -> None:
        """Start a subgoal; the chunk it closes is summarised now, once."""
        with self.ctx.clock.phase("memory_write"):
            closed = self.working.open_subgoal(text, self.step, self.summarize)
        thoughts["new_subgoal"] = text
        if closed is not None:
            thoughts["closed_subgoal"] = {"number": closed.number, "summary": closed.summary}

    def summarize(self, chunk: Chunk) -> tuple[str, str]:
        """The summary of a closing chunk, by the configured summariser."""
        if self.config.summarizer == "last_observation":
            return last_observation_summary(chunk)
        if self.config.summarizer == "composite":
            return composite_summary(chunk)
        pairs = chunk.pairs(skip_internal=True)  # "check valid actions" steps are left out [H]
        if not pairs:
            return last_observation_summary(chunk)[0], "fallback"
        trajectory = "\n".join(f"Action: {a}\nObservation: {o.strip()}" for a, o in pairs)
        user = render(prompts.SUMMARY_USER, trajectory=trajectory, subgoal=chunk.subgoal or "")
        reply = self.llm.chat(
            [("system", prompts.SUMMARY_SYSTEM), ("user", user)], purpose="summarize", stop=["\n"]
        )
        line = first_line(reply)
        return (line, "llm") if line else (last_observation_summary(chunk)[0], "fallback")

    def next_subgoal(self, observation: Observation) -> str:
        """Scoring mode: generate the next subgoal (one line; a recorded default when empty)."""
        user = render(
            prompts.SUBGOAL_USER, goal=self.goal(observation), memory=self.fit_memory(prompts.SUBGOAL_USER)
        )
        reply = self.llm.chat([("system", prompts.SYSTEM), ("user", user)], purpose="subgoal", stop=["\n"])
        match = SUBGOAL_LINE.search(reply)
        return unmark(first_line(match.group(1) if match else reply)) or FALLBACK_SUBGOAL

    def subgoal_due(self) -> str | None:
        """Scoring mode: why a new subgoal is needed after this step, or None."""
        cur = self.working.current
        if cur.number == 0:
            return "no subgoal yet"
        if self.config.new_subgoal_on_reward and self.last_reward > 0:
            return "the score went up"
        if cur.env_steps() >= self.config.subgoal_max_steps:
            return f"{self.config.subgoal_max_steps} steps on this subgoal"
        return None

    # ----------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        """Append the pair; in scoring mode, set the next subgoal when one is due."""
        nxt = transition.next_observation
        with self.ctx.clock.phase("memory_write"):
            self.working.add_pair(
                transition.action.command, nxt.text, self.step, room=nxt.room, inventory=nxt.inventory
            )
        self.last_reward = transition.reward
        self.step += 1
        reason = self.subgoal_due() if self.scored and not transition.done else None
        if reason:
            text = self.next_subgoal(nxt)
            notes: dict[str, Any] = {}
            self.open_subgoal(text, notes)
            transition.action.thoughts.update(
                {
                    "next_subgoal": text,
                    "why": reason,
                    **{k: v for k, v in notes.items() if k == "closed_subgoal"},
                }
            )

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Nothing carries over: HiAgent's memory is in-trial only."""


def act_prompt_items(messages: list[tuple[str, str]]) -> SplitPrompt | None:
    """The action prompt split into the working memory's chunks: the opening (before the first subgoal),
    then each ``N Subgoal:`` line with what follows it (a closed chunk's summary, the open chunk's pairs).
    None when the messages are not this agent's action prompt."""
    found = SplitPrompt.user_message(messages)
    if found is None:
        return None
    index, text = found
    head = text.find(prompts.MEMORY_MARK)
    if head == -1:
        return None
    start = head + len(prompts.MEMORY_MARK)
    cues = [text.rfind("\n" + cue) for cue in ("ERROR: ", prompts.CUE_SCORE) if cue]
    end = min([c for c in cues if c >= start] or [len(text)])
    parts = [p for p in re.split(r"\n(?=\d+ Subgoal: )", text[start:end]) if p]
    items = tuple(PromptItem(key=f"chunk:{i}", kind="chunk", text=p) for i, p in enumerate(parts))
    return SplitPrompt(messages=tuple(messages), sections=(PromptSection(index, start, end, items, "\n", ""),))
