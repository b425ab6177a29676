"""CLIN's hyperparameters: paper / released-code defaults, each with its source.

Citation keys (see ``/work/shared/reference/clin.md`` and the README): ``[CP]`` the paper
(arXiv 2310.10134), ``[C:path]`` the released code (allenai/clin @ d96c028).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lab.core.llm.sampling import Sampling
from lab.core.protocols import AgentConfig


class ClinConfig(AgentConfig):
    """Hyperparameters of CLIN (continual learning from causal abstractions)."""

    mode: Literal["adapt", "gen-env", "gen-task"] = "adapt"
    """``adapt``: repeated trials of one game, memory carried across them. ``gen-env``: trial 0 is seeded
    with the meta-memory of earlier episodes of the same env family (new game seeds). ``gen-task``: seeded
    with the meta-memory of other env families. Source: ``--quadrant`` settings [CP; C:clin_agent.py]."""
    generator: Literal["llm", "deterministic"] = "llm"
    """Who writes the learnings after a trial (and generalises the meta-memory). ``llm``: the paper's
    generator prompt; ``deterministic``: credit assignment over the trace, no LLM (lab design)."""
    grounding_threshold: float = Field(0.9, ge=0.0, le=1.0)
    """Cosine similarity above which a generated action is accepted as its nearest admissible command.
    Source: ``get_best_matched_action_using_sent_transformer`` [C:model_utils.py]."""
    grounding_tries: int = Field(3, ge=1)
    """LLM calls per step while the action cannot be grounded; the last try takes the nearest command.
    Source: [C:model_utils.py]."""
    identical_action_limit: int = Field(5, ge=1)
    """The trial ends after this many identical actions in a row. Source: [C:clin_agent.py]."""
    walkthrough_factor: float = Field(1.5, gt=0.0)
    """The trial ends after this many times the gold walkthrough's length (when the task tells it).
    Source: ``getGoldActionSequence`` cap [C:clin_agent.py]."""
    last_k_memories: int = Field(3, ge=0)
    """Previous trial records given to the generator. Source: ``--use-last-k-memories 3`` [C]."""
    history_steps: int = Field(5, ge=0)
    """Most recent steps shown to the actor as chat turns. Source: [C:model_utils.py]."""
    generator_budget_tokens: int = Field(6500, ge=500)
    """Token budget of the generator prompt: 7500 - 1000 reply tokens, as in [C:model_utils.py]."""
    fruitless_repeats: int = Field(2, ge=2)
    """Deterministic generator: an action played this often without a score increase 'may not contribute'."""
    max_learnings: int = Field(30, ge=1)
    """Deterministic generator: at most this many learnings are kept (lab bound)."""
    max_meta_learnings: int = Field(20, ge=1)
    """Learnings in a generalised meta-memory (lab bound; the paper does not say)."""
    record_meta_memory: bool = True
    """Record this episode's best trial in the run store's meta-memory, owned by this run (turn off for
    benchmarks and tests)."""
    decision: Literal["auto", "generate", "score"] = "auto"
    """``generate``: the paper's actor protocol with grounding. ``score``: the action is chosen among the
    admissible commands by ``LLM.choose`` (the embedded model). ``auto``: ``score`` on models that score."""
    fallback_action: str = "look"
    """Played (and recorded) when no reply of the step could be parsed into an action."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "act": Sampling(temperature=0.0, max_tokens=256),
        "memory": Sampling(temperature=0.0, max_tokens=1000),
        "meta-memory": Sampling(temperature=0.0, max_tokens=1000),
    })
    """The actor at temperature 0 with 256 reply tokens [C:model_utils.py, spec §2]; the memory generator at
    0 with 1,000 [C:model_utils.py ``summarize_trace_for_preconditions_sTsW``, spec §4], and the meta-memory
    generalisation as the generator."""

    @model_validator(mode="before")
    @classmethod
    def drop_retired(cls, data: Any) -> Any:
        """Accept and ignore ``meta_memory_file``: runs stored before the meta-memory moved into the run
        store carry it in their agent config."""
        if isinstance(data, dict) and "meta_memory_file" in data:
            data = {k: v for k, v in data.items() if k != "meta_memory_file"}
        return data


NOT_PROVENANCE = frozenset({"mode", "record_meta_memory", "max_meta_learnings"})
"""Config fields that do not shape what an episode learns, so meta-memory entries match across them: the
mode (Adapt episodes seed Gen-Env ones), the recording switch, and the bound on a *generalised* seed.
Every other field (the generator, the actor's decision rule, grounding, early stops, history, the
generator's budget and bounds) is part of an entry's provenance, with the LLM spec."""
