"""Retrieval latency of AriGraph's semantic search: the cached index against the reference's re-embedding.

Part (c) of ``memlab bench arigraph``. The reference embeds the query and the whole triplet list again at
every BFS expansion [A:utils/contriever.py ``search``]; :func:`reembed_search` does the same, and both
are timed with the same encoder weights, in the same process, on the same synthetic triplets.
"""

from __future__ import annotations

import time
from typing import Any

from tqdm import tqdm

from agents.arigraph.retrieval import VectorIndex, semantic_search

ADJECTIVES = ("red", "blue", "green", "old", "small", "large", "wooden", "golden", "silver", "dusty",
              "shiny", "broken", "heavy", "tiny", "plain", "rusty", "clean", "dirty", "bright", "dark")
NOUNS = ("key", "box", "book", "lamp", "plate", "cup", "chair", "table", "coin", "note", "bottle", "towel",
         "shoe", "knife", "apple", "pepper", "potato", "locker", "chest", "clock")
PLACES = ("kitchen", "hall", "attic", "garden", "cellar", "study", "bedroom", "bathroom", "pantry",
          "garage")
RELATIONS = ("is in", "is on", "is near", "belongs to", "is under")


def synthetic_triplets(n: int) -> list[str]:
    """``n`` distinct triplet strings over a game-like vocabulary (numbered objects)."""
    out = []
    for i in range(n):
        thing = f"{ADJECTIVES[i % 20]} {NOUNS[(i // 20) % 20]} {i // 400}"
        out.append(f"{thing}, {RELATIONS[i % 5]}, {PLACES[(i * 7) % 10]}")
    return out


def reembed_search(
    encoder: Any, texts: list[str], query: str, depth: int, width: int, threshold: float
) -> list[str]:
    """The reference's search: every BFS expansion embeds the query and the whole triplet list again."""
    queue, seen, found = [query], {query: 0}, []
    while queue:
        vertex = queue.pop(0)
        if seen[vertex] >= depth:
            continue
        vectors = encoder.encode([vertex, *texts])  # (1 + N, D), nothing cached
        scores, index = (vectors[1:] @ vectors[0]).topk(min(width, len(texts)))
        for score, i in zip(scores.tolist(), index.tolist(), strict=True):
            if score < threshold:
                continue
            for v in (texts[i].split(", ")[0], texts[i].split(", ")[2]):
                if v not in seen:
                    seen[v] = seen[vertex] + 1
                    queue.append(v)
            if texts[i] not in found:
                found.append(texts[i])
    return found


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return pick(0.5) * 1000, pick(0.95) * 1000


def run_latency(sizes: list[int], cached_reps: int, baseline_reps: dict[int, int]) -> list[list[Any]]:
    """(c): depth-1 and -2 searches on the cached index vs depth-1 re-embed searches, same encoder weights."""
    from lab.core.policy.encoder import SentenceEncoder

    rows = []
    for n in tqdm(sizes, desc="(c) latency", unit="size"):
        texts = synthetic_triplets(n)
        encoder = SentenceEncoder(device="cpu", cache_size=0)
        start = time.perf_counter()
        triplets, vertices = VectorIndex(encoder), VectorIndex(encoder)
        triplets.add(texts)
        vertices.add(sorted({p for t in texts for p in t.split(", ")[::2]}))
        build = time.perf_counter() - start
        ends = {t: (t.split(", ")[0], t.split(", ")[2]) for t in texts}
        queries = [f"{ADJECTIVES[(i * 3) % 20]} {NOUNS[(i * 7) % 20]} {i % 50}" for i in range(cached_reps)]
        timed = {}
        for depth in (1, 2):
            laps = []
            for q in queries:
                vertices.remove(q)  # the query string is embedded inside the timed call
                start = time.perf_counter()
                semantic_search({q: depth}, triplets, vertices, ends.__getitem__, 6, 0.4)
                laps.append(time.perf_counter() - start)
            timed[depth] = percentiles(laps)
        reps = baseline_reps.get(n, 0)
        base = (
            percentiles([_timed(reembed_search, encoder, texts, q, 1, 6, 0.4) for q in queries[:reps]])
            if reps
            else None
        )
        speedup = f"{base[0] / timed[1][0]:.0f}x" if base else "not run"
        base_cell = f"{base[0]:.0f} / {base[1]:.0f} (n={reps})" if base else "not run"
        rows.append(
            [
                n,
                f"{build:.1f}",
                f"{timed[1][0]:.2f} / {timed[1][1]:.2f}",
                f"{timed[2][0]:.2f} / {timed[2][1]:.2f}",
                base_cell,
                speedup,
            ]
        )
    return rows


def _timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
