"""The AriGraph paper's TextWorld tasks as seedable ``GameMaker`` generators (Anokhin et al. 2024, App. F).

``tw-hunt``: a key chain through locked coloured lockers (one per room) to the treasure in the Golden locker,
+1 per key and for the treasure (the paper's file gives 3); 12 rooms and 4 keys, ``hard`` 16 and 5.
``tw-clean``: 9 rooms, 22 holders, 38 objects, 11 misplaced; no quests, so :class:`CleaningEnv` scores the
facts diff with the reference's rule (``get_reward_for_changes`` @e884b76) on every moved object (it looked
at the first change only): taking it +1 if out of place, -1 if in place; putting it in place +1, elsewhere
-1; won when all are in place. ``path`` gives the paper's ``clean_3x3.z8`` the same reward. Games are built
in a child process (fixed hash seed, as :mod:`envs.tw_games`) and cached in ``<data dir>/games``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from lab.core.env import EnvKind, EnvOptions, EnvSpec, Observation
from envs.textworld_env import TextWorldEnv
from envs.tw_games import (
    GeneratedGameOptions, checked_game_file, child_env, game_path_option, last_line, options_digest,
)
from lab.core.errors import ConfigError
from lab.core.settings import cache_dir

STEPS = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
COLOURS = ("White", "Red", "Cyan", "Blue", "Yellow", "Grey", "Green", "Orange", "Brown", "Crimson", "Silver",
           "Bronze", "Teal", "Violet", "Black")
CLEAN_HOUSE = """\
Kitchen | refrigerator c: milk, cheese, raw meat | dishwasher c: dirty plate, dirty cup
        | cook table s: cutting board
Bathroom | bathroom sink s: toothbrush, deodorant | towel rack s: wet towel | toilet s: toilet paper
Dining Room | dining table s: elegant table runner, candles, centerpiece, salt and pepper shakers
Living Room | sofa s: decorative pillow | TV table s: TV, remote control
Master Bedroom | wardrobe c: business suit, evening dress | bedside table s: sleeping lamp, alarm clock
               | king size bed s: blanket
Kids Room | toy storage cabinet c: toy car, toy sword | study table s: school notebooks, felt tip pens
          | kids bed s: teddy bear
Gym | sport equipment locker c: yoga mat, jump rope | dumbbell stand s: dumbbell | treadmill s: water bottle
Swimming Pool Area | pool equipment rack s: swimming fins, swimming goggles, life ring
                   | table for pool chemicals s: chlorine
Library | bookcase s: fantasy book, detective book | reading table s: reading glasses"""
"""``Room | holder <c: closed container, s: supporter>: objects | ...``; a line starting with | goes on."""
PAPER_CLEAN_MISPLACED = {
    "toothbrush": ("on", "bathroom sink"), "dirty plate": ("in", "dishwasher"),
    "fantasy book": ("on", "bookcase"), "business suit": ("in", "wardrobe"),
    "sleeping lamp": ("on", "bedside table"), "wet towel": ("on", "towel rack"),
    "dumbbell": ("on", "dumbbell stand"), "swimming fins": ("on", "pool equipment rack"),
    "raw meat": ("in", "refrigerator"), "toy car": ("in", "toy storage cabinet"),
    "elegant table runner": ("on", "dining table")}
"""The paper's clean_3x3: its 11 misplaced objects and their places (``utils/win_cond.py``)."""
HUNT_OBJECTIVE = ("Your task is to get the treasure. It is hidden in the Golden locker, which the Golden key "
                  "opens. Every locker is locked and opens with its own key. The Key 1 unlocks the {locker}; "
                  "you will find it in {room}. Read the notes you find: they say which locker the next key "
                  "opens.")
CLEAN_OBJECTIVE = "Clean the house: find the items that are out of place and put them back where they belong."
FACT = re.compile(r"^(at|in|on)\((.+), (.+)\)$")


