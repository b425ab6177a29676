"""Probes on hand-built fact sets (known questions and answers), evidence and staleness on hand-written
memory texts, free answers matched to candidates, per-family metrics, and the forced policies' moves."""

from __future__ import annotations

import pytest

from lab.core.env import Observation
from lab.core.records import Probe, ProbeResult
from lab.evidence import Reader, evidence, read
from lab.forced import ForcedPolicy, agrees
from lab.probes import ProbeGenerator
from lab.probing import match_answer, metrics

HALL = [
    "at(P, hall)", "at(table, hall)", "on(lamp, table)", "at(chest, hall)", "closed(chest)",
    "in(coin, chest)",
    "at(box, attic)", "in(key, I)", "north_of(attic, hall)", "south_of(hall, attic)",
    "link(hall, wooden door, attic)", "link(attic, wooden door, hall)", "open(wooden door)",
    "base(carrot, ingredient_0)", "in(ingredient_0, RECIPE)", "sliced(ingredient_0)", "at(carrot, attic)",
]
TAKEN = [f for f in HALL if f != "on(lamp, table)"] + ["in(lamp, I)"]
ATTIC = [f.replace("at(P, hall)", "at(P, attic)") for f in TAKEN]
COOKBOOK = "You read the cookbook.\n\nIngredients:\ncarrot\n\nDirections:\nslice the carrot\n  prepare meal"


def by_key(probes: list[Probe]) -> dict[str, Probe]:
    return {p.key: p for p in probes}


def walk() -> tuple[ProbeGenerator, list[dict[str, Probe]]]:
    """Four observations: the hall, the lamp taken, the attic, the cookbook read; all probes of each."""
    gen, out = ProbeGenerator(seed=0, per_family=100), []
    for t, (facts, text) in enumerate([(HALL, "-= Hall =-"), (TAKEN, "You take the lamp."),
                                       (ATTIC, "-= Attic =-"), (ATTIC, COOKBOOK)]):
        gen.see(facts, text)
        out.append(by_key(gen.probes(facts, facts, text, (0, t))))
    return gen, out


def test_the_first_view_asks_what_is_in_it_and_controls_with_what_is_not() -> None:
    _, (first, *_) = walk()
    assert set(first) == {
        "location:table", "location:lamp", "location:chest", "location:key", "contents:table",
        "contents:hall",
        "state:chest:openness", "state:wooden door:openness", "map:exits:hall", "inventory",
        "unseen:coin", "unseen:box", "unseen:carrot",
    }
    lamp = first["location:lamp"]
    assert (lamp.question, lamp.true_answer, lamp.true_answers) == ("Where is the lamp?", "table",
                                                                   ["table", "hall"])
    assert lamp.candidates == ["attic", "chest", "hall", "inventory", "table", "unknown"]  # all the game's
    assert first["location:key"].true_answers == ["inventory"] and first["inventory"].true_answers == ["key"]
    assert first["contents:hall"].true_answers == ["chest", "table"] and first["contents:table"].question == (
        "What is on the table?")
    chest = first["state:chest:openness"]
    assert chest.question == "Is the chest open, closed or locked?" and chest.true_answers == ["closed"]
    exits = first["map:exits:hall"]
    assert exits.true_answers == ["north"]
    assert exits.candidates == ["north", "south", "east", "west", "unknown"]
    assert first["unseen:coin"].true_answers == ["unknown"]  # in a closed chest
    assert all(p.last_seen == 0 for k, p in first.items() if not k.startswith("unseen"))


def test_a_moved_object_becomes_a_changed_probe_with_its_stale_places() -> None:
    _, (_, taken, attic, cookbook) = walk()
    lamp = taken["changed:lamp"]
    assert lamp.question == "Where is the lamp now?" and lamp.true_answers == ["inventory"]
    assert lamp.stale_answers == ["hall", "table"] and "location:lamp" not in taken
    assert "contents:table" not in taken  # nothing seen on it any more
    assert taken["inventory"].true_answers == ["key", "lamp"]
    assert attic["map:north of:hall"].true_answers == ["attic"]
    assert attic["map:south of:attic"].true_answer == "hall"
    assert "location:box" in attic and "unseen:box" not in attic and "unseen:carrot" not in attic
    assert attic["location:carrot"].true_answers == ["attic"] and "recipe:requires" not in attic
    assert cookbook["recipe:requires"].true_answers == ["carrot"]
    assert cookbook["recipe:prepare:carrot"].true_answers == ["sliced"]
    assert cookbook["recipe:prepare:carrot"].question == "How must the carrot be prepared for the recipe?"
    assert attic["location:table"].last_seen == 1 and cookbook["changed:lamp"].last_seen == 3


