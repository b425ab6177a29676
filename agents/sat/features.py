"""What the SAT network reads: room frames from egocentric views, query tokens, the answer vocabulary.

Room frame: each step's egocentric MiniGrid view is projected, with the agent's position and heading,
into the interior of the room it is in: an (F, F, 3) array of MiniGrid codes, 0 ("unseen") where the
view did not reach. It is the MiniGrid counterpart of Room Ballet's per-room crops (reference
``ballet_environment``): cells seen through a doorway into another room are dropped, so a slot holds
what its place looked like at its time. Walls are dropped too: their doorway pattern would tell which
room it is (corner rooms have two doors, the centre four), a place signal that T-FIFO must not have.
"""

from __future__ import annotations

import numpy as np

from envs.room_recall import FAMILIES, SIDE, VEC, answers

FAMILY_INDEX = {f: i for i, f in enumerate(FAMILIES)}
OFFSETS = np.cumsum([0] + [len(answers(f)) for f in FAMILIES])
"""Start of each family's answers in the concatenated output (Q1 18, Q2 9, Q3 18, Q4 4, QR 19 = 68)."""
N_CLASSES = int(OFFSETS[-1])
ARG_ROOM, ARG_OBJECT, ARG_DIRECTION, ARG_TIME = range(4)
"""Columns of a query's argument vector; -1 marks an absent argument."""


def room_frames(
    images: np.ndarray,
    dirs: np.ndarray,
    pos: np.ndarray,
    places: np.ndarray,
    interior: np.ndarray | int,
    frame: int = 4,
) -> np.ndarray:
    """Project egocentric views into room-interior frames.

    images (..., V, V, 3) uint8, dirs (...), pos (..., 2), places (...), interior () or broadcastable to
    dirs -> (..., frame, frame, 3) uint8. MiniGrid's view cell (i, j) lies at world
    ``top + i * right - j * forward`` with ``top = pos + (V-1) * forward - (V//2) * right``
    (the inverse of ``MiniGridEnv.get_view_coords``).
    """
    view = images.shape[-2]
    vec = np.asarray(VEC)
    fwd = vec[dirs]  # (..., 2)
    right = np.stack([-fwd[..., 1], fwd[..., 0]], -1)
    top = pos + (view - 1) * fwd - (view // 2) * right
    n = np.broadcast_to(np.asarray(interior), dirs.shape)
    origin = np.stack([places % SIDE, places // SIDE], -1) * (n[..., None] + 1) + 1  # first interior cell
    out = np.zeros(dirs.shape + (frame, frame, 3), dtype=np.uint8)
    for i in range(view):
        for j in range(view):
            local = top + i * right - j * fwd - origin  # (..., 2)
            ok = (local >= 0).all(-1) & (local < n[..., None]).all(-1) & (local < frame).all(-1)
            ok &= images[..., i, j, 0] > 0
            idx = np.nonzero(ok)
            out[idx + (local[..., 0][idx], local[..., 1][idx])] = images[..., i, j, :][idx]
    return out


def query_args(query: dict, steps: int) -> np.ndarray:
    """(4,) argument vector of one query dict (``room``/``object``/``direction``/``steps_ago``)."""
    args = np.full(4, -1, dtype=np.int64)
    for key, col in (("room", ARG_ROOM), ("object", ARG_OBJECT), ("direction", ARG_DIRECTION)):
        if key in query:
            args[col] = int(query[key])
    if "steps_ago" in query:
        args[ARG_TIME] = steps - int(query["steps_ago"])  # the absolute step asked about
    return args


def family_mask(families: np.ndarray) -> np.ndarray:
    """(..., N_CLASSES) bool: which outputs belong to each query's family."""
    cols = np.arange(N_CLASSES)
    lo, hi = OFFSETS[families], OFFSETS[families + 1]
    return (cols >= lo[..., None]) & (cols < hi[..., None])
