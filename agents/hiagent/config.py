"""HiAgent's hyperparameters: paper / released-code defaults, each with its source.

Citation keys (see ``/work/shared/reference/hiagent.md`` and the README): ``[HP]`` the paper
(arXiv 2408.09559), ``[H:path]`` the released code (fork KAnchor218/HiAgent @ 2e80cee).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lab.core.llm.sampling import Sampling
from lab.core.protocols import AgentConfig

GREEDY = Sampling(temperature=0.0, top_p=1.0)
"""HiAgent's one generation setting: temperature 0, top_p 1 [H:eval_configs/hiagent/blocksworld.yaml]."""


class HiAgentConfig(AgentConfig):
    """Hyperparameters of HiAgent (hierarchical working memory)."""

    memory_size: int = Field(100, ge=1)
    """Working-memory entries serialised into the prompt (the newest ones). An entry is one element of
    the released code's memory list: the opening observation, one action-observation pair (a step), or
    one subgoal; so about 100 steps, not lines. Source: ``memory_size: 100`` in
    [H:eval_configs/hiagent/*.yaml], applied as the last ``memory_size`` entries in [H:cme_final.py]."""
    context_length: int = Field(8192, ge=256)
    """Token budget of the whole prompt plus the reply; the oldest memory entries are dropped past it.
    Source: ``context_length: 8192`` in [H:eval_configs/hiagent/blocksworld.yaml]."""
    reply_tokens: int = Field(512, ge=1)
    """Tokens reserved for the reply (the loop keeps ``prompt <= context_length - reply_tokens``).
    The yaml leaves the reply budget at AgentBoard's per-model default; 512 is a lab choice."""
    summarizer: Literal["llm", "last_observation", "composite"] = "llm"
    """How a finished subgoal's pairs collapse to one observation. ``llm``: the §3.3 summariser
    [HP §3.3]; ``last_observation``: the chunk's last observation, what the released code does for
    fully observable tasks (gripper, blocksworld); ``composite``: location + inventory + last
    observation, a no-LLM design for partially observable TextWorld (reference §10, not the paper)."""
    example: bool = True
    """The one-shot example trajectory in the action prompt (~450 tokens): the paper's runs use one
    in-context example [HP Table 1; H:prompts/ContextAgent/*.json]. Off, the action prompt is the note,
    goal and working memory, with no example, like the lab's full-history baseline
    (``memlab bench hiagent`` measures both variants against it)."""
    expand_in_place: bool = False
    """Also print retrieved subgoals in full at their place in the memory until the next subgoal,
    as the released code does. Off by default: the retrieved trajectory already comes back as the
    observation of ``retrieve(...)`` (the paper's intent), so printing it twice only costs tokens."""
    max_pseudo_commands: int = Field(3, ge=0)
    """``retrieve(...)`` / ``check valid actions`` answered per env step before a recorded fallback.
    Lab bound (the released code recurses without one)."""
    parse_retries: int = Field(2, ge=0)
    """Re-asks with an error message when the reply holds no action, before the recorded fallback.
    Lab rule for malformed output (the released code's parser never fails: it sends any text)."""
    fallback_action: str = "look"
    """Played (and recorded) when no action could be parsed or the pseudo-command bound is hit."""
    decision: Literal["auto", "generate", "score"] = "auto"
    """``generate``: the paper's loop, one generated reply with ``Subgoal:`` / ``Action:`` lines.
    ``score``: the subgoal is generated and the action is chosen among the admissible commands by
    ``LLM.choose`` (for the embedded model, which cannot generate commands reliably).
    ``auto``: ``score`` on models that score, ``generate`` on the others."""
    subgoal_max_steps: int = Field(8, ge=1)
    """Scoring mode only: a subgoal that has run this many env steps is replaced by a new one.
    A small scorer cannot judge completion; the paper lets the LLM decide (lab design)."""
    new_subgoal_on_reward: bool = True
    """Scoring mode only: a score increase counts as the current subgoal's completion (lab design)."""
    sampling: dict[str, Sampling] = Field(default_factory=lambda: {
        "subgoal": GREEDY, "act": GREEDY, "summarize": GREEDY})
    """Every call at temperature 0 and top_p 1, as the released config's one ``generate`` setting (it also
    stops at a blank line, which the decision loop sends with each action call) [H:eval_configs]."""
