"""Parsers of LLM replies, the rules extractor on TextWorld's own sentences, and the fidelity mapping."""

from __future__ import annotations

from agents.arigraph import rules
from agents.arigraph.extract import family, rules_entities, rules_outdated
from agents.arigraph.fidelity import oracle_triplets
from envs.tw_facts import fact_triplets, normalise, observable
from lab.fidelity import FidelityTracker
from agents.arigraph.triplets import (
    Triplet,
    parse_entities,
    parse_json_object,
    parse_replacements,
    parse_triplets,
)

ROOM_C = """You take the Key 2 from the Crimson locker.

-= Room C =-
You've entered a Room C.

You see a locked Red locker. On the table you make out a Note 3 and a lamp.

You need an unguarded exit? You should try going east.
There is an exit to the north. Don't worry, it is unblocked.

There is a Key 9 on the floor."""
ADMISSIBLE_C = [
    "examine Red locker",
    "examine table",
    "take Note 3 from table",
    "take lamp from table",
    "take Key 9",
    "go east",
    "go north",
    "drop Key 2",
    "look",
]


def texts(triplets) -> set[str]:
    return {t.text for t in triplets}


def test_triplet_parser_reads_good_replies_and_records_the_rest() -> None:
    good = parse_triplets('1. Kitchen, has exit, North; "apple", is on, table\nplayer: key, is in, inventory')
    assert texts(good.triplets) == {
        "kitchen, has exit, north",
        "apple, is on, table",
        "key, is in, inventory",
    }
    assert good.rejected == []
    bad = parse_triplets(
        "kitchen, has, a, fridge; I see a kitchen; bedroom, in; none, is, none; hall, free, attic"
    )
    assert bad.triplets == []
    assert bad.rejected == ["kitchen, has, a, fridge", "I see a kitchen", "bedroom, in", "none, is, none"]
    assert parse_triplets("").triplets == [] and parse_triplets("").rejected == []


def test_replacement_parser_keeps_the_outdated_side() -> None:
    reply = "[[key, is in, box -> key, is in, inventory], [door, is, closed -> door, is, open]]"
    assert texts(parse_replacements(reply).triplets) == {"key, is in, box", "door, is, closed"}
    wrong = parse_replacements("[[key, is in -> key, is in, inventory], [lamp is on]]")
    assert wrong.triplets == [] and len(wrong.rejected) == 2
    assert parse_replacements("[]").triplets == [] and parse_replacements("none").rejected == []


def test_entity_parser_is_lenient_and_clamps_depths() -> None:
    assert parse_entities('Sure! {"Golden key": 2, "north": 1, "locker": 7}')[0] == {
        "golden key": 2,
        "locker": 2,
    }
    assert parse_entities("'red key': 1, 'box': 2")[0] == {"red key": 1, "box": 2}
    assert parse_entities("I would look around.") == ({}, ["I would look around."])
    assert parse_entities("") == ({}, [])


def test_json_object_parser() -> None:
    assert parse_json_object('Plan: {"plan_steps": [{"sub_goal_1": "x"}]} done') == {
        "plan_steps": [{"sub_goal_1": "x"}]
    }
    assert parse_json_object('{"a": {"b": 1}}') == {"a": {"b": 1}}
    assert parse_json_object("{not json}") is None and parse_json_object("") is None


def test_rules_read_a_room_description_and_the_feedback_before_it() -> None:
    got = texts(
        rules.extract(ROOM_C, "Room C", "You are carrying: a Key 2 and a fried red potato.", ADMISSIBLE_C)
    )
    assert {
        "key 2, is in, inventory",
        "red locker, is in, room c",
        "red locker, is, locked",
        "note 3, is on, table",
        "lamp, is on, table",
        "table, is in, room c",
        "key 9, is in, room c",
        "room c, has exit, east",
        "room c, has exit, north",
        "red potato, is in, inventory",
        "red potato, is, fried",
    } <= got
    assert not any(t.startswith(("note 3, is in", "lamp, is in")) for t in got)


