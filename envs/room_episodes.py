"""RoomRecall's explored episodes (SAT reference §9): the scripted explorer, an episode's trace of
what was seen, the queries and their candidate answers, and :func:`generate` (training sets as numpy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX

from envs.room_world import (
    COLOR_NAMES,
    COMPASS,
    N_ROOMS,
    OBJECT_CLASSES,
    OBJECT_TYPES,
    QR_MAX,
    SIDE,
    VEC,
    RoomGrid,
    bfs,
    make_layout,
    neighbour,
)


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


