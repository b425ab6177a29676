"""RoomRecall's world (SAT reference §9): the 3x3 rooms and their objects, the MiniGrid grid that
draws them, and shortest paths. :mod:`envs.room_episodes` explores it; :mod:`envs.room_recall` is the env."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Box, Key
from minigrid.minigrid_env import MiniGridEnv

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


