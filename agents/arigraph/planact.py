"""The planner and the actor shared by Ariadne and its baselines [AP App. E; A:pipeline_*.py].

Each step: pre-process the observation; let the memory write and read (subclass hooks); rewrite
the plan of sub-goals (LLM call, or keep it with ``planner=static``); choose one action among the
admissible commands plus the memory's extra options (Ariadne's ``go to`` macros). The actor scores
the options on models that can score (the embedded model); other models answer in JSON, which is
parsed, matched to the list, and, when unreadable, matched from the raw text (recorded).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.arigraph import prompts
from agents.arigraph.config import PlanActConfig
from agents.arigraph.triplets import parse_json_object
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.llm import match_option
from lab.core.prompts import render
from lab.core.protocols import (
    Action,
    AgentContext,
    PromptItem,
    PromptSection,
    SplitPrompt,
    Task,
    Transition,
    TrialOutcome,
)

COOK_VERBS = (("stove", "fry"), ("oven", "roast"), ("bbq", "grill"))


def initial_plan(goal: str) -> dict[str, Any]:
    """The plan every trial starts with: the main goal and "Start the game" [A:pipeline_arigraph.py]."""
    return {
        "main_goal": goal,
        "plan_steps": [{"sub_goal_1": "Start the game", "reason": "You should start the game"}],
    }


def preprocess(text: str, step: int, note: str) -> str:
    """The reference's observation clean-up: "Game step #N", living room / Recipe renames, the task note.

    >>> preprocess("-= Livingroom =-", 0, "Find it.")
    'Game step #1\\n-= Living room =-\\nFind it.'
    """
    text = (
        text.replace("livingroom", "living room")
        .replace("Livingroom", "Living room")
        .replace("Recipe #1", "Recipe")
    )
    if step == 0 and note:
        text = f"{text}\n{note}"
    return f"Game step #{step + 1}\n{text}"


def cooking_names(commands: list[str]) -> dict[str, str]:
    """Shown name -> command: "cook X with stove" is shown as "fry X with stove" (oven: roast, BBQ: grill).

    >>> cooking_names(["cook carrot with BBQ", "look"])
    {'grill carrot with BBQ': 'cook carrot with BBQ', 'look': 'look'}
    """
    out = {}
    for command in commands:
        shown = command
        for tool, verb in COOK_VERBS:
            if command.startswith("cook ") and command.lower().endswith(f"with {tool}"):
                shown = verb + command[4:]
        out[shown] = command
    return out


class PlanActAgent:
    """The shared decision loop; subclasses give the memory (``recall``, ``remember``, ``extra_options``)."""

    id: ClassVar[str] = "plan-act"
    history_title: ClassVar[str] = "History of the last observations and actions"

    def __init__(self, config: PlanActConfig, ctx: AgentContext) -> None:
        if ctx.llm is None:
            raise ConfigError(f"{self.id} needs an LLM (--llm embedded, openai:<model>, ...)")
        self.config, self.ctx, self.llm = config, ctx, ctx.llm
        self.task: Task | None = None
        self.reset_state("")

    def reset_state(self, goal: str) -> None:
        """Per-trial state of the loop."""
        self.goal, self.t = goal, 0
        self.plan: dict[str, Any] = initial_plan(goal)
        self.history: list[str] = []
        self.observations: list[str] = []
        self.last_action, self.location, self.previous_location = "start", None, None
        self.substitute: str | None = None

    def reset(self, task: Task) -> None:
        """A new trial: plan, history and memory start blank (the paper's memory is per episode)."""
        self.task = task
        self.reset_state(self.config.main_goal or task.objective or "Win the game")

    # --- hooks ----------------------------------------------------------------------------

    def recall(self, obs: Observation, text: str, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """Memory write and read for this observation; returns the memory's prompt sections."""
        return []

    def extra_options(self) -> list[str]:
        """Options besides the admissible commands."""
        return []

    def expand(self, command: str, thoughts: dict[str, Any]) -> Action:
        """The action of a chosen command (Ariadne turns ``go to`` into env commands)."""
        return Action(command=command, thoughts=thoughts)

    def remember(self, text: str, action: Action) -> None:
        """Memory write after the decision (RAG stores the step here)."""

    # --- the step -------------------------------------------------------------------------

    def act(self, observation: Observation) -> Action:
        """One step: memory, plan, action."""
        raw = self.substitute if self.substitute is not None else observation.text
        self.substitute = None
        text = preprocess(raw, self.t, self.config.task_note)
        self.previous_location, self.location = (
            self.location,
            (observation.room or "").lower() or self.location,
        )
        thoughts: dict[str, Any] = {}
        sections = self.recall(observation, text, thoughts)
        seen = text + (f"\nInventory: {observation.inventory}" if observation.inventory else "")
        names = (
            cooking_names(observation.admissible)
            if self.config.cooking_verbs
            else {a: a for a in observation.admissible}
        )
        names.update({o: o for o in self.extra_options() if o not in names})
        options = list(names) or ["look"]
        self.update_plan(seen, sections, thoughts)
        shown = self.choose(seen, sections, options, thoughts)
        action = self.expand(names.get(shown, shown), thoughts)
        thoughts["plan"] = self.plan
        self.remember(seen, action)
        self.observations = (self.observations + [text])[-max(self.config.n_prev, 1) :]
        self.history.append(f"Observation: {seen}\nAction taken: {action.command}")
        self.last_action, self.t = action.command, self.t + 1
        return action

    def amend(self, command: str) -> None:
        """A forced policy played ``command``, not the chosen action: memory written in ``act`` follows it."""

    def observe(self, transition: Transition) -> None:
        """Nothing beyond what ``act`` stored (the next observation is read at the next ``act``), unless a
        forced policy (the run's ``policy``) played another command than the chosen one: then the history,
        the last action (which gives Ariadne's spatial edges) and the memory's pair record the played one."""
        played = transition.action.command
        if played == self.last_action:
            return
        self.last_action, self.substitute = played, None
        if self.history:
            head = self.history[-1].rpartition("\nAction taken: ")[0]
            self.history[-1] = f"{head}\nAction taken: {played}"
        self.amend(played)

    def end_trial(self, outcome: TrialOutcome) -> None:
        """The paper's agents learn nothing across trials."""

    # --- planner and actor ------------------------------------------------------------------

    def history_text(self) -> str:
        """The last ``n_prev`` observation/action pairs."""
        return "\n".join(self.history[-self.config.n_prev :]) if self.config.n_prev else ""

    def context(self, seen: str, sections: list[tuple[str, str]], plan_title: str) -> str:
        """The numbered context of the planner and the actor [A:pipeline_arigraph.py ``planning``]."""
        items = [
            ("Main goal", self.goal),
            (self.history_title, self.history_text() or "(none yet)"),
            ("Your current observation", seen),
        ]
        memory = [s for s in sections if not s[0].startswith("Yet unexplored")]
        items += memory + [(plan_title, json.dumps(self.plan))] + [s for s in sections if s not in memory]
        return "\n\n".join(
            render(prompts.SECTION, number=i + 1, title=title, body=body[-self.section_limit(title) :])
            for i, (title, body) in enumerate(items)
        )

    def section_limit(self, title: str) -> int:
        """Characters kept (from the end) of a context section."""
        return self.config.max_section_chars

    def update_plan(self, seen: str, sections: list[tuple[str, str]], thoughts: dict[str, Any]) -> None:
        """LLM call 5: the new plan as JSON; an unreadable reply keeps the previous plan (recorded)."""
        if self.config.planner == "static":
            return
        messages = [
            ("system", render(prompts.PLAN_SYSTEM)),
            ("user", self.context(seen, sections, "Your previous plan")),
        ]
        reply = self.llm.chat(messages, purpose="plan")
        plan = parse_json_object(reply)
        if plan is not None and isinstance(plan.get("plan_steps"), list) and plan["plan_steps"]:
            self.plan = plan
        else:
            thoughts["plan_parse_failure"] = reply[:500]

    def choose(
        self, seen: str, sections: list[tuple[str, str]], options: list[str], thoughts: dict[str, Any]
    ) -> str:
        """LLM call 6: one of ``options`` (scored, or generated as JSON and matched)."""
        context = self.context(seen, sections, "Your current plan")
        reply_rule = prompts.ACT_REPLY_SCORE if self.llm.can_score else render(prompts.ACT_REPLY_JSON)
        user = context + "\n\n" + render(prompts.ACTIONS, actions=json.dumps(options), reply=reply_rule)
        messages = [("system", prompts.ACT_SYSTEM), ("user", user)]
        if self.llm.can_score:
            return self.llm.choose(messages, options, purpose="act").option
        reply = self.llm.chat(messages, purpose="act")
        parsed = parse_json_object(reply) or {}
        wanted = str(parsed.get("action_to_take", "")).strip()
        if wanted:
            thoughts["reason_for_action"] = str(parsed.get("reason_for_action", ""))[:500]
            exact = {o.lower(): o for o in options}
            return exact.get(wanted.lower()) or options[match_option(wanted, options)[0]]
        thoughts["act_parse_failure"] = reply[:500]
        return options[match_option(re.sub(r"[{}\"]", " ", reply), options)[0]]


# --- attribution: the recorded actor prompt, split into its memory items ----------------------------------
OWN_TITLES = ("Main goal", "Your current observation", "Your current plan", "Your previous plan")
"""Context sections that hold no memory item."""
ACTIONS_MARK = "\n\nPossible actions in the current situation:"


@dataclass(frozen=True)
class MemorySection:
    """How a memory section of the actor prompt splits into items and is joined again."""

    title: str
    """A regular expression matching the title."""
    kind: str
    split: str
    """A regular expression the body is split at (zero-width: each item keeps its text)."""
    separator: str
    empty: str


def memory_sections() -> tuple[MemorySection, ...]:
    """Every memory section an agent of this package writes (the titles from the memories' own modules)."""
    from agents.arigraph.baseline_memory import HISTORY_TITLE, RAG_TITLE, REFLECTIONS_TITLE, SUMMARY_TITLE
    from agents.arigraph.memory import SEMANTIC_TITLE

    pairs = r"\n(?=Observation: )"
    return (
        MemorySection(re.escape(SEMANTIC_TITLE), "triplet", r"; ", "; ", "(nothing relevant)"),
        MemorySection(r"Your \d+ most relevant episodic memories from the past", "episode", r"\n---\n", "\n---\n",
                      "(none)"),
        MemorySection(r"Yet unexplored exits in the environment", "exits", r"\n", "\n", "none"),
        MemorySection(re.escape(PlanActAgent.history_title), "history", pairs, "\n", "(none yet)"),
        MemorySection(re.escape(HISTORY_TITLE), "history", pairs, "\n", "(none yet)"),
        MemorySection(re.escape(RAG_TITLE), "record", r"\n---\n", "\n---\n", "(nothing yet)"),
        MemorySection(re.escape(SUMMARY_TITLE), "summary", r"(?!)", "", ""),
        MemorySection(re.escape(REFLECTIONS_TITLE), "reflection", r"\n(?=Trial \d+: )", "\n", ""),
    )


def act_prompt_items(messages: list[tuple[str, str]]) -> SplitPrompt | None:
    """The actor prompt of Ariadne or a baseline split into its memory items (None: not such a prompt).

    Sections are the numbered ``N. Title: body`` blocks of :meth:`PlanActAgent.context`; a memory section's
    body is split as its memory joins it (triplets at ``; ``, episodes and records at ``---`` lines, history
    pairs at each ``Observation:``), and a section left with no item gets the text the agent writes then.
    """
    found = SplitPrompt.user_message(messages)
    if found is None:
        return None
    index, text = found
    kinds = memory_sections()
    titles = "|".join([*(re.escape(t) for t in OWN_TITLES), *(k.title for k in kinds)])
    marks = list(re.finditer(rf"(?m)^\d+\. ({titles}): ", text))
    if not marks:
        return None
    end_all = text.find(ACTIONS_MARK)
    end_all = len(text) if end_all == -1 else end_all
    sections = []
    for k, mark in enumerate(marks):
        kind = next((m for m in kinds if re.fullmatch(m.title, mark[1])), None)
        if kind is None:
            continue
        start = mark.end()
        end = marks[k + 1].start() - 2 if k + 1 < len(marks) else end_all  # the blank line between sections
        body = text[start:end]
        parts = [] if body == kind.empty else [p for p in re.split(kind.split, body) if p]
        items = tuple(PromptItem(key=f"{kind.kind}:{len(sections)}.{i}", kind=kind.kind, text=p)
                      for i, p in enumerate(parts))
        sections.append(PromptSection(index, start, end, items, kind.separator, kind.empty))
    listed = re.search(r"Possible actions in the current situation: (\[.*?\])\s*$", text, re.M)
    options: tuple[str, ...] = ()
    if listed:
        try:
            options = tuple(str(o) for o in json.loads(listed[1]))
        except json.JSONDecodeError:
            options = ()
    return SplitPrompt(messages=tuple(messages), sections=tuple(sections), options=options)
