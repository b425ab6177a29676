"""The run loop on real envs: recording, reproducibility, replay, stop, errors, memory keyframes."""

from __future__ import annotations

import threading

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.core.errors import ConfigError, UnknownIdError
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore

GRID = "minigrid:MiniGrid-Empty-5x5-v0"


class FailsAfter(FakeListChatModel):
    """Answers ``ok`` calls, then raises a server error on every call."""

    ok: int = 3
    seen: int = 0

    def _call(self, *args, **kwargs):
        self.seen += 1
        if self.seen > self.ok:
            raise RuntimeError("500 internal server error")
        return super()._call(*args, **kwargs)


def actions(store: RunStore, run_id: str) -> list[str]:
    return [s.action for s in store.steps(run_id)]


def test_random_run_is_recorded_and_reproducible(store: RunStore) -> None:
    config = RunConfig(env_id=GRID, agent_id="random", seed=3, max_steps=40)
    first, second = execute(config, store), execute(config, store)
    assert first.status == "finished" and first.n_steps == first.summary.steps > 0
    assert actions(store, first.run_id) == actions(store, second.run_id)
    steps = store.steps(first.run_id)
    assert steps[-1].trial_end and steps[-1].index == first.n_steps - 1
    assert all(s.observation.admissible[:3] == ["left", "right", "forward"] for s in steps)
    other = execute(config.model_copy(update={"seed": 4}), store)
    assert actions(store, other.run_id) != actions(store, first.run_id)


def test_full_history_prompt_holds_the_history(store: RunStore) -> None:
    model = FakeListChatModel(responses=["forward", "left", "right"])
    info = execute(RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=6, snapshot_every=4),
                   store, chat_model=model)
    steps = store.steps(info.run_id, with_snapshots=True)
    assert [s.action for s in steps] == ["forward", "left", "right", "forward", "left", "right"][: len(steps)]
    last_prompt = steps[-1].llm_calls[0].messages[-1].content
    assert "Action: forward" in last_prompt and "Action: left" in last_prompt
    assert "Valid actions:\n- left\n- right\n- forward" in last_prompt
    assert [s.memory_snapshot is not None for s in steps] == [i % 4 == 0 or i == len(steps) - 1
                                                                for i in range(len(steps))]
    assert store.memory_at(info.run_id, len(steps) - 1).records[-1].text.endswith(f"Action: {steps[-1].action}")
    assert info.summary.llm_calls == len(steps) and info.summary.tokens_in > 0


def test_replay_reproduces_a_recorded_run(store: RunStore) -> None:
    config = RunConfig(env_id=GRID, agent_id="full-history", llm="fake:forward|left|forward|right", max_steps=8)
    original = execute(config, store)
    replayed = execute(config.model_copy(update={"llm": f"replay:{original.run_id}"}), store)
    assert replayed.status == "finished"
    assert actions(store, replayed.run_id) == actions(store, original.run_id)


def test_stop_ends_the_run_cleanly(store: RunStore) -> None:
    stop = threading.Event()
    info = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=100, trials=3), store,
                   progress=lambda done, total: stop.set() if done == 5 else None, stop=stop)
    assert info.status == "stopped" and info.n_steps == 5


def test_llm_failure_ends_the_run_with_an_error_and_keeps_the_steps(store: RunStore, monkeypatch) -> None:
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "1")
    monkeypatch.setenv("MEMLAB_LLM_BACKOFF", "0")
    info = execute(RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=10), store,
                   chat_model=FailsAfter(responses=["forward"], ok=3))
    assert info.status == "error" and "500 internal server error" in info.message
    steps = store.steps(info.run_id)
    assert info.n_steps == len(steps) == 4  # three good steps, then the one whose LLM call failed
    assert [s.action for s in steps[:3]] == ["forward"] * 3
    failed = steps[-1]
    assert failed.action == "" and "500 internal server error" in failed.thoughts["error"]
    (call,) = failed.llm_calls
    assert call.attempts == 2 and len(call.retry_errors) == 2 and call.error.startswith("RuntimeError")


def test_bad_configs_store_nothing(store: RunStore) -> None:
    with pytest.raises(UnknownIdError, match="unknown agent 'nope'"):
        execute(RunConfig(env_id=GRID, agent_id="nope"), store)
    with pytest.raises(UnknownIdError, match="unknown env"):
        execute(RunConfig(env_id="tw-nope", agent_id="random"), store)
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        execute(RunConfig(env_id=GRID, agent_id="random", env_options={"colour": 1}), store)
    with pytest.raises(ConfigError, match="max_history_chars"):
        execute(RunConfig(env_id=GRID, agent_id="full-history", agent_config={"max_history_chars": "lots"}), store)
    assert store.list_runs() == []
