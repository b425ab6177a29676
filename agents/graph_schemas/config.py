"""Hyperparameters of the graph-schemas agent and its from-scratch CSCG baseline.

Sources: spec ``graph-schemas.md`` (§ cited per field), George et al. 2021 reference code
vicariousinc/naturecomm_cscg @66c81ea (CSCGnc), and google-deepmind/space_is_a_latent_sequence
@65a6a2a (CSCGjax).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lab.core.protocols import AgentConfig


class NavigatorConfig(AgentConfig):
    """What both agents share: exploration, localisation, planning and replanning."""

    explore_steps: int = Field(default=400, ge=1, le=100_000)
    """Exploration steps before the first binding (spec §12: >= 90 % success given the goal was
    seen after <= 400 steps)."""
    explore_policy: Literal["uniform", "persistent"] = "persistent"
    """``uniform``: uniform random moves (the spec §10 prototype); ``persistent``: repeat the last move
    with probability ``persistence``, which covers more of the room for the same steps (spec §10:
    failures are almost all 'goal never observed'). Deviation: the lab default is ``persistent``."""
    persistence: float = Field(default=0.7, ge=0.0, le=0.99)
    """Probability of repeating the previous move under the persistent policy."""
    relearn_every: int = Field(default=50, ge=1)
    """While the goal is unseen, explore this many more steps before trying again."""
    plan_threshold: float = Field(default=1e-3, ge=0.0, lt=1.0)
    """Transitions below this are dropped before planning (spec §4: threshold T, e.g. < 1e-3 -> 0)."""
    transition_smoothing: float = Field(default=1e-3, ge=0.0)
    """Pseudocount added to the refined counts for inference (rebinding, localisation), so a
    transition the source walk never made has a small, non-zero probability. Planning never uses it."""
    max_plan_steps: int = Field(default=100, ge=1)
    """Longest plan searched (CSCGnc ``bridge`` max_steps)."""
    max_replans: int = Field(default=3, ge=0)
    """Surprises tolerated before the agent explores and rebinds again (spec §4: replan <= 3 times)."""
    finish_action: str = "done"
    """Played when the agent believes it observes the goal; never part of the model's actions."""
    goal_symbol: str | None = None
    """Goal observation when the env gives none in ``extra["goal_symbol"]``."""
    belief_top_k: int = Field(default=5, ge=1, le=50)
    """Rows of the belief table in the memory snapshot."""
    chunk_len: int = Field(default=64, ge=1)
    """Steps per parallel sub-sequence in batched message passing (spec §11)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device (``auto``: CUDA when available)."""


class GraphSchemaConfig(NavigatorConfig):
    """The graph-schemas agent: rebind a stored schema, localise, plan (Guntupalli et al. 2023)."""

    schemas: list[str] = Field(default_factory=lambda: ["room-6x8"], min_length=1)
    """Schema names in the data dir's ``schemas/`` folder (``memlab train schemas --name NAME``); a
    comma-separated string works too. Several: each is rebound and the lowest bits per step wins
    (spec §7.2 matching)."""
    tie_slots: bool = True
    """Tie emission rows per slot (CSCGjax ``keep_clone_structure=True``, spec §7.1); False gives the
    Nat. Commun. untied ``learn_em_E``."""
    rebind_pseudocount: float = Field(default=1e-3, gt=0.0)
    """Emission pseudocount while rebinding (spec §9 step 2)."""
    rebind_max_iter: int = Field(default=100, ge=1)
    """Emission-EM iterations at most (it stops when bits per step stop falling)."""

    @field_validator("schemas", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """``"room-5x5,room-6x8"`` (as typed after ``--agent-opt schemas=``) becomes a list."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


class ScratchConfig(NavigatorConfig):
    """The baseline: a CSCG learned from scratch on the exploration walk of the new room."""

    clones_per_symbol: int = Field(default=20, ge=1, le=200)
    """Clones per observed symbol (about the schema's capacity: ~100 clones over 5 symbols)."""
    pseudocount: float = Field(default=2e-3, ge=0.0)
    """EM pseudocount (spec §9: 2e-3), then 0 for the Viterbi refinement."""
    em_iters: int = Field(default=1000, ge=1)
    """EM iterations at most (it stops earlier once the likelihood has stopped increasing: ``model.stalled``)."""
    seed: int = 42
    """Seed of the random initial counts (CSCGnc ``CHMM(seed=42)``)."""
