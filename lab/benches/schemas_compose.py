"""Composition section of ``memlab bench schemas``: two rooms' schemas composed for the joined rooms, against
a CSCG learned from scratch on the same joint walk.

The environment: two 5x5 rooms of 4 aliased colours side by side, a wall between them with one door, a
landmark (the goal) in the right room. Schema L is learned on a walk of the left room alone, schema R on
one of the right room alone. Then, for joint walks of several lengths, the composition of L and R
(:func:`agents.graph_schemas.compose.compose`) and a CSCG from scratch with as many clones learn from
the same walk; each is scored on a held-out joint walk (bits per step) and by planning from the left
room to the landmark and walking the plan in the true rooms (replanning when an observation surprises).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.graph_schemas.compose import compose
from agents.graph_schemas.model import CSCG
from agents.graph_schemas.planning import Localiser, plan
from agents.graph_schemas.schema import Schema, clones_for, learn_schema
from agents.graph_schemas.walks import MOVES, joined_rooms, room_walk, step
from lab.core.stats import bootstrap_ci, paired

SYMBOLS = ["red", "green", "blue", "yellow", "door", "landmark"]
ACTIONS = ["left", "right", "up", "down"]
DOOR, LANDMARK = 4, 5


@dataclass
class Rooms:
    """The joined rooms and each room alone."""

    left: np.ndarray
    right: np.ndarray
    joined: np.ndarray
    goal: tuple[int, int]
    """The landmark's cell in the joined grid."""


