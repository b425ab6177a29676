"""Graph schemas: clone-structured cognitive graphs (CSCG) in PyTorch, rebound to new rooms.

George et al. 2021 (Nat. Commun. 12:2392) for the CSCG; Guntupalli et al. 2023 (arXiv 2302.07350)
for schemas. See README.md in this folder.
"""

from __future__ import annotations

from agents.graph_schemas.agent import GraphSchemaAgent, ScratchCSCGAgent
from agents.graph_schemas.config import GraphSchemaConfig, ScratchConfig
from agents.graph_schemas.model import CSCG
from agents.graph_schemas.schema import Binding, Schema, learn_schema, load_schema, match, rebind, save_schema
from lab.core.protocols import AgentSpec

SPECS = [
    AgentSpec(
        id="graph-schemas",
        description="Rebinds a stored CSCG schema to a new room (emission EM, slots tied), localises, "
        "plans shortest paths to the goal; no LLM.",
        config=GraphSchemaConfig,
        factory=GraphSchemaAgent,  # type: ignore[arg-type]
        env_kinds=("grid",),
        default_env="minigrid-aliased-room",
        paper="Guntupalli et al. 2023, Graph schemas (arXiv 2302.07350); George et al. 2021, CSCG",
    ),
    AgentSpec(
        id="cscg-scratch",
        description="Baseline: learns a CSCG from scratch (EM + Viterbi) on its exploration walk, "
        "then plans.",
        config=ScratchConfig,
        factory=ScratchCSCGAgent,  # type: ignore[arg-type]
        env_kinds=("grid",),
        default_env="minigrid-aliased-room",
        paper="George et al. 2021, Nat. Commun. 12:2392 (clone-structured cognitive graphs)",
    ),
]

__all__ = [
    "SPECS",
    "CSCG",
    "Binding",
    "GraphSchemaAgent",
    "GraphSchemaConfig",
    "Schema",
    "ScratchCSCGAgent",
    "ScratchConfig",
    "learn_schema",
    "load_schema",
    "match",
    "rebind",
    "save_schema",
]
