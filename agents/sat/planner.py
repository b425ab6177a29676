"""Navigate-back (spec §9): predict the room with the SAT head, plan over the room graph, reach the object.

:class:`GridMap` keeps what exploration showed of the grid's *passability* (free or blocked cells, no
object identities) and the room adjacencies crossed. :class:`Navigator` walks the rooms ranked by the
model's Q2 answer: a breadth-first plan over (x, y, heading) states through the room path, then a local
controller that faces the target once it is in view; a room where a look around does not show the
target is crossed off and the next-ranked room is tried.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from envs.room_recall import SIDE, VEC, bfs, visible_classes

FREE_CODES = (1, 3)
"""MiniGrid ``empty`` and ``floor``: cells the agent may enter (doorways are empty cells)."""
TURN_LEFT, TURN_RIGHT, FORWARD = 0, 1, 2
ACTION_NAMES = ("left", "right", "forward")


def view_cells(
    image: np.ndarray, direction: int, pos: tuple[int, int]
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """(world cell, code) of every seen cell of an egocentric view (inverse of ``get_view_coords``)."""
    view = image.shape[0]
    fwd = np.asarray(VEC[direction])
    right = np.array([-fwd[1], fwd[0]])
    top = np.asarray(pos) + (view - 1) * fwd - (view // 2) * right
    out = []
    for i in range(view):
        for j in range(view):
            if image[i, j, 0] > 0:
                x, y = top + i * right - j * fwd
                out.append(((int(x), int(y)), image[i, j]))
    return out


def room_at(cell: tuple[int, int], n: int) -> int:
    """Room of an interior cell, -1 on a wall line (walls and doorways)."""
    x, y = cell
    if x % (n + 1) == 0 or y % (n + 1) == 0:
        return -1
    return y // (n + 1) * SIDE + x // (n + 1)


class GridMap:
    """Free/blocked cells seen so far and the room adjacencies crossed."""

    def __init__(self) -> None:
        self.free: dict[tuple[int, int], bool] = {}
        self.edges: set[tuple[int, int]] = set()
        self.last_place: int | None = None

    def observe(self, image: np.ndarray, direction: int, pos: tuple[int, int], place: int) -> None:
        """Record one view and, on a change of room, the adjacency."""
        for cell, code in view_cells(image, direction, pos):
            self.free[cell] = int(code[0]) in FREE_CODES
        self.free[tuple(pos)] = True
        if self.last_place is not None and self.last_place != place:
            self.edges.add((min(self.last_place, place), max(self.last_place, place)))
        self.last_place = place

    def room_path(self, start: int, goal: int) -> list[int]:
        """Rooms from ``start`` to ``goal`` over crossed adjacencies ([] when unknown)."""
        nbrs: dict[int, list[int]] = {}
        for a, b in self.edges:
            nbrs.setdefault(a, []).append(b)
            nbrs.setdefault(b, []).append(a)
        prev: dict[int, int | None] = {start: None}
        todo = deque([start])
        while todo:
            room = todo.popleft()
            if room == goal:
                path = [room]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for other in nbrs.get(room, []):
                if other not in prev:
                    prev[other] = room
                    todo.append(other)
        return []

    def plan(self, state: tuple[int, int, int], goal, rooms: set[int] | None, n: int) -> list[int]:
        """left/right/forward actions from ``state`` to a state where ``goal(state)``; cells are limited
        to ``rooms`` (and the doorways between them) when given."""

        def nexts(s: tuple) -> list[tuple[int, tuple]]:
            x, y, d = s
            ahead = (x + VEC[d][0], y + VEC[d][1])
            out = [(TURN_LEFT, (x, y, (d - 1) % 4)), (TURN_RIGHT, (x, y, (d + 1) % 4))]
            ok = self.free.get(ahead, False) and (rooms is None or room_at(ahead, n) in rooms | {-1})
            return out + [(FORWARD, (*ahead, d))] if ok else out

        return bfs(state, goal, nexts)


class Navigator:
    """Go to the target object: rooms in the model's order, room-graph route, face the object in view."""

    def __init__(self, gmap: GridMap, ranking: list[int], target: int, n: int) -> None:
        self.map, self.ranking, self.target, self.n = gmap, list(ranking), target, n
        self.turns = 0

    def locate(self, image: np.ndarray, direction: int, pos: tuple[int, int]) -> tuple[int, int] | None:
        """World cell of the target if it is in view."""
        for cell, code in view_cells(image, direction, pos):
            if (visible_classes(code[None]) == self.target).any():
                return cell
        return None

    def next(self, image: np.ndarray, direction: int, pos: tuple[int, int], place: int) -> tuple[str, dict]:
        """The next move and why."""
        self.map.observe(image, direction, pos, place)
        state = (int(pos[0]), int(pos[1]), int(direction))
        cell = self.locate(image, direction, pos)
        if cell is not None:
            moves = self.map.plan(
                state, lambda s: (s[0] + VEC[s[2]][0], s[1] + VEC[s[2]][1]) == cell, None, self.n
            )
            return ACTION_NAMES[moves[0] if moves else FORWARD], {
                "plan": "face the target in view",
                "target_cell": cell,
            }
        while self.ranking:
            goal = self.ranking[0]
            if room_at(state[:2], self.n) == goal:
                if self.turns < 3:  # look around once
                    self.turns += 1
                    return "left", {"plan": f"look for the target in room {goal}"}
                self.ranking.pop(0)
                self.turns = 0
                continue
            path = self.map.room_path(place, goal)
            rooms = set(path) if path else None
            moves = self.map.plan(state, lambda s, g=goal: room_at(s[:2], self.n) == g, rooms, self.n)
            if moves:
                return ACTION_NAMES[moves[0]], {"plan": f"go to room {goal}", "room_path": path}
            self.ranking.pop(0)  # unreachable on the known map
        return "left", {"plan": "no room left to search"}
