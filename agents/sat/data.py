"""Training data for SAT: cached RoomRecall episodes, and batches of (memory layout, queries, targets).

Episodes come from :func:`envs.room_recall.generate` (numpy, cached as ``.npz`` in the data dir); the
views are projected to room frames at load. A batch draws, per episode, a task family (Q4 means a
dynamic-world episode) and a write strategy (fixed, or the AMA bandit's for the task), applies the
strategy at capacity L, lays the kept slots out (flat, time or place chunks) and draws queries. In
training a static episode is asked every static family, so one memory encoding serves several queries
(spec §9 samples 9 per episode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.sat.features import FAMILY_INDEX, OFFSETS, query_args, room_frames
from agents.sat.memory import keep_indices, layout
from envs.room_recall import FAMILIES, candidates, generate
from lab.core.settings import cache_dir

DATA_VERSION = 3
"""Bump when the generator changes (cached files are keyed by it; features are recomputed at load)."""


def dataset(
    count: int, seed: int, dynamic: bool, steps: int = 96, skew: float = 0.5, progress: bool = True
) -> dict[str, np.ndarray]:
    """``count`` episodes: the generator's arrays (cached on disk) plus room ``frames`` and ``vis``."""
    world = "dynamic" if dynamic else "static"
    path = cache_dir("sat") / f"data-v{DATA_VERSION}-{world}-n{count}-s{seed}-T{steps}-skew{skew:g}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            raw = dict(stored)
    else:
        with tqdm(total=count, desc=f"generating {world} episodes", disable=not progress, leave=False) as bar:
            raw = generate(count, seed, dynamic, steps, skew, progress=bar.update)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **raw)
        tmp.replace(path)
    frames = room_frames(raw["images"], raw["dirs"], raw["pos"], raw["places"], raw["interior"][:, None])
    keep = ("places", "objects", "patterns", "seen", "home")
    return {"frames": frames, "vis": raw["shown"], **{k: raw[k] for k in keep}}


@dataclass
class Batch:
    """One batch; N chunks of c slots, Q queries per episode."""

    frames: torch.Tensor
    """(B, N, c, F, F, 3) uint8 room frames of the kept slots."""
    places: torch.Tensor
    """(B, N, c) room per slot."""
    times: torch.Tensor
    """(B, N, c) step per slot (-1 on padding)."""
    mask: torch.Tensor
    """(B, N, c) real slot (not padding)."""
    family: torch.Tensor
    """(B, Q) query family index."""
    args: torch.Tensor
    """(B, Q, 4) query arguments (room, object, direction, absolute step; -1 = absent)."""
    target: torch.Tensor
    """(B, Q) answer index in the 68 outputs."""

    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The model's positional inputs."""
        return self.frames, self.places, self.times, self.mask, self.family, self.args


class Episodes:
    """The static and dynamic (Q4) episode sets, and batch construction from them."""

    def __init__(
        self, static: dict[str, np.ndarray], dynamic: dict[str, np.ndarray], ties: str = "oldest"
    ) -> None:
        self.worlds = {False: static, True: dynamic}
        self.steps = static["places"].shape[1]
        self.ties = ties
        """Eviction tie rule of MVFO / LVFO / PM (``memory.TIES``)."""

    def draw(
        self, rng: np.random.Generator, size: int, families: tuple[str, ...] = FAMILIES
    ) -> list[tuple[str, int]]:
        """``size`` (task family, episode index) pairs; Q4 indexes the dynamic set."""
        fams = rng.choice(families, size)
        return [(str(f), int(rng.integers(len(self.worlds[f == "Q4"]["places"])))) for f in fams]

    def build(
        self,
        items: list[tuple[str, int]],
        strategies: list[str],
        capacity: int,
        kind: str,
        chunk: int,
        plans: list[list[str]],
        rng: np.random.Generator,
    ) -> Batch:
        """Apply each item's strategy at ``capacity``, lay out the kept slots, and draw one query per entry of
        the item's plan (a list of families, the same length for every item)."""
        lays, qargs, targets, fams = [], [], [], []
        for (task, i), strategy, plan in zip(items, strategies, plans):
            w = self.worlds[task == "Q4"]
            kept = keep_indices(w["places"][i], capacity, strategy, ties=self.ties)
            lays.append(layout(kind, kept, w["places"][i][kept], chunk))
            for family in plan:
                pool = candidates(
                    family, w["objects"][i], w["patterns"][i], w["seen"][i], w["places"][i], w["vis"][i]
                )
                pick = pool[int(rng.integers(len(pool)))]
                qargs.append(query_args(pick.args, self.steps))
                targets.append(OFFSETS[FAMILY_INDEX[family]] + pick.answer)
                fams.append(FAMILY_INDEX[family])
        n = max(len(lay) for lay in lays)
        idx = np.full((len(items), n, chunk), -1, dtype=np.int64)
        for b, lay in enumerate(lays):
            idx[b, : len(lay)] = lay
        frames = np.stack(
            [self.worlds[f == "Q4"]["frames"][i][idx[b].clip(0)] for b, (f, i) in enumerate(items)]
        )
        places = np.stack(
            [self.worlds[f == "Q4"]["places"][i][idx[b].clip(0)] for b, (f, i) in enumerate(items)]
        )
        shape = (len(items), len(plans[0]))
        return Batch(
            torch.from_numpy(frames),
            torch.from_numpy(places),
            torch.from_numpy(idx),
            torch.from_numpy(idx >= 0),
            torch.as_tensor(np.array(fams).reshape(shape)),
            torch.as_tensor(np.array(qargs).reshape(shape + (4,))),
            torch.as_tensor(np.array(targets).reshape(shape)),
        )

    def oracle(self, family: str, capacity: int, strategy: str, limit: int = 200) -> float:
        """Share of Q1 (room content) or QR (recent room) queries whose evidence the kept slots hold."""
        w = self.worlds[family == "Q4"]
        hits = []
        for i in range(min(limit, len(w["places"]))):
            kept = keep_indices(w["places"][i], capacity, strategy, ties=self.ties)
            if family == "QR":
                hits += [self.steps - k in set(kept.tolist()) for k in range(1, 17)]
            else:
                shown = set(w["places"][i][kept][w["vis"][i][kept]].tolist())
                hits += [r in shown for r in np.flatnonzero(w["seen"][i])]
        return float(np.mean(hits))
