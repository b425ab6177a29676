"""RoomRecall: place-centric episodic recall in MiniGrid (SAT reference §9).

Description:
    3x3 rooms joined by one-cell doorways, one object per room (18 classes: ball, key, box x 6
    colours). A scripted explorer walks the rooms for ``steps`` (T) steps; with probability ``skew``
    one "home" room absorbs most of them (skewed dwell). Then the env asks queries.
Observation:
    During exploration: MiniGrid's egocentric ``image`` (view 5, occlusion on), ``direction`` and
    ``extra`` = {phase, t, place (room 0..8, row-major), agent_pos, interior, family}. Queries come as
    text plus ``extra["query"]``; ``admissible`` lists the valid answers.
Actions:
    ``continue`` while exploring; an answer token per query (object names, ``room 0``..``room 8``,
    pattern names); MiniGrid ``left``/``right``/``forward`` in the ``navigate`` family.
Query families:
    Q1 room -> object; Q2 object -> room; Q3 object + compass direction -> object of the neighbouring
    room; Q4 (moving objects, 4x4 rooms, short stays) room -> movement pattern; QR "what did you see k
    steps ago" (the room's object or nothing; a recency query for AMA); navigate: "go to the <object>".
Reward / termination:
    1 per correct answer; done after the last query (won when all are right). Navigate: won when the
    object is in front of the agent within 2x the shortest path, lost past that budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Box, Key
from minigrid.minigrid_env import MiniGridEnv
from pydantic import Field

from envs.base import EnvOptions, EnvSpec, Observation
from envs.text_render import render_text

ENV_ID = "minigrid-room-recall"
SIDE = 3
"""Rooms per side (3x3 = 9 rooms, index = row * 3 + col)."""
N_ROOMS = SIDE * SIDE
OBJECT_TYPES = ("ball", "key", "box")
COLOR_NAMES = ("red", "green", "blue", "purple", "yellow", "grey")
OBJECT_CLASSES = tuple(f"{c} {t}" for t in OBJECT_TYPES for c in COLOR_NAMES)
"""The 18 object classes; class id = type_index * 6 + colour_index (MiniGrid colour order)."""
ROOM_NAMES = tuple(f"room {r}" for r in range(N_ROOMS))
PATTERNS = ("circle cw", "circle ccw", "up-down", "left-right")
COMPASS = ("east", "south", "west", "north")
"""MiniGrid direction order: 0 east (+x), 1 south (+y), 2 west, 3 north."""
VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))
FAMILIES = ("Q1", "Q2", "Q3", "Q4", "QR")
QR_MAX = 16
"""QR asks about 1..QR_MAX steps ago (all inside a FIFO memory of 16)."""
SIGHTS = (*OBJECT_CLASSES, "nothing")
"""QR answers: the object of the room the agent was in, if it was in view, else ``nothing``."""
_CIRCLE = ((0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 1))
_BOUNCE = (0, 0, 1, 2, 2, 2, 1, 0)
PATTERN_CELLS = (_CIRCLE, _CIRCLE[::-1], tuple((1, y) for y in _BOUNCE), tuple((x, 1) for x in _BOUNCE))
"""Per pattern, the 8 cells (in a 3x3 block) the object occupies at phases 0..7."""
_OBJ_TYPES = {"ball": Ball, "key": Key, "box": Box}


def neighbour(room: int, direction: int) -> int:
    """The room next to ``room`` in compass ``direction``, or -1 at the border."""
    col, row = room % SIDE + VEC[direction][0], room // SIDE + VEC[direction][1]
    return row * SIDE + col if 0 <= col < SIDE and 0 <= row < SIDE else -1


def answers(family: str) -> tuple[str, ...]:
    """The answer tokens of a query family."""
    return {"Q1": OBJECT_CLASSES, "Q3": OBJECT_CLASSES, "Q2": ROOM_NAMES, "QR": SIGHTS, "Q4": PATTERNS}[
        family
    ]


@dataclass
class Layout:
    """One procedural world: interior size, objects, doorways, dynamics, home room."""

    n: int
    objects: np.ndarray
    """(9,) object class per room."""
    cells: np.ndarray
    """(9, 2) static object cell (interior coords) or the 3x3 pattern block's corner."""
    doors: dict[tuple[int, int], tuple[int, int]]
    """(room a, room b) with a < b -> doorway cell (x, y)."""
    patterns: np.ndarray
    """(9,) pattern id per room (-1: static world); every pattern runs on the global clock (phase t mod 8),
    as the reference's Ballet loops do (``frame[room, t mod 32]``), so one view is only partly informative."""
    home: int = -1
    """Home room of a skewed-dwell episode (-1: uniform dwell)."""

    def origin(self, room: int) -> tuple[int, int]:
        """Grid coords of the room's top-left wall corner."""
        return room % SIDE * (self.n + 1), room // SIDE * (self.n + 1)

    def object_cell(self, room: int, t: int) -> tuple[int, int]:
        """Where the room's object should be at step ``t`` (grid coords)."""
        x0, y0 = self.origin(room)
        cx, cy = self.cells[room]
        if self.patterns[room] >= 0:
            dx, dy = PATTERN_CELLS[self.patterns[room]][t % 8]
            cx, cy = cx + dx, cy + dy
        return x0 + 1 + int(cx), y0 + 1 + int(cy)

    def room_at(self, x: int, y: int) -> int:
        """The room whose interior holds (x, y), -1 on walls and doorways."""
        if x % (self.n + 1) == 0 or y % (self.n + 1) == 0:
            return -1
        return y // (self.n + 1) * SIDE + x // (self.n + 1)


