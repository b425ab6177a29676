"""Recorded runs for the page tests, made once per module in their own data dir.

* ``demo``: 40 MiniGrid steps of the demo place-graph memory (graph + records), label ``batch-a``;
* ``demo2``: the same env and seed with fewer episode nodes (so the two runs differ), label ``batch-a``;
* ``history``: the full-history agent with a fake chat model (LLM calls, record memory), 2 trials;
* ``text``: a TextWorld-shaped run written directly (rooms, an LLM call whose text holds HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.core import memory as memlib
from lab.core.records import (
    LLMCall, MemorySnapshot, MemRecord, Message, ObservationRecord, RunConfig, RunSummary, Step, TrialResult,
)
from lab.runner import execute
from lab.store import RunStore
from lab.views.demo import record_demo

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ROOMS = ["Kitchen", "Kitchen", "Hall", "Hall", "Study", "Hall", "Kitchen"]


@dataclass
class Recorded:
    """The runs of the module's store."""

    home: Path
    demo: str
    demo2: str
    history: str
    text: str


def text_run(store: RunStore) -> str:
    """A text run through three rooms, with a memory of notes and one LLM call per step."""
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="full-history", llm="fake:x", max_steps=7))
    steps, prev = [], None
    actions = ["look", "go east", "take key", "go north", "go south", "go west", "eat"]
    for i, (room, action) in enumerate(zip(ROOMS, actions)):
        notes = [MemRecord(id=f"r{j}", kind="note", text=f"note {j} {HOSTILE}", added_step=j)
                 for j in range(i + 1)]
        cur = MemorySnapshot(records=notes, retrieved=[f"r{i}"], prompt_text=f"notes up to {i}")
        call = LLMCall(purpose="act", model="fake", messages=[Message(role="system", content="You play."),
                       Message(role="user", content=f"You are in the {room}. {HOSTILE}")],
                       response=f"{action} {HOSTILE}", tokens_in=20 + i, tokens_out=3, latency_s=0.01)
        seen = ObservationRecord(text=f"-= {room} =- {HOSTILE}", room=room, objective="find the coin")
        steps.append(Step(index=i, t=i, observation=seen, action=action, feedback=f"you {action}",
                          score=float(i), max_score=10.0, thoughts={"plan": f"visit rooms {HOSTILE}"},
                          llm_calls=[call], memory_diff=memlib.diff(prev, cur),
                          memory_snapshot=cur if i % 3 == 0 or i == 6 else None,
                          memory_size=memlib.size(cur), trial_end=i == 6))
        prev = cur
    store.append_steps(run_id, steps)
    trial = TrialResult(trial=0, steps=7, score=6, max_score=10)
    store.finish_run(run_id, RunSummary(status="finished", steps=7, score=6, max_score=10,
                                        normalized_score=0.6, trials=[trial]))
    return run_id


def record_all(store: RunStore) -> dict[str, str]:
    """Every run of the fixture, by name."""
    demo = record_demo(store, n_steps=40, episode_every=2, label="batch-a")
    demo2 = record_demo(store, n_steps=30, episode_every=3, label="batch-a")
    model = FakeListChatModel(responses=["forward", "left", "right"])
    config = RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm="fake:x",
                       max_steps=5, trials=2, snapshot_every=3)
    history = execute(config, store, chat_model=model).run_id
    return {"demo": demo, "demo2": demo2, "history": history, "text": text_run(store)}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """A store with the four runs; MEMLAB_HOME points at it for the module."""
    home = tmp_path_factory.mktemp("pages-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMLAB_HOME", str(home))
        store = RunStore()
        yield Recorded(home=home, **record_all(store))
        store.close()