def make_rooms(seed: int = 0, side: int = 5) -> Rooms:
    """Two rooms of balanced random colours; the landmark in the right room, the door at the middle row."""
    rng = np.random.default_rng(seed)
    rooms = [rng.permutation(np.resize(np.arange(4), side * side)).reshape(side, side) for _ in range(2)]
    rooms[1][int(rng.integers(side)), int(rng.integers(1, side))] = LANDMARK
    joined = joined_rooms(rooms[0], rooms[1], side // 2, DOOR)
    goal = tuple(int(v) for v in np.argwhere(joined == LANDMARK)[0])
    return Rooms(left=rooms[0], right=rooms[1], joined=joined, goal=goal)


def room_schema(name: str, room: np.ndarray, steps: int, seed: int) -> Schema:
    """A schema learned on a uniform walk of one room (clones: twice the places per symbol)."""
    walk = room_walk(room, steps, np.random.default_rng(seed))
    n_clones = clones_for(walk.x, len(SYMBOLS), int((room >= 0).sum()))
    return learn_schema(name, walk.x, walk.a, SYMBOLS, ACTIONS, n_clones, pos=walk.pos)


def model_of(schema: Schema, smoothing: float) -> CSCG | None:
    """A CSCG holding a schema's transitions (smoothed), or None if some symbol has no clone."""
    n_clones = np.bincount(schema.slot_of_clone, minlength=len(schema.slots))
    if n_clones.min() == 0:
        return None
    model = CSCG(n_clones.tolist(), len(schema.actions))
    model.C, model.pseudocount = schema.counts.clone(), smoothing
    model.update_T()
    return model


def columns(schema: Schema, x: np.ndarray) -> np.ndarray:
    """Observation indices of ``SYMBOLS`` as the schema's slot indices."""
    index = {label: i for i, label in enumerate(schema.slots)}
    return np.asarray([index.get(SYMBOLS[int(v)], -1) for v in x], dtype=np.int64)


def bits_per_step(schema: Schema, x: np.ndarray, a: np.ndarray) -> float:
    """Sum-product bits per step of a walk (exact, one chunk); inf when the schema lacks a symbol's clones."""
    model = model_of(schema, 1e-3)
    xs = columns(schema, x)
    if model is None or xs.min() < 0:
        return float("inf")
    return model.bps(xs, a, chunk_len=len(xs))


def shortest(grid: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> int:
    """Moves on the shortest path in the grid (breadth-first)."""
    seen, queue = {start: 0}, deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            return seen[cell]
        for move in range(len(MOVES)):
            nxt = step(grid, cell, move)
            if nxt not in seen:
                seen[nxt] = seen[cell] + 1
                queue.append(nxt)
    raise ValueError("goal unreachable")


def navigate(schema: Schema, rooms: Rooms, seed: int, history: int = 30, budget: int = 60) -> dict[str, object]:
    """Localise on a short walk in the left room, then plan to the landmark and walk the plan, replanning
    on a surprise: won, moves taken, and the shortest number of moves."""
    rng = np.random.default_rng(seed)
    walk = room_walk(rooms.left, history, rng)
    cell = (int(walk.pos[-1][0]), int(walk.pos[-1][1]))
    optimal = shortest(rooms.joined, cell, rooms.goal)
    model = model_of(schema, 1e-3)
    goal_slot = schema.slots.index("landmark") if "landmark" in schema.slots else -1
    out: dict[str, object] = {"won": False, "moves": 0, "optimal": optimal}
    if model is None or goal_slot < 0:
        return out
    E = torch.nn.functional.one_hot(torch.as_tensor(schema.slot_of_clone), len(schema.slots)).to(model.T.dtype)
    cols = columns(schema, walk.x)
    where = Localiser(model.T, E)
    where.start(int(cols[0]))
    for t in range(1, history):
        where.step(int(walk.a[t - 1]), int(cols[t]))
    T_plan = schema.plan_transitions(1e-3)
    targets = torch.as_tensor(schema.slot_of_clone == goal_slot)
    moves = 0
    while moves < budget:
        route = plan(T_plan, where.current(), targets)
        if route is None or not route.actions:
            break
        for action, expected in zip(route.actions, route.states[1:]):
            cell = step(rooms.joined, cell, action)
            moves += 1
            seen = int(columns(schema, [rooms.joined[cell]])[0])
            where.step(action, seen)
            if seen != int(schema.slot_of_clone[expected]) or moves >= budget:
                break  # a surprise: replan from the re-filtered clone
        if cell == rooms.goal:
            break
    out.update(won=cell == rooms.goal, moves=moves)
    return out


def composition(
    lengths: Sequence[int], trials: int, part_steps: int, bar: tqdm, seed: int = 0
) -> tuple[list[list[object]], list[list[object]], dict[str, object]]:
    """The table rows (model, joint steps, held-out bits/step, success [CI], moves / shortest), the paired
    rows, and what the parts were."""
    rooms = make_rooms(seed)
    parts = [room_schema("left-room", rooms.left, part_steps, seed + 1),
             room_schema("right-room", rooms.right, part_steps, seed + 2)]
    bar.update(1)
    held = room_walk(rooms.joined, 5000, np.random.default_rng(seed + 3))
    rows, pairs = [], []
    for n in lengths:
        walk = room_walk(rooms.joined, n, np.random.default_rng(seed + 10 + n))
        composed = compose("left+right", parts, walk.x, walk.a, SYMBOLS, pos=walk.pos)
        n_clones = np.bincount(composed.slot_of_clone, minlength=len(composed.slots))
        order = [composed.slots.index(s) for s in SYMBOLS]
        scratch = learn_schema("scratch", walk.x, walk.a, SYMBOLS, ACTIONS, [int(n_clones[i]) for i in order],
                               pos=walk.pos)
        won = {}
        for label, schema in (("composed schemas", composed), ("CSCG from scratch", scratch)):
            results = [navigate(schema, rooms, 1000 + k) for k in range(trials)]
            won[label] = [float(r["won"]) for r in results]
            ratio = [r["moves"] / r["optimal"] for r in results if r["won"] and r["optimal"]]
            rows.append([label, n, f"{bits_per_step(schema, held.x, held.a):.4f}", int((walk.x == DOOR).sum()),
                         "yes" if LANDMARK in walk.x else "no", bootstrap_ci(won[label]).format(),
                         f"{np.median(ratio):.2f}" if ratio else "-", schema.n_states])
        pairs.append([n, str(paired(won["composed schemas"], won["CSCG from scratch"]))])
        bar.update(1)
    about = {"parts": [{"name": p.name, "clones": p.n_states, "em_iterations": p.info["em_iterations"],
                        "bps_refined": p.info["bps_refined"]} for p in parts],
             "cells": int((rooms.joined >= 0).sum())}
    return rows, pairs, about


COMPOSE_COLUMNS = ["model", "joint walk steps", "held-out bits/step", "steps on the door", "landmark in the joint walk",
                   "success [95% CI]", "moves / shortest (median, won)", "clones"]
