"""CLIN: a continually learning language agent with a causal-abstraction memory (Majumder et al. 2023)."""

from __future__ import annotations

from agents.clin.agent import ClinAgent, act_prompt_items
from agents.clin.config import ClinConfig
from agents.clin.generator import DeterministicGenerator, TraceStep
from agents.clin.memory import ClinMemory, Learning, parse_learning, verbal_score
from agents.clin.views import learning_changes
from lab.core.protocols import AgentSpec

SPECS = [
    AgentSpec(
        id="clin",
        description="LLM agent that rewrites a numbered list of causal learnings ('X may be necessary to Y') "
        "after every trial and carries it to the next; meta-memory seeds new episodes.",
        config=ClinConfig,
        factory=ClinAgent,  # type: ignore[arg-type]
        uses_llm=True,
        env_kinds=("text",),
        default_env="tw-cooking",
        paper="Majumder et al. 2023, CLIN: A Continually Learning Language Agent (arXiv 2310.10134)",
        prompt_items=act_prompt_items,
    ),
]

__all__ = [
    "SPECS",
    "ClinAgent",
    "ClinConfig",
    "ClinMemory",
    "DeterministicGenerator",
    "Learning",
    "TraceStep",
    "learning_changes",
    "parse_learning",
    "verbal_score",
]
