"""A scripted strong chat model: it reads only the prompt it is given and answers as strong models do.

:class:`ScriptedStrongModel` is a langchain-core ``BaseChatModel`` for tests and benchmarks of the LLM
agents' full generation path. It has no ``score_options``, so the lab's LLM client generates and then
matches (``LLM.choose``), and it honours stop sequences, as provider APIs do. It never sees the env:
each call is routed by the prompt's own wording (:data:`ROUTES`, one entry per prompt of every LLM
agent) and answered from what the prompt says (``lab.benches.strong_reading``): the goal, the observation,
the actions listed, and the memory the agent put in the prompt.

The wording of replies varies the way strong models' does, rotating per prompt kind (deterministic,
so runs repeat): preambles ("Sure! Here is..."), markdown bold, headers and code fences, the prompt's
last heading echoed ("Replacements: [...]", "Action: ..."), ratings written with their scale ("7/10",
"3 out of 10"), "Task complete? Not yet." inside a CLIN rationale, JSON with trailing commas.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from lab.benches.strong_reading import (
    Decision,
    decide,
    exits_of,
    goal_object,
    last_move,
    listed_actions,
    room_of,
    room_text,
    things_here,
    unexplored_for,
)


@dataclass(frozen=True)
class Prompt:
    """A call's messages as text: the system part, the last user message, everything."""

    system: str
    user: str
    full: str
    users: tuple[str, ...]

    @classmethod
    def of(cls, messages: list[BaseMessage]) -> Prompt:
        """Read langchain messages."""
        text = [(m.type, str(m.content)) for m in messages]
        users = tuple(c for t, c in text if t == "human")
        return cls(system="\n".join(c for t, c in text if t == "system"), user=users[-1] if users else "",
                   full="\n\n".join(c for _, c in text), users=users)


def pick(options: list[str], turn: int) -> str:
    """The style of this turn (round-robin per prompt kind)."""
    return options[turn % len(options)]


def loose_json(pairs: dict[str, Any], trailing: bool) -> str:
    """A JSON object over several lines, optionally with the trailing commas models write."""
    comma = "," if trailing else ""
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in pairs.items())
    return "{\n" + body + comma + "\n}"


def after(text: str, label: str, stop: str = r"\n\n\d+\. |\Z") -> str:
    """The text after ``label`` up to ``stop`` (empty when the label is absent)."""
    match = re.search(re.escape(label) + r"(.*?)(?=" + stop + ")", text, re.S)
    return match[1].strip() if match else ""


# --------------------------------------------------------------------------- AriGraph and its baselines
SECTION = re.compile(r"(?m)^\d+\. ([A-Z][^:\n]{2,90}): ")


