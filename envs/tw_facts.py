"""TextWorld's ground-truth facts as triplets, what is in the player's view, and what has been seen so far.

This is the lab's one mapping from TextWorld facts (``Observation.privileged["facts"]``, strings such as
``in(red apple, fridge)``) to ``(subject, relation, object)`` triplets, in the relations of AriGraph's
extraction prompt (names lower-cased). The lab's memory fidelity (``lab/fidelity.py``) and
its ground-truth probes (``lab/probes.py``) both read it.

| fact | triplet | family |
|---|---|---|
| ``at(x, r)`` (x not the player) | ``x, is in, r`` | location |
| ``in(x, I)`` / ``in(x, c)`` | ``x, is in, inventory`` / ``x, is in, c`` | location |
| ``on(x, s)`` | ``x, is on, s`` | location |
| ``open/closed/locked(x)`` | ``x, is, open/closed/locked`` | state |
| ``sliced/diced/chopped/fried/roasted/grilled/burned/raw/uncut(x)`` | ``x, is, <state>`` | state |
| ``north_of(a, b)`` (and south, east, west) | ``a, is north of, b``; ``b, has exit, north`` | spatial, exit |
| ``link(r, d, r2)`` | ``r, has door, d`` | door |
| ``match(k, c)`` | ``k, unlocks, c`` | key |
| ``base(x, ingredient_k)`` + ``in(ingredient_k, RECIPE)`` | ``recipe, requires, x`` | recipe |
| ``sliced/.../grilled(ingredient_k)``, ``base(x, ingredient_k)`` | ``x, to be, sliced/...`` | recipe |

The recipe rows are the relations of AriGraph's rules extractor reading the cookbook (``recipe,
requires, X`` and ``X, to be, sliced``). The cookbook's own entities (``ingredient_k``, ``RECIPE``) appear
in no other row. Other predicates (``free``, ``edible``, ``base``, ``cooking_location``...) have no triplet.

* **observable** facts at a step are those in view: objects and holders in the player's room, what is on
  its supporters and in its open containers, the inventory, states of what is in view (except ``raw``
  and ``uncut``, which the text does not reliably say), the room's exits and doors, and the direction
  facts between two rooms the player has moved between. The recipe is observable at a step whose text
  shows the cookbook (its ``Ingredients:`` and ``Directions:`` lists): the facts alone cannot tell.
* :class:`FactTracker` accumulates the observable facts of every observation of a trial, in order, with
  the steps at which each was first and last in view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

COMPASS = ("north", "south", "east", "west")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
STRIP = "\"'. `;:*[](){}\n\t"
ALIASES = {"i": "inventory", "p": "player"}

FACT = re.compile(r"^(\w+)\((.*)\)$")
OPENNESS = ("open", "closed", "locked")
CUTS = ("sliced", "diced", "chopped")
COOKS = ("fried", "roasted", "grilled")
STATES = {*OPENNESS, *CUTS, *COOKS, "burned", "raw", "uncut"}
SYNONYMS = {
    "in": "is in",
    "inside": "is in",
    "is inside": "is in",
    "is located in": "is in",
    "located in": "is in",
    "is at": "is in",
    "at": "is in",
    "on": "is on",
    "is on top of": "is on",
    "on top of": "is on",
}
INVERSE = {"contains": "is in"}
UNSAID = {"raw", "uncut"}
"""States TextWorld's text does not reliably say (a raw pepper is "a pepper"): never counted as observed."""
RECIPE_ENTITY = re.compile(r"^(?:ingredient_\d+|RECIPE)$")
"""The cookbook's own entities in TextWorld's facts (``in(ingredient_0, RECIPE)``)."""
COOKBOOK = re.compile(r"ingredients:.*directions:", re.I | re.S)


@dataclass(frozen=True, slots=True)
class Triplet:
    """One ``(subject, relation, object)`` statement: a memory graph's edge, or a fact in that shape."""

    subject: str
    relation: str
    object: str

    @property
    def text(self) -> str:
        """The string form: ``"subject, relation, object"``."""
        return f"{self.subject}, {self.relation}, {self.object}"

    def vertices(self) -> tuple[str, str]:
        """Subject and object."""
        return self.subject, self.object


def clean_part(part: str) -> str:
    """One element lower-cased, quotes and punctuation stripped, spaces collapsed (``I`` -> inventory)."""
    text = " ".join(str(part).split()).strip(STRIP).strip().lower()
    return ALIASES.get(text, text)


@dataclass(frozen=True)
class Fact:
    """A ground-truth fact as a triplet, with its family."""

    triplet: Triplet
    family: str


