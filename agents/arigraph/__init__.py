"""Ariadne (the AriGraph agent, Anokhin et al. 2024) and the paper's baselines with its planner and actor."""

from __future__ import annotations

from typing import Any

from agents.arigraph.agent import AriGraphAgent
from agents.arigraph.baselines import FullHistoryPlanAgent, RagAgent, ReflexionAgent, SummaryAgent
from agents.arigraph.config import (
    AriGraphConfig,
    FullHistoryPlanConfig,
    RagConfig,
    ReflexionConfig,
    SummaryConfig,
)
from agents.arigraph.memory import AriGraphMemory
from agents.arigraph.planact import act_prompt_items
from lab.core.protocols import AgentSpec

PAPER = "Anokhin et al. 2024, AriGraph: Learning Knowledge Graph World Models with Episodic Memory"


def spec(id: str, description: str, config: Any, factory: Any, section: str) -> AgentSpec:
    """A text-only, LLM-using agent of this package."""
    return AgentSpec(id=id, description=description, config=config, factory=factory, uses_llm=True,
                     env_kinds=("text",), paper=f"{PAPER}, {section}", prompt_items=act_prompt_items,
                     default_env="tw-hunt")


SPECS = [
    spec("arigraph", "Ariadne: AriGraph memory (semantic triplets + episodic observations) with planning, "
         "exploration and go-to navigation", AriGraphConfig, AriGraphAgent, "§2-3"),
    spec("arigraph-full-history", "AriGraph paper's Full History baseline: Ariadne's planner and actor, the "
         "whole trajectory as memory", FullHistoryPlanConfig, FullHistoryPlanAgent, "§4"),
    spec("summary", "AriGraph paper's Summary baseline: an LLM-rewritten summary plus the last 5 steps",
         SummaryConfig, SummaryAgent, "§4"),
    spec("rag", "AriGraph paper's RAG baseline: Generative-Agents retrieval (recency, importance, relevance),"
         " top 5 plus the last 5 steps", RagConfig, RagAgent, "§4"),
    spec("reflexion", "AriGraph paper's Reflexion baseline: Full History within a trial plus "
         "self-reflections written after failed trials (run with several trials)", ReflexionConfig,
         ReflexionAgent, "§4"),
]

__all__ = ["SPECS", "AriGraphAgent", "AriGraphConfig", "AriGraphMemory", "FullHistoryPlanAgent",
           "FullHistoryPlanConfig", "RagAgent", "RagConfig", "ReflexionAgent", "ReflexionConfig",
           "SummaryAgent", "SummaryConfig"]