def make_layout(rng: np.random.Generator, dynamic: bool, skew: float) -> Layout:
    """Draw a world: objects without replacement, doorways at random wall cells, patterns if dynamic."""
    n = 4 if dynamic else 3
    doors = {}
    for room in range(N_ROOMS):
        for direction in (0, 1):  # east and south walls
            other = neighbour(room, direction)
            if other >= 0:
                x0, y0 = room % SIDE * (n + 1), room // SIDE * (n + 1)
                k = int(rng.integers(1, n + 1))
                doors[(room, other)] = (x0 + n + 1, y0 + k) if direction == 0 else (x0 + k, y0 + n + 1)
    cells = rng.integers(0, n - 2, size=(N_ROOMS, 2)) if dynamic else static_cells(rng, n, doors)
    return Layout(
        n=n,
        objects=rng.choice(len(OBJECT_CLASSES), N_ROOMS, replace=False),
        cells=cells,
        doors=doors,
        patterns=rng.integers(0, 4, N_ROOMS) if dynamic else np.full(N_ROOMS, -1),
        home=int(rng.integers(N_ROOMS)) if rng.random() < skew else -1,
    )


def static_cells(rng: np.random.Generator, n: int, doors: dict) -> np.ndarray:
    """(9, 2) interior cells for static objects, never next to a doorway (so no object blocks a door)."""
    out = np.zeros((N_ROOMS, 2), dtype=np.int64)
    for room in range(N_ROOMS):
        x0, y0 = room % SIDE * (n + 1), room // SIDE * (n + 1)
        near = {(x - x0 - 1 + dx, y - y0 - 1 + dy) for x, y in doors.values() for dx, dy in VEC}
        ok = [(cx, cy) for cx in range(n) for cy in range(n) if (cx, cy) not in near]
        out[room] = ok[int(rng.integers(len(ok)))]
    return out