def sections(text: str) -> dict[str, str]:
    """The numbered ``N. Title: body`` context of the planner and the actor, by title."""
    text = text.split("\n\nPossible actions in the current situation:")[0]
    marks = list(SECTION.finditer(text))
    return {m[1]: text[m.end() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip()
            for i, m in enumerate(marks)}


def plan_act_state(prompt: Prompt) -> tuple[str, str, str]:
    """(goal, current observation, history) of a planner or actor prompt."""
    parts = sections(prompt.user)
    history = next((v for k, v in parts.items() if k.startswith("History")), "")
    return parts.get("Main goal", ""), parts.get("Your current observation", ""), history


def plan_act_decision(prompt: Prompt) -> Decision:
    """The actor's choice: the listed actions, the last move of the history, the unexplored exits."""
    goal, observation, history = plan_act_state(prompt)
    actions = listed_actions(prompt.user)
    return decide(goal, observation, actions, last_move(history),
                  unexplored_for(prompt.user, room_of(observation)))


def arigraph_act(prompt: Prompt, turn: int) -> str:
    """``{"reason_for_action", "action_to_take"}``, bare, fenced with a preamble, or after a heading."""
    choice = plan_act_decision(prompt)
    pairs = {"reason_for_action": choice.reason[0].upper() + choice.reason[1:] + ".",
             "action_to_take": choice.command}
    return pick([
        json.dumps(pairs),
        "Sure! Here is my choice:\n\n```json\n" + loose_json(pairs, trailing=True) + "\n```",
        f"**Reasoning:** {choice.reason}.\n\n" + loose_json(pairs, trailing=True),
        "### Action\n" + loose_json(pairs, trailing=False) + "\nLet me know the result.",
    ], turn)


def arigraph_plan(prompt: Prompt, turn: int) -> str:
    """A plan of sub-goals: take the goal object when the observation shows it, else explore first."""
    goal, observation, _ = plan_act_state(prompt)
    wanted = goal_object(goal) or "goal object"
    room = f"the {room_of(observation)}" if room_of(observation) else "this room"
    here = any(wanted in thing for thing, _ in things_here(observation))
    steps = [{"sub_goal_1": f"Take the {wanted}", "reason": f"The {wanted} is in {room}"}] if here else [
        {"sub_goal_1": f"Explore the unexplored exits to find the {wanted}",
         "reason": f"The {wanted} is not in {room}"},
        {"sub_goal_2": f"Take the {wanted}", "reason": "Taking it completes the goal"},
    ]
    emotion = {"your_current_emotion": "focused", "reason_behind_emotion": "the goal is clear"}
    plan = {"main_goal": goal.split("\n")[0][:300], "plan_steps": steps, "your_emotion": emotion}
    if turn % 2 == 0:
        return json.dumps(plan)
    step_text = ",\n".join("    " + json.dumps(s) for s in steps)
    trailing = ('{\n  "main_goal": ' + json.dumps(plan["main_goal"]) + ',\n  "plan_steps": [\n' + step_text
                + ',\n  ],\n  "your_emotion": ' + json.dumps(emotion) + ",\n}")
    return "Here is the updated plan:\n\n```json\n" + trailing + "\n```"


def arigraph_gate(prompt: Prompt, turn: int) -> str:
    """True when the plan asks to explore, find or locate something."""
    plan = prompt.user.partition("Plan:")[2]
    answer = "True" if re.search(r"\b(explore|find|locate|search)", plan, re.I) else "False"
    return pick([answer, f"**{answer}**", f"{answer}.\n\nThe plan's first sub-goal decides it."], turn)


def observation_of_extract(prompt: Prompt) -> str:
    """The observation an extraction prompt shows."""
    return prompt.user.rpartition("Observation:\n")[2].rpartition("\n\nTriplets:")[0]


def fact_triplets(observation: str) -> list[str]:
    """Triplets a careful reader writes for a TextWorld observation: exits, objects, the inventory."""
    room = room_of(observation)
    out = [f"{room}, has exit, {d}" for d in exits_of(observation)] if room else []
    for thing, support in things_here(observation):
        out.append(f"{thing}, is on, {support}")
        if room:
            out.append(f"{thing}, is in, {room}")
    if re.search(r"You are carrying nothing", observation):
        out.append("inventory, is, empty")
    carried = re.search(r"You are carrying:\s*(.+)", observation, re.S)
    for item in re.findall(r"\ban? ([a-z][a-z -]*)", carried[1]) if carried else []:
        out.append(f"{item.strip()}, is in, inventory")
    return out


def arigraph_extract(prompt: Prompt, turn: int) -> str:
    """Triplets of the observation in the extraction format, wrapped in prose, a list or a fence."""
    found = fact_triplets(observation_of_extract(prompt))
    if not found:
        return pick(["No new facts in this observation.", "**Triplets:** none"], turn)
    return pick([
        "Here are the triplets from the observation:\n\n" + "; ".join(found) + "\n\nLet me know if you need more.",
        "**Triplets:**\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(found, 1)),
        "```\n" + "; ".join(found) + "\n```",
        "; ".join(found),
    ], turn)


def split_facts(text: str) -> list[tuple[str, ...]]:
    """``"a, b, c; d, e, f"`` as triplets."""
    return [tuple(p.strip() for p in t.split(",")) for t in text.split(";") if t.count(",") == 2]


def arigraph_refine(prompt: Prompt, turn: int) -> str:
    """Pairs ``[old -> new]`` where a new fact moves an object or changes a state the memory holds."""
    old = split_facts(after(prompt.user, "Facts from memory:", r"\nNew facts:"))
    new = split_facts(after(prompt.user, "New facts:", r"\n\nReplacements:|\Z"))
    place = {"is in", "is on", "is at"}
    pairs = [(o, n) for n in new for o in old if o[0] == n[0] and o[2] != n[2]
             and (o[1] in place and n[1] in place or o[1] == n[1] == "is")]
    body = "[" + ", ".join(f"[{', '.join(o)} -> {', '.join(n)}]" for o, n in pairs) + "]"
    if not pairs:
        return pick(["[]", "Replacements: []", "Nothing in memory is out of date.\n\nReplacements: []"], turn)
    return pick([body, f"Replacements: {body}", f"**Replacements:** {body.replace(' -> ', ' → ')}"], turn)


def arigraph_entities(prompt: Prompt, turn: int) -> str:
    """The goal object (depth 2), the room and what lies in it (depth 1), as JSON."""
    observation = prompt.user.partition("Observation:\n")[2].partition("\n\nCurrent plan:")[0]
    plan = prompt.user.partition("Current plan:\n")[2]
    scores: dict[str, int] = {}
    wanted = goal_object(plan) or goal_object(observation)
    if wanted:
        scores[wanted] = 2
    if room_of(observation):
        scores[room_of(observation) or ""] = 1
    for thing, support in things_here(observation):
        scores.setdefault(thing, 1)
        scores.setdefault(support, 1)
    text = json.dumps(scores)
    return pick([text, "Sure! Here are the entities:\n\n```json\n" + text + "\n```",
                 "```python\n" + text[:-1] + ",}\n```"], turn)


def summary_reply(prompt: Prompt, turn: int) -> str:
    """The summary: the goal, the rooms visited (the previous summary's plus this one), what is left."""
    goal = after(prompt.user, "1. Main goal:")
    current = after(prompt.user, "3. Current observation:")
    previous = after(prompt.user, "4. Your previous summary:", r"\n\nYour summary:|\Z")
    rooms = [r.strip() for r in re.findall(r"Rooms visited:\**\s*([^.\n]*)", previous)[-1:]
             for r in r.split(",") if r.strip()] if "Rooms visited" in previous else []
    here = room_of(current)
    if here and here not in rooms:
        rooms.append(here)
    wanted = goal_object(goal) or "goal object"
    exits = ", ".join(exits_of(current)) or "none seen"
    lines = [f"Goal: retrieve the {wanted}.", f"Rooms visited: {', '.join(rooms) or 'none'}.",
             f"Now in the {here or 'same place'}; exits here: {exits}.", f"Left to do: find and take the {wanted}."]
    return pick([
        "\n".join(lines),
        "Sure! Here is the summary:\n\n" + "\n".join(f"**{ln.split(':')[0]}:**{ln.partition(':')[2]}" for ln in lines),
        "## Summary\n" + " ".join(lines),
    ], turn)


def importance_reply(prompt: Prompt, turn: int) -> str:
    """A 1-10 rating written with its scale: the goal object in view matters most, a new room some."""
    memory = after(prompt.user, "Memory:", r"\nCurrent plan:")
    wanted = goal_object(after(prompt.user, "Current plan:", r"\nAnswer with"))
    value = 9 if wanted and wanted in room_text(memory).lower() else 6 if room_of(memory) else 3
    return pick([f"{value}/10", f"I'd rate this memory {value} out of 10.", f"**Importance:** {value}",
                 f"Rating: {value}/10 because of what this step shows."], turn)


def reflect_reply(prompt: Prompt, turn: int) -> str:
    """Up to three sentences naming the moves that mattered."""
    moves = re.findall(r"Action taken: (.+)", prompt.user)
    path = ", then ".join(moves) or "nothing"
    won = "won" in prompt.user.partition("and ")[2][:20]
    text = (f"I {'reached the goal' if won else 'did not reach the goal'} by playing {path}. "
            f"Next time I will go straight through the exits I have not taken and take the goal object "
            f"as soon as I see it. Going back the way I came wastes steps.")
    return pick([text, f"Reflection: {text}", f"**Reflection:** {text}"], turn)


def full_history_act(prompt: Prompt, turn: int) -> str:
    """One valid action, as asked; wrapped in bold or code marks, or with a full stop."""
    goal = after(prompt.user, "Goal:", r"\n\nHistory")
    history = after(prompt.user, "History of your observations and actions so far:", r"\n\nCurrent observation:")
    current = after(prompt.user, "Current observation:", r"\n\nValid actions:")
    choice = decide(goal, current, listed_actions(prompt.user), last_move(history))
    return pick([choice.command, f"**{choice.command}**", f"`{choice.command}`", f"{choice.command}."], turn)


# --------------------------------------------------------------------------- HiAgent
def hiagent_act(prompt: Prompt, turn: int) -> str:
    """One subgoal per room ("Search the <room> for the <object>"), one command; no blank lines, since
    HiAgent stops replies at one. The first command of the game lists the valid actions."""
    goal = after(prompt.user, "accomplish the goal:", r"\n")
    memory = prompt.user.partition('to see what you carry.\n\n')[2]
    memory = "\n".join(ln for ln in memory.splitlines() if not ln.startswith("ERROR:"))
    wanted, room = goal_object(goal) or "goal object", room_of(memory)
    subgoals = re.findall(r"(?m)^\d+ Subgoal: (.*)$", memory)
    last_obs = re.split(r"(?m)^Observation: ", memory)[-1]
    if last_obs.startswith("Valid actions:"):
        actions = listed_actions(last_obs)
    else:
        seen = room_text(memory)
        actions = [f"go {d}" for d in exits_of(seen)]
        actions += [f"take {t}" for t, _ in things_here(seen) if wanted in t]
    command = decide(goal, room_text(memory), actions, last_move(memory, "Action")).command
    if not subgoals or not actions:
        command = "check valid actions"
    new = None
    if room and not (subgoals and room in subgoals[-1].lower()):
        new = f"Search the {room} for the {wanted}."
    elif not subgoals:
        new = f"Find the {wanted}."
    number = len(subgoals) + 1
    return pick([
        (f"Subgoal: {new}\n" if new else "") + f"Action: {command}",
        (f"**Subgoal:** {new}\n" if new else "") + f"**Action:** `{command}`",
        f"The {wanted} is not in view yet.\n" + (f"Subgoal {number}: {new}\n" if new else "") + f"Action: {command}",
        (f"{number} Subgoal: {new}\n" if new else "") + f"### Action:\n`{command}`",
    ], turn)


def hiagent_summarize(prompt: Prompt, turn: int) -> str:
    """One line: the moves of the chunk, where they led, whether the subgoal was met."""
    trajectory = after(prompt.user, "##Trajectory", r"\n\n##Subgoal")
    moves = [m for m in re.findall(r"Action: (.+)", trajectory) if m.startswith(("go ", "take "))]
    room = room_of(trajectory) or "same room"
    line = f"Played {', '.join(moves) or 'no move'} and reached the {room}; the subgoal was met."
    return pick([line, f"**Summary:** {line}", f"Summary: {line}"], turn)


def hiagent_subgoal(prompt: Prompt, turn: int) -> str:
    """Scoring mode's subgoal call: search the current room."""
    room = room_of(prompt.user) or "house"
    wanted = goal_object(after(prompt.user, "Goal:", r"\n")) or "goal object"
    return pick([f"Search the {room} for the {wanted}.", f"**Subgoal:** Search the {room} for the {wanted}."], turn)


def plain_command(prompt: Prompt, turn: int) -> str:
    """Scoring-mode action prompts answered by generation: the command alone."""
    goal = after(prompt.full, "accomplish the goal:", r"\n")
    return decide(goal, room_text(prompt.user), listed_actions(prompt.full), last_move(prompt.full)).command


# --------------------------------------------------------------------------- CLIN
LEARNING = re.compile(r"(?m)^(\d+)\. (.+)$")


def clin_act(prompt: Prompt, turn: int) -> str:
    """``I used learning id(s): ... $$$ rationale ### action``: the learnings that recommend the chosen
    command are cited; one style says "Task complete? Not yet." in the rationale."""
    framing = prompt.users[0] if prompt.users else ""
    goal = after(framing, "Your task:", r"\n")
    learnings = [(int(n), text) for n, text in LEARNING.findall(framing)]
    helpful = tuple(t.split(" may ")[0].split(" should ")[0].strip().lower()
                    for _, t in learnings if "necessary" in t.lower())
    where = after(prompt.user, "Where you are:", r"\nWhat you carry:")
    back = last_move("\n".join(prompt.users), "Selected action")
    choice = decide(goal, where, listed_actions(prompt.user), back, preferred=helpful)
    kind = "take" if choice.command.startswith("take") else "exit"
    ids = [n for n, t in learnings if "necessary" in t.lower()
           and (t.lower().startswith(choice.command) or (kind in t.lower() and "go " not in t.lower()))]
    cited = ", ".join(map(str, ids)) or "none"
    reason = choice.reason[0].upper() + choice.reason[1:]
    return pick([
        f"I used learning id(s): {cited} $$$ {reason}. ### {choice.command}",
        f"Sure! I used learning id(s): {cited} $$$ Task complete? Not yet. {reason}. ### **{choice.command}**",
        f"I used learning id(s): {cited} $$$ **Rationale:** {reason}. ### `{choice.command}`",
        f"I used learning id(s): {cited} $$$ {reason}; this gets the task completed sooner. ### {choice.command}.",
    ], turn)


def clin_memory(prompt: Prompt, turn: int) -> str:
    """Learnings from the trace: each move and the take, certain when the trial solved the task; idle
    commands do not contribute; earlier learnings are kept."""
    trace = prompt.users[-1]
    solved = "solved the task" in trace.rpartition("REWARD_FINAL")[2]
    steps = re.findall(r"Action: (.+)\nObservation: (.*)", trace)
    lines: list[str] = []
    for action, observation in steps:
        if action.startswith(("go ", "take ")):
            lines.append(f"{action} {'SHOULD' if solved else 'MAY'} BE NECESSARY to complete the task")
            if room_of(observation):
                lines.append(f"{action} MAY BE NECESSARY to reach the {room_of(observation)}")
        elif action in ("look", "inventory"):
            lines.append(f"{action} DOES NOT CONTRIBUTE to complete the task")
    previous = "\n".join(prompt.users[1:-1])
    for _, text in LEARNING.findall(previous):
        if text.lower() not in {ln.lower() for ln in lines} and "BE NECESSARY" in text.upper():
            lines.append(text)
    lines = list(dict.fromkeys(lines))
    numbered = "\n".join(f"{i}. {ln}" for i, ln in enumerate(lines, 1))
    bold = "\n".join(f"{i}. **{ln.split(' ', 2)[0]} {ln.split(' ', 2)[1]}** {ln.split(' ', 2)[2]}"
                     for i, ln in enumerate(lines, 1))
    return pick([numbered, "Here are the learnings:\n\n" + bold + "\n\nThese should help next time.",
                 "### Learnings\n" + "\n".join(f"- {ln}" for ln in lines)], turn)


def clin_meta(prompt: Prompt, turn: int) -> str:
    """General learnings for a new episode: take the goal object, walk through new exits, do not go back."""
    lines = ["Taking the goal object when it is in the room SHOULD BE NECESSARY to complete the task",
             "Going through an exit not taken before MAY BE NECESSARY to find the goal object",
             "Going back the way you came DOES NOT CONTRIBUTE to find the goal object"]
    numbered = "\n".join(f"{i}. {ln}" for i, ln in enumerate(lines, 1))
    return pick([numbered, "Sure! Here is the generalised list:\n\n" + numbered], turn)


# --------------------------------------------------------------------------- routing
Reply = Callable[[Prompt, int], str]
ROUTES: tuple[tuple[str, str, Reply], ...] = (
    ("arigraph/entities", "worth looking up in your memory", arigraph_entities),
    ("arigraph/extract", "Build a knowledge graph from a text game observation", arigraph_extract),
    ("arigraph/refine", "Some facts in memory may be out of date", arigraph_refine),
    ("arigraph/explore_gate", "Answer True if carrying it out requires exploring", arigraph_gate),
    ("arigraph/plan", "You are the planner of an agent that plays a text game", arigraph_plan),
    ("arigraph/act", "You choose the next action of an agent that plays a text game", arigraph_act),
    ("arigraph/summary", "Write a summary of what you know about the game so far", summary_reply),
    ("arigraph/importance", "rate how important this memory is", importance_reply),
    ("arigraph/reflect", "write a short reflection for your next attempt", reflect_reply),
    ("full-history/act", "Reply with exactly one action from the list of valid actions and nothing else",
     full_history_act),
    ("hiagent/summarize", "You summarise a series of actions and observations", hiagent_summarize),
    ("hiagent/subgoal", "State the next subgoal", hiagent_subgoal),
    ("hiagent/act", "Work in subgoals.", hiagent_act),
    ("hiagent/act-scored", "The game is played in subgoals", plain_command),
    ("clin/memory", "Write a numbered list of learnings that will help the agent solve the SAME", clin_memory),
    ("clin/meta-memory", "Generalise them into one numbered list of learnings", clin_meta),
    ("clin/act", "I used learning id(s): <comma-separated ids", clin_act),
)
"""(kind, a phrase only that prompt holds, the reply). The first match wins; the phrases are checked
against the agents' prompt templates by the tests."""


def route(prompt: Prompt) -> tuple[str, Reply] | None:
    """The kind and reply function of a prompt, or None for a prompt this model does not know."""
    for kind, phrase, reply in ROUTES:
        if phrase in prompt.full:
            return kind, reply
    return None


class ScriptedStrongModel(BaseChatModel):
    """Prompt-routed replies in strong-model style; ``calls`` records (kind, reply) per call."""

    model_name: str = "scripted-strong"
    _turns: Counter[str] = PrivateAttr(default_factory=Counter)
    _calls: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-strong"

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(prompt kind, reply as sent) of every call so far; kind ``unknown`` for unrouted prompts."""
        return list(self._calls)

    def reply(self, messages: list[BaseMessage]) -> tuple[str, str]:
        """(kind, full reply) for a prompt, before any stop sequence."""
        prompt = Prompt.of(messages)
        found = route(prompt)
        if found is None:
            return "unknown", "I am not sure what you are asking."
        kind, answer = found
        turn = self._turns[kind]
        self._turns[kind] += 1
        return kind, answer(prompt, turn)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        kind, text = self.reply(messages)
        for marker in stop or []:
            text = text.split(marker)[0]
        self._calls.append((kind, text))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
