"""What the scripted strong model (``lab.benches.strong_model``) reads in a prompt, and how it decides.

Everything here works on prompt text alone: the goal sentence, the room header and exits of the
observation the prompt shows, the list of actions it offers, and the memory the agent wrote into it
(the last move of a history, the unexplored exits of a graph, learnings, a previous summary). The
decision rule is the one a careful player follows in a generated TextWorld game: take the goal object
when a take command is offered; otherwise walk through an exit the memory does not mark as explored,
never straight back the way it came.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

COMPASS = ("north", "south", "east", "west")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
ROOM = re.compile(r"-= (.+?) =-")
MOVE = re.compile(r"go (north|south|east|west)")
GOAL_OBJECT = re.compile(
    r"\b(?:retrieve|recover|fetch|obtain|lift|snatch|remove|take|pick up|pick-up|grab|collect|find|get)"
    r"\s+(?:the|a|an)\s+([a-z][a-z' -]*?)"
    r"""(?=\s+(?:from|on|in|inside|off|at|which|that)\b|[.,!;:'"]|$)""",
    re.IGNORECASE | re.MULTILINE,
)
THING_HERE = re.compile(r"\b(?:is|are) an? ([a-z][a-z' -]*?) on the ([a-z][a-z -]*?)[.,]", re.IGNORECASE)
"""TextWorld's "There is a coin on the floor." sentences."""


@dataclass(frozen=True)
class Decision:
    """A chosen command and the reason a strong model would give for it."""

    command: str
    reason: str


def goal_object(goal: str) -> str | None:
    """The object a goal sentence asks for (the last one named, as TextWorld's quests end with it).

    >>> goal_object("First off, move south. Then retrieve the coin from the floor of the cookery.")
    'coin'
    >>> goal_object("Your objective is to retrieve the passkey from the floor of the cookery.")
    'passkey'
    """
    found = GOAL_OBJECT.findall(goal or "")
    return found[-1].strip().lower() if found else None


def room_of(text: str) -> str | None:
    """The room of the last ``-= Room =-`` header in ``text`` (lower-cased)."""
    found = ROOM.findall(text or "")
    return found[-1].strip().lower() if found else None


def room_text(text: str) -> str:
    """The text from the last room header on (the room description, without a goal sentence before it)."""
    matches = list(ROOM.finditer(text or ""))
    return text[matches[-1].start() :] if matches else (text or "")


def exits_of(text: str) -> list[str]:
    """Compass directions the room description of ``text`` names, in compass order.

    >>> exits_of("Go east now.\\n-= Hall =-\\nWhy not try going south, that entranceway is unguarded.")
    ['south']
    """
    words = set(re.findall(r"[a-z]+", room_text(text).lower()))
    return [d for d in COMPASS if d in words]


def things_here(text: str) -> list[tuple[str, str]]:
    """(object, support) pairs of "There is a X on the Y." sentences in the room description."""
    return [(o.strip().lower(), s.strip().lower()) for o, s in THING_HERE.findall(room_text(text))]


def last_move(text: str, label: str = r"Action(?: taken)?|Selected action") -> str | None:
    """The direction of the last ``<label>: go <dir>`` line in ``text``, or None."""
    found = re.findall(rf"(?:{label}):\s*\**`?go (north|south|east|west)\b", text or "", re.IGNORECASE)
    return found[-1].lower() if found else None


def listed_actions(text: str) -> list[str]:
    """The actions a prompt offers: a JSON list after "Possible actions in the current situation:",
    a bullet list after "Valid actions:" / "Possible actions:", or a comma list after "Valid actions: "."""
    match = re.search(r"Possible actions in the current situation:\s*(\[.*?\])\s*$", text, re.M)
    if match:
        return [str(a) for a in json.loads(match[1])]
    match = re.search(r"(?:Valid|Possible) actions:\s*\n((?:- .*\n?)+)", text)
    if match:
        return [line[2:].strip() for line in match[1].splitlines() if line.startswith("- ")]
    found = re.findall(r"Valid actions: (.+)", text)
    return [a.strip() for a in found[-1].split(",") if a.strip()] if found else []


def unexplored_for(text: str, room: str | None) -> list[str] | None:
    """The exits AriGraph's exploration section lists as unexplored for ``room`` (None: no such line)."""
    if not room:
        return None
    match = re.search(rf"Unexplored exits for {re.escape(room)}: (.*)", text, re.IGNORECASE)
    return [d for d in COMPASS if re.search(rf"\b{d}\b", match[1])] if match else None


def decide(goal: str, observation: str, actions: list[str], back: str | None,
           unexplored: list[str] | None = None, preferred: tuple[str, ...] = ()) -> Decision:
    """The careful player's choice among ``actions``.

    Take the goal object if a take command names it; else a move that is not straight back
    (``back``: the direction of the last move), through an exit the memory shows as unexplored
    first, then one a learning recommends (``preferred``), then in compass order.
    """
    wanted = goal_object(goal)
    lowered = {a.lower(): a for a in actions}
    for command in lowered:
        if wanted and command.startswith("take ") and wanted in command:
            return Decision(lowered[command], f"the {wanted} is here, and taking it is the goal")
    came_from = OPPOSITE.get(back or "")
    moves = [c for c in lowered if MOVE.fullmatch(c)]
    onward = [c for c in moves if c != f"go {came_from}"]
    ranked = sorted(onward, key=lambda c: (
        unexplored is not None and c[3:] not in unexplored, c not in preferred, COMPASS.index(c[3:])))
    where = f"the {room_of(observation)}" if room_of(observation) else "this room"
    if ranked:
        why = "an exit I have not taken yet" if not unexplored or ranked[0][3:] in unexplored else "onwards"
        return Decision(lowered[ranked[0]], f"the {wanted or 'goal'} is not in {where}; {why}")
    if moves:
        return Decision(lowered[moves[0]], f"{where} is a dead end, so I go back")
    return Decision(lowered.get("look", actions[0] if actions else "look"), "nothing to do but look around")
