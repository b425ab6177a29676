"""CLIN's meta-memory across episodes, persisted as JSON in the lab's data dir.

After every trial the agent records its episode's best trial so far (highest 0-100 score; the
later trial on ties, as its memory is the more refined one) with that trial's learnings. A new
episode in Gen-Env mode is seeded with the generalised best-trial memories of earlier episodes of
the same env family; in Gen-Task mode, of the other families (CLIN §"Meta-memory", reference §5).

An episode is identified by the env id and the text of its first observation: TextWorld cooking
games share one objective sentence, but their opening room text differs from game to game.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.clin.memory import Learning, TrialRecord
from lab.core.errors import StoreError

SCHEMA_VERSION = 1


def episode_key(env_id: str, first_observation: str) -> str:
    """A short stable id of an episode (env family + opening text)."""
    return hashlib.sha1(f"{env_id}\n{' '.join(first_observation.split())}".encode()).hexdigest()[:16]


class MetaMemoryStore:
    """The best-trial memory of every episode played, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        """All episodes by key (empty when the file does not exist yet)."""
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise StoreError(
                f"CLIN meta-memory {self.path} cannot be read ({err}); delete it to start over"
            ) from None
        if data.get("schema_version", 0) > SCHEMA_VERSION:
            raise StoreError(f"CLIN meta-memory {self.path} was written by a newer lab version")
        return dict(data.get("episodes", {}))

    def record(self, key: str, env_id: str, objective: str, record: TrialRecord) -> bool:
        """Keep ``record`` as the episode's best trial if it scores at least as well; True if stored."""
        episodes = self.load()
        best = episodes.get(key)
        if best is not None and best["score"] > record.score:
            return False
        episodes[key] = {
            "env_id": env_id,
            "objective": objective,
            "trial": record.trial,
            "score": record.score,
            "learnings": [learning.to_json() for learning in record.learnings],
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._write(episodes)
        return True

    def best_memories(self, env_id: str, same_family: bool, exclude: str) -> list[list[Learning]]:
        """Best-trial learnings of other episodes: same env family (Gen-Env) or other families (Gen-Task)."""
        out = []
        for key, episode in sorted(self.load().items()):
            if key == exclude or (episode["env_id"] == env_id) != same_family:
                continue
            out.append([Learning.from_json(item) for item in episode["learnings"]])
        return [memory for memory in out if memory]

    def _write(self, episodes: dict[str, Any]) -> None:
        """Write atomically (temp file + rename), so a killed run never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"schema_version": SCHEMA_VERSION, "episodes": episodes}, indent=1)
        fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(tmp, self.path)
