"""``memlab resume``: a run that ended early continues from its last committed step, rebuilt exactly."""

from __future__ import annotations

import threading

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.core.errors import LabError
from lab.core.records import RunConfig, Step
from lab.resume import ResumeSink, resume
from lab.runner import execute
from lab.store import RunStore

GRID = "minigrid:MiniGrid-Empty-5x5-v0"
REPLIES = ["forward", "left", "right", "forward", "right", "left"]


class FailsAfter(FakeListChatModel):
    """Answers ``ok`` calls, then fails every call the way an overloaded provider does."""

    ok: int = 3
    seen: int = 0

    def _call(self, *args, **kwargs):
        self.seen += 1
        if self.seen > self.ok:
            raise RuntimeError("Error code: 500 - the server had an error")
        return super()._call(*args, **kwargs)


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "0")


CONFIG = RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=6, probe_every=0,
                   snapshot_every=2)


def test_an_errored_run_resumes_live_from_its_last_step_and_keeps_what_failed(store: RunStore) -> None:
    broken = execute(CONFIG, store, chat_model=FailsAfter(responses=REPLIES, ok=3))
    assert broken.status == "error" and broken.n_steps == 4  # 3 played steps + the failed one
    before = store.steps(broken.run_id)
    resumed = resume(broken.run_id, store, chat_model=FakeListChatModel(responses=REPLIES[3:]))
    assert resumed.status == "finished" and resumed.n_steps == 6
    steps = store.steps(resumed.run_id)
    assert [s.index for s in steps] == list(range(6))
    assert [s.action for s in steps] == REPLIES  # the prefix rebuilt, then the live replies
    assert [s.model_dump() for s in steps[:3]] == [s.model_dump() for s in before[:3]]  # stored steps kept
    (resumption,) = resumed.summary.resumes
    assert resumption.at_step == 3 and resumption.after == "error" and "500" in resumption.message
    assert resumption.failed_step is not None and "500" in resumption.failed_step.thoughts["error"]
    assert resumed.summary.llm_calls == 6 and resumed.summary.steps == 6
    # the memory of the resumed steps continues the rebuilt one
    assert store.memory_at(resumed.run_id, 5).records[-1].text.endswith("Action: left")
    assert len(store.memory_at(resumed.run_id, 5).records) == 6
    replay = execute(CONFIG.model_copy(update={"llm": f"replay:{resumed.run_id}"}), store)
    assert [s.action for s in store.steps(replay.run_id)] == REPLIES


def test_a_stopped_run_resumes_and_says_where(store: RunStore) -> None:
    stop = threading.Event()
    stopped = execute(CONFIG, store, chat_model=FakeListChatModel(responses=REPLIES),
                      progress=lambda done, total: stop.set() if done == 2 else None, stop=stop)
    assert stopped.status == "stopped" and stopped.n_steps == 2
    resumed = resume(stopped.run_id, store, chat_model=FakeListChatModel(responses=REPLIES[2:]))
    assert resumed.status == "finished" and [s.action for s in store.steps(resumed.run_id)] == REPLIES
    assert [(r.at_step, r.after, r.failed_step) for r in resumed.summary.resumes] == [(2, "stopped", None)]
    again = resume  # a finished run cannot be resumed, and asking changes nothing
    with pytest.raises(LabError, match="is finished: only an errored, stopped or interrupted run"):
        again(resumed.run_id, store, chat_model=FakeListChatModel(responses=REPLIES))
    assert store.get_run(resumed.run_id).summary == resumed.summary


def test_a_run_resumed_twice_keeps_both_resumptions(store: RunStore) -> None:
    first = execute(CONFIG, store, chat_model=FailsAfter(responses=REPLIES, ok=2))
    second = resume(first.run_id, store, chat_model=FailsAfter(responses=REPLIES[2:], ok=2))
    assert second.status == "error" and second.n_steps == 5
    done = resume(first.run_id, store, chat_model=FakeListChatModel(responses=REPLIES[4:]))
    assert done.status == "finished" and [s.action for s in store.steps(done.run_id)] == REPLIES
    assert [r.at_step for r in done.summary.resumes] == [2, 4]


def test_a_rebuild_that_diverges_from_the_stored_steps_is_refused(store: RunStore) -> None:
    run = execute(CONFIG, store, chat_model=FakeListChatModel(responses=REPLIES))
    stored = store.steps(run.run_id)
    sink = ResumeSink(store, run.run_id, stored[:3])
    changed = Step.model_validate({**stored[1].model_dump(), "action": "right"})
    with pytest.raises(LabError, match="diverged at step 1"):
        sink.append_steps(run.run_id, [stored[0], changed])