def parse_fact(text: str) -> tuple[str, list[str]] | None:
    """``"in(red apple, fridge)"`` -> ``("in", ["red apple", "fridge"])``."""
    match = FACT.match(text.strip())
    return (match[1], [a.strip() for a in match[2].split(", ")]) if match else None


def name(entity: str) -> str:
    """Normalised entity name: ``I`` -> inventory, lower-cased, leading article dropped."""
    return re.sub(r"^(?:a|an|the)\s+", "", clean_part(entity))


def fact_triplets(fact: str) -> list[Fact]:
    """The triplets of one fact string (the module table, recipe rows excepted: see :func:`map_facts`).

    >>> [f.triplet.text for f in fact_triplets("north_of(Kitchen, Hall)")]
    ['kitchen, is north of, hall', 'hall, has exit, north']
    >>> [f.triplet.text for f in fact_triplets("in(Key 1, I)")]
    ['key 1, is in, inventory']
    >>> fact_triplets("in(ingredient_0, RECIPE)")
    []
    """
    parsed = parse_fact(fact)
    if parsed is None or any(RECIPE_ENTITY.match(a) for a in parsed[1]):
        return []
    pred, args = parsed[0], [name(a) for a in parsed[1]]
    if pred in ("at", "in", "on") and len(args) == 2 and args[0] != "player":
        return [Fact(Triplet(args[0], "is on" if pred == "on" else "is in", args[1]), "location")]
    if pred in STATES and len(args) == 1:
        return [Fact(Triplet(args[0], "is", pred), "state")]
    if pred.endswith("_of") and pred[:-3] in COMPASS and len(args) == 2:
        d = pred[:-3]
        return [
            Fact(Triplet(args[0], f"is {d} of", args[1]), "spatial"),
            Fact(Triplet(args[1], "has exit", d), "exit"),
        ]
    if pred == "link" and len(args) == 3:
        return [Fact(Triplet(args[0], "has door", args[1]), "door")]
    if pred == "match" and len(args) == 2:
        return [Fact(Triplet(args[0], "unlocks", args[1]), "key")]
    return []


def recipe_facts(facts: Iterable[str]) -> list[Fact]:
    """The cookbook as triplets: ``recipe, requires, x`` per ingredient, ``x, to be, <state>`` per direction.

    >>> [f.triplet.text for f in recipe_facts(["base(carrot, ingredient_0)", "in(ingredient_0, RECIPE)",
    ...                                        "sliced(ingredient_0)", "fried(ingredient_0)"])]
    ['recipe, requires, carrot', 'carrot, to be, sliced', 'carrot, to be, fried']
    """
    parsed = [p for p in map(parse_fact, facts) if p is not None]
    food = {args[1]: name(args[0]) for pred, args in parsed if pred == "base" and len(args) == 2}
    needed = [args[0] for pred, args in parsed if pred == "in" and args[1:] == ["RECIPE"] and args[0] in food]
    out = [Fact(Triplet("recipe", "requires", food[i]), "recipe") for i in needed]
    out += [
        Fact(Triplet(food[args[0]], "to be", pred), "recipe")
        for pred, args in parsed
        if len(args) == 1 and args[0] in needed and pred in STATES and pred not in (*OPENNESS, *UNSAID)
    ]
    return out


def map_facts(facts: Iterable[str]) -> list[Fact]:
    """Every fact of a step as triplets (the whole module table), without duplicates."""
    facts = list(facts)
    mapped = [f for fact in facts for f in fact_triplets(fact)] + recipe_facts(facts)
    return list(dict.fromkeys(mapped))


def normalise(t: Triplet) -> Triplet:
    """A memory's triplet in the fact vocabulary (names normalised, relation synonyms mapped)."""
    relation = SYNONYMS.get(t.relation, t.relation)
    if relation in INVERSE:
        return Triplet(name(t.object), INVERSE[relation], name(t.subject))
    return Triplet(name(t.subject), relation, name(t.object))


def scorable(t: Triplet) -> bool:
    """Whether a (normalised) triplet is in a mapped relation, so precision can judge it."""
    return (
        t.relation in ("is in", "is on", "has door", "unlocks", "has exit")
        or (t.relation == "is" and t.object in STATES)
        or bool(re.fullmatch(r"is (north|south|east|west) of", t.relation))
    )


def player_room(facts: Iterable[str]) -> str | None:
    """The player's room (``at(P, room)``)."""
    for fact in facts:
        parsed = parse_fact(fact)
        if parsed and parsed[0] == "at" and parsed[1][0] == "P":
            return name(parsed[1][1])
    return None