class RoomGrid(MiniGridEnv):
    """The MiniGrid world of one :class:`Layout` (grid 13x13 or 16x16, view 5, occlusion on).

    The explorer sets ``agent_pos``/``agent_dir`` directly (one allocentric move per step, spec §8.2
    ``AlloStep``); the navigate phase uses MiniGrid's own ``step``.
    """

    def __init__(self, layout: Layout, view_size: int = 5, render_mode: str | None = None) -> None:
        self.layout = layout
        self.object_at: dict[int, tuple[int, int]] = {}
        super().__init__(
            MissionSpace(mission_func=lambda: "explore the rooms"),
            grid_size=SIDE * (layout.n + 1) + 1,
            max_steps=1_000_000,
            see_through_walls=False,
            agent_view_size=view_size,
            render_mode=render_mode,
        )
        self._gen_grid(self.width, self.height)
        self.carrying, self.step_count = None, 0

    def _gen_grid(self, width: int, height: int) -> None:
        lay = self.layout
        self.grid = Grid(width, height)
        for k in range(SIDE + 1):
            self.grid.horz_wall(0, k * (lay.n + 1))
            self.grid.vert_wall(k * (lay.n + 1), 0)
        for x, y in lay.doors.values():
            self.grid.set(x, y, None)
        for room in range(N_ROOMS):
            kind, color = divmod(int(lay.objects[room]), len(COLOR_NAMES))
            self.object_at[room] = lay.object_cell(room, 0)
            self.grid.set(*self.object_at[room], _OBJ_TYPES[OBJECT_TYPES[kind]](COLOR_NAMES[color]))

    def free(self, x: int, y: int) -> bool:
        """Whether the agent may stand on (x, y)."""
        cell = self.grid.get(x, y)
        return cell is None or cell.can_overlap()

    def move_objects(self, t: int) -> None:
        """Put each moving object on its step-``t`` cell; it holds while the agent stands there."""
        for room in np.flatnonzero(self.layout.patterns >= 0):
            old, new = self.object_at[room], self.layout.object_cell(int(room), t)
            if new != tuple(self.agent_pos) and new != old:
                self.grid.set(*new, self.grid.get(*old))
                self.grid.set(*old, None)
                self.object_at[room] = new

    def place_of(self, fallback: int) -> int:
        """The agent's room; on a doorway the room it faces; else ``fallback``."""
        x, y = (int(v) for v in self.agent_pos)  # MiniGrid's own step leaves numpy ints here
        room = self.layout.room_at(x, y)
        if room < 0:
            room = self.layout.room_at(x + VEC[self.agent_dir][0], y + VEC[self.agent_dir][1])
        return room if room >= 0 else fallback


def bfs(
    start: tuple, goal: Callable[[tuple], bool], nexts: Callable[[tuple], list[tuple[int, tuple]]]
) -> list[int]:
    """Shortest move list from ``start`` to a state where ``goal`` holds ([] if there or unreachable)."""
    prev: dict[tuple, tuple[tuple, int] | None] = {start: None}
    todo = deque([start])
    while todo:
        state = todo.popleft()
        if goal(state):
            moves = []
            while prev[state] is not None:
                state, move = prev[state]  # type: ignore[misc]
                moves.append(move)
            return moves[::-1]
        for move, nxt in nexts(state):
            if nxt not in prev:
                prev[nxt] = (state, move)
                todo.append(nxt)
    return []