class HuntOptions(GeneratedGameOptions):
    """Options of ``tw-hunt``: the paper's Treasure Hunt (key chain through coloured lockers)."""

    challenge: ClassVar[str] = "memlab-hunt-v1"
    hard: bool = False
    """Treasure Hunt Hard: 16 rooms and 5 keys, the first locker as far from the start as possible."""
    rooms: int | None = Field(None, ge=2, le=16)
    """Rooms (default 12, hard 16); fewer make small test games."""
    keys: int | None = Field(None, ge=2, le=15)
    """Keys, the Golden key included (default 4, hard 5); at most the number of rooms."""


class CleanOptions(GeneratedGameOptions):
    """Options of ``tw-clean``: the paper's Cleaning task (return misplaced items)."""

    challenge: ClassVar[str] = "memlab-clean-v1"
    misplaced: int = Field(11, ge=1, le=20)
    """Objects put out of place (the paper: 11)."""
    path: str | None = None
    """Play this file (e.g. the paper's clean_3x3.z8): places from its metadata, or the reference's table."""

    @field_validator("path")
    @classmethod
    def _is_a_game(cls, path: str | None) -> str | None:
        return None if path is None else game_path_option(path)

    def settings(self) -> dict[str, Any]:
        """What the generated game depends on (not ``path``)."""
        return {"misplaced": self.misplaced}


def grid_tree(n: int, rng: np.random.RandomState) -> list[tuple[int, int, str]]:
    """A random spanning tree of ``n`` grid cells grown from (0, 0): edges ``(i, j, direction i->j)``."""
    cells, edges = [(0, 0)], []
    while len(cells) < n:
        i = int(rng.randint(len(cells)))
        direction = sorted(STEPS)[int(rng.randint(4))]
        cell = (cells[i][0] + STEPS[direction][0], cells[i][1] + STEPS[direction][1])
        if cell not in cells:
            cells.append(cell)
            edges.append((i, len(cells) - 1, direction))
    return edges


def paths_from(start: int, edges: list[tuple[int, int, str]]) -> dict[int, list[str]]:
    """The ``go <dir>`` commands from room ``start`` to every room of a connected map (BFS)."""
    links: dict[int, list[tuple[int, str]]] = {}
    for i, j, d in edges:
        links.setdefault(i, []).append((j, d))
        links.setdefault(j, []).append((i, OPPOSITE[d]))
    paths, queue = {start: []}, deque([start])
    while queue:
        room = queue.popleft()
        for nxt, d in links.get(room, []):
            if nxt not in paths:
                paths[nxt] = paths[room] + [f"go {d}"]
                queue.append(nxt)
    return paths


def new_maker(seed: int) -> Any:
    """A GameMaker whose text grammar is seeded."""
    from textworld import GameMaker, GameOptions

    options = GameOptions()
    options.seeds = seed
    return GameMaker(options)


def named(maker: Any, kind: str, name: str, desc: str | None = None) -> Any:
    """A new entity that the text always calls by its full name (no adjective/noun split: "a Red locker")."""
    entity = maker.new(type=kind, name=name, desc=desc)
    entity.infos.noun, entity.infos.adj = name, None
    return entity


