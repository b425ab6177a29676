"""Ariadne: the planner-actor loop over AriGraph memory, with exploration and ``go to`` navigation.

Per step [AP §2-3; A:pipeline_arigraph.py ``run``], with the component switches of
:class:`~agents.arigraph.config.AriGraphConfig`:

1. query entities with BFS depths (LLM call 1, or rules);
2. graph update: triplet extraction (LLM call 2, rules or oracle), outdated detection (LLM call 3 or
   rules), deletions, spatial edges from the move, additions;
3. semantic search from the entities, minus the triplets of this observation; episodic search;
   the episodic vertex of this observation is written;
4. exploration gate (LLM call 4, keyword or always) and the unexplored exits of every visited place;
5. plan (LLM call 5) and action (call 6) over the admissible commands plus ``go to <visited place>``.

A ``go to`` whose target is unknown, unreachable or the current place costs one agent step and no
move: the agent's next observation is the reference's error text instead of the game's reply.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from agents.arigraph import prompts
from agents.arigraph.config import AriGraphConfig
from agents.arigraph.extract import (
    LLMExtractor,
    LLMOutdated,
    OracleExtractor,
    RulesExtractor,
    View,
    llm_entities,
    rules_entities,
    rules_outdated,
)
from agents.arigraph.memory import AriGraphMemory, sections_text
from agents.arigraph.planact import PlanActAgent
from agents.arigraph.retrieval import make_encoder
from agents.arigraph.triplets import Triplet
from lab.core.env import Observation
from lab.core.prompts import render
from lab.core.protocols import Action, AgentContext, Task

EXPLORE_WORDS = re.compile(r"\b(explore|exploring|find|locate|search|look for|discover|unexplored)\b", re.I)
TRUE_FALSE = re.compile(r"\b(true|false)\b", re.I)


def gate_answer(reply: str) -> bool | None:
    """A generated gate reply's first "True" or "False" word, None when it has neither. (Matching the
    whole reply to the two options by string similarity reads "True. The plan needs finding the key." as
    False.)

    >>> gate_answer("True. The plan needs finding the key."), gate_answer("**False**"), gate_answer("Maybe")
    (True, False, None)
    """
    word = TRUE_FALSE.search(reply)
    return word[1].lower() == "true" if word else None


class AriGraphAgent(PlanActAgent):
    """Ariadne [AP §3]: AriGraph memory + planning + exploration + navigation."""

    id: ClassVar[str] = "arigraph"

    def __init__(self, config: AriGraphConfig, ctx: AgentContext) -> None:
        super().__init__(config, ctx)
        self.config: AriGraphConfig = config
        self.graph = AriGraphMemory(
            make_encoder(config.encoder),
            width=config.width,
            threshold=config.threshold,
            protected=config.protected_words,
            embed_episodes=config.episodic_plan_similarity,
            topk_episodic=config.topk_episodic,
        )
        self.extractor = {
            "llm": lambda: LLMExtractor(self.llm, config.extract_inventory),
            "rules": lambda: RulesExtractor(config.extract_inventory),
            "oracle": OracleExtractor,
        }[config.extractor]()
        self.refiner = LLMOutdated(self.llm) if config.outdated == "llm" else None
        self.sees_ground_truth = config.extractor == "oracle"
        """Asks the run loop for ground-truth facts (the oracle extractor only; see README)."""
        self.retrieved: list[str] = []

    @property
    def memory(self) -> AriGraphMemory:
        """The graph."""
        return self.graph

    def reset(self, task: Task) -> None:
        """A fresh graph per trial (the paper's memory lives within one episode)."""
        super().reset(task)
        self.graph.clear()
        self.retrieved, self.explore = [], False

    def detect(self, candidates: list[Triplet], new: list[Triplet]) -> list[Triplet]:
        """Outdated-triplet judgement (LLM call 3 or rules). ``recall`` hands the LLM refiner to the update
        itself, so that it is shown only the new triplets not stored yet."""
        if self.refiner:
            return self.refiner(candidates, new)
        full = self.config.extractor == "oracle" or (
            self.config.extractor == "rules" and self.config.extract_inventory
        )
        return rules_outdated(candidates, new, full_inventory=full)

    def plan_text(self) -> str:
        """The plan as it enters prompts and the rules-based entity finder."""
        return str(self.plan)

    def recall(self, obs: Observation, text: str, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """Steps 1-4: entities, graph update, both searches, episodic write, exploration."""
        location = self.location
        if location:
            self.graph.locations.add(location)
        with self.ctx.clock.phase("memory_read"):
            entities, rejected = self.entities(text)
        with self.ctx.clock.phase("memory_write"):
            view = View(
                text=text,
                room=location,
                inventory=obs.inventory,
                admissible=obs.admissible,
                facts=obs.privileged.get("facts"),
                examples=self.retrieved,
            )
            parsed = self.extractor(view)
            move = (self.previous_location, location, self.last_action) if location else None
            report = self.graph.update(parsed.triplets, self.t, self.refiner or self.detect, move)
        with self.ctx.clock.phase("memory_read"):
            if (
                self.config.entities == "rules"
            ):  # the rules finder looks up the vertices known after the update
                entities, rejected = self.entities(text)
            fresh = [
                t for t in self.graph.semantic_search(entities) if t not in {p.text for p in parsed.triplets}
            ]
            query = fresh if self.config.episodic_query == "fresh" else self.retrieved
            recent = set(self.observations)
            skip = (lambda e: e.text in recent) if self.config.episodic_skip_recent else (lambda e: False)
            plan = self.plan_text() if self.config.episodic_plan_similarity else None
            episodes = self.graph.episodic_search(set(query), self.config.topk_episodic, plan, skip)
        with self.ctx.clock.phase("memory_write"):
            self.graph.write_episode(self.t, text, parsed.triplets)
        self.retrieved = fresh
        sections = self.graph.sections(fresh, episodes) + self.exploration(thoughts)
        self.graph.mark(fresh, episodes, sections_text(sections))
        thoughts["memory"] = {
            "extractor": self.extractor.label,
            "entities": entities,
            "new": report.new,
            "outdated": report.outdated,
            "deleted": report.deleted,
            "spatial": report.spatial,
            "retrieved": len(fresh),
            "episodes": [e.step for e in episodes],
            "parse_rejected": parsed.rejected + rejected + report.rejected,
        }
        return sections

    def entities(self, text: str) -> tuple[dict[str, int], list[str]]:
        """Query entities and their depths (LLM call 1, or known vertices named in the text or plan)."""
        if self.config.entities == "llm":
            return llm_entities(self.llm, text, self.plan_text(), self.config.max_depth)
        vertices = sorted({v for t in self.graph.triplets() for v in t.vertices()})
        found = rules_entities(text, self.plan_text(), vertices)
        return {k: min(v, self.config.max_depth) for k, v in found.items()}, []

    def exploration(self, thoughts: dict[str, Any]) -> list[tuple[str, str]]:
        """Step 4: the gate, then the unexplored exits of every visited location [AP App. B]."""
        self.explore = self.config.exploration and self.gate()
        thoughts["explore"] = self.explore
        if not self.explore:
            return []
        lines = [
            f"Unexplored exits for {loc}: {exits or 'none'}" for loc, exits in self.graph.unexplored().items()
        ]
        return [("Yet unexplored exits in the environment", "\n".join(lines) or "none")]

    def gate(self) -> bool:
        """LLM call 4 (True/False on the plan), a keyword test, or always."""
        kind = self.config.explore_gate
        if kind == "always":
            return True
        if kind == "keyword":
            return bool(EXPLORE_WORDS.search(self.plan_text()))
        messages = [
            ("system", prompts.EXPLORE_SYSTEM),
            ("user", render(prompts.EXPLORE_USER, plan=self.plan_text())),
        ]
        choice = self.llm.choose(messages, ["True", "False"], purpose="explore_gate")
        answer = gate_answer(choice.raw) if choice.raw else None
        return choice.option == "True" if answer is None else answer

    def extra_options(self) -> list[str]:
        """``go to <location>`` for every visited location [A:pipeline_arigraph.py]."""
        return [
            f"go to {loc}"
            for loc in sorted(self.graph.locations)
            if self.config.offer_goto_current or loc != self.location
        ]

    def expand(self, command: str, thoughts: dict[str, Any]) -> Action:
        """A ``go to`` becomes the moves of a shortest known path; an impossible one plays nothing."""
        if not command.startswith("go to "):
            return Action(command=command, thoughts=thoughts)
        path = self.graph.path(self.location or "", command[len("go to ") :].strip().lower())
        if isinstance(path, str):
            self.substitute = path
            thoughts["go_to_error"] = path
            return Action(command=command, thoughts=thoughts, env_commands=[])
        thoughts["go_to_path"] = path
        return Action(command=command, thoughts=thoughts, env_commands=path)
