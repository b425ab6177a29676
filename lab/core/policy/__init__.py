"""The torch policy core shared by the agents: device choice, the embedded LM, action scoring, embeddings.

transformers is imported only when a model is first loaded, so importing this package costs torch only.
"""

from __future__ import annotations

from lab.core.policy.device import choose_device, configure_threads, describe_device, resolve_device
from lab.core.policy.encoder import SentenceEncoder, get_encoder, load_minilm
from lab.core.policy.lm import INFERENCE_LOCK, LoadReport, load_embedded_lm, load_report, load_uncached
from lab.core.policy.scorer import ActionScorer, embedded_scorer

__all__ = [
    "INFERENCE_LOCK",
    "ActionScorer",
    "LoadReport",
    "SentenceEncoder",
    "choose_device",
    "configure_threads",
    "describe_device",
    "embedded_scorer",
    "get_encoder",
    "load_embedded_lm",
    "load_minilm",
    "load_report",
    "load_uncached",
    "resolve_device",
]
