"""Typed configs of Ariadne (the AriGraph agent) and of its baselines, with the paper's defaults.

Sources: ``[AP]`` the AriGraph paper (arXiv 2407.04363); ``[A:path]`` the reference code
AIRI-Institute/AriGraph @e884b76. Where the two disagree, the field says which one is followed;
every reference-code quirk has a switch reproducing it (see README.md, "Quirks").
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from lab.core.llm.sampling import Sampling
from lab.core.protocols import AgentConfig

PLAN_ACT_SAMPLING = {"plan": Sampling(temperature=0.2), "act": Sampling(temperature=0.2)}
"""Planning and acting at temperature 0.2 (LLM calls 5 and 6 of the step [A:pipeline_arigraph.py])."""
REFERENCE_DEFAULT_TEMPERATURE = 0.7
"""The reference agent's temperature for calls that set none (call 1, entities [A:agents/parent_agent.py])."""


class PlanActConfig(AgentConfig):
    """The planner and the actor shared by Ariadne and every baseline [A:pipeline_*.py]."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    n_prev: int = Field(5, ge=0)
    """Recent observation/action pairs in the prompt. Source: ``n_prev = 5`` [A:pipeline_arigraph.py]."""
    planner: Literal["llm", "static"] = "llm"
    """``llm``: the planner call rewrites the plan of sub-goals every step [AP App. E]. ``static``: the
    initial
    plan is kept and no call is made (for models whose plans do not parse, e.g. the embedded 135M model)."""
    main_goal: str = ""
    """The main goal in every prompt; empty: the env's objective (the reference hard-codes one per game,
    ``MAIN_GOALS`` [A:utils/envs_cfg.py])."""
    task_note: str = ""
    """Appended to the first observation, as the reference's ``FIRST_OBS`` task descriptions
    [A:utils/envs_cfg.py]; the cooking note names the appliances that fry, roast and grill [AP App. F]."""
    cooking_verbs: bool = True
    """Show "cook X with stove/oven/BBQ" as "fry/roast/grill X with ..." and map the choice back
    [A:utils/utils.py ``action_processing``]."""
    max_section_chars: int = Field(6000, ge=200)
    """Each prompt section keeps its last this-many characters: 6,000 for the embedded model's 8k-token
    window, scaled with the run's model's window when left unset (the reference has no limit)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: dict(PLAN_ACT_SAMPLING))
    """Sampling settings per call purpose (``lab.core.llm.sampling``; ``--llm-opt`` overrides them)."""

    CONTEXT_SCALED = ("max_section_chars",)


class AriGraphConfig(PlanActConfig):
    """Ariadne: AriGraph memory (semantic triplets + episodic vertices) with planning and exploration."""

    extractor: Literal["llm", "rules", "oracle"] = "llm"
    """Triplet extraction: ``llm`` (the paper's prompt, lenient parser) [AP §2], ``rules`` (deterministic
    parser of TextWorld's templated English), ``oracle`` (TextWorld's ground-truth facts of what is in view:
    an upper bound, not an agent; needs the run loop to pass ground truth, see README)."""
    outdated: Literal["llm", "rules"] = "llm"
    """Outdated-triplet detection: ``llm`` (the refining prompt [A:prompts/prompts.py]) or ``rules`` (a new
    triplet replaces an old one with the same subject and a relation of the same family)."""
    entities: Literal["llm", "rules"] = "llm"
    """Query entities with their BFS depth: ``llm`` (LLM call 1, scores 1-2 [A:agents/parent_agent.py]) or
    ``rules`` (known vertices named in the observation, depth 1, or in the plan, depth 2)."""
    exploration: bool = True
    """The exploration gate and the unexplored-exits section (``need_exp`` [A:pipeline_arigraph.py])."""
    explore_gate: Literal["llm", "keyword", "always"] = "llm"
    """``llm``: True/False question on the plan [A:prompts/system_prompts.py ``if_exp_prompt``]; ``keyword``:
    the plan names finding, exploring or locating; ``always``: every step."""
    width: int = Field(6, ge=1)
    """Semantic search width w: triplets kept per BFS expansion. Source: ``topk=6``
    [A:graphs/contriever_graph.py]."""
    threshold: float = 0.4
    """Similarity below which a retrieved triplet is dropped. The reference uses 0.75 on raw mContriever dot
    products; this lab's encoder (all-MiniLM-L6-v2) gives cosines, where related entity/triplet pairs score
    0.45-0.85 and unrelated ones 0.05-0.35 (measured, README), so 0.4 plays the same role."""
    max_depth: int = Field(2, ge=1)
    """Largest BFS depth d an entity may ask for (the paper: d in {1, 2})."""
    topk_episodic: int = Field(2, ge=0)
    """Episodic vertices retrieved per step. Source: ``topk_episodic = 2`` [A:pipeline_arigraph.py]."""
    episodic_plan_similarity: bool = False
    """Add the reference code's plan-to-observation similarity term to the episodic score
    [A:utils/utils.py ``find_top_episodic_emb``]; off: the paper's formula alone [AP §2, Eq. 1]."""
    episodic_query: Literal["fresh", "previous"] = "fresh"
    """Which retrieved triplets score the episodic vertices: this step's (``fresh``, Alg. 1 [AP §2]) or the
    previous step's, as the reference's TextWorld pipeline does (``previous``, quirk 1)."""
    episodic_skip_recent: bool = True
    """Drop episodic results already among the recent observations, before the top-k cut. The reference's
    filter compares strings that never match and runs after the cut (quirks 2-3): False reproduces it."""
    protected_words: tuple[str, ...] = (
        "west",
        "east",
        "south",
        "north",
        "associated with",
        "used for",
        "to be",
    )
    """Candidates containing any of these are never judged outdated [A:graphs/contriever_graph.py]."""
    extract_inventory: bool = True
    """Give the extractor the inventory text. The reference appends it only after the graph update, so the
    graph never sees it: False reproduces that."""
    offer_goto_current: bool = False
    """Offer ``go to`` the current location too (the reference does; the move only answers "You are already
    there")."""
    encoder: Literal["minilm", "hash"] = "minilm"
    """Sentence encoder: all-MiniLM-L6-v2 (the lab's stand-in for mContriever), or a hashed bag of words
    (no model; for tests and quick runs)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "entities": Sampling(temperature=REFERENCE_DEFAULT_TEMPERATURE),
        "extract": Sampling(temperature=0.001),
        "refine": Sampling(temperature=0.001),
        "explore_gate": Sampling(temperature=0.2),
        **PLAN_ACT_SAMPLING,
    })
    """Sampling per call purpose: extraction and refinement at 0.001 (calls 2-3, ``ContrieverGraph.update``),
    entities at 0.7 (call 1), the exploration gate, planning and acting at 0.2 (calls 4-6)
    [A:pipeline_arigraph.py; spec §2, §7]. Without exploration the reference acts at 1.0, and so does this
    config unless ``sampling`` is given."""

    @model_validator(mode="after")
    def act_hotter_without_exploration(self) -> AriGraphConfig:
        """The reference's act temperature is 1.0 when exploration is off [A:pipeline_arigraph.py]."""
        if not self.exploration and "sampling" not in self.model_fields_set:
            object.__setattr__(self, "sampling", {**self.sampling, "act": Sampling(temperature=1.0)})
        return self


