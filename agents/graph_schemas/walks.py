"""Symbol rooms and random walks for the correctness cases (pure numpy; seeds passed in).

A room is a 2-D integer array of observation symbols; a negative entry is a wall. Actions are 0 left,
1 right, 2 up, 3 down (CSCGnc ``datagen_structured_obs_room``); ``a[t]`` is taken at t and leads to
``x[t+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOVES = np.array([(0, -1), (0, 1), (-1, 0), (1, 0)])
"""(row, column) offset of left, right, up, down."""


@dataclass
class Walk:
    """Observations, actions and true positions of a walk."""

    x: np.ndarray
    """(n,) observation symbols."""
    a: np.ndarray
    """(n,) actions; ``a[-1]`` is never followed by an observation."""
    pos: np.ndarray
    """(n, 2) true (row, column) of every step."""


def room_walk(room: np.ndarray, length: int, rng: np.random.Generator, *, bump: bool = True) -> Walk:
    """A uniform random walk in ``room``.

    ``bump=True``: a move into the edge leaves the agent in place (CSCGnc default);
    ``bump=False``: such moves are never drawn (the stitched-rooms notebook's ``no_left`` ...).
    """
    height, width = room.shape
    r, c = int(rng.integers(height)), int(rng.integers(width))
    while room[r, c] < 0:  # a wall: draw again (rooms without walls keep the draws they always had)
        r, c = int(rng.integers(height)), int(rng.integers(width))
    x, a, pos = (np.zeros(length, np.int64), np.zeros(length, np.int64), np.zeros((length, 2), np.int64))
    for t in range(length):
        x[t], pos[t] = room[r, c], (r, c)
        allowed = [m for m in range(4) if bump or _open(room, r + MOVES[m, 0], c + MOVES[m, 1])]
        move = allowed[int(rng.integers(len(allowed)))]
        a[t] = move
        r, c = step(room, (r, c), move)
    return Walk(x=x, a=a, pos=pos)


def step(room: np.ndarray, cell: tuple[int, int], move: int) -> tuple[int, int]:
    """Where ``move`` from ``cell`` leads: the next cell, or ``cell`` itself at an edge or a wall."""
    nr, nc = cell[0] + MOVES[move, 0], cell[1] + MOVES[move, 1]
    return (int(nr), int(nc)) if _open(room, nr, nc) else cell


def _open(room: np.ndarray, r: int, c: int) -> bool:
    return 0 <= r < room.shape[0] and 0 <= c < room.shape[1] and room[r, c] >= 0


def joined_rooms(left: np.ndarray, right: np.ndarray, door_row: int, door_symbol: int) -> np.ndarray:
    """Two rooms side by side, a wall between them with one door (a cell showing ``door_symbol``) at
    ``door_row``: the environment a composition of the two rooms' schemas models."""
    assert left.shape[0] == right.shape[0] and 0 <= door_row < left.shape[0]
    wall = np.full((left.shape[0], 1), -1, dtype=np.int64)
    wall[door_row, 0] = door_symbol
    return np.concatenate([left, wall, right], axis=1)


def unique_maze(side: int, rng: np.random.Generator) -> np.ndarray:
    """A ``side x side`` room whose cells carry distinct symbols (intro notebook, "5x5 mazes")."""
    return rng.permutation(side * side).reshape(side, side)


def stitched_rooms(
    rng: np.random.Generator, shape: tuple[int, int] = (8, 6), symbols: int = 15, overlap: int = 3
) -> tuple[np.ndarray, np.ndarray, int]:
    """Two random rooms whose ``overlap x overlap`` corners coincide (room 2's top-left equals
    room 1's bottom-right), as in the intro notebook's "two rooms stitched together".

    Returns both rooms and the number of distinct places: ``2 * cells - overlap**2``.
    """
    room1 = rng.integers(symbols, size=shape)
    room2 = rng.integers(symbols, size=shape)
    room2[:overlap, :overlap] = room1[-overlap:, -overlap:]
    return room1, room2, 2 * shape[0] * shape[1] - overlap * overlap


def stitch(first: Walk, second: Walk) -> tuple[np.ndarray, np.ndarray]:
    """One sequence from two walks, each preceded by a separator symbol 0 with separator action 4
    (1 clone), so the model must link the rooms through their shared cells."""
    x = np.concatenate([[0], first.x + 1, [0], second.x + 1])
    a = np.concatenate([[4], first.a[:-1], [4], [4], second.a])
    return x.astype(np.int64), a.astype(np.int64)