def reads_cookbook(text: str | None) -> bool:
    """Whether an observation's text shows the cookbook's recipe (its ingredients and directions)."""
    return bool(text and COOKBOOK.search(text))


def observable(
    facts: list[str], traversed: set[frozenset[str]] = frozenset(), cookbook: bool = False
) -> list[Fact]:
    """The mapped facts in view for a player standing where ``facts`` put them (see the module docstring).

    ``cookbook``: the observation shows the recipe, so its facts are in view too.
    """
    room = player_room(facts)
    mapped = map_facts(facts)
    where = {f.triplet.subject: f.triplet.object for f in mapped if f.family == "location"}
    opened = {f.triplet.subject for f in mapped if f.triplet.relation == "is" and f.triplet.object == "open"}
    holders = {x for x, at in where.items() if at == room}
    visible = holders | {x for x, h in where.items() if h in holders and (h in opened or _on(mapped, x, h))}
    visible |= {x for x, h in where.items() if h == "inventory"}
    doors = {f.triplet.object for f in mapped if f.family == "door" and f.triplet.subject == room}
    out = []
    for f in mapped:
        t = f.triplet
        seen = {
            "location": t.subject in visible,
            "state": (t.subject in visible or t.subject in doors) and t.object not in UNSAID,
            "exit": t.subject == room,
            "door": t.subject == room,
            "spatial": frozenset((t.subject, t.object)) in traversed,
            "recipe": cookbook,
        }.get(f.family, False)
        if seen:
            out.append(f)
    return out


def _on(mapped: list[Fact], x: str, holder: str) -> bool:
    return any(f.triplet == Triplet(x, "is on", holder) for f in mapped)


@dataclass
class FactTracker:
    """What the player has had in view over a trial: every observable fact, and when it was in view.

    Call :meth:`see` once per observation, in order (step ``k`` is the ``k``-th call, 0-based).
    """

    observed: dict[Triplet, str] = field(default_factory=dict)
    """Every fact observable at some step so far, with its family (true now or not)."""
    sightings: dict[Triplet, tuple[int, int]] = field(default_factory=dict)
    """The first and the last step at which each observed fact was in view."""
    traversed: set[frozenset[str]] = field(default_factory=set)
    """Pairs of rooms the player has moved between (directly, from one observation to the next)."""
    last_room: str | None = None
    steps: int = 0
    """Observations seen so far."""

    def see(self, facts: list[str], text: str | None = None) -> None:
        """Record the facts in view at this step; ``text``, the observation's text, may show the recipe."""
        room = player_room(facts)
        if room and self.last_room and room != self.last_room:
            self.traversed.add(frozenset((room, self.last_room)))
        self.last_room = room or self.last_room
        step, self.steps = self.steps, self.steps + 1
        for f in observable(facts, self.traversed, reads_cookbook(text)):
            self.observed[f.triplet] = f.family
            first, _ = self.sightings.get(f.triplet, (step, step))
            self.sightings[f.triplet] = (first, step)

    def seen(self, t: Triplet) -> bool:
        """Whether ``t`` was observable at some step so far."""
        return t in self.observed


@dataclass
class World:
    """The entities a game knows (whether seen or not), accumulated over the facts of a trial.

    Probe candidates come from here, so they name every room, holder, object and state of the game
    and say nothing about what the player has seen.
    """

    rooms: set[str] = field(default_factory=set)
    holders: set[str] = field(default_factory=set)
    """Containers and supporters: what something is in or on, or what can be open, closed or locked."""
    objects: set[str] = field(default_factory=set)
    """Everything that is somewhere (furniture included), and every ingredient of the recipe."""
    doors: set[str] = field(default_factory=set)

    def update(self, facts: Iterable[str]) -> None:
        """Add the entities of one step's facts."""
        facts = list(facts)
        insides: set[str] = set()
        for f in map_facts(facts):
            t = f.triplet
            if f.family == "spatial":
                self.rooms |= {t.subject, t.object}
            elif f.family == "door":
                self.rooms.add(t.subject)
                self.doors.add(t.object)
            elif f.family == "location":
                self.objects.add(t.subject)
                if t.object != "inventory":
                    (self.holders if t.relation == "is on" else insides).add(t.object)
            elif f.family == "state" and t.object in OPENNESS:
                insides.add(t.subject)
            elif f.family == "recipe" and t.relation == "requires":
                self.objects.add(t.object)
        room = player_room(facts)
        if room:
            self.rooms.add(room)
        self.holders |= insides
        self.holders -= self.rooms | self.doors