class FullHistoryPlanConfig(PlanActConfig):
    """The paper's Full History baseline: the same planner and actor, the whole trajectory as memory."""

    max_history_chars: int = Field(24_000, ge=1000)
    """Oldest pairs are dropped past this size: 24,000 for the embedded model's 8k-token window, scaled with
    the run's model's window when left unset (GPT-4 held whole episodes, about 14k tokens at step 150)."""

    CONTEXT_SCALED = ("max_section_chars", "max_history_chars")


class ReflexionConfig(FullHistoryPlanConfig):
    """Reflexion (Shinn et al. 2023, arXiv 2303.11366) on the paper's planner and actor [AP §4, Table 4]: the
    trajectory of the current trial as in Full History, plus verbal self-reflections written after failed
    trials. The reference has only a reflection prompt and no pipeline (spec §8): this follows Reflexion."""

    max_reflections: int = Field(3, ge=1)
    """Reflections kept (the newest). Source: Reflexion bounds its long-term memory to 1-3 experiences
    (Shinn et al. §3); 3, as in its ALFWorld runs."""
    reflect_on_win: bool = False
    """Reflexion reflects only after a failed trial; True also reflects after a win."""
    max_trajectory_chars: int = Field(6000, ge=500)
    """The reflection call sees the last this-many characters of the trial's trajectory (scaled with the
    model's window when left unset, as the other caps)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "reflect": Sampling(temperature=REFERENCE_DEFAULT_TEMPERATURE), **PLAN_ACT_SAMPLING})
    """Planning and acting at 0.2 as in Ariadne; reflection at the reference agent's default of 0.7 (its
    reflection prompt sets none [A:prompts/prompts.py ``reflex_prompt``])."""

    CONTEXT_SCALED = ("max_section_chars", "max_history_chars", "max_trajectory_chars")


class SummaryConfig(PlanActConfig):
    """The Summary baseline [A:pipeline_summary.py]: an LLM-rewritten summary plus the last pairs."""

    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "summary": Sampling(temperature=0.6), **PLAN_ACT_SAMPLING})
    """The summary rewritten at 0.6 [A:pipeline_summary.py]; planning and acting at 0.2."""


class RagConfig(PlanActConfig):
    """The RAG baseline with Generative-Agents scoring [A:pipeline_smartrag.py]."""

    top_k: int = Field(5, ge=1)
    """Past observations retrieved by score (spec: top 5), added to the last ``n_prev`` steps."""
    recency_decay: float = Field(0.99, gt=0.0, le=1.0)
    """Recency = decay ** (steps since). Source: ``0.99 ** (step - past)`` [A:pipeline_smartrag.py]."""
    importance: Literal["llm", "constant"] = "llm"
    """Importance 1-10 rated by the LLM against the plan (the reference), or a constant 5 (no call). A rating
    reply that names no number also counts as 5 (``baselines.DEFAULT_IMPORTANCE``), noted in the thoughts."""
    encoder: Literal["minilm", "hash"] = "minilm"
    """Encoder of the relevance term (the reference: mContriever)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "importance": Sampling(temperature=REFERENCE_DEFAULT_TEMPERATURE), **PLAN_ACT_SAMPLING})
    """The importance rating at the reference agent's default of 0.7 (``pipeline_smartrag.py`` sets none);
    planning and acting at 0.2."""


EMBEDDED_PRESET: dict[str, object] = {
    "extractor": "rules",
    "outdated": "rules",
    "entities": "rules",
    "planner": "static",
    "explore_gate": "keyword",
}
"""Ariadne's settings for the embedded 135M model, which scores choices well enough but whose generated
triplets, entity lists and plans do not parse (``embedded-llm.md`` §4): the actor still chooses with the
scorer; every generation-based component is replaced by its deterministic counterpart."""
