"""Ground-truth probes: questions with a known answer about a TextWorld game, to ask an agent's memory.

Probes are generated from the env's privileged facts, mapped to triplets by :mod:`envs.tw_facts` (the same
mapping as AriGraph's memory fidelity), and only about facts the player has had in view so far (the
``unseen`` controls excepted). The fact-to-question mapping, by family:

| family | question | true answers | facts asked about | asked when |
|---|---|---|---|---|
| ``location`` | Where is the X? | X's holder and its room | ``x, is in/on, h`` | seen, not moved since |
| ``changed`` | Where is the X now? | the same | ``x, is in/on, h`` | seen, and seen elsewhere before |
| ``contents`` | What is in (on) the Y? | any item in Y | ``x, is in/on, y`` | Y holds a seen item |
| ``inventory`` | What is in your inventory? | any carried item; nothing | ``x, is in, inventory`` | always |
| ``state`` | Is the X open, closed or locked? | the state | ``x, is, s`` | seen |
| ``map`` | Which room lies north of the R? | the room | ``a, is north of, r`` | moved between them |
| ``map`` | Which exits does the R have? | any of its exits | ``r, has exit, d`` | the player was in R |
| ``recipe`` | What does the recipe require? | any ingredient | ``recipe, requires, x`` | the cookbook read |
| ``recipe`` | How must the X be prepared for the recipe? | any direction | ``x, to be, s`` | the same |
| ``unseen`` | Where is the X? | ``unknown`` | ``x, is in/on, h`` | X's place never in view |

State questions name the states of one family: openness (open, closed or locked), cut (sliced, diced or
chopped) or cooking (fried, roasted, grilled or burned); ``raw`` and ``uncut`` are never asked (the text does
not say them). A multi-answer question counts any of its true answers as correct.

A probed step asks about facts true both in the observation acted on and in the next one (so a memory that
already read the next observation and one that has not are judged alike), and seen up to the observation
acted on; ``unseen`` subjects are not in view in the next observation either. ``stale_answers`` are answers
that were true and seen earlier in the trial and no longer hold (where a moved object was; a door's earlier
state; what was carried). The candidates name every room, holder, object or state of the game that fits the
question (:class:`envs.tw_facts.World`), plus ``unknown``: they tell nothing of what was seen.

Generation is deterministic: eligible probes are sorted, and ``per_family`` of each family are drawn with a
generator seeded by the run's seed, the trial and the step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from envs.tw_facts import (
    COMPASS,
    COOKS,
    CUTS,
    OPENNESS,
    STATES,
    UNSAID,
    FactTracker,
    Triplet,
    World,
    map_facts,
    observable,
    reads_cookbook,
)
from lab.core.records import Probe

FAMILIES = ("location", "contents", "state", "map", "inventory", "recipe", "changed", "unseen")
UNKNOWN = "unknown"
NOTHING = "nothing"
ASPECTS = {"openness": OPENNESS, "cut": CUTS, "cooking": (*COOKS, "burned")}
"""State families: a thing has at most one state of each (a door is closed or open; a carrot sliced)."""
SEEN_STATES = sorted(STATES - UNSAID)


def aspect(state: str) -> str | None:
    """The state family of a state word (``closed`` -> ``openness``)."""
    return next((name for name, states in ASPECTS.items() if state in states), None)


def ask_state(subject: str, family: str) -> str:
    """The question of a state probe (``Is the fridge open, closed or locked?``)."""
    *first, last = ASPECTS[family]
    return f"Is the {subject} {', '.join(first)} or {last}?"


@dataclass
class Truth:
    """The facts a probed step asks about, indexed."""

    stable: set[Triplet]
    """Mapped facts true in both observations around the step."""
    where: dict[str, Triplet]
    """Each located thing's location triplet (``x, is in/on, h``)."""

    @classmethod
    def of(cls, now: Iterable[str], after: Iterable[str]) -> Truth:
        """From the facts of the observation acted on and of the next one."""
        stable = {f.triplet for f in map_facts(now)} & {f.triplet for f in map_facts(after)}
        where = {t.subject: t for t in stable if t.relation in ("is in", "is on")}
        return cls(stable, where)

    def chain(self, holder: str, rooms: set[str]) -> list[str]:
        """A holder and what holds it, up to its room (``counter`` -> ``[counter, kitchen]``)."""
        out = [holder]
        while out[-1] not in rooms and out[-1] in self.where and len(out) < 5:
            out.append(self.where[out[-1]].object)
        return out


