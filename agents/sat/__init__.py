"""Spatially-Aware Transformer (Cho, Yoon, Ahn, ICLR 2024) in MiniGrid RoomRecall.

One agent id, ``sat``, whose ``variant`` field picks T-FIFO, SAT-FIFO, SAT-FIFO-TH, SAT-PM-PH or
SAT-AMA (each with its own trained weights); see README.md.
"""

from __future__ import annotations

from agents.sat.agent import SatAgent
from agents.sat.config import VARIANTS, ModelConfig, SatConfig, TrainConfig
from agents.sat.memory import AMABandit, SlotMemory, keep_indices
from agents.sat.model import SpatialTransformer
from lab.core.protocols import AgentSpec

SPECS = [
    AgentSpec(
        id="sat",
        description="Spatially-Aware Transformer: place-centric episodic memory (capacity L, FIFO/PM/AMA "
        "allocators, time or place chunks) answering RoomRecall queries; no LLM.",
        config=SatConfig,
        factory=SatAgent,  # type: ignore[arg-type]
        uses_llm=False,
        env_kinds=("grid",),
        default_env="minigrid-room-recall",
        paper="Cho, Yoon, Ahn 2024, Spatially-Aware Transformer for Embodied Agents (ICLR), arXiv 2402.15160",
    ),
]

__all__ = [
    "SPECS",
    "VARIANTS",
    "AMABandit",
    "ModelConfig",
    "SatAgent",
    "SatConfig",
    "SlotMemory",
    "SpatialTransformer",
    "TrainConfig",
    "keep_indices",
]
