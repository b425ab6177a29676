"""HiAgent: hierarchical working memory chunked by subgoals (Hu et al. 2024, arXiv 2408.09559)."""

from __future__ import annotations

from agents.hiagent.agent import HiAgent, act_prompt_items, parse_reply
from agents.hiagent.config import HiAgentConfig
from agents.hiagent.memory import Chunk, WorkingMemory
from lab.core.protocols import AgentSpec

SPECS = [
    AgentSpec(
        id="hiagent",
        description="LLM agent whose working memory is chunked by the subgoals it states; finished "
        "subgoals collapse to a summary, retrieve(ids) re-expands them.",
        config=HiAgentConfig,
        factory=HiAgent,  # type: ignore[arg-type]
        uses_llm=True,
        env_kinds=("text",),
        paper="Hu et al. 2024, HiAgent: Hierarchical Working Memory Management (arXiv 2408.09559)",
        prompt_items=act_prompt_items,
    ),
]

__all__ = ["SPECS", "Chunk", "HiAgent", "HiAgentConfig", "WorkingMemory", "parse_reply"]
