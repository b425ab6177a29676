"""Baseline agents: random and full-history."""

from __future__ import annotations

from agents.baselines.full_history import FullHistoryAgent, FullHistoryConfig, act_prompt_items
from agents.baselines.random_agent import RandomAgent, RandomConfig
from lab.core.protocols import AgentSpec

SPECS = [
    AgentSpec(
        id="random",
        description="Uniform over admissible commands (TextWorld) or actions (MiniGrid); no memory.",
        config=RandomConfig,
        factory=RandomAgent,  # type: ignore[arg-type]
    ),
    AgentSpec(
        id="full-history",
        description="LLM agent whose prompt is the whole history (AriGraph paper's Full History baseline).",
        config=FullHistoryConfig,
        factory=FullHistoryAgent,  # type: ignore[arg-type]
        uses_llm=True,
        paper="Anokhin et al. 2024, AriGraph, §4 baselines",
        prompt_items=act_prompt_items,
    ),
]

__all__ = ["SPECS", "FullHistoryAgent", "FullHistoryConfig", "RandomAgent", "RandomConfig"]
