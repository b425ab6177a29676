"""Memory fidelity: precision and recall of the semantic graph against TextWorld's ground-truth facts.

Facts are mapped to triplets in the relations of the extraction prompt (names lower-cased):

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

Other predicates (``free``, ``edible``, ``part_of``...) have no triplet. Graph triplets are compared
after light normalisation: articles dropped, ``in``/``inside``/``located in`` read as ``is in``,
``on``/``on top of`` as ``is on``, and ``c, contains, x`` as ``x, is in, c``.

* **observable** facts at a step are those in view: objects and holders in the player's room, what is
  on its supporters and in its open containers, the inventory, states of what is in view (except
  ``raw`` and ``uncut``, which the text does not reliably say), the room's exits and doors, and the
  direction facts between two rooms the agent has moved between.
* **recall** = |graph ∩ observed| / |observed|, where observed = facts true now that were observable at
  some step so far (``key`` facts are never counted: they are learned from notes, not seen).
* **precision** = |graph ∩ true facts| / |graph triplets in the mapped relations| (others are
  reported as ``unscored``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agents.arigraph.triplets import COMPASS, Triplet, clean_part

FACT = re.compile(r"^(\w+)\((.*)\)$")
STATES = {
    "open",
    "closed",
    "locked",
    "sliced",
    "diced",
    "chopped",
    "fried",
    "roasted",
    "grilled",
    "burned",
    "raw",
    "uncut",
}
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
    """The triplets of one fact string (see the module table).

    >>> [f.triplet.text for f in fact_triplets("north_of(Kitchen, Hall)")]
    ['kitchen, is north of, hall', 'hall, has exit, north']
    >>> [f.triplet.text for f in fact_triplets("in(Key 1, I)")]
    ['key 1, is in, inventory']
    """
    parsed = parse_fact(fact)
    if parsed is None:
        return []
    pred, args = parsed
    args = [name(a) for a in args]
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


def normalise(t: Triplet) -> Triplet:
    """A graph triplet in the fact vocabulary (names normalised, relation synonyms mapped)."""
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


def observable(facts: list[str], traversed: set[frozenset[str]] = frozenset()) -> list[Fact]:
    """The mapped facts in view for a player standing where ``facts`` put them (see the module docstring)."""
    room = player_room(facts)
    mapped = [f for fact in facts for f in fact_triplets(fact)]
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
        }.get(f.family, False)
        if seen:
            out.append(f)
    return out


def _on(mapped: list[Fact], x: str, holder: str) -> bool:
    return any(f.triplet == Triplet(x, "is on", holder) for f in mapped)


@dataclass
class FidelityTracker:
    """Accumulates what the agent has observed over a trial and scores a graph against the facts."""

    observed: dict[Triplet, str] = field(default_factory=dict)
    traversed: set[frozenset[str]] = field(default_factory=set)
    last_room: str | None = None

    def see(self, facts: list[str]) -> None:
        """Record the facts in view at this step (call once per observation, in order)."""
        room = player_room(facts)
        if room and self.last_room and room != self.last_room:
            self.traversed.add(frozenset((room, self.last_room)))
        self.last_room = room or self.last_room
        for f in observable(facts, self.traversed):
            self.observed[f.triplet] = f.family

    def score(self, graph: Iterable[Triplet], facts: list[str]) -> dict[str, float]:
        """``fidelity/precision``, ``fidelity/recall`` (and per family), counts; empty sets give 1.0."""
        true = {f.triplet: f.family for fact in facts for f in fact_triplets(fact)}
        triplets = {normalise(t) for t in graph}
        judged = {t for t in triplets if scorable(t)}
        target = {t: fam for t, fam in self.observed.items() if t in true and fam != "key"}
        out = {
            "fidelity/precision": _ratio(len(judged & true.keys()), len(judged)),
            "fidelity/recall": _ratio(sum(t in triplets for t in target), len(target)),
            "fidelity/observed": float(len(target)),
            "fidelity/scored": float(len(judged)),
            "fidelity/unscored": float(len(triplets - judged)),
        }
        for family in sorted(set(target.values())):
            part = [t for t, fam in target.items() if fam == family]
            out[f"fidelity/recall_{family}"] = _ratio(sum(t in triplets for t in part), len(part))
        return out


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def oracle_triplets(facts: list[str], traversed: set[frozenset[str]] = frozenset()) -> list[Triplet]:
    """What a perfect extractor reads from the current view (the ``oracle`` extractor): an upper bound."""
    return [f.triplet for f in observable(facts, traversed) if f.family not in ("spatial", "key")]
