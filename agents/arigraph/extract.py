"""The interchangeable parts of the graph update: triplet extraction, outdated detection, query entities.

Each has an LLM version (the paper's calls 1-3, lenient parsing) and a deterministic one; the
triplet extractor also has an ``oracle`` reading TextWorld's ground truth (an upper bound, labelled as
such in every record). Parse failures never raise: the unreadable chunks are returned for the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from agents.arigraph import prompts, rules
from agents.arigraph.fidelity import oracle_triplets
from agents.arigraph.triplets import (
    COMPASS,
    Parsed,
    Triplet,
    parse_entities,
    parse_replacements,
    parse_triplets,
)
from lab.core.errors import LabError
from lab.core.llm import LLM
from lab.core.prompts import render

PLACE = {"is in", "is on", "is at", "in", "on", "at", "is inside", "is located in", "located in"}
FAMILIES = {
    "open": "openness",
    "closed": "openness",
    "locked": "openness",
    "unlocked": "openness",
    "sliced": "cut",
    "diced": "cut",
    "chopped": "cut",
    "uncut": "cut",
    "fried": "heat",
    "roasted": "heat",
    "grilled": "heat",
    "raw": "heat",
    "burned": "heat",
    "cooked": "heat",
}


@dataclass
class View:
    """What the extractors may read at one step."""

    text: str
    """The pre-processed observation."""
    room: str | None = None
    inventory: str | None = None
    admissible: list[str] = field(default_factory=list)
    facts: list[str] | None = None
    """Ground truth, only for the oracle (None when the run loop passes none)."""
    examples: list[str] = field(default_factory=list)
    """The previous step's retrieved triplets: naming examples for the LLM [A:graphs/contriever_graph.py]."""
    traversed: set[frozenset[str]] = field(default_factory=set)


class LLMExtractor:
    """LLM call 2: triplets from the observation, with the previous retrieval as naming examples."""

    label = "llm"

    def __init__(self, llm: LLM, with_inventory: bool) -> None:
        self.llm, self.with_inventory = llm, with_inventory

    def __call__(self, view: View) -> Parsed:
        """Extract and parse leniently."""
        text = view.text + (
            f"\nInventory: {view.inventory}" if self.with_inventory and view.inventory else ""
        )
        prompt = render(prompts.EXTRACT, examples="; ".join(view.examples) or "(none yet)", observation=text)
        return parse_triplets(
            self.llm.chat([("system", prompts.ASSISTANT), ("user", prompt)], purpose="extract")
        )


class RulesExtractor:
    """The deterministic parser of TextWorld's templated English (:mod:`agents.arigraph.rules`)."""

    label = "rules"

    def __init__(self, with_inventory: bool) -> None:
        self.with_inventory = with_inventory

    def __call__(self, view: View) -> Parsed:
        """Parse the observation, the admissible commands and (optionally) the inventory."""
        inventory = view.inventory if self.with_inventory else None
        return Parsed(triplets=rules.extract(view.text, view.room, inventory, view.admissible))


class OracleExtractor:
    """TextWorld's ground-truth facts of what is in view: an upper bound, not an agent."""

    label = "oracle (ground truth, upper bound)"

    def __call__(self, view: View) -> Parsed:
        """The facts in view as triplets; raises when the run loop gave no ground truth."""
        if view.facts is None:
            raise LabError(
                "the oracle extractor needs ground-truth facts, which this run loop does not give agents "
                "(see agents/arigraph/README.md, 'Oracle'); use extractor=rules or llm"
            )
        return Parsed(triplets=oracle_triplets(view.facts, view.traversed))


def family(t: Triplet) -> str | None:
    """What aspect of its subject a triplet states: its ``place``, a state family, or None.

    >>> family(Triplet("key", "is on", "table")), family(Triplet("door", "is", "open"))
    ('place', 'openness')
    >>> family(Triplet("a", "likes", "b")) is None
    True
    """
    if t.relation in PLACE:
        return "place"
    if t.relation == "is" and t.object == "eaten":
        return "place"
    return FAMILIES.get(t.object) if t.relation in ("is", "is now") else None


def rules_outdated(
    candidates: list[Triplet], new: list[Triplet], full_inventory: bool = False
) -> list[Triplet]:
    """A candidate is outdated when a new triplet states the same aspect of the same subject differently.

    With ``full_inventory`` (the new triplets list everything carried, as the rules extractor does from
    the inventory text), a carried item that is no longer listed is outdated too (eaten, used up).
    """
    stated, fresh = {(t.subject, family(t)) for t in new if family(t)}, set(new)
    out = [c for c in candidates if family(c) and (c.subject, family(c)) in stated and c not in fresh]
    if full_inventory:
        out += [
            c
            for c in candidates
            if c.relation == "is in" and c.object == "inventory" and c not in fresh and c not in out
        ]
    return out


class LLMOutdated:
    """LLM call 3: which candidates the new triplets replace [A:prompts/prompts.py, refining prompt].

    As the reference, it is shown only the new triplets that are not stored yet (``unstored_only``: the
    memory passes those alone, and makes no call when there are none).
    """

    unstored_only: ClassVar[bool] = True

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.rejected: list[str] = []
        """The chunks of the last reply that were not readable pairs."""

    def __call__(self, candidates: list[Triplet], new: list[Triplet]) -> list[Triplet]:
        """Ask, and keep the left-hand side of each readable pair."""
        prompt = render(
            prompts.REFINE, existing="; ".join(t.text for t in candidates), new="; ".join(t.text for t in new)
        )
        parsed = parse_replacements(
            self.llm.chat([("system", prompts.ASSISTANT), ("user", prompt)], purpose="refine")
        )
        self.rejected = parsed.rejected
        return parsed.triplets


def rules_entities(text: str, plan: str, vertices: list[str], limit: int = 12) -> dict[str, int]:
    """Known vertices named in the observation (depth 1) or in the plan (depth 2), longest names first."""
    found: dict[str, int] = {}
    lower_text, lower_plan = text.lower(), plan.lower()
    for vertex in sorted(vertices, key=lambda v: (-len(v), v)):
        if vertex in COMPASS or len(vertex) < 3:
            continue
        pattern = rf"(?<![a-z0-9]){re.escape(vertex)}(?![a-z0-9])"
        if re.search(pattern, lower_plan):
            found[vertex] = 2
        elif re.search(pattern, lower_text):
            found[vertex] = 1
        if len(found) >= limit:
            break
    return found


def llm_entities(llm: LLM, observation: str, plan: str, max_depth: int) -> tuple[dict[str, int], list[str]]:
    """LLM call 1: entities worth a memory query, with depth scores [A:agents/parent_agent.py]."""
    prompt = render(prompts.ENTITIES, observation=observation, plan=plan)
    return parse_entities(
        llm.chat([("system", prompts.ASSISTANT), ("user", prompt)], purpose="entities"), max_depth
    )
