"""Stable graph layouts: positions computed once per run, so the picture does not jump between steps.

The layout is a force-directed (Fruchterman-Reingold) layout over the union of nodes, usually the
run's latest snapshot. Repulsion is estimated against a random sample of nodes each iteration,
so a 1,000-node graph lays out in well under a second (networkx's ``spring_layout`` takes
several seconds at that size on two cores). Nodes missing from the layout (removed before the
latest snapshot, or new in a live run) are placed next to their laid-out neighbours, or at a
point derived from their id, so they too stay put across steps.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from lab.core.records import MemorySnapshot

Point = tuple[float, float]


def hash_point(node_id: str) -> Point:
    """A deterministic point in the unit square for an id (the same on every call and process)."""
    digest = hashlib.blake2b(node_id.encode(), digest_size=8).digest()
    return digest[0] / 255.0, digest[1] / 255.0


def _initial(ids: list[str], fixed: dict[str, Point]) -> np.ndarray:
    """Start from the fixed positions where known, hashed points elsewhere. Shape (n, 2)."""
    return np.array([fixed.get(i, hash_point(i)) for i in ids], dtype=np.float64)


def force_layout(ids: list[str], edges: list[tuple[str, str]], seed: int = 0,
                 fixed: dict[str, Point] | None = None, iterations: int = 60,
                 sample: int = 96) -> dict[str, Point]:
    """Positions for ``ids`` (nodes in ``fixed`` do not move); edges to unknown ids are ignored."""
    fixed = fixed or {}
    n = len(ids)
    if n == 0:
        return {}
    index = {node: i for i, node in enumerate(ids)}
    pairs = [(index[a], index[b]) for a, b in edges if a in index and b in index and a != b]
    src = np.array([p[0] for p in pairs], dtype=np.int64)
    dst = np.array([p[1] for p in pairs], dtype=np.int64)
    pos = _initial(ids, fixed)  # (n, 2)
    frozen = np.array([node in fixed for node in ids])
    if n > 1 and not frozen.all():
        pos = _iterate(pos, src, dst, frozen, np.random.default_rng(seed), iterations, min(sample, n))
    return {node: (float(pos[i, 0]), float(pos[i, 1])) for i, node in enumerate(ids)}


def _iterate(pos: np.ndarray, src: np.ndarray, dst: np.ndarray, frozen: np.ndarray,
             rng: np.random.Generator, iterations: int, m: int) -> np.ndarray:
    """Fruchterman-Reingold with sampled repulsion and linear cooling."""
    n = len(pos)
    k = np.sqrt(1.0 / n)  # ideal edge length in the unit square
    temperature, cooling = 0.1, 0.1 / (iterations + 1)
    for _ in range(iterations):
        sample = rng.choice(n, m, replace=False)
        delta = pos[:, None, :] - pos[None, sample, :]  # (n, m, 2)
        dist2 = np.maximum((delta**2).sum(-1), 1e-6)  # (n, m)
        disp = (delta * (k * k / dist2)[:, :, None]).sum(1) * (n / m)  # (n, 2) repulsion
        if len(src):
            spring = pos[src] - pos[dst]  # (E, 2)
            pull = spring * np.linalg.norm(spring, axis=1, keepdims=True) / k
            np.add.at(disp, src, -pull)
            np.add.at(disp, dst, pull)
        length = np.maximum(np.linalg.norm(disp, axis=1), 1e-9)  # (n,)
        move = disp * (np.minimum(length, temperature) / length)[:, None]
        move[frozen] = 0.0
        pos = pos + move
        temperature -= cooling
    return pos


def snapshot_layout(snapshot: MemorySnapshot, seed: int = 0,
                    previous: dict[str, Point] | None = None) -> dict[str, Point]:
    """Layout of every node of ``snapshot`` (removed ones included); ``previous`` positions stay fixed."""
    ids = [node.id for node in snapshot.nodes]
    edges = [(edge.source, edge.target) for edge in snapshot.edges]
    fixed = {i: p for i, p in (previous or {}).items() if i in set(ids)}
    return force_layout(ids, edges, seed=seed, fixed=fixed)


def place(snapshot: MemorySnapshot, base: dict[str, Point]) -> dict[str, Point]:
    """Positions for every node of ``snapshot``: from ``base``, else near laid-out neighbours, else hashed."""
    neighbours: dict[str, list[str]] = defaultdict(list)
    for edge in snapshot.edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    out: dict[str, Point] = {}
    for node in snapshot.nodes:
        if node.id in base:
            out[node.id] = base[node.id]
            continue
        known = [base[m] for m in neighbours[node.id] if m in base]
        hx, hy = hash_point(node.id)
        if known:
            cx, cy = np.mean(known, axis=0)
            out[node.id] = (float(cx) + (hx - 0.5) * 0.05, float(cy) + (hy - 0.5) * 0.05)
        else:
            out[node.id] = (hx, hy)
    return out
