"""Reading a probe's answer from a memory's text: deterministic, with the fact mapping's normalisation.

The text is cut into units: its lines, then each line's sentences and ``;``-separated items, so that
each triplet of a graph memory is a unit. A unit written as a triplet (``s, r, o``, after an optional
``title:`` prefix) is normalised by :func:`envs.tw_facts.normalise`, as AriGraph's fidelity normalises
graph triplets, and supports exactly the facts it states. Any other unit supports an answer when it names
the probe's subject and the answer (whole words, case and articles ignored, ``livingroom`` also read as
``living room``), as TextWorld's sentences do ("The fridge contains a carrot."). The text is read in
order: a ``-= Room =-`` header puts the units after it in that room until the next move; an ``Action:
go <dir>`` line followed by a header is a move between two rooms; the cookbook's ``Ingredients:`` and
``Directions:`` lists are recipe units; ``Action:`` lines themselves (what an agent did, not what the game
said) support nothing. An answer A of a probe about X is read from a unit that:

| family | reads A when the unit ... |
|---|---|
| location, changed, contents | is ``x, is in/on, a``; or names X and A; or names X, and no other place, |
| | under room A's header |
| (place A = inventory) | names X with a carrying cue (carrying, inventory, you take, you pick up); such a |
| | unit supports no other place |
| inventory | the same, for each item; ``nothing``: "carrying nothing", "inventory is empty" |
| state | is ``x, is, a``; or says A of X: "an open fridge", "you open the fridge", "the fridge is open" |
| map (which room) | is ``a, is d of, r`` or ``r, is d' of, a`` (d' the opposite); or names A, d and R in |
| | that order; or the text moves from R by ``go d`` into A |
| map (exits) | is ``r, has exit, d``; or names d under R's header; or the text moves from R by ``go d`` |
| recipe | is ``recipe, requires, x`` or ``x, to be, a``; or is in the cookbook's lists (the ingredient; |
| | a direction "slice the x"); or names X (and A) with a recipe cue (recipe, ingredient) |

``evidence``: some true answer is read; for ``unseen`` probes (true answer ``unknown``), no place of X is
read (the spans are then where the text claims one).
``stale``: some stale answer is read (the text holds a fact that was true, was seen, and no longer holds).
Recipe units count only for recipe probes. This is a reader of TextWorld's templated English and of
triplets, not of paraphrase: a summary that says "the apple went into my bag" is not read as inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from envs.tw_facts import OPPOSITE, Triplet, clean_part, normalise, scorable
from lab.core.records import Probe

HEADER = re.compile(r"-= (.+?) =-")
ACTION = re.compile(r"^\s*action(?: taken)?\s*:\s*(.*)$", re.I)
MOVE = re.compile(r"^go (north|south|east|west)\b")
PIECE = re.compile(r"[^\s.!?;][^.!?;\n]*[.!?;]*")
LISTS = re.compile(r"(?:^|\s)(ingredients|directions):$")
"""The cookbook's list headers (on a line of their own, or after a memory's ``Observation:`` prefix)."""
CARRYING = re.compile(r"\b(?:carrying|carry|inventory|you take|you pick up|holding)\b")
NOTHING_CARRIED = re.compile(
    r"\bcarrying nothing\b|\binventory,? is,? empty\b|\bnothing in (?:your|the) inventory\b"
)
RECIPE_CUE = re.compile(r"\b(?:recipe|ingredients?)\b")
FORMS = {
    "open": ("open", "opened"),
    "closed": ("closed", "close"),
    "locked": ("locked", "lock"),
    "sliced": ("sliced", "slice"),
    "diced": ("diced", "dice"),
    "chopped": ("chopped", "chop"),
    "fried": ("fried", "fry"),
    "roasted": ("roasted", "roast"),
    "grilled": ("grilled", "grill"),
    "burned": ("burned", "burnt", "burn"),
}
"""Words that say a state: the adjective and the verb of the game's replies ("You slice the carrot.")."""


@dataclass
class Unit:
    """One readable piece of a memory's text."""

    start: int
    end: int
    text: str
    """Lower-cased, whitespace collapsed."""
    room: str | None = None
    """The room whose header this unit is under (None after a move, until the next header)."""
    kind: str = "text"
    """``text``, ``action``, ``ingredient`` or ``direction`` (the cookbook's lists)."""
    triplet: Triplet | None = None


@dataclass
class Reading:
    """A memory text cut into units, with the moves read from it."""

    text: str
    units: list[Unit] = field(default_factory=list)
    moves: list[tuple[str, str, str, tuple[int, int]]] = field(default_factory=list)
    """(from room, direction, to room, span from the action to the header)."""


def as_triplet(piece: str) -> Triplet | None:
    """A unit written as ``s, r, o`` (after an optional ``title:`` prefix), normalised; else None.

    >>> as_triplet("Information from memory: Red Apple, is in, Fridge;")
    Triplet(subject='red apple', relation='is in', object='fridge')
    >>> as_triplet("You see a fridge, an oven, a table.") is None  # not a relation of the fact mapping
    True
    """
    parts = piece.strip().rstrip(";.").split(",")
    if len(parts) != 3:
        return None
    parts[0] = parts[0].split(":")[-1]
    cleaned = [clean_part(p) for p in parts]
    if not all(cleaned) or any(len(p.split()) > 6 for p in cleaned):
        return None
    t = normalise(Triplet(*cleaned))
    return t if scorable(t) or t.relation in ("requires", "to be") else None