def build_hunt(game_seed: int, hard: bool, rooms: int | None = None, keys: int | None = None) -> Any:
    """The Treasure Hunt game of a seed (a textworld ``Game``, walkthrough in its metadata)."""
    from textworld.generator.game import Event, Quest

    rng = np.random.RandomState(game_seed)
    n_rooms, n_keys = rooms or (16 if hard else 12), keys or (5 if hard else 4)
    if n_keys > n_rooms:
        raise ValueError(f"{n_keys} keys need at least {n_keys} rooms")
    maker, edges = new_maker(game_seed), grid_tree(n_rooms, rng)
    places = [maker.new_room(f"Room {chr(ord('A') + i)}") for i in range(n_rooms)]
    for i, j, d in edges:
        maker.connect(getattr(places[i], d), getattr(places[j], OPPOSITE[d]))
    maker.set_player(places[0])
    order = [int(r) for r in rng.permutation(n_rooms)]
    if hard:  # the chain starts far away (paper: "the second key significantly harder")
        far = max(range(n_rooms), key=lambda r: (len(paths_from(0, edges)[r]), -r))
        order = [far] + [r for r in order if r != far]
    colours = [str(c) for c in rng.permutation(COLOURS)]
    names = colours[: n_keys - 1] + ["Golden"] + colours[n_keys - 1 : n_rooms - 1]
    lockers = [named(maker, "c", f"{name} locker") for name in names]
    for locker, room in zip(lockers, order, strict=True):
        locker.add_property("locked")
        places[room].add(locker)
    keys = [named(maker, "k", f"Key {i + 1}") for i in range(n_keys - 1)] + [named(maker, "k", "Golden key")]
    places[0].add(keys[0])
    for i, key in enumerate(keys):
        maker.add_fact("match", key, lockers[i])
        if i + 1 < n_keys:
            text = f"The {keys[i + 1].name} unlocks the {lockers[i + 1].name}."
            note = named(maker, "o", f"Note {i + 2}", text)
            lockers[i].add(keys[i + 1], note)
    treasure = named(maker, "o", "treasure", "The treasure is heavy and shines with gold.")
    lockers[n_keys - 1].add(treasure)
    taken = [Event(conditions={maker.new_fact("in", item, maker.inventory)}) for item in [*keys, treasure]]
    maker.quests = [Quest(win_events=[event], reward=1) for event in taken]
    game = maker.build()
    game.objective = HUNT_OBJECTIVE.format(locker=lockers[0].name, room=places[0].name)
    game.metadata["walkthrough"] = hunt_walkthrough(edges, order, keys, lockers, n_keys, treasure.name)
    return game


def hunt_walkthrough(edges: list, order: list, keys: list, lockers: list, n: int, prize: str) -> list[str]:
    """Winning commands: take Key 1, then walk each locker of the chain in turn."""
    commands, here = [f"take {keys[0].name}"], 0
    for i in range(n):
        commands += paths_from(here, edges)[order[i]]
        here, locker = order[i], lockers[i].name
        commands += [f"unlock {locker} with {keys[i].name}", f"open {locker}"]
        commands.append(f"take {keys[i + 1].name if i + 1 < n else prize} from {locker}")
    return commands


def parse_house(text: str = CLEAN_HOUSE) -> dict[str, list[tuple[str, str, list[str]]]]:
    """The house table as ``{room: [(holder, type, [objects])]}``."""
    house: dict[str, list[tuple[str, str, list[str]]]] = {}
    room = ""
    for line in text.splitlines():
        name, *holders = (part.strip() for part in line.split("|"))
        room = name or room
        for head, objects in (holder.split(":") for holder in holders):
            house.setdefault(room, []).append((head[:-2], head[-1], [o.strip() for o in objects.split(",")]))
    return house


def build_clean(game_seed: int, misplaced: int) -> Any:
    """The Cleaning game of a seed; its places and misplaced objects go to ``metadata["cleaning"]``."""
    rng, maker, house = np.random.RandomState(game_seed), new_maker(game_seed), parse_house()
    names = [str(n) for n in rng.permutation(sorted(house))]
    rooms = {name: maker.new_room(name) for name in names}
    steps = ((1, "east"), (3, "north"))
    edges = [(i, i + k, d) for i in range(9) for k, d in steps if i + k < 9 and (d != "east" or i % 3 < 2)]
    for i, j, d in edges:
        maker.connect(getattr(rooms[names[i]], d), getattr(rooms[names[j]], OPPOSITE[d]))
    maker.set_player(rooms[names[first := int(rng.randint(9))]])
    holders, places, where = {}, {}, {}
    for room, items in house.items():
        for holder, kind, objects in items:
            holders[holder] = named(maker, kind, holder)
            if kind == "c":
                holders[holder].add_property("closed")
            rooms[room].add(holders[holder])
            for obj in objects:
                places[obj], where[obj] = ("in" if kind == "c" else "on", holder), (room, holder)
    moved = sorted(str(o) for o in rng.choice(sorted(places), misplaced, replace=False))
    spots = {o: elsewhere(where[o][0], house, rng) if o in moved else where[o] for o in sorted(places)}
    for obj, (room, holder) in spots.items():
        (holders[holder] if holder else rooms[room]).add(named(maker, "o", obj))
    game = maker.build()
    game.objective = CLEAN_OBJECTIVE
    game.metadata["cleaning"] = {"places": {o: [list(p)] for o, p in places.items()}, "misplaced": moved}
    game.metadata["walkthrough"] = clean_walkthrough(edges, names, first, moved, spots, where, places)
    return game


