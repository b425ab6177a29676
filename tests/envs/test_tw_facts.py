"""The one fact mapping (envs.tw_facts): recipe facts, what is in view, and what was seen when."""

from __future__ import annotations

from envs.tw_facts import FactTracker, Triplet, World, map_facts, observable, reads_cookbook, recipe_facts

# The cookbook as a generated tw-cooking game states it (privileged["facts"] of tw-cooking, recipe=2).
KITCHEN = [
    "at(P, kitchen)",
    "at(counter, kitchen)",
    "at(fridge, kitchen)",
    "closed(fridge)",
    "in(carrot, fridge)",
    "on(cookbook, counter)",
    "on(yellow apple, counter)",
    "base(yellow apple, ingredient_0)",
    "base(tomato, ingredient_1)",
    "in(ingredient_0, RECIPE)",
    "in(ingredient_1, RECIPE)",
    "sliced(ingredient_0)",
    "fried(ingredient_0)",
    "roasted(ingredient_1)",
    "out(meal, RECIPE)",
    "cooking_location(kitchen, RECIPE)",
    "raw(yellow apple)",
    "east_of(pantry, kitchen)",
    "link(kitchen, plain door, pantry)",
    "closed(plain door)",
]
COOKBOOK = """You open the copy of "Cooking: A Modern Approach (3rd Ed.)" and start reading:

Ingredients:
yellow apple
  tomato

Directions:
slice the yellow apple
  fry the yellow apple
  roast the tomato
  prepare meal"""


def texts(facts) -> set[str]:
    return {f.triplet.text for f in facts}


def test_recipe_facts_join_the_ingredients_and_never_leak_into_other_families() -> None:
    mapped = {f.triplet.text: f.family for f in map_facts(KITCHEN)}
    assert {k for k, v in mapped.items() if v == "recipe"} == {
        "recipe, requires, yellow apple", "recipe, requires, tomato",
        "yellow apple, to be, sliced", "yellow apple, to be, fried", "tomato, to be, roasted",
    }
    assert not any("ingredient_" in k or k.endswith(", recipe") for k in mapped)  # the cookbook's own ids
    assert mapped["yellow apple, is, raw"] == "state"  # the food's own state stays a state
    assert texts(recipe_facts(["sliced(ingredient_0)"])) == set()  # no base(): nothing to name


def test_the_recipe_is_in_view_only_when_the_cookbook_is_read() -> None:
    assert reads_cookbook(COOKBOOK) and not reads_cookbook("You take the cookbook.")
    plain = texts(observable(KITCHEN))
    assert "recipe, requires, tomato" not in plain
    assert {"fridge, is, closed", "yellow apple, is on, counter", "kitchen, has exit, east",
            "kitchen, has door, plain door", "plain door, is, closed"} <= plain
    assert "carrot, is in, fridge" not in plain and "yellow apple, is, raw" not in plain  # closed; unsaid
    assert "recipe, requires, tomato" in texts(observable(KITCHEN, cookbook=True))


def test_the_tracker_keeps_when_each_fact_was_in_view() -> None:
    tracker = FactTracker()
    tracker.see(KITCHEN, "-= Kitchen =-")
    taken = [f for f in KITCHEN if f != "on(yellow apple, counter)"] + ["in(yellow apple, I)"]
    tracker.see(taken, COOKBOOK)
    tracker.see(["at(P, pantry)", "at(shelf, pantry)", "in(yellow apple, I)", "east_of(pantry, kitchen)"], "")
    on_counter = Triplet("yellow apple", "is on", "counter")
    carried = Triplet("yellow apple", "is in", "inventory")
    assert tracker.sightings[on_counter] == (0, 0) and tracker.sightings[carried] == (1, 2)
    assert tracker.observed[Triplet("recipe", "requires", "tomato")] == "recipe"
    assert tracker.traversed == {frozenset({"kitchen", "pantry"})} and tracker.steps == 3
    assert tracker.seen(Triplet("pantry", "is east of", "kitchen"))


def test_the_world_names_every_room_holder_and_object_seen_or_not() -> None:
    world = World()
    world.update(KITCHEN)
    assert world.rooms == {"kitchen", "pantry"} and world.doors == {"plain door"}
    assert world.holders == {"fridge", "counter"}
    assert {"carrot", "yellow apple", "cookbook", "tomato", "fridge", "counter"} <= world.objects
