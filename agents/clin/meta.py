"""CLIN's meta-memory across episodes, kept in the run store through the run's ``CrossRunMemory``.

After every trial the agent records its episode's best trial so far (highest 0-100 score; the later
trial on ties, as its memory is the more refined one) with that trial's learnings, as an entry owned by
the run: deleting the run deletes it, exporting the run carries it. A new episode in Gen-Env mode is
seeded with the generalised best-trial memories of earlier episodes of the same env family; in Gen-Task
mode, of the other families (CLIN §"Meta-memory", reference §5). Only entries recorded under the same
provenance count (:func:`provenance`): the LLM spec and every config field but ``NOT_PROVENANCE``, so a
GPT-4 episode is never seeded from the embedded model's or the deterministic generator's learnings.

An episode is identified by the env id and the text of its first observation: TextWorld cooking
games share one objective sentence, but their opening room text differs from game to game. When several
runs played the same episode, its best trial among them is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from agents.clin.config import NOT_PROVENANCE, ClinConfig
from agents.clin.memory import Learning, TrialRecord
from lab.core.records import CrossRunEntry


def episode_key(env_id: str, first_observation: str) -> str:
    """A short stable id of an episode (env family + opening text)."""
    return hashlib.sha1(f"{env_id}\n{' '.join(first_observation.split())}".encode()).hexdigest()[:16]


def provenance(llm_spec: str, config: ClinConfig) -> dict[str, Any]:
    """What an entry's learnings depend on: the LLM spec and the learning-relevant config."""
    return {"llm": llm_spec, "config": config.model_dump(mode="json", exclude=set(NOT_PROVENANCE))}


def entry_data(env_id: str, objective: str, record: TrialRecord) -> dict[str, Any]:
    """An episode's best trial as a cross-run memory entry's data."""
    return {
        "env_id": env_id,
        "objective": objective,
        "trial": record.trial,
        "score": record.score,
        "learnings": [learning.to_json() for learning in record.learnings],
    }


@dataclass(frozen=True)
class Source:
    """An earlier episode's best trial, as it seeds the meta-memory."""

    run_id: str
    episode: str
    env_id: str
    trial: int
    score: float
    learnings: list[Learning]

    def note(self) -> dict[str, Any]:
        """What the seeded run's thoughts and snapshot say of it."""
        return {"run_id": self.run_id, "episode": self.episode, "env_id": self.env_id, "trial": self.trial,
                "score": self.score, "learnings": len(self.learnings)}


def best_episodes(
    entries: Iterable[CrossRunEntry], env_id: str, same_family: bool, exclude: str
) -> list[Source]:
    """The best trial of each other episode with learnings: same env family (Gen-Env) or other families
    (Gen-Task). ``entries`` come oldest run first, so a later run wins a tie; episodes sorted by key."""
    best: dict[str, Source] = {}
    for entry in entries:
        data = entry.data
        if entry.key == exclude or (data["env_id"] == env_id) != same_family:
            continue
        source = Source(entry.run_id, entry.key, data["env_id"], int(data["trial"]), float(data["score"]),
                        [Learning.from_json(item) for item in data["learnings"]])
        if entry.key not in best or source.score >= best[entry.key].score:
            best[entry.key] = source
    return [best[key] for key in sorted(best) if best[key].learnings]