class Explorer:
    """The scripted explorer: wander k steps in a room, walk through a doorway to a neighbour, repeat.

    Skewed dwell (spec §9): in a home-room episode the home wander is 4k+2 steps and, half the time,
    the next room is the neighbour closest to home. Dynamic worlds use short stays (k in 0..1).
    """

    def __init__(self, grid: RoomGrid, rng: np.random.Generator) -> None:
        self.grid, self.rng, self.target = grid, rng, -1
        lay = grid.layout
        self.place = lay.home if lay.home >= 0 else int(rng.integers(N_ROOMS))
        x0, y0 = lay.origin(self.place)
        free = [
            (x, y)
            for x in range(x0 + 1, x0 + lay.n + 1)
            for y in range(y0 + 1, y0 + lay.n + 1)
            if grid.free(x, y)
        ]
        grid.agent_pos, grid.agent_dir = free[int(rng.integers(len(free)))], int(rng.integers(4))
        self.wander = self.dwell(self.place)

    def dwell(self, room: int) -> int:
        """Wander steps for one visit to ``room``."""
        lo, hi = (0, 1) if self.grid.layout.patterns[0] >= 0 else (1, 6)
        k = int(self.rng.integers(lo, hi + 1))
        return 4 * k + 2 if room == self.grid.layout.home else k

    def next_room(self) -> int:
        """A neighbouring room, biased towards home in skewed episodes."""
        options = [r for r in (neighbour(self.place, d) for d in range(4)) if r >= 0]
        home = self.grid.layout.home
        if home >= 0 and self.rng.random() < 0.5:
            return min(options, key=lambda r: abs(r % SIDE - home % SIDE) + abs(r // SIDE - home // SIDE))
        return options[int(self.rng.integers(len(options)))]

    def move(self) -> int | None:
        """The next cardinal move (None: wait, the way is blocked)."""
        g, lay = self.grid, self.grid.layout
        x, y = g.agent_pos
        if self.wander > 0:
            self.wander -= 1
            ok = [
                d
                for d, (dx, dy) in enumerate(VEC)
                if lay.room_at(x + dx, y + dy) == self.place and g.free(x + dx, y + dy)
            ]
            return ok[int(self.rng.integers(len(ok)))] if ok else None
        if self.target < 0:
            self.target = self.next_room()
        doors, rooms = set(lay.doors.values()), {self.place, self.target}

        def nexts(c: tuple) -> list[tuple[int, tuple]]:
            cells = [(d, (c[0] + dx, c[1] + dy)) for d, (dx, dy) in enumerate(VEC)]
            return [(d, n) for d, n in cells if g.free(*n) and (lay.room_at(*n) in rooms or n in doors)]

        moves = bfs((x, y), lambda c: lay.room_at(*c) == self.target, nexts)
        return moves[0] if moves else None

    def step(self) -> int:
        """Play one move; return the agent's place."""
        g, d = self.grid, self.move()
        if d is not None:
            g.agent_dir = d
            ahead = (g.agent_pos[0] + VEC[d][0], g.agent_pos[1] + VEC[d][1])
            if g.free(*ahead):
                g.agent_pos = ahead
        room = g.place_of(self.place)
        if room != self.place:
            self.place, self.target, self.wander = room, -1, self.dwell(room)
        return self.place


_TYPE_OF_IDX = np.full(11, -1)
_TYPE_OF_IDX[[OBJECT_TO_IDX[name] for name in OBJECT_TYPES]] = range(len(OBJECT_TYPES))


def visible_classes(image: np.ndarray) -> np.ndarray:
    """Object class ids visible in an egocentric image (MiniGrid codes, any view size)."""
    kind = _TYPE_OF_IDX[image[..., 0].ravel()]
    return kind[kind >= 0] * len(COLOR_NAMES) + image[..., 1].ravel()[kind >= 0]


class Episode:
    """One exploration, step by step: the world, the explorer, and the trace of what was seen."""

    def __init__(
        self,
        rng: np.random.Generator,
        dynamic: bool,
        steps: int,
        skew: float,
        view_size: int = 5,
        render_mode: str | None = None,
    ) -> None:
        self.layout = make_layout(rng, dynamic, skew)
        self.grid = RoomGrid(self.layout, view_size, render_mode)
        self.explorer = Explorer(self.grid, rng)
        self.steps, self.t = steps, 0
        self.images, self.dirs, self.pos, self.places = [], [], [], []
        self.seen = np.zeros(N_ROOMS, dtype=bool)
        """Room r's object was in view while the agent's place was r."""
        self.shown: list[bool] = []
        """Per step: the object of the agent's room was in view."""
        self.record()

    def record(self) -> None:
        """Append the current observation to the trace."""
        image, place = self.grid.gen_obs()["image"], self.explorer.place
        self.images.append(image)
        self.dirs.append(self.grid.agent_dir)
        self.pos.append(tuple(self.grid.agent_pos))
        self.places.append(place)
        self.shown.append(bool((visible_classes(image) == self.layout.objects[place]).any()))
        self.seen[place] |= self.shown[-1]

    def advance(self) -> None:
        """One explorer step (objects move after the agent)."""
        self.explorer.step()
        self.t += 1
        self.grid.move_objects(self.t)
        self.record()

    def run(self) -> Episode:
        """Play all remaining exploration steps."""
        while self.t < self.steps - 1:
            self.advance()
        return self


@dataclass
class Query:
    """One question about an explored world; ``answer`` indexes :func:`answers` of the family."""

    family: str
    args: dict[str, int]
    """``room``, ``object`` (class id), ``direction`` (compass index) or ``steps_ago``."""
    answer: int

    def text(self) -> str:
        """The question in words."""
        a = self.args
        obj = OBJECT_CLASSES[a["object"]] if "object" in a else ""
        return {
            "Q1": lambda: f"What object is in room {a.get('room')}?",
            "Q2": lambda: f"In which room is the {obj}?",
            "Q3": lambda: (
                f"What object is in the room {COMPASS[a.get('direction', 0)]} of the room with the {obj}?"
            ),
            "Q4": lambda: f"How does the object in room {a.get('room')} move?",
            "QR": lambda: f"What did you see {a.get('steps_ago')} steps ago?",
        }[self.family]()


def candidates(
    family: str,
    objects: np.ndarray,
    patterns: np.ndarray,
    seen: np.ndarray,
    places: np.ndarray,
    shown: np.ndarray,
) -> list[Query]:
    """Every answerable query of ``family``: rooms whose object was seen from inside; QR: the last steps.

    ``seen`` (9,): room r's object was in view from inside r; ``places`` / ``shown`` (T,): each step's
    room and whether that room's object was in view.
    """
    rooms = np.flatnonzero(seen)
    if family == "QR":
        nothing, ks = len(OBJECT_CLASSES), range(1, min(QR_MAX, len(places)) + 1)
        return [Query("QR", {"steps_ago": k}, int(objects[places[-k]]) if shown[-k] else nothing) for k in ks]
    if family == "Q3":
        pairs = [(r, d, neighbour(r, d)) for r in rooms for d in range(4)]
        return [
            Query("Q3", {"object": int(objects[r]), "direction": d}, int(objects[m]))
            for r, d, m in pairs
            if m >= 0 and seen[m]
        ]
    make = {
        "Q1": lambda r: Query("Q1", {"room": int(r)}, int(objects[r])),
        "Q2": lambda r: Query("Q2", {"object": int(objects[r])}, int(r)),
        "Q4": lambda r: Query("Q4", {"room": int(r)}, int(patterns[r])),
    }[family]
    return [make(r) for r in rooms]


def answerable(episode: Episode) -> bool:
    """Whether every family has a query (Q3 needs two neighbouring rooms whose objects were seen)."""
    lay, places = episode.layout, np.asarray(episode.places)
    shown = np.asarray(episode.shown)
    return all(candidates(f, lay.objects, lay.patterns, episode.seen, places, shown) for f in ("Q1", "Q3"))


def explore(rng: np.random.Generator, dynamic: bool, steps: int, skew: float) -> tuple[dict, Episode]:
    """An explored episode whose world can answer every family (redrawn if not), and the generator state
    it started from (an :class:`Episode` built from that state replays it step by step)."""
    while True:
        state = rng.bit_generator.state
        episode = Episode(rng, dynamic, steps, skew).run()
        if answerable(episode):
            return state, episode


def generate(
    count: int,
    seed: int,
    dynamic: bool,
    steps: int = 96,
    skew: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """A training set of ``count`` explored episodes as numpy arrays (spec §8.2: outside torch).

    Keys: ``images`` (N, T, 5, 5, 3) uint8 egocentric views, ``dirs`` (N, T), ``pos`` (N, T, 2) grid
    coords, ``places`` (N, T) room ids, ``objects`` (N, 9) class per room, ``patterns`` (N, 9) (-1 when
    static), ``seen`` (N, 9), ``shown`` (N, T) (the room's object in view), ``home`` (N,) (-1 when
    uniform), ``interior`` (N,). A pure function of the
    arguments; queries are drawn from these arrays by the trainer.
    """
    rng = np.random.default_rng(seed)
    rows: list[Episode] = []
    for _ in range(count):
        rows.append(explore(rng, dynamic, steps, skew)[1])
        if progress:
            progress(1)
    return {
        "images": np.stack([np.stack(e.images) for e in rows]).astype(np.uint8),
        "dirs": np.array([e.dirs for e in rows], dtype=np.int64),
        "pos": np.array([e.pos for e in rows], dtype=np.int64),
        "places": np.array([e.places for e in rows], dtype=np.int64),
        "objects": np.stack([e.layout.objects for e in rows]).astype(np.int64),
        "patterns": np.stack([e.layout.patterns for e in rows]).astype(np.int64),
        "seen": np.stack([e.seen for e in rows]),
        "shown": np.array([e.shown for e in rows], dtype=bool),
        "home": np.array([e.layout.home for e in rows], dtype=np.int64),
        "interior": np.array([e.layout.n for e in rows], dtype=np.int64),
    }


NAV_ACTIONS = ("left", "right", "forward")


class RoomRecallOptions(EnvOptions):
    """Options of ``minigrid-room-recall``."""

    family: Literal["mixed", "Q1", "Q2", "Q3", "Q4", "QR", "navigate"] = "mixed"
    """Query family; ``mixed`` draws one of Q1-Q4, QR per episode (the task is announced at reset)."""
    queries: int = Field(default=4, ge=1, le=32)
    """Questions asked after the exploration (navigate: one target)."""
    steps: int = Field(default=96, ge=QR_MAX + 1, le=1024)
    """Exploration length T (spec §9: 96)."""
    skew: float = Field(default=0.5, ge=0.0, le=1.0)
    """Probability of a skewed-dwell (home room) episode (spec §9: 0.5)."""


class RoomRecallEnv:
    """The RoomRecall task behind the lab's string-action env protocol (see the module docstring)."""

    kind = "grid"

    def __init__(
        self, env_id: str = ENV_ID, options: RoomRecallOptions | None = None, render_mode: str | None = None
    ) -> None:
        self.env_id, self.options, self.render_mode = env_id, options or RoomRecallOptions(), render_mode
        self.episode: Episode | None = None
        self.last: Observation | None = None

    def reset(self, seed: int | None = None) -> Observation:
        """A new world and exploration; the same seed gives the same episode and queries."""
        opts, rng = self.options, np.random.default_rng(seed)
        self.family = str(rng.choice(FAMILIES)) if opts.family == "mixed" else opts.family
        dynamic = self.family == "Q4"
        state, done = explore(rng, dynamic, opts.steps, opts.skew)
        pool = candidates(
            "Q2" if self.family == "navigate" else self.family,
            done.layout.objects,
            done.layout.patterns,
            done.seen,
            np.asarray(done.places),
            np.asarray(done.shown),
        )
        if self.family == "navigate":  # a target in another room than the one the exploration ends in
            pool = [q for q in pool if q.answer != done.places[-1]] or pool
        count = 1 if self.family == "navigate" else opts.queries
        self.queries = [pool[i] for i in rng.choice(len(pool), count, replace=count > len(pool))]
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        self.episode = Episode(replay, dynamic, opts.steps, opts.skew, render_mode=self.render_mode)
        self.phase, self.score, self.k, self.used, self.budget = "explore", 0.0, 0, 0, 0
        verb = (
            "go to an object you will be named"
            if self.family == "navigate"
            else f"answer {count} {self.family} questions"
        )
        self.objective = f"Watch the exploration of the 3x3 rooms, then {verb} (task {self.family})."
        return self.observe(f"Exploring, step 1/{opts.steps}.")

    def step(self, action: str) -> Observation:
        """``continue`` while exploring, then an answer token (or a MiniGrid move when navigating)."""
        if self.last is None or self.episode is None:
            raise RuntimeError("RoomRecallEnv.step called before reset()")
        if self.last.done:
            return self.unchanged("the episode is over; reset to play again")
        valid = self.last.admissible
        if action not in valid:
            return self.unchanged(f"unknown action {action!r}; valid: {', '.join(valid[:6])}...")
        if self.phase == "explore":
            if self.episode.t < self.options.steps - 1:
                self.episode.advance()
                return self.observe(f"Exploring, step {self.episode.t + 1}/{self.options.steps}.")
            self.phase = "navigate" if self.family == "navigate" else "query"
            self.budget = 2 * len(self.route()) if self.phase == "navigate" else 0
            return self.observe("The exploration is over.")
        if self.phase == "query":
            return self.answer(action)
        return self.navigate(action)

    def answer(self, action: str) -> Observation:
        """Grade one answer and ask the next question (or end)."""
        query, names = self.queries[self.k], answers(self.family)
        right = names.index(action) == query.answer
        self.score, self.k = self.score + right, self.k + 1
        done = self.k == len(self.queries)
        return self.observe(
            "Correct." if right else f"Wrong: it was {names[query.answer]}.",
            float(right),
            done,
            done and self.score == len(self.queries),
        )

    def target_cell(self) -> tuple[int, int]:
        """Grid cell of the navigation target."""
        assert self.episode is not None
        return self.episode.grid.object_at[int(self.queries[0].answer)]

    def route(self) -> list[int]:
        """Shortest left/right/forward sequence that puts the target in front of the agent."""
        g, goal = self.episode.grid, self.target_cell()  # type: ignore[union-attr]

        def nexts(s: tuple) -> list[tuple[int, tuple]]:
            x, y, d = s
            ahead = (x + VEC[d][0], y + VEC[d][1])
            out = [(0, (x, y, (d - 1) % 4)), (1, (x, y, (d + 1) % 4))]
            return out + [(2, (*ahead, d))] if g.free(*ahead) else out

        return bfs(
            (*g.agent_pos, g.agent_dir), lambda s: (s[0] + VEC[s[2]][0], s[1] + VEC[s[2]][1]) == goal, nexts
        )

    def navigate(self, action: str) -> Observation:
        """One MiniGrid move; won when the target is in front, lost past twice the shortest route."""
        g = self.episode.grid  # type: ignore[union-attr]
        g.step(NAV_ACTIONS.index(action))
        self.used += 1
        won = tuple(g.front_pos) == self.target_cell()
        done = won or self.used >= self.budget
        return self.observe("You reached it." if won else "", float(won), done, won)

    def observe(
        self, feedback: str, reward: float = 0.0, done: bool = False, won: bool = False
    ) -> Observation:
        """The observation of the current phase."""
        ep, opts = self.episode, self.options
        g, place = ep.grid, ep.explorer.place  # type: ignore[union-attr]
        if self.phase == "navigate":
            place = g.place_of(place)
        image = ep.images[-1] if self.phase == "explore" else g.gen_obs()["image"]  # type: ignore[union-attr]
        extra = {
            "phase": self.phase,
            "family": self.family,
            "t": ep.t,
            "steps": opts.steps,
            "place": place,  # type: ignore
            "agent_pos": [int(v) for v in g.agent_pos],
            "interior": g.layout.n,
        }
        view = render_text(image, g.agent_dir, "").removeprefix("Mission: . ")
        admissible, text = ["continue"], f"{feedback} In room {place}. {view}"
        if self.phase == "query" and not done:
            query = self.queries[self.k]
            extra["query"] = {"family": query.family, **query.args}
            admissible, text = list(answers(self.family)), f"{feedback} Question {self.k + 1}: {query.text()}"
        elif self.phase == "navigate":
            name = OBJECT_CLASSES[self.queries[0].args["object"]]
            extra.update(target=self.queries[0].args["object"], steps_left=self.budget - self.used)
            admissible, text = list(NAV_ACTIONS), f"Go to the {name}. {text}"
        privileged = (
            {}
            if self.phase == "explore"
            else {
                "facts": [f"room {r} holds the {OBJECT_CLASSES[o]}" for r, o in enumerate(g.layout.objects)],
                "answers": [q.answer for q in self.queries],
            }
        )
        self.last = Observation(
            text=text.strip(),
            feedback=feedback,
            admissible=admissible,
            reward=reward,
            score=self.score if self.phase != "navigate" else float(won),
            max_score=float(len(self.queries)),
            done=done,
            won=won,
            lost=done and not won,
            objective=self.objective,
            room=f"room {place}",
            image=image,
            direction=int(g.agent_dir),
            extra=extra,
            privileged=privileged,
        )
        return self.last

    def unchanged(self, feedback: str) -> Observation:
        """The last observation again, with ``feedback`` and no reward."""
        assert self.last is not None
        return replace(self.last, feedback=feedback, reward=0.0, text=f"{feedback} {self.last.text}")

    def render(self) -> np.ndarray:
        """The full-grid RGB frame (needs ``render_mode="rgb_array"``)."""
        return self.episode.grid.render()  # type: ignore[union-attr]

    def close(self) -> None:
        """Nothing to free."""


SPECS: list[EnvSpec] = [
    EnvSpec(
        id=ENV_ID,
        kind="grid",
        options=RoomRecallOptions,
        factory=RoomRecallEnv,  # type: ignore[arg-type]
        description="SAT RoomRecall: watch a scripted walk through 3x3 MiniGrid rooms, then answer queries",
    )
]