@dataclass
class ProbeGenerator:
    """Tracks a trial's facts as the player sees them and generates the probes of a probed step."""

    seed: int
    per_family: int = 2
    tracker: FactTracker = field(default_factory=FactTracker)
    world: World = field(default_factory=World)

    def see(self, facts: list[str], text: str | None = None) -> None:
        """The observation the agent acts on at this step (call once per step, in order)."""
        self.tracker.see(facts, text)
        self.world.update(facts)

    def probes(self, now: list[str], after: list[str], after_text: str | None, key: Iterable[int]
               ) -> list[Probe]:
        """The probes of a step: ``now`` and ``after`` are the facts of the observation acted on and of the
        next one; ``key`` (trial, step...) seeds the draw."""
        self.world.update(after)
        truth = Truth.of(now, after)
        rng = np.random.default_rng([self.seed, *key])
        drawn: list[Probe] = []
        for family in FAMILIES:
            eligible = sorted(self.family(family, truth, after, after_text), key=lambda p: p.key)
            if len(eligible) > self.per_family:
                picks = rng.choice(len(eligible), size=self.per_family, replace=False)
                eligible = [eligible[i] for i in sorted(picks)]
            drawn += eligible
        return drawn

    # --- families -------------------------------------------------------------------------------

    def family(self, family: str, truth: Truth, after: list[str], after_text: str | None) -> list[Probe]:
        """Every probe of ``family`` that can be asked now."""
        if family == "unseen":
            return self.unseen(truth, after, after_text)
        return getattr(self, family)(truth)

    def seen_now(self, truth: Truth, t: Triplet) -> bool:
        """Whether ``t`` holds across the step and was in view at some step so far."""
        return t in truth.stable and self.tracker.seen(t)

    def last_seen(self, triplets: Iterable[Triplet]) -> int | None:
        """The last step at which any of ``triplets`` was in view (None: never)."""
        steps = [self.tracker.sightings[t][1] for t in triplets if t in self.tracker.sightings]
        return max(steps) if steps else None

    def places(self) -> list[str]:
        """Candidates of the place questions: every room and holder of the game, the inventory, unknown."""
        return sorted(self.world.rooms | self.world.holders | {"inventory"}) + [UNKNOWN]

    def things(self) -> list[str]:
        """Candidates of the contents and inventory questions: every object, nothing, unknown."""
        return sorted(self.world.objects) + [NOTHING, UNKNOWN]

    def earlier(self, subject: str, truth: Truth) -> list[Triplet]:
        """Locations of ``subject`` seen earlier in the trial that no longer hold."""
        return [t for t, fam in self.tracker.observed.items()
                if fam == "location" and t.subject == subject and t not in truth.stable]

    def place_probe(self, family: str, t: Triplet, truth: Truth, question: str) -> Probe:
        """A place question about ``t``'s subject: its holder and the holder's room; where it was before."""
        answers = truth.chain(t.object, self.world.rooms)
        rooms = self.world.rooms
        stale = [h for old in self.earlier(t.subject, truth) for h in truth.chain(old.object, rooms)]
        return Probe(family=family, key=f"{family}:{t.subject}", subject=t.subject, relation=t.relation,
                     question=question,
                     true_answer=t.object, true_answers=answers, candidates=self.places(),
                     stale_answers=sorted(set(stale) - set(answers)), last_seen=self.last_seen([t]))

    def location(self, truth: Truth) -> list[Probe]:
        """Where seen things are that have not moved since they were first seen."""
        return [self.place_probe("location", t, truth, f"Where is the {x}?")
                for x, t in truth.where.items() if self.seen_now(truth, t) and not self.earlier(x, truth)]

    def changed(self, truth: Truth) -> list[Probe]:
        """Where seen things are now that were seen somewhere else before (staleness)."""
        return [self.place_probe("changed", t, truth, f"Where is the {x} now?")
                for x, t in truth.where.items() if self.seen_now(truth, t) and self.earlier(x, truth)]

    def unseen(self, truth: Truth, after: list[str], after_text: str | None) -> list[Probe]:
        """Where things are whose place was never in view, nor is in the next observation (abstention)."""
        placed = {t.subject for t, fam in self.tracker.observed.items() if fam == "location"}
        in_view = observable(after, self.tracker.traversed, reads_cookbook(after_text))
        placed |= {f.triplet.subject for f in in_view if f.family == "location"}
        return [Probe(family="unseen", key=f"unseen:{x}", subject=x, relation=truth.where[x].relation,
                      question=f"Where is the {x}?",
                      true_answer=UNKNOWN, true_answers=[UNKNOWN], candidates=self.places())
                for x in truth.where if x not in placed and x not in self.world.rooms]

    def contents(self, truth: Truth) -> list[Probe]:
        """What is in or on each holder (or room) that holds a seen thing."""
        held: dict[str, list[Triplet]] = {}
        for t in truth.where.values():
            if t.object != "inventory" and self.seen_now(truth, t):
                held.setdefault(t.object, []).append(t)
        out = []
        for holder, items in held.items():
            word = "on" if all(t.relation == "is on" for t in items) else "in"
            gone = {t.subject for t, fam in self.tracker.observed.items()
                    if fam == "location" and t.object == holder and t not in truth.stable}
            names = sorted(t.subject for t in items)
            out.append(Probe(family="contents", key=f"contents:{holder}", subject=holder,
                             relation=f"is {word}", question=f"What is {word} the {holder}?",
                             true_answer=", ".join(names), true_answers=names, candidates=self.things(),
                             stale_answers=sorted(gone - set(names)), last_seen=self.last_seen(items)))
        return out

    def inventory(self, truth: Truth) -> list[Probe]:
        """What is carried (always asked: the inventory is always in view)."""
        carried = sorted((t for t in truth.where.values() if t.object == "inventory"), key=lambda t: t.text)
        names = [t.subject for t in carried] or [NOTHING]
        before = {t.subject for t, fam in self.tracker.observed.items()
                  if fam == "location" and t.object == "inventory" and t not in truth.stable}
        return [Probe(family="inventory", key="inventory", subject="inventory", relation="is in",
                      question="What is in your inventory?", true_answer=", ".join(names), true_answers=names,
                      candidates=self.things(), stale_answers=sorted(before - set(names)),
                      last_seen=self.last_seen(carried) if carried else self.tracker.steps - 1)]

    def state(self, truth: Truth) -> list[Probe]:
        """The openness, cut and cooking states of seen things."""
        out = []
        for t in sorted(truth.stable, key=lambda t: t.text):
            family = aspect(t.object) if t.relation == "is" else None
            if family is None or not self.seen_now(truth, t):
                continue
            stale = sorted({o.object for o, fam in self.tracker.observed.items()
                            if fam == "state" and o.subject == t.subject and aspect(o.object) == family
                            and o not in truth.stable})
            out.append(Probe(family="state", key=f"state:{t.subject}:{family}", subject=t.subject,
                             relation="is",
                             question=ask_state(t.subject, family), true_answer=t.object,
                             true_answers=[t.object], candidates=SEEN_STATES + [UNKNOWN], stale_answers=stale,
                             last_seen=self.last_seen([t])))
        return out

    def map(self, truth: Truth) -> list[Probe]:
        """The room in a direction (rooms walked between) and the exits of visited rooms."""
        out, exits = [], {}
        rooms = sorted(self.world.rooms) + [UNKNOWN]
        for t in sorted(truth.stable, key=lambda t: t.text):
            if not self.seen_now(truth, t):
                continue
            if t.relation.startswith("is ") and t.relation.endswith(" of") and t.relation[3:-3] in COMPASS:
                d = t.relation[3:-3]
                out.append(Probe(family="map", key=f"map:{d} of:{t.object}", subject=t.object,
                                 relation=t.relation,
                                 question=f"Which room lies {d} of the {t.object}?", true_answer=t.subject,
                                 true_answers=[t.subject], candidates=rooms, last_seen=self.last_seen([t])))
            elif t.relation == "has exit":
                exits.setdefault(t.subject, []).append(t)
        for room, ts in sorted(exits.items()):
            names = sorted(t.object for t in ts)
            out.append(Probe(family="map", key=f"map:exits:{room}", subject=room, relation="has exit",
                             question=f"Which exits does the {room} have?", true_answer=", ".join(names),
                             true_answers=names, candidates=[*COMPASS, UNKNOWN],
                             last_seen=self.last_seen(ts)))
        return out

    def recipe(self, truth: Truth) -> list[Probe]:
        """What the recipe requires and how each ingredient is prepared (once the cookbook was read)."""
        facts = [t for t in truth.stable if t.relation in ("requires", "to be") and self.seen_now(truth, t)]
        needs = sorted(t.object for t in facts if t.relation == "requires")
        out = []
        if needs:
            out.append(Probe(family="recipe", key="recipe:requires", subject="recipe", relation="requires",
                             question="What does the recipe require?", true_answer=", ".join(needs),
                             true_answers=needs, candidates=sorted(self.world.objects) + [UNKNOWN],
                             last_seen=self.last_seen(t for t in facts if t.relation == "requires")))
        steps: dict[str, list[Triplet]] = {}
        for t in facts:
            if t.relation == "to be":
                steps.setdefault(t.subject, []).append(t)
        for food, ts in sorted(steps.items()):
            names = sorted(t.object for t in ts)
            out.append(Probe(family="recipe", key=f"recipe:prepare:{food}", subject=food, relation="to be",
                             question=f"How must the {food} be prepared for the recipe?",
                             true_answer=", ".join(names), true_answers=names,
                             candidates=[*CUTS, *COOKS, UNKNOWN], last_seen=self.last_seen(ts)))
        return out
