"""A compact text rendering of MiniGrid's egocentric view, for LLM agents.

MiniGrid's observation ``image`` is a ``view x view x 3`` array indexed ``[x, y]`` whose cells
hold ``(object type, color, state)``; the view is rotated so that the agent stands at
``(view // 2, view - 1)`` facing "up" (towards ``y = 0``), and the agent's own cell holds the
object it carries. This module turns that array, the compass direction and the mission into a
few deterministic sentences::

    Mission: get to the green goal square. Facing: east. Carrying: nothing. In front: wall.
    Visible: closed red door (1 ahead, 1 left); green goal (2 ahead, 1 right).

Walls are mentioned only when directly in front; every other visible non-empty cell is listed
with its offset from the agent (steps ahead, steps left or right), nearest first.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT, STATE_TO_IDX

DIRECTION_NAMES = ("east", "south", "west", "north")
"""Compass names of MiniGrid's ``direction`` values 0..3."""

_IDX_TO_STATE = {idx: name for name, idx in STATE_TO_IDX.items()}
_UNSEEN, _EMPTY, _WALL = 0, 1, 2
_COLORED = {"door", "key", "ball", "box", "floor", "goal"}


def object_phrase(cell: np.ndarray | tuple[int, int, int]) -> str:
    """Name one encoded cell ``(type, color, state)``: ``closed red door``, ``blue key``, ``lava``."""
    kind, color, state = (int(v) for v in cell)
    return _phrase(kind, color, state)


@cache
def _phrase(kind_idx: int, color_idx: int, state_idx: int) -> str:
    """The (memoised) phrase of one ``(type, color, state)`` triple."""
    kind = IDX_TO_OBJECT.get(kind_idx, "unknown object")
    color = IDX_TO_COLOR.get(color_idx, "")
    if kind == "door":
        return f"{_IDX_TO_STATE.get(state_idx, '')} {color} door".strip()
    if kind in _COLORED:
        return f"{color} {kind}".strip()
    if kind == "empty":
        return "empty floor"
    return kind


def offset_phrase(ahead: int, side: int) -> str:
    """Say where a cell lies: ``2 ahead, 1 left``; ``side`` is negative to the left."""
    parts = [f"{ahead} ahead"] if ahead else []
    if side:
        parts.append(f"{abs(side)} {'left' if side < 0 else 'right'}")
    return ", ".join(parts)


def carried_object(image: np.ndarray) -> str | None:
    """What the agent carries, read from its own cell of the view; ``None`` when nothing."""
    kind, color, state = image[image.shape[0] // 2, image.shape[1] - 1].tolist()
    return None if kind <= _EMPTY else _phrase(kind, color, state)


def visible_objects(image: np.ndarray) -> list[tuple[int, int, str]]:
    """``(ahead, side, phrase)`` of each visible non-empty, non-wall cell, nearest first.

    The agent's own cell (its carried object) and the cell directly in front are left out.
    """
    width, height = image.shape[0], image.shape[1]
    agent_x, agent_y = width // 2, height - 1
    xs, ys = np.nonzero(image[:, :, 0] > _WALL)
    found = []
    for x, y, cell in zip(xs.tolist(), ys.tolist(), image[xs, ys].tolist()):
        ahead, side = agent_y - y, x - agent_x
        if side == 0 and ahead <= 1:
            continue
        found.append((ahead, side, _phrase(*cell)))
    found.sort(key=lambda item: (item[0] + abs(item[1]), item[0], item[1]))
    return found


def front_phrase(image: np.ndarray) -> str:
    """What is in the cell directly in front of the agent (walls included)."""
    kind, color, state = image[image.shape[0] // 2, image.shape[1] - 2].tolist()
    return "unseen" if kind == _UNSEEN else _phrase(kind, color, state)


def render_text(image: np.ndarray, direction: int, mission: str) -> str:
    """The agent's view as text: mission, facing, carried object, front cell, visible objects."""
    carrying = carried_object(image) or "nothing"
    objects = visible_objects(image)
    seen = "; ".join(f"{phrase} ({offset_phrase(ahead, side)})" for ahead, side, phrase in objects)
    return (
        f"Mission: {mission.rstrip('.')}. Facing: {DIRECTION_NAMES[direction % 4]}. "
        f"Carrying: {carrying}. In front: {front_phrase(image)}. Visible: {seen or 'nothing'}."
    )