def read(text: str) -> Reading:
    """Cut a memory's text into units (see the module docstring)."""
    out = Reading(text)
    room: str | None = None
    pending: tuple[str, str, int] | None = None  # a move from room, by direction, starting at offset
    mode: str | None = None  # inside the cookbook's lists
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        lower = " ".join(line.lower().split())
        header = HEADER.search(line)
        action = ACTION.match(line)
        if header:
            new = clean_part(header[1])
            if pending:
                out.moves.append((pending[0], pending[1], new, (pending[2], start + len(line))))
            room, pending, mode = new, None, None
        if action:
            command = " ".join(action[1].lower().split())
            move = MOVE.match(command)
            out.units.append(Unit(start, start + len(line), lower, room, "action"))
            if move:
                pending, room = ((room, move[1], start) if room else None), None
            mode = None
            continue
        if lower == "---":  # between episodic memories, which need not follow each other
            room, pending, mode = None, None, None
        if lower.startswith("observation:"):
            mode = None
        lists = LISTS.search(lower)
        if lists:
            mode = "ingredient" if lists[1] == "ingredients" else "direction"
            continue
        if mode == "direction" and not lower:
            mode = None
        for piece in PIECE.finditer(line):
            body = " ".join(piece[0].lower().split())
            if body.strip(" .;!?"):
                out.units.append(Unit(start + piece.start(), start + piece.end(), body, room, mode or "text",
                                      None if mode else as_triplet(piece[0])))
    return out


@lru_cache(maxsize=4096)
def pattern(name: str) -> re.Pattern[str]:
    """Whole-word pattern of an entity name (``livingroom`` also matches ``living room``)."""
    forms = {name}
    if name.endswith("room") and " " not in name and len(name) > 4:
        forms.add(name[:-4] + " room")
    body = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


def words(forms: tuple[str, ...]) -> str:
    """An alternation of whole words."""
    return "(?<![a-z0-9])(?:" + "|".join(forms) + ")(?![a-z0-9])"