def elsewhere(home: str, house: dict, rng: np.random.RandomState) -> tuple[str, str | None]:
    """A supporter (or, with holder None, the floor) of a room other than ``home``."""
    room = str(rng.choice([r for r in sorted(house) if r != home]))
    spots = [h for h, kind, _ in house[room] if kind == "s"]
    pick = int(rng.randint(len(spots) + 1))
    return room, None if pick == len(spots) else spots[pick]


def clean_walkthrough(edges: list, names: list, start: int, moved: list, spots: dict, where: dict,
                      places: dict) -> list[str]:
    """Commands that take each misplaced object to its place, one object at a time."""
    commands, here, opened = [], start, set()
    for obj in moved:
        for room, verb in ((spots[obj], "take"), (where[obj], "put")):
            commands += paths_from(here, edges)[names.index(room[0])]
            here = names.index(room[0])
            if verb == "take":
                commands.append(f"take {obj} from {room[1]}" if room[1] else f"take {obj}")
                continue
            relation, holder = places[obj]
            if relation == "in" and holder not in opened:
                commands.append(f"open {holder}")
                opened.add(holder)
            commands.append(f"insert {obj} into {holder}" if relation == "in" else f"put {obj} on {holder}")
    return commands


@dataclass(frozen=True)
class CleaningRules:
    """Where each object belongs, and which objects start out of place."""

    places: dict[str, list[tuple[str, str]]]
    """Object -> its correct ``(relation, holder)`` pairs (relation ``in`` or ``on``)."""
    misplaced: list[str]

    def placed(self, obj: str, where: tuple[str, str] | None) -> bool:
        """Whether ``obj`` is in one of its places."""
        return where is not None and obj in self.places and tuple(where) in self.places[obj]


def cleaning_rules(path: Path) -> CleaningRules | None:
    """The rules of a cleaning game: its ``metadata.cleaning``, or the paper's table for clean_3x3."""
    meta = path.with_suffix(".json")
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    cleaning = data.get("metadata", {}).get("cleaning")
    if cleaning:
        places = {o: [tuple(p) for p in ps] for o, ps in cleaning["places"].items()}
        return CleaningRules(places, cleaning["misplaced"])
    names = {key: info.get("name") or key for key, info in data.get("infos", [])}
    world = data.get("world", [])
    facts = [(f["name"], [names.get(a["name"], a["name"]) for a in f["arguments"]]) for f in world]
    start = {args[0]: [(name, args[1])] for name, args in facts if name in ("in", "on") and len(args) == 2}
    if data.get("quests") or not set(PAPER_CLEAN_MISPLACED) <= set(names.values()):
        return None
    fixed = {o: [p] for o, p in PAPER_CLEAN_MISPLACED.items()}
    return CleaningRules({**start, **fixed}, sorted(PAPER_CLEAN_MISPLACED))


def cleaning_reward(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]],
                    rules: CleaningRules) -> float:
    """The reward of one step from the places of the objects before and after it (module docstring)."""
    reward = 0.0
    for obj in rules.places:
        old, new = before.get(obj), after.get(obj)
        if old == new:
            continue
        if new == ("in", "I"):
            reward += -1.0 if rules.placed(obj, old) else 1.0
        else:
            lost = new is not None or rules.placed(obj, old)  # vanished from a wrong place: 0
            reward += 1.0 if rules.placed(obj, new) else (-1.0 if lost else 0.0)
    return reward


