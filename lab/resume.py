"""``memlab resume RUN_ID``: continue an errored, stopped or interrupted run from its last committed step.

A long run with a strong model (150 steps × 6 calls) can end on a provider's bad hour. Resuming rebuilds
the agent's state by playing the run again from its start with the recorded replies (the env and the agent
are deterministic given the seed, as for ``replay:``), checks each rebuilt step against the stored one,
and goes on live from the first step that was not committed. The step that had failed is played again:
the run's summary keeps it, with where and when the run was resumed (``RunSummary.resumes``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from lab.core import llm as llmlib
from lab.core.errors import ConfigError, LabError
from lab.core.llm.replay import PROBE_PURPOSE, ReplayChatModel, ResumeChatModel
from lab.core.records import LLMCall, Resumption, RunInfo, RunSummary, Step
from lab.probing import probe_llm
from lab.runner import Prepared, Progress, drive, prepare
from lab.store import RunStore

RESUMABLE = ("error", "stopped", "interrupted")


def is_failure(step: Step) -> bool:
    """Whether a step is the one the run loop records when a step fails (no action, the error in thoughts)."""
    return step.action == "" and "error" in step.thoughts and step.done


class ResumeSink:
    """Drops the rebuilt steps that the store already holds (after checking them), writes the new ones."""

    def __init__(self, store: RunStore, run_id: str, stored: list[Step]) -> None:
        self.store, self.run_id, self.stored = store, run_id, stored

    def append_steps(self, run_id: str, steps: list[Step]) -> None:
        for step in steps:
            if step.index < len(self.stored) and step.action != self.stored[step.index].action:
                raise LabError(f"cannot resume run {self.run_id}: rebuilding it diverged at step {step.index} "
                               f"(recorded {self.stored[step.index].action!r}, rebuilt {step.action!r})")
        self.store.append_steps(run_id, [s for s in steps if s.index >= len(self.stored)])

    def stop_requested(self, run_id: str) -> bool:
        return self.store.stop_requested(run_id)


def resume(run_id: str, store: RunStore | None = None, *, chat_model: object | None = None,
           progress: Progress | None = None, stop: threading.Event | None = None) -> RunInfo:
    """Continue ``run_id`` live from its last committed step; returns the stored run when it ends again.

    ``chat_model`` stands in for the model the run's LLM spec names (tests). Bad requests (a finished or
    running run, a replayed run, an LLM spec that no longer validates) raise before anything changes."""
    store = store or RunStore()
    store.recover()
    info = store.get_run(run_id)
    if info.status not in RESUMABLE:
        raise LabError(f"run {run_id} is {info.status}: only an errored, stopped or interrupted run can be "
                       f"resumed")
    if llmlib.split(info.config.llm)[0] == "replay":
        raise ConfigError(f"run {run_id} replays run {llmlib.split(info.config.llm)[1]}: replay it again instead")
    prepared = prepare(info.config, store)
    steps = store.steps(run_id)
    failed = steps.pop() if steps and is_failure(steps[-1]) else None
    calls = [call for step in steps for call in step.llm_calls if call.error is None]
    llm = resuming_llm(prepared.config.llm, prepared, calls, chat_model, store)
    probes = resuming_probes(prepared, llm, calls, store, run_id)
    before = info.summary or RunSummary(status=info.status, message=info.message)
    resumption = Resumption(at_step=len(steps), after=info.status, message=before.message or info.message,
                            failed_step=failed, resumed_at=datetime.now(timezone.utc).isoformat())
    resumes = [*before.resumes, resumption]
    store.drop_steps(run_id, len(steps), before.model_copy(update={"resumes": resumes}))
    store.set_status(run_id, "running", f"resumed at step {len(steps)}")
    store.claim_run(run_id)
    started = time.perf_counter()
    summary = drive(prepared, llm, ResumeSink(store, run_id, steps), run_id, progress, stop, probes,
                    cross_run=store.cross_run_memory(run_id, prepared.config.agent_id, before=info.created_at))
    summary = summary.model_copy(update={"resumes": resumes,
                                         "wall_s": before.wall_s + (time.perf_counter() - started)})
    store.finish_run(run_id, summary)
    return store.get_run(run_id)


def resuming_probes(prepared: Prepared, llm: llmlib.LLM | None, calls: list[LLMCall], store: RunStore,
                    run_id: str) -> llmlib.LLM | None:
    """The run's probe client: the probes' own recorded answers first, then their live model (not the
    agent's: the two replays keep their own cursors)."""
    probes = probe_llm(prepared.config, llm, store)
    if probes is not None:
        live = probes.model.live.model_copy() if isinstance(probes.model, ResumeChatModel) else probes.model
        asked = [c for c in calls if c.purpose == PROBE_PURPOSE]
        probes.model = ResumeChatModel(recorded=ReplayChatModel.from_calls(run_id, calls, probes=True),
                                       live=live, model_name=asked[0].model if asked else probes.name)
    return probes


def resuming_llm(spec: str, prepared: Prepared, calls: list[LLMCall], chat_model: object | None,
                 store: RunStore) -> llmlib.LLM | None:
    """The run's LLM client: the recorded agent calls first, then the live model."""
    if not prepared.agent.uses_llm:
        return None
    live = chat_model if chat_model is not None else llmlib.build(spec, store)
    recorded = ReplayChatModel.from_calls("resume", calls)
    name = next((c.model for c in calls), None) or getattr(live, "model_name", None) or spec
    model = ResumeChatModel(recorded=recorded, live=live, model_name=str(name))  # type: ignore[arg-type]
    return llmlib.LLM(model, spec, sampling=prepared.config.sampling)
