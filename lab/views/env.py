"""The environment at a step: the MiniGrid frame re-rendered from seed + actions, and the TextWorld
map of rooms visited so far.

Frames are never stored. :func:`minigrid_frame` replays a trial's actions on a fresh env (as
:func:`envs.minigrid_env.render_frame` does) and keeps deep copies of the env every
``CHECKPOINT_EVERY`` actions, so moving to a nearby step of a long trial replays at most that
many actions instead of the whole prefix. The pages draw 20-pixel tiles: MiniGrid renders a tile it
has not cached yet pixel by pixel, and a 32-pixel tile costs 2.5 times as much.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import plotly.graph_objects as go

from envs.minigrid_env import ACTION_NAMES, SPEC, gym_id, make_gym
from envs.registry import get_spec, parse_options
from lab.core.errors import LabError
from lab.core.records import Step
from lab.views.graph import esc
from lab.views.layout import force_layout

CHECKPOINT_EVERY = 50
TILE = 32
"""MiniGrid's default tile size in pixels (its ``render()`` uses it); the pages may ask for smaller tiles."""
MAX_REPLAYS = 8
"""Trials whose checkpoints are kept (least recently used ones are dropped)."""
_replays: OrderedDict[tuple, dict[int, tuple[gym.Env, bool]]] = OrderedDict()
_lock = threading.Lock()


def _fresh(env_id: str, options: dict[str, Any], seed: int) -> gym.Env:
    """The gymnasium env of ``env_id`` reset with ``seed`` (BabyAI's level-sampling prints silenced)."""
    env = make_gym(gym_id(env_id), parse_options(SPEC, options))
    with contextlib.redirect_stdout(io.StringIO()):
        env.reset(seed=seed)
    return env


def _checkpoints(key: tuple) -> dict[int, tuple[gym.Env, bool]]:
    with _lock:
        found = _replays.pop(key, None)
        found = {} if found is None else found
        _replays[key] = found
        while len(_replays) > MAX_REPLAYS:
            _replays.popitem(last=False)
        return found


def minigrid_frame(env_id: str, options: dict[str, Any], seed: int, actions: list[str],
                   trial_key: str = "", tile_size: int = TILE) -> np.ndarray:
    """The RGB frame after ``actions`` from a reset with ``seed``; shape (H, W, 3).

    The same frame as :func:`envs.minigrid_env.render_frame` at the default ``tile_size``. ``trial_key``
    names the trial (run id and trial) whose actions these are a prefix of: with it, checkpoints are
    reused across calls. Unknown action names, and actions after the episode ended, are no-ops, as in
    :class:`envs.minigrid_env.MiniGridEnv`.
    """
    key = (trial_key or json.dumps(actions), env_id, json.dumps(options, sort_keys=True), seed)
    saved = _checkpoints(key)
    start = max((k for k in list(saved) if k <= len(actions)), default=0)
    env, over = copy.deepcopy(saved[start]) if start else (_fresh(env_id, options, seed), False)
    for done, action in enumerate(actions[start:], start=start + 1):
        if action in ACTION_NAMES and not over:
            _, _, terminated, truncated, _ = env.step(ACTION_NAMES.index(action))
            over = terminated or truncated
        if done % CHECKPOINT_EVERY == 0 and done not in saved and trial_key:
            saved[done] = copy.deepcopy((env, over))
    try:
        return env.unwrapped.get_frame(highlight=env.unwrapped.highlight, tile_size=tile_size)
    finally:
        env.close()  # a copy or a fresh env: the saved checkpoints stay untouched