def test_only_facts_that_hold_across_the_step_are_asked() -> None:
    gen = ProbeGenerator(seed=0, per_family=100)
    gen.see(HALL, "")
    probes = by_key(gen.probes(HALL, TAKEN, "You take the lamp.", (0, 0)))  # the lamp moves during the step
    assert "location:lamp" not in probes and "changed:lamp" not in probes
    assert probes["contents:hall"].true_answers == ["chest", "table"]


def test_the_draw_is_seeded_and_deterministic() -> None:
    def draw(seed: int, step: int) -> list[str]:
        gen = ProbeGenerator(seed=seed, per_family=1)
        gen.see(HALL, "")
        return [p.key for p in gen.probes(HALL, HALL, "", (0, step))]

    assert draw(3, 0) == draw(3, 0)
    assert len(draw(3, 0)) == 6  # one per family that has a probe
    assert len({tuple(draw(seed, step)) for seed in range(4) for step in range(4)}) > 1


HISTORY = """Observation: -= Kitchen =-
Look over there! a fridge. The fridge contains a carrot. On the counter you make out a yellow apple and a \
knife. You see a patio table. There is a closed plain door leading west. There is an exit to the north.
Action: take yellow apple from counter
Observation: You take the yellow apple from the counter.
Action: open plain door
Observation: You open plain door.
Action: go north
Observation: -= Corridor =-
You are in a corridor.
Action: go west
Observation: You can't go that way.
Action: examine cookbook
Observation: Ingredients:
yellow apple

Directions:
slice the yellow apple
  prepare meal"""
TRIPLETS = ("Information from the memory module that can be relevant to the current situation: "
            "yellow apple, is in, inventory; yellow apple, is on, counter; fridge, contains, carrot; "
            "corridor, is north of, kitchen; kitchen, has exit, north; plain door, is, open; "
            "recipe, requires, yellow apple; yellow apple, to be, sliced")
KNOWN = frozenset({"kitchen", "corridor", "fridge", "counter", "carrot", "yellow apple", "knife",
                   "plain door", "table", "patio table"})
PLACES = ["corridor", "counter", "fridge", "inventory", "kitchen", "table", "unknown"]
PLACES_KNOWN = frozenset({"corridor", "counter", "fridge", "kitchen", "table", "patio table"})


def probe(family: str, subject: str, answers: list[str], stale: list[str] | None = None,
          relation: str = "") -> Probe:
    return Probe(family=family, key=f"{family}:{subject}", subject=subject, relation=relation, question="?",
                 true_answer=answers[0], true_answers=answers, candidates=PLACES, stale_answers=stale or [])


CASES = [
    # (probe, text, evidence, stale)
    (probe("location", "carrot", ["fridge", "kitchen"]), HISTORY, True, False),
    (probe("location", "knife", ["counter", "kitchen"]), HISTORY, True, False),
    (probe("changed", "yellow apple", ["inventory"], ["counter", "kitchen"]), HISTORY, True, True),
    (probe("changed", "yellow apple", ["inventory"], ["counter", "kitchen"]), TRIPLETS, True, True),
    (probe("changed", "yellow apple", ["inventory"], ["counter"]), "You are carrying: a yellow apple.", True,
     False),
    (probe("contents", "fridge", ["carrot"]), TRIPLETS, True, False),
    (probe("inventory", "inventory", ["yellow apple"]), HISTORY, True, False),
    (probe("inventory", "inventory", ["nothing"], ["lamp"]), "You are carrying nothing.", True, False),
    (probe("state", "plain door", ["open"], ["closed"]), HISTORY, True, True),  # "closed door", "you open"
    (probe("state", "plain door", ["open"]), TRIPLETS, True, False),
    (probe("state", "fridge", ["open"]), HISTORY, False, False),
    (probe("map", "kitchen", ["corridor"], relation="is north of"), HISTORY, True, False),  # the move
    (probe("map", "kitchen", ["corridor"], relation="is north of"), TRIPLETS, True, False),
    (probe("map", "corridor", ["kitchen"], relation="is south of"), TRIPLETS, True, False),  # inverse
    (probe("map", "kitchen", ["north"], relation="has exit"), HISTORY, True, False),
    (probe("map", "corridor", ["west"], relation="has exit"), HISTORY, False, False),  # a failed move
    (probe("recipe", "recipe", ["yellow apple"], relation="requires"), HISTORY, True, False),
    (probe("recipe", "yellow apple", ["sliced"], relation="to be"), HISTORY, True, False),
    (probe("recipe", "yellow apple", ["sliced"], relation="to be"), TRIPLETS, True, False),
    (probe("unseen", "table", ["unknown"]), HISTORY, True, False),  # only a "patio table" is mentioned
    (probe("unseen", "carrot", ["unknown"]), HISTORY, False, False),  # the text does say where it is
    (probe("location", "carrot", ["fridge"]), "", False, False),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0].key}-{i}" for i, c in enumerate(CASES)])