class CleaningEnv:
    """A TextWorld cleaning game (``tw-clean``) scored from the facts diff (module docstring): ``max_score``
    is 2 x misplaced; won, and done, when every misplaced object is in place. Otherwise a ``TextWorldEnv``."""

    kind: EnvKind = "text"

    def __init__(self, inner: TextWorldEnv, rules: CleaningRules) -> None:
        self.inner, self.rules, self.env_id = inner, rules, inner.env_id
        self._where: dict[str, tuple[str, str]] = {}
        self._score = 0.0

    def reset(self, seed: int | None = None) -> Observation:
        """Start the game; the score starts at 0."""
        self._where, self._score = {}, 0.0
        return self._observe(self.inner.reset(seed), first=True)

    def step(self, action: str) -> Observation:
        """Play one command and score what it moved."""
        return self._observe(self.inner.step(action))

    def close(self) -> None:
        """Stop the game."""
        self.inner.close()

    def _observe(self, obs: Observation, first: bool = False) -> Observation:
        matches = [FACT.match(fact) for fact in obs.privileged.get("facts") or []]
        where = {m[2]: (m[1], m[3]) for m in matches if m and m[2] in self.rules.places}  # obj: (rel, holder)
        reward = 0.0 if first else cleaning_reward(self._where, where, self.rules)
        self._where, self._score = where, self._score + reward
        won = all(self.rules.placed(o, where.get(o)) for o in self.rules.misplaced)
        top = 2.0 * len(self.rules.misplaced)
        return replace(obs, reward=reward, score=self._score, max_score=top, won=won, done=won or obs.done,
                       objective=obs.objective or CLEAN_OBJECTIVE)


def game_file(env_id: str, options: GeneratedGameOptions) -> Path:
    """The cached game of these options, generated on first use in a child process (fixed hash seed)."""
    target = cache_dir("games") / f"{env_id}-{options_digest(options)}.z8"
    if target.is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=f".{target.stem}-", dir=target.parent))
    try:
        settings = {"game_seed": options.game_seed, **options.settings()}
        request = json.dumps({"kind": env_id, "settings": settings, "output": str(work / target.name)})
        command = [sys.executable, "-m", "envs.tw_paper", request]
        done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise ConfigError(f"{env_id}: could not generate this game: {last_line(done.stderr)}")
        os.replace(work / target.with_suffix(".json").name, target.with_suffix(".json"))
        os.replace(work / target.name, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def make_paper_env(env_id: str, options: EnvOptions) -> TextWorldEnv | CleaningEnv:
    """Factory of ``tw-hunt`` and ``tw-clean``."""
    if isinstance(options, CleanOptions):
        path = checked_game_file(options.path, env_id) if options.path else game_file(env_id, options)
        rules = cleaning_rules(path)
        if rules is None:
            raise ConfigError(f"{env_id}: {path} has no cleaning metadata and is not the paper's clean_3x3")
        return CleaningEnv(TextWorldEnv(env_id, path), rules)
    assert isinstance(options, HuntOptions)
    return TextWorldEnv(env_id, game_file(env_id, options))


SPECS: list[EnvSpec] = [
    EnvSpec("tw-hunt", "AriGraph Treasure Hunt: keys open coloured lockers in a chain to the treasure "
            "(12 rooms, 4 keys; hard: 16, 5)", "text", HuntOptions, make_paper_env),
    EnvSpec("tw-clean", "AriGraph Cleaning: return 11 misplaced items in a 9-room house (reward from the "
            "facts diff; path= plays a file, e.g. the paper's clean_3x3.z8)", "text", CleanOptions,
            make_paper_env),
]


def main(argv: list[str]) -> None:
    """``python -m envs.tw_paper '<json request>'`` compiles one game (child side of :func:`game_file`)."""
    import textworld
    from textworld.generator import compile_game

    request, options = json.loads(argv[0]), textworld.GameOptions()
    options.path, options.force_recompile = request["output"], True
    build = build_hunt if request["kind"] == "tw-hunt" else build_clean
    compile_game(build(**request["settings"]), options)


if __name__ == "__main__":
    main(sys.argv[1:])