def grid_env_frame(env_id: str, options: dict[str, Any], seed: int, actions: list[str], trial_key: str = "",
                   tile_size: int = TILE) -> np.ndarray:
    """The RGB frame after ``actions`` of any grid env: MiniGrid ids through :func:`minigrid_frame` (its
    checkpoints), the lab's own grid envs through their spec's ``frames`` replay, kept per trial: a step at
    or before the last one replayed reuses it, a later one replays the trial again (these envs step in
    microseconds). Raises :class:`LabError` for an env without frames."""
    if env_id.startswith(SPEC.id):
        return minigrid_frame(env_id, options, seed, actions, trial_key=trial_key, tile_size=tile_size)
    spec = get_spec(env_id)
    if spec.frames is None:
        raise LabError(f"env {env_id} has no frames to show")
    key = (trial_key, env_id, json.dumps(options, sort_keys=True), seed)
    with _lock:
        done, frames = _replayed.get(key, ((), []))
    if not trial_key or tuple(actions) != done[:len(actions)]:
        frames, done = spec.frames(env_id, options, seed, list(actions)), tuple(actions)
        with _lock:
            _replayed[key] = (done, frames)
            while len(_replayed) > MAX_REPLAYS:
                _replayed.popitem(last=False)
    return frames[len(actions)]


_replayed: OrderedDict[tuple, tuple[tuple[str, ...], list[np.ndarray]]] = OrderedDict()
"""Per trial: the actions replayed and the frame after each (lab grid envs; least recently added out)."""


def env_actions(steps_actions: list[str], macro_steps: dict[int, list[str]]) -> list[str]:
    """Flatten a trial's actions: a step whose action is not a MiniGrid action plays its ``env_actions``."""
    out: list[str] = []
    for position, action in enumerate(steps_actions):
        out.extend(macro_steps.get(position, [action]))
    return out


def is_macro(action: str) -> bool:
    """Whether a grid action is an agent macro (played as several env actions)."""
    return action not in ACTION_NAMES


@dataclass
class Move:
    """One step of a text trial: the room it started in, the action, the room it ended in."""

    index: int
    room: str | None
    action: str
    next_room: str | None


def room_moves(steps: list[Step]) -> list[Move]:
    """Room transitions of consecutive steps of one trial (the next room is the next step's room)."""
    moves = []
    for i, step in enumerate(steps):
        nxt = steps[i + 1].observation.room if i + 1 < len(steps) else None
        moves.append(Move(index=step.index, room=step.observation.room, action=step.action, next_room=nxt))
    return moves


def rooms_figure(moves: list[Move], upto: int, height: int = 240) -> go.Figure | None:
    """Map of the rooms visited up to step ``upto`` (current room highlighted); None without room names.

    Positions come from every room of the trial, so the map grows without rooms moving.
    """
    rooms = list(dict.fromkeys(r for m in moves for r in (m.room, m.next_room) if r))
    if not rooms:
        return None
    links = {(m.room, m.next_room): m.action for m in moves
             if m.room and m.next_room and m.room != m.next_room}
    pos = force_layout(rooms, list(links), seed=0)
    seen_moves = [m for m in moves if m.index <= upto]
    reached = [(m.room, m.next_room if m.index < upto else None) for m in seen_moves]
    visited = list(dict.fromkeys(r for pair in reached for r in pair if r))
    current = seen_moves[-1].room if seen_moves else None
    fig = go.Figure()
    for (a, b), action in links.items():
        if a in visited and b in visited:
            fig.add_annotation(x=pos[b][0], y=pos[b][1], ax=pos[a][0], ay=pos[a][1], xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.2,
                               arrowcolor="#999999", standoff=14, startstandoff=14, text="")
            fig.add_trace(go.Scatter(x=[(pos[a][0] + pos[b][0]) / 2], y=[(pos[a][1] + pos[b][1]) / 2],
                                     mode="text", text=[esc(action, 30)], textfont=dict(size=9, color="#666"),
                                     hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=[pos[r][0] for r in visited], y=[pos[r][1] for r in visited], mode="markers+text",
        text=[esc(r, 30) for r in visited], textposition="bottom center", hoverinfo="text", showlegend=False,
        marker=dict(size=[22 if r == current else 14 for r in visited],
                    color=["#F58518" if r == current else "#4C78A8" for r in visited])))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(visible=False),
                      yaxis=dict(visible=False, scaleanchor="x"))
    return fig