def test_evidence_and_staleness_are_read_from_the_text(case: tuple[Probe, str, bool, bool]) -> None:
    p, text, wanted, stale = case
    found = evidence(text, p, KNOWN, PLACES_KNOWN)
    assert (found.evidence, found.stale) == (wanted, stale)
    if wanted and p.family != "unseen":
        assert all(0 <= a < b <= len(text) for a, b in found.evidence_spans) and found.evidence_spans


def test_the_spans_point_at_the_sentence_that_says_it() -> None:
    found = evidence(HISTORY, probe("location", "carrot", ["fridge"]), KNOWN)
    assert [HISTORY[a:b] for a, b in found.evidence_spans] == ["The fridge contains a carrot."]
    stale = evidence(TRIPLETS, probe("changed", "yellow apple", ["inventory"], ["counter"]), KNOWN)
    assert [TRIPLETS[a:b].strip(" ;") for a, b in stale.stale_spans] == ["yellow apple, is on, counter"]


def test_actions_and_the_cookbook_are_not_read_as_facts_of_the_world() -> None:
    reading = read(HISTORY)
    kinds = {u.text: u.kind for u in reading.units}
    assert kinds["action: go north"] == "action" and kinds["slice the yellow apple"] == "direction"
    assert reading.moves[0][:3] == ("kitchen", "north", "corridor") and len(reading.moves) == 1
    reader = Reader(KNOWN)
    sliced = probe("state", "yellow apple", ["sliced"])
    assert not reader.evidence(sliced, reading).evidence  # only the recipe's direction says it


def test_free_answers_are_matched_to_a_candidate() -> None:
    assert match_answer("fridge", PLACES) == "fridge"
    assert match_answer("The carrot is in the Fridge, I believe.", PLACES) == "fridge"
    assert match_answer("It is on the patio table", ["table", "patio table", "unknown"]) == "patio table"
    assert match_answer("I am not sure.", PLACES) == "unknown"
    assert match_answer("frige", PLACES) == "fridge"  # nearest by spelling

    # what strong models write: preambles, markdown, echoed headings and instructions, labelled answers
    assert match_answer("Sure! Looking at the memory notes, the carrot was taken.\n\n**Answer:** Fridge",
                        PLACES) == "fridge"
    assert match_answer("Question: Where is the carrot?\nAnswer with the name only. If the notes do not "
                        "say, answer: unknown.\n\nfridge", PLACES) == "fridge"
    assert match_answer("## Answer: unknown\nThe notes never mention the carrot.", PLACES) == "unknown"
    assert match_answer("Answer: kitchen\n\nFinal answer: **fridge**", PLACES) == "fridge"


def test_metrics_are_per_family_means() -> None:
    def result(family: str, evidence: bool, correct: bool | None, stale: bool = False, answer: str = "x"):
        p = probe(family, "x", ["a"])
        return ProbeResult(**p.model_dump(), evidence=evidence, stale=stale, correct=correct,
                           answer=None if correct is None else answer)

    out = metrics([result("location", True, True), result("location", False, False),
                   result("changed", True, False, stale=True), result("unseen", True, True, answer="unknown"),
                   result("unseen", True, None)])
    assert out == {"probe/changed/answer": 0.0, "probe/changed/count": 1.0, "probe/changed/evidence": 1.0,
                   "probe/changed/stale": 1.0, "probe/location/answer": 0.5, "probe/location/count": 2.0,
                   "probe/location/evidence": 0.5, "probe/unseen/abstain": 1.0, "probe/unseen/answer": 1.0,
                   "probe/unseen/count": 2.0, "probe/unseen/evidence": 1.0}


def room(name: str, exits: tuple[str, ...] = ("north", "east")) -> Observation:
    return Observation(text="", room=name, admissible=[f"go {d}" for d in exits] + ["look"],
                       privileged={"walkthrough": ["look", "take key"]})


def test_a_forced_walkthrough_plays_in_order_and_excursions_come_back() -> None:
    plain = ForcedPolicy.start("walkthrough", room("hall"), 0.9, seed=0, trial=0)
    assert [plain.next(room("hall")).command for _ in range(2)] == ["look", "take key"]
    assert plain.next(room("hall")) is None
    explore = ForcedPolicy.start("walkthrough+explore", room("hall"), 1.0, seed=0, trial=0)
    first = explore.next(room("hall"))
    assert first.source == "explore" and first.command in ("go north", "go east")
    back = explore.next(room("attic"))
    undo = {"go north": "go south", "go east": "go west"}[first.command]
    assert back.source == "explore" and back.command == undo
    assert explore.next(room("hall")).command == "look"
    assert explore.next(room("hall", ())).command == "take key"
    blocked = ForcedPolicy.start("walkthrough+explore", room("hall"), 1.0, seed=0, trial=0)
    blocked.next(room("hall"))
    assert blocked.next(room("hall")).command == "look"  # the move did not leave the room: nothing to undo
    assert agrees("go to hall", ["go north"], "go north") and not agrees("look", None, "take key")