def test_rules_read_actions_notes_doors_and_recipes() -> None:
    cases = {
        "You open the Golden locker, revealing a treasure and a Note 5.": {
            "golden locker, is, open",
            "treasure, is in, golden locker",
            "note 5, is in, golden locker",
        },
        "You put the jump rope into the sport equipment locker.": {
            "jump rope, is in, sport equipment locker"
        },
        "You drop the lamp on the ground.": {"lamp, is in, hall"},
        "You unlock the Red locker.": {"red locker, is, closed"},
        "The Key 2 unlocks the Red locker.": {"key 2, unlocks, red locker"},
        "You fried the green bell pepper.": {"green bell pepper, is, fried"},
        "-= Hall =-\nThere is an open frosted-glass door leading south.": {
            "hall, has exit, south",
            "hall, has door, frosted-glass door",
            "frosted-glass door, is, open",
        },
        "Ingredients:\nred potato\n\nDirections:\nslice the red potato\ngrill the red potato\nprepare meal": {
            "recipe, requires, red potato",
            "red potato, to be, sliced",
            "red potato, to be, grilled",
        },
        "The Red locker looks strong. There is a lock on it.": {"red locker, is, locked"},
    }
    admissible = [
        "examine Golden locker",
        "take treasure from Golden locker",
        "take Note 5 from Golden locker",
        "examine Red locker",
        "close frosted-glass door",
        "take lamp",
        "eat green bell pepper",
    ]
    for text, expected in cases.items():
        assert expected <= texts(rules.extract(text, "Hall", None, admissible)), text
    assert rules.extract("", None, "You are carrying nothing.", []) == []


def test_rules_outdated_compares_aspects_of_the_same_subject() -> None:
    old = [
        Triplet("key", "is in", "box"),
        Triplet("box", "is", "closed"),
        Triplet("box", "is in", "hall"),
        Triplet("potato", "is", "raw"),
        Triplet("potato", "is", "sliced"),
    ]
    new = [
        Triplet("key", "is in", "inventory"),
        Triplet("box", "is", "open"),
        Triplet("potato", "is", "fried"),
    ]
    assert texts(rules_outdated(old, new)) == {"key, is in, box", "box, is, closed", "potato, is, raw"}
    assert family(Triplet("apple", "is", "eaten")) == "place" and family(Triplet("a", "likes", "b")) is None


def test_rules_entities_prefer_the_plan() -> None:
    found = rules_entities(
        "You see a red locker and a key.",
        "find the golden key",
        ["red locker", "golden key", "key", "north", "hall"],
    )
    assert found == {"red locker": 1, "golden key": 2, "key": 2}


FACTS = [
    "at(P, Hall)",
    "at(table, Hall)",
    "on(lamp, table)",
    "at(chest, Hall)",
    "closed(chest)",
    "in(coin, chest)",
    "at(box, Attic)",
    "in(key, I)",
    "north_of(Attic, Hall)",
    "link(Hall, wooden door, Attic)",
    "match(key, box)",
    "free(Hall, Attic)",
]


def test_fact_mapping_and_what_is_in_view() -> None:
    mapped = {f.triplet.text: f.family for fact in FACTS for f in fact_triplets(fact)}
    assert mapped["lamp, is on, table"] == "location" and mapped["key, is in, inventory"] == "location"
    assert mapped["attic, is north of, hall"] == "spatial" and mapped["hall, has exit, north"] == "exit"
    assert mapped["hall, has door, wooden door"] == "door" and mapped["key, unlocks, box"] == "key"
    view = texts(f.triplet for f in observable(FACTS))
    assert {"table, is in, hall", "lamp, is on, table", "chest, is, closed", "key, is in, inventory"} <= view
    assert "coin, is in, chest" not in view and "box, is in, attic" not in view  # closed / elsewhere
    assert "attic, is north of, hall" not in view  # never walked
    assert "attic, is north of, hall" in texts(
        f.triplet for f in observable(FACTS, {frozenset({"hall", "attic"})})
    )
    assert "key, unlocks, box" not in texts(oracle_triplets(FACTS))


def test_fidelity_scores_a_graph() -> None:
    tracker = FidelityTracker()
    tracker.see(FACTS)
    perfect = oracle_triplets(FACTS)
    assert tracker.score(perfect, FACTS)["fidelity/recall"] == 1.0
    graph = [
        Triplet("the lamp", "on", "table"),
        Triplet("chest", "contains", "key"),
        Triplet("key", "likes", "hall"),
    ]
    score = tracker.score(graph, FACTS)
    assert score["fidelity/precision"] == 0.5 and score["fidelity/unscored"] == 1.0
    assert 0 < score["fidelity/recall"] < 1 and normalise(graph[1]) == Triplet("key", "is in", "chest")