@dataclass
class Reader:
    """Reads probes' answers from memory texts; ``known`` names the game's entities, so that ``table`` is
    not read inside ``patio table``."""

    known: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()
    """Rooms, holders and the inventory: a unit naming one of them places X there, not loose in its room."""
    _longer: dict[str, list[re.Pattern[str]]] = field(default_factory=dict, repr=False)

    def longer(self, name: str) -> list[re.Pattern[str]]:
        """Patterns of the known names that contain ``name`` as a whole word."""
        if name not in self._longer:
            inside = pattern(name)
            self._longer[name] = [pattern(k) for k in sorted(self.known) if k != name and inside.search(k)]
        return self._longer[name]

    def names(self, unit: Unit, name: str) -> bool:
        """Whether a unit names an entity (not only as part of a longer known name)."""
        inside = [(m.start(), m.end()) for p in self.longer(name) for m in p.finditer(unit.text)]
        return any(not any(a <= m.start() and m.end() <= b for a, b in inside)
                   for m in pattern(name).finditer(unit.text))

    def place(self, unit: Unit, subject: str, answer: str) -> bool:
        """Whether a unit says ``subject`` is in or on ``answer`` (a holder, a room or the inventory)."""
        if unit.kind != "text":
            return False
        if unit.triplet is not None:
            t = unit.triplet
            return t.subject == subject and t.relation in ("is in", "is on") and t.object == answer
        if not self.names(unit, subject):
            return False
        if CARRYING.search(unit.text):  # taken or carried: in the inventory, whatever else is named
            return answer == "inventory"
        if self.names(unit, answer):
            return True
        others = (p for p in self.places if p not in (subject, answer))
        return unit.room == answer and not any(self.names(unit, p) for p in others)

    def state(self, unit: Unit, subject: str, answer: str) -> bool:
        """Whether a unit says ``answer`` of ``subject`` ("an open fridge", "you open the fridge"...)."""
        if unit.kind != "text":
            return False
        if unit.triplet is not None:
            return unit.triplet == Triplet(subject, "is", answer)
        if not self.names(unit, subject):
            return False
        forms, name = words(FORMS.get(answer, (answer,))), pattern(subject).pattern
        before = rf"{forms}\s+(?:[a-z]+\s+)?{name}"
        after = rf"{name}\s+(?:is|are|was)\s+(?:now\s+|already\s+)?{forms}"
        return bool(re.search(before, unit.text) or re.search(after, unit.text))

    def neighbour(self, unit: Unit, room: str, direction: str, answer: str) -> bool:
        """Whether a unit says ``answer`` lies ``direction`` of ``room``."""
        if unit.kind != "text":
            return False
        if unit.triplet is not None:
            return unit.triplet in (Triplet(answer, f"is {direction} of", room),
                                    Triplet(room, f"is {OPPOSITE[direction]} of", answer))
        a, r = pattern(answer).pattern, pattern(room).pattern
        return bool(re.search(rf"{a}.*{words((direction,))}.*{r}", unit.text))

    def exit_of(self, unit: Unit, room: str, direction: str) -> bool:
        """Whether a unit says ``room`` has an exit ``direction``."""
        if unit.kind != "text":
            return False
        if unit.triplet is not None:
            return unit.triplet == Triplet(room, "has exit", direction)
        return unit.room == room and bool(re.search(words((direction,)), unit.text))

    def recipe(self, unit: Unit, subject: str, answer: str) -> bool:
        """``subject`` = ``recipe``: the recipe requires ``answer``; else ``subject`` is to be ``answer``."""
        if unit.kind == "action":
            return False
        if unit.triplet is not None:
            rel = ("recipe", "requires", answer) if subject == "recipe" else (subject, "to be", answer)
            return unit.triplet == Triplet(*rel)
        if subject == "recipe":
            listed = unit.kind == "ingredient" or bool(RECIPE_CUE.search(unit.text))
            return listed and self.names(unit, answer)
        if not self.names(unit, subject) or not re.search(words(FORMS.get(answer, (answer,))), unit.text):
            return False
        return unit.kind == "direction" or bool(RECIPE_CUE.search(unit.text))

    def spans(self, reading: Reading, probe: Probe, answer: str) -> list[tuple[int, int]]:
        """Where ``answer`` to ``probe`` is read in the text (empty: it is not)."""
        family, x, units = probe.family, probe.subject, reading.units
        if family == "map":
            return self.map_spans(reading, probe, answer)
        if family in ("location", "changed", "unseen", "contents", "inventory"):
            if answer == "nothing":
                hits = [u for u in units if u.kind == "text" and NOTHING_CARRIED.search(u.text)]
            elif family == "contents":
                hits = [u for u in units if self.place(u, answer, x)]
            elif family == "inventory":
                hits = [u for u in units if self.place(u, answer, "inventory")]
            else:
                hits = [u for u in units if self.place(u, x, answer)]
        elif family == "state":
            hits = [u for u in units if self.state(u, x, answer)]
        elif family == "recipe":
            hits = [u for u in units if self.recipe(u, x, answer)]
        else:
            raise ValueError(f"unknown probe family {family!r}")
        return [(u.start, u.end) for u in hits]

    def map_spans(self, reading: Reading, probe: Probe, answer: str) -> list[tuple[int, int]]:
        """The map family: exits of a room, or the room in a direction (units and moves)."""
        x = probe.subject
        if probe.relation == "has exit":
            hits = [(u.start, u.end) for u in reading.units if self.exit_of(u, x, answer)]
            return hits + [s for r, d, _, s in reading.moves if r == x and d == answer]
        direction = probe.relation.split()[1]  # "is north of"
        hits = [(u.start, u.end) for u in reading.units if self.neighbour(u, x, direction, answer)]
        moves = ((x, direction, answer), (answer, OPPOSITE[direction], x))
        return hits + [s for r, d, a, s in reading.moves if (r, d, a) in moves]

    def evidence(self, probe: Probe, reading: Reading) -> Evidence:
        """Read ``probe``'s true and stale answers from a memory's text (``reading = read(text)``)."""
        if probe.family == "unseen":  # evidence: the place is left unknown; spans: where one is claimed
            places = [c for c in probe.candidates if c != "unknown"]
            claims = sorted({s for c in places for s in self.spans(reading, probe, c)})
            return Evidence(not claims, claims, False, [])
        found = sorted({s for a in probe.true_answers for s in self.spans(reading, probe, a)})
        stale = sorted({s for a in probe.stale_answers for s in self.spans(reading, probe, a)})
        return Evidence(bool(found), found, bool(stale), stale)


@dataclass
class Evidence:
    """What a memory's text shows for one probe."""

    evidence: bool
    evidence_spans: list[tuple[int, int]]
    stale: bool
    stale_spans: list[tuple[int, int]]


def evidence(text: str, probe: Probe, known: frozenset[str] = frozenset(),
             places: frozenset[str] = frozenset()) -> Evidence:
    """Read ``probe``'s true and stale answers from a memory's text (``known``: the game's entity names;
    ``places``: its rooms and holders)."""
    return Reader(known, places | {"inventory"}).evidence(probe, read(text))


def excerpts(text: str, spans: list[tuple[int, int]], context: int = 60, limit: int = 3,
             marks: tuple[str, str] = ("", "")) -> list[str]:
    """The text around each of the first ``limit`` spans, the span wrapped in ``marks``, ``…`` where cut.

    >>> excerpts("The fridge contains a carrot. You are carrying nothing.", [(4, 10)], context=5, marks=("[", "]"))
    ['The [fridge] cont…']
    """
    out = []
    for start, end in spans[:limit]:
        a, b = max(0, start - context), min(len(text), end + context)
        out.append(("…" if a else "") + text[a:start] + marks[0] + text[start:end] + marks[1] + text[end:b]
                   + ("…" if b < len(text) else ""))
    return out
