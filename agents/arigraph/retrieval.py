"""Embedding-based retrieval over AriGraph: the cached vector index, semantic BFS and episodic scoring.

The reference re-embeds the whole triplet list at every BFS expansion [A:utils/contriever.py
``search``]. Here every triplet and vertex string is embedded once, when it enters the graph, and
kept as a row of one matrix; a BFS level of every query entity is one matrix product
(frontier x triplets) and one ``topk``.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

DIM = 384


class Encoder(Protocol):
    """Anything with ``encode(texts) -> (N, D)`` unit-norm float tensor (the lab's SentenceEncoder)."""

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed texts."""
        ...


class HashEncoder:
    """Hashed bag of words and word pairs, L2-normalised: deterministic, instant, no model.

    Texts sharing words get positive cosine; it has no notion of synonyms, so it is a stand-in for
    tests and quick runs, not for the paper's retrieval.
    """

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dim) unit rows (an empty text gives a zero row)."""
        out = torch.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            for token in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                out[row, zlib.crc32(token.encode()) % self.dim] += 1.0
        return torch.nn.functional.normalize(out, dim=-1)


def make_encoder(kind: str) -> Encoder:
    """``minilm``: the lab's shared all-MiniLM-L6-v2 encoder; ``hash``: :class:`HashEncoder`."""
    if kind == "hash":
        return HashEncoder()
    from lab.core.policy.encoder import get_encoder

    return get_encoder()


class VectorIndex:
    """Unit vectors keyed by text, as rows of one growing matrix; only unseen texts are encoded."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.keys: list[str | None] = []
        self.rows: dict[str, int] = {}
        self.matrix = torch.zeros((0, DIM))
        self.active = torch.zeros(0, dtype=torch.bool)
        self.encoded = 0
        """How many texts this index has sent to the encoder (each at most once while present)."""

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, text: str) -> bool:
        return text in self.rows

    def add(self, texts: Sequence[str]) -> None:
        """Embed the texts not yet present, in one batch, and append them as rows."""
        new = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if not new:
            return
        vectors = self.encoder.encode(new).float()  # (n, D)
        self.add_vectors(new, vectors)

    def add_vectors(self, texts: list[str], vectors: torch.Tensor) -> None:
        """Append precomputed rows (``vectors``: (n, D))."""
        self.encoded += len(texts)
        start = len(self.keys)
        if self.matrix.shape[1] != vectors.shape[1]:
            self.matrix = torch.zeros((0, vectors.shape[1]))
        self.matrix = torch.cat([self.matrix, vectors])  # (rows, D)
        self.active = torch.cat([self.active, torch.ones(len(texts), dtype=torch.bool)])
        self.keys.extend(texts)
        self.rows.update({t: start + i for i, t in enumerate(texts)})

    def remove(self, text: str) -> None:
        """Forget a text (its row is masked, and dropped at the next compaction)."""
        row = self.rows.pop(text, None)
        if row is None:
            return
        self.keys[row] = None
        self.active[row] = False
        if len(self.keys) > 64 and len(self.rows) < len(self.keys) // 2:
            self._compact()

    def vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """The rows of ``texts`` (added first if missing): (len(texts), D)."""
        self.add(texts)
        return self.matrix[[self.rows[t] for t in texts]]

    def top(self, queries: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
        """For each query row (Q, D): the ``k`` most similar present texts with their dot products."""
        if not self.rows or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        scores = queries @ self.matrix.T  # (Q, rows)
        if len(self.rows) < len(self.keys):
            scores[:, ~self.active] = -math.inf
        values, index = scores.topk(min(k, len(self.rows)), dim=1)  # (Q, k)
        return [
            [(self.keys[i], v) for i, v in zip(idx, val, strict=True) if self.keys[i] is not None]
            for idx, val in zip(index.tolist(), values.tolist(), strict=True)
        ]

    def _compact(self) -> None:
        keep = [i for i, key in enumerate(self.keys) if key is not None]
        self.matrix, self.active = self.matrix[keep], torch.ones(len(keep), dtype=torch.bool)
        self.keys = [self.keys[i] for i in keep]
        self.rows = {key: i for i, key in enumerate(self.keys) if key is not None}


def semantic_search(
    entities: dict[str, int],
    triplets: VectorIndex,
    vertices: VectorIndex,
    endpoints: Callable[[str], tuple[str, str]],
    width: int,
    threshold: float,
) -> list[str]:
    """AriGraph's semantic search [AP App. A, Alg. 2] for every entity at once, level by level.

    Each entity runs its own BFS (its own distances, depth = its score): from a vertex, the ``width``
    triplets most similar to it with similarity >= ``threshold`` are kept and their endpoints join the
    next level. One level of all entities is one (frontier x triplets) product. Returns the union of
    the kept triplet texts, in discovery order.
    """
    seen = [{entity: 0} for entity in entities]
    frontier = [(i, entity) for i, (entity, depth) in enumerate(entities.items()) if depth >= 1]
    depths = list(entities.values())
    found: dict[str, None] = {}
    level = 0
    while frontier and len(triplets):
        queries = vertices.vectors([vertex for _, vertex in frontier])  # (F, D)
        nxt = []
        for (owner, _), hits in zip(frontier, triplets.top(queries, width), strict=True):
            for text, score in hits:
                if score < threshold:
                    continue
                found.setdefault(text, None)
                for vertex in endpoints(text):
                    if vertex not in seen[owner]:
                        seen[owner][vertex] = level + 1
                        if level + 1 < depths[owner]:
                            nxt.append((owner, vertex))
        frontier, level = nxt, level + 1
    return list(found)


def episodic_relevance(hyperedges: Sequence[set[str]], retrieved: set[str]) -> list[float]:
    """The paper's score of each episodic vertex: n_i / max(N_i, 1) * log2(max(N_i, 1)) [AP §2, Eq. 1].

    n_i: retrieved triplets in hyperedge i; N_i: its size. A vertex with one triplet scores 0.

    >>> episodic_relevance([{"a", "b", "c", "d"}, {"a"}, set()], {"a", "b"})
    [1.0, 0.0, 0.0]
    """
    out = []
    for edge in hyperedges:
        size = max(len(edge), 1)
        out.append(len(edge & retrieved) / size * math.log2(size))
    return out


def episodic_rank(
    relevance: list[float], plan_similarity: list[float] | None, k: int, skip: Callable[[int], bool]
) -> list[int]:
    """Indices of the top-k vertices, best first (ties: newer first); ``skip`` drops some before the cut.

    With ``plan_similarity`` (the reference code's extra term) the score is relevance / max(relevance)
    + similarity / max(similarity) [A:utils/utils.py ``find_top_episodic_emb``]; without it, vertices
    of relevance 0 are not returned.
    """
    scores = list(relevance)
    if plan_similarity is not None:
        top_rel, top_sim = max(relevance, default=0.0), max(plan_similarity, default=0.0)
        scores = [
            (r / top_rel if top_rel > 0 else 0.0) + (s / top_sim if top_sim > 0 else 0.0)
            for r, s in zip(relevance, plan_similarity, strict=True)
        ]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], -i))
    keep = [i for i in order if not skip(i) and (plan_similarity is not None or scores[i] > 0)]
    return keep[:k]
