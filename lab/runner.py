"""The run loop: the only code that steps envs, calls agents and writes steps.

``prepare`` validates a :class:`RunConfig` (nothing is stored when it is wrong);
``execute`` runs it to the end, writing each step as it happens, so another process
sees steps appear live. A stop request (store flag, event, SIGTERM) ends the run cleanly
after the current step, which is then the trial's last; an error ends it with status ``error``
and keeps every step.

Under a forced policy (:mod:`lab.forced`) the env plays the policy's command and ``observe`` is told
so; ground-truth probes of the memory (:mod:`lab.probing`) run every ``probe_every`` steps and at trial
ends, off the agent's clock and LLM budget (a client of their own; calls of purpose ``probe``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np
import torch

from agents.registry import get_spec as agent_spec
from agents.registry import parse_config
from lab.core.env import Env, EnvSpec, Observation
from envs.registry import get_spec as env_spec
from envs.registry import parse_options
from lab.core import llm as llmlib
from lab.core.llm import context, sampling
from lab.core.llm.replay import PROBE_PURPOSE
from lab.core import memory as memlib
from lab.core.errors import EditError, LabError, StopRequested
from lab.core.protocols import (
    Action, Agent, AgentContext, AgentSpec, CrossRunMemory, EditableMemory, LocalCrossRunMemory, Task,
    TrialOutcome, Transition,
)
from lab.core.records import (
    CrossRunEntry, MemoryEdit, MemorySnapshot, ObservationRecord, ProbeReport, Record, RunConfig, RunInfo,
    RunSummary, Step, Timings, TrialResult,
)
from lab.fidelity import Fidelity
from lab.forced import ForcedPolicy, agrees
from lab.grid_probes import GridProber
from lab.probing import PROBE_SAMPLING, Prober, probe_llm
from lab.store import RunStore
from lab.core.versions import versions

Progress = Callable[[int, int], None]
FLUSH_EVERY_S = 0.1
"""Steps are committed at least this often (and at every trial end), so live views lag < 0.1 s."""
STOP_POLL_S = 0.001
"""The store's stop flag is read at the end of each step, but at most this often."""
STOP_WAIT_POLL_S = 0.25
"""During an LLM call's retry wait, the stop flag is read this often."""


@dataclass
class Prepared:
    """A validated config with its env and agent specs."""

    config: RunConfig
    env: EnvSpec
    agent: AgentSpec


@dataclass
class Extras:
    """What a step records besides the played action: the agent's choice, the probes, and the run loop's
    metrics (probes, agreement with a forced policy), which join the agent's own."""

    agent_action: str | None = None
    forced: str | None = None
    probes: ProbeReport | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    edits: list[MemoryEdit] = field(default_factory=list)


def prepare(config: RunConfig, store: RunStore | None = None) -> Prepared:
    """Validate ids, options and the LLM spec; fill the agent's defaults into the config, with the model's
    context window (its prompt caps scaled to it) and what each call purpose sends (``--llm-opt`` applied,
    checked against the provider). ``store`` holds the run that a ``replay:`` spec replays."""
    espec, aspec = env_spec(config.env_id), agent_spec(config.agent_id)
    env_options = parse_options(espec, config.env_options)
    agent_config = parse_config(aspec, config.agent_config)
    options = sampling.check(config.llm_options)
    if aspec.uses_llm:
        llmlib.validate(config.llm)
    if config.probe_llm not in ("", "none"):
        llmlib.validate(config.probe_llm)
    tokens, source, sent = None, "", {}
    if aspec.uses_llm:
        tokens, source = window_of(config, options, store)
        agent_config = agent_config.fit_context(tokens)
        provider, model = llmlib.split(config.llm)
        sent = sampling.sent(provider, model, sampling.apply(agent_config.sampling_table(), options))
    probe_spec = config.probe_llm or (config.llm if aspec.uses_llm else "none")
    if config.probe_every and probe_spec != "none":
        own = {k: v for k, v in options.items() if probe_spec == config.llm}
        probe_table = sampling.apply({PROBE_PURPOSE: PROBE_SAMPLING}, own)
        sent[PROBE_PURPOSE] = sampling.sent(*llmlib.split(probe_spec), probe_table)[PROBE_PURPOSE]
    if espec.kind not in aspec.env_kinds:
        raise LabError(f"agent {aspec.id} does not run in {espec.kind} envs ({config.env_id})")
    if config.policy != "agent" and espec.kind != "text":
        raise LabError(f"--policy {config.policy} needs an env with a walkthrough (TextWorld); "
                       f"{config.env_id} has none")
    full = config.model_copy(update={
        "env_options": env_options.model_dump(mode="json"),
        "agent_config": agent_config.model_dump(mode="json"),
        "llm": config.llm if aspec.uses_llm else "none",
        "llm_options": options, "sampling": sent, "context_tokens": tokens, "context_source": source,
    })
    return Prepared(config=full, env=espec, agent=aspec)


def window_of(config: RunConfig, options: dict[str, float | int | None],
              store: RunStore | None) -> tuple[int, str]:
    """The context window of the run's model: declared, known, or (a replay) the replayed run's."""
    declared = options.get(sampling.CONTEXT_KEY)
    provider, rest = llmlib.split(config.llm)
    if provider == "replay" and not declared and store is not None and store.has_run(rest):
        recorded = store.get_run(rest).config
        if recorded.context_tokens:
            return recorded.context_tokens, f"the replayed run's ({recorded.context_source})"
    return context.window(config.llm, int(declared) if declared else None)


def observation_record(obs: Observation) -> ObservationRecord:
    """What the trace keeps of an observation (no image, no ground truth)."""
    return ObservationRecord(text=obs.text, feedback=obs.feedback, admissible=obs.admissible,
                             objective=obs.objective, room=obs.room, description=obs.description,
                             inventory=obs.inventory, direction=obs.direction, extra=obs.extra)


class StepSink(Protocol):
    """Where the loop sends steps: the run store, or a collector in a sweep worker."""

    def append_steps(self, run_id: str, steps: list[Step]) -> None: ...

    def stop_requested(self, run_id: str) -> bool: ...


class CollectingSink:
    """Keeps steps in memory (a sweep worker sends them to the driver, which alone writes the store)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def append_steps(self, run_id: str, steps: list[Step]) -> None:
        self.steps.extend(steps)

    def stop_requested(self, run_id: str) -> bool:
        return False


class Recorder:
    """Buffers steps and commits them at least every ``FLUSH_EVERY_S``; answers the loop's stop polls."""

    def __init__(self, sink: StepSink, run_id: str, stop: threading.Event) -> None:
        self.sink, self.run_id, self.stop = sink, run_id, stop
        self.buffer: list[Step] = []
        self.last = time.perf_counter()
        self.polled = 0.0

    def add(self, step: Step) -> None:
        self.buffer.append(step)
        if step.trial_end or time.perf_counter() - self.last >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self.sink.append_steps(self.run_id, self.buffer)
        self.buffer = []
        self.last = time.perf_counter()
        self.polled = 0.0  # always read the flag after a commit
        self.stopping()

    def wait(self, seconds: float) -> None:
        """An LLM call's wait before a retry, cut short by a stop request (the event at once, the store's
        flag at each poll): a stop raises :class:`StopRequested`, so a run stuck in a provider's bad hour
        stops when asked, not when the retry budget runs out."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop.wait(min(left, STOP_WAIT_POLL_S)) or self.stopping():
                raise StopRequested(f"stopped by the user while an LLM call waited {seconds:.1f} s to retry; "
                                    "the step in progress was not kept (memlab resume goes on from it)")

    def stopping(self) -> bool:
        """Whether a stop was asked for (event, SIGTERM, or the store flag another process set).

        The loop asks at the end of every step, so a stop ends the run after the step in progress. The
        store flag is read at most every ``STOP_POLL_S`` (a read costs ~10 us, 5% of a random MiniGrid
        step): steps shorter than that stop within ``STOP_POLL_S`` of the request.
        """
        now = time.perf_counter()
        if not self.stop.is_set() and now - self.polled >= STOP_POLL_S:
            self.polled = now
            if self.sink.stop_requested(self.run_id):
                self.stop.set()
        return self.stop.is_set()


class Loop:
    """One run: an agent, an env, a recorder, and the running totals of the summary."""

    def __init__(self, prepared: Prepared, agent: Agent, env: Env, recorder: Recorder, llm: llmlib.LLM | None,
                 progress: Progress | None, probe_llm: llmlib.LLM | None = None) -> None:
        self.config, self.agent, self.env, self.recorder = prepared.config, agent, env, recorder
        self.kind, self.llm, self.progress = prepared.env.kind, llm, progress
        self.index, self.env_steps = 0, 0
        self.snapshot: MemorySnapshot | None = None
        self.trials: list[TrialResult] = []
        self.tokens = [0, 0, 0]  # calls, in, out
        self.current: tuple[int, int, Observation] | None = None
        self.probe_llm, self.prober = probe_llm, Prober(prepared.config, probe_llm, prepared.env.kind)
        self.forced: ForcedPolicy | None = None
        self.probed = [0, 0]  # probes, probe LLM calls
        self.fidelity = Fidelity()
        self.grid_prober = GridProber(prepared.config.probe_every)  # grid memories' beliefs (lab.grid_probes)
        fork = prepared.config.fork
        self.edits_at = fork.edits_at() if fork is not None else {}
        """A fork's memory edits by the step they are applied before (``RunConfig.fork``)."""

    def run(self) -> None:
        for trial in range(self.config.trials):
            if self.recorder.stop.is_set():
                return
            self.run_trial(trial)

    def run_trial(self, trial: int) -> None:
        obs = self.env.reset(seed=self.config.seed)
        actions = list(obs.admissible) if self.kind == "grid" else []
        walkthrough = obs.privileged.get("walkthrough")
        self.prober.start_trial(trial)
        self.fidelity.start_trial()
        self.grid_prober.start_trial()
        if self.config.policy != "agent":
            self.forced = ForcedPolicy.start(self.config.policy, obs, self.config.explore, self.config.seed,
                                             trial)
        self.agent.reset(Task(env_id=self.config.env_id, env_kind=self.kind, objective=obs.objective,
                              trial=trial, max_steps=self.config.max_steps, action_names=actions,
                              walkthrough_length=len(walkthrough) if walkthrough else None))
        for t in range(self.config.max_steps):
            if self.recorder.stop.is_set():  # asked to stop between steps
                self.end_trial(trial, t - 1, obs)
                return
            obs, ended = self.step(trial, t, obs)
            if ended:
                return

    def step(self, trial: int, t: int, obs: Observation) -> tuple[Observation, bool]:
        self.current = (trial, t, obs)
        self.prober.see(obs)
        edits = self.edit(t, self.edits_at[self.index]) if self.index in self.edits_at else []
        start = time.perf_counter()
        sees = getattr(self.agent, "sees_ground_truth", False)  # oracle memories (AriGraph extractor=oracle)
        action = self.agent.act(obs if sees else obs.public())
        agent_s = time.perf_counter() - start
        start_fidelity = time.perf_counter()  # fidelity of the memory against the facts of the observation acted on
        fidelity = self.fidelity.score(self.agent.memory, obs.privileged.get("facts"))
        grid = self.grid_prober.score(self.agent.memory, obs.privileged)  # every step; kept when due
        fidelity_s = time.perf_counter() - start_fidelity
        played, source = self.force(obs, action)
        nxt, reward, env_s, commands = self.play(obs, played)
        start_obs = time.perf_counter()
        self.agent.observe(Transition(obs.public(), played, nxt.public(), reward, nxt.done))
        agent_s += time.perf_counter() - start_obs
        ended = nxt.done or played.stop or t == self.config.max_steps - 1 or self.recorder.stopping()
        if ended:
            self.end_trial(trial, t, nxt)
        timings = Timings(env_s=env_s, agent_s=agent_s, total_s=time.perf_counter() - start - fidelity_s)
        probes, probe_metrics = self.probe(t, obs, nxt, ended, timings)
        timings.probe_s += fidelity_s
        probe_metrics.update(fidelity)
        if self.prober.due(t, ended):
            probe_metrics.update(grid)
        if source is not None and not played.stop:
            probe_metrics["policy/agree"] = float(agrees(action.command, action.env_commands, played.command))
        self.record(trial, t, obs, played, nxt, reward, commands, ended, timings,
                    Extras(action.command if source else None, source, probes, probe_metrics, edits))
        return nxt, ended

    def edit(self, t: int, edits: list[MemoryEdit]) -> list[MemoryEdit]:
        """A fork's memory edits, applied before the step acts (``t``: the memory's step)."""
        memory, agent = self.agent.memory, self.config.agent_id
        if edits and memory is None:
            raise EditError(f"{agent} has no memory to edit")
        if edits and not isinstance(memory, EditableMemory):
            raise EditError(f"{agent}'s memory ({type(memory).__name__}) takes no edits")
        for edit in edits:
            memory.edit(edit, t)  # type: ignore[union-attr]
        return list(edits)

    def force(self, obs: Observation, action: Action) -> tuple[Action, str | None]:
        """The action to play and where it came from: the agent's (None), or the forced policy's."""
        return (action, None) if self.forced is None else self.forced.override(obs, action)

    def probe(self, t: int, obs: Observation, nxt: Observation, ended: bool, timings: Timings
              ) -> tuple[ProbeReport | None, dict[str, float]]:
        """The memory's probes after this step, when due (timed apart from the agent's step)."""
        if not self.prober.due(t, ended):
            return None, {}
        start = time.perf_counter()
        report, metrics = self.prober.ask(self.agent.memory, obs, nxt, t)
        timings.probe_s = time.perf_counter() - start
        self.probed[0] += len(report.results) if report else 0
        return report, metrics

    def play(self, obs: Observation, action: Action) -> tuple[Observation, float, float, list[str]]:
        """Play the action's env commands (a macro is several); stop early when the trial ends."""
        start, reward, played, nxt = time.perf_counter(), 0.0, [], None
        commands = action.env_commands if action.env_commands is not None else [action.command]
        for command in [] if action.stop else commands:
            nxt = self.env.step(command)
            played.append(command)
            reward += nxt.reward
            if nxt.done:
                break
        self.env_steps += len(played)
        if nxt is None:  # nothing played (a stop, an empty macro): the same state, no reward
            nxt = replace(obs, reward=0.0)
        return nxt, reward, time.perf_counter() - start, played

    def end_trial(self, trial: int, t: int, last: Observation) -> None:
        outcome = TrialOutcome(trial=trial, steps=t + 1, score=last.score, max_score=last.max_score,
                               won=last.won, lost=last.lost)
        self.agent.end_trial(outcome)
        self.trials.append(TrialResult(trial=trial, steps=t + 1, score=last.score, max_score=last.max_score,
                                       won=last.won, lost=last.lost))

    def memory_parts(self, ended: bool) -> tuple[dict, dict[str, int]]:
        memory = self.agent.memory
        if memory is None:
            return {}, {}
        current = memory.snapshot()
        keyframe = ended or self.index % self.config.snapshot_every == 0
        parts = {"memory_diff": memlib.diff(self.snapshot, current),
                 "memory_snapshot": current if keyframe else None}
        self.snapshot = current
        return parts, memlib.size(current)

    def record(self, trial: int, t: int, obs: Observation, action: Action, nxt: Observation, reward: float,
               played: list[str], ended: bool, timings: Timings, extras: Extras) -> None:
        """Store the step: ``action`` is the played one (the agent's choice is in ``extras`` when forced)."""
        calls = self.llm.take_calls() if self.llm else []
        probe_calls = self.probe_llm.take_calls() if self.probe_llm else []
        self.probed[1] += len(probe_calls)
        clock = self.agent_clock()
        timings.llm_s = sum(c.latency_s for c in calls)
        timings.memory_read_s = clock.get("memory_read", 0.0)
        timings.memory_write_s = clock.get("memory_write", 0.0)
        parts, size = self.memory_parts(ended)
        self.tokens = [self.tokens[0] + len(calls), self.tokens[1] + sum(c.tokens_in for c in calls),
                       self.tokens[2] + sum(c.tokens_out for c in calls)]
        step = Step(index=self.index, trial=trial, t=t, observation=observation_record(obs), action=action.command,
                    env_actions=played if played != [action.command] else [],
                    agent_action=extras.agent_action, forced=extras.forced, feedback=nxt.text, reward=reward,
                    score=nxt.score, max_score=nxt.max_score, done=nxt.done, won=nxt.won, lost=nxt.lost,
                    thoughts=action.thoughts, llm_calls=calls + probe_calls, memory_size=size,
                    facts=nxt.privileged.get("facts"), metrics={**action.metrics, **extras.metrics},
                    timings=timings, trial_end=ended, probes=extras.probes, edits=extras.edits, **parts)
        self.recorder.add(step)
        self.index += 1
        if self.progress:
            self.progress(self.index, self.config.max_steps * self.config.trials)

    def record_failure(self, message: str) -> None:
        """The step that failed, with the LLM calls it made (the failed one included), ends the trace."""
        calls = self.llm.take_calls() if self.llm else []
        calls += self.probe_llm.take_calls() if self.probe_llm else []
        if self.current is None or not calls:
            return
        trial, t, obs = self.current
        self.recorder.add(Step(index=self.index, trial=trial, t=t, observation=observation_record(obs), action="",
                               thoughts={"error": message}, llm_calls=calls, done=True, trial_end=True,
                               timings=Timings(llm_s=sum(c.latency_s for c in calls))))
        self.index += 1

    def agent_clock(self) -> dict[str, float]:
        ctx = getattr(self.agent, "ctx", None)
        return ctx.clock.take() if isinstance(ctx, AgentContext) else {}

    def summary(self, status: str, message: str, wall_s: float) -> RunSummary:
        last = self.trials[-1] if self.trials else None
        score = last.score if last else 0.0
        max_score = last.max_score if last else None
        return RunSummary(status=status, steps=self.index, env_steps=self.env_steps, trials=self.trials,
                          score=score, max_score=max_score,
                          normalized_score=score / max_score if max_score else None,
                          won=bool(last and last.won), llm_calls=self.tokens[0], tokens_in=self.tokens[1],
                          tokens_out=self.tokens[2], probes=self.probed[0], probe_llm_calls=self.probed[1],
                          wall_s=wall_s, message=message)


def build_agent(prepared: Prepared, llm: llmlib.LLM | None, cross_run: CrossRunMemory | None = None) -> Agent:
    """Seed torch's global generator (weight init draws from it) and build the agent."""
    torch.manual_seed(prepared.config.seed)
    ctx = AgentContext(llm=llm, rng=np.random.default_rng(prepared.config.seed), seed=prepared.config.seed,
                       cross_run=cross_run)
    agent = prepared.agent.factory(parse_config(prepared.agent, prepared.config.agent_config), ctx)
    if getattr(agent, "ctx", None) is None:
        agent.ctx = ctx  # type: ignore[attr-defined]
    return agent


def make_llm(prepared: Prepared, chat_model: object | None, store: RunStore | None) -> llmlib.LLM | None:
    """The recording LLM client of a run (None for agents without an LLM)."""
    if not prepared.agent.uses_llm:
        return None
    model = chat_model if chat_model is not None else llmlib.build(prepared.config.llm, store)
    return llmlib.LLM(model, prepared.config.llm, sampling=prepared.config.sampling)  # type: ignore[arg-type]


def drive(prepared: Prepared, llm: llmlib.LLM | None, sink: StepSink, run_id: str,
          progress: Progress | None = None, stop: threading.Event | None = None,
          probe_llm: llmlib.LLM | None = None, cross_run: CrossRunMemory | None = None) -> RunSummary:
    """Run the loop to its end; any failure ends it with a status and a message, keeping its steps.

    The agent's cross-run memory is ``cross_run``, else the store's when ``sink`` is the run store."""
    if cross_run is None and isinstance(sink, RunStore):
        cross_run = sink.cross_run_memory(run_id, prepared.config.agent_id)
    env = prepared.env.factory(prepared.config.env_id, parse_options(prepared.env, prepared.config.env_options))
    recorder = Recorder(sink, run_id, stop or threading.Event())
    for client in (llm, probe_llm):
        if client is not None and client.sleep is None:  # a test's fake clock stays
            client.sleep = recorder.wait
    started = time.perf_counter()
    loop: Loop | None = None
    status, message = "finished", ""
    try:
        loop = Loop(prepared, build_agent(prepared, llm, cross_run), env, recorder, llm, progress, probe_llm)
        loop.run()
        status = "stopped" if recorder.stop.is_set() else "finished"
    except KeyboardInterrupt:
        status, message = "stopped", "stopped by the user"
    except StopRequested as err:
        status, message = "stopped", str(err)
    except LabError as err:
        status, message = "error", str(err)
    except Exception as err:  # an agent or env bug: the run ends, its steps stay
        status, message = "error", f"{type(err).__name__}: {err}".splitlines()[0]
    finally:
        try:
            if loop is not None and status == "error":
                loop.record_failure(message)
            recorder.flush()  # a store that refuses the last steps (a full disk) raises from here
        finally:
            env.close()
    if loop is None:
        return RunSummary(status=status, message=message)
    return loop.summary(status, message, time.perf_counter() - started)


def execute(config: RunConfig, store: RunStore | None = None, *, run_id: str | None = None,
            chat_model: object | None = None, progress: Progress | None = None,
            stop: threading.Event | None = None) -> RunInfo:
    """Run ``config`` to the end, writing each step to the store as it happens; returns the stored run.

    Bad configs raise before anything is stored.
    """
    store = store or RunStore()
    prepared = prepare(config, store)
    llm = make_llm(prepared, chat_model, store)
    if run_id and store.has_run(run_id):  # created by a launcher (lab.launch): take it over
        store.claim_run(run_id)
    else:
        run_id = store.create_run(prepared.config, versions(), run_id=run_id)
    summary = drive(prepared, llm, store, run_id, progress, stop, probe_llm(prepared.config, llm, store))
    store.finish_run(run_id, summary)
    return store.get_run(run_id)


class DetachedRun(Record):
    """A whole run made away from the store (a sweep worker); the driver writes it in one transaction."""

    config: RunConfig
    versions: dict[str, str]
    steps: list[Step]
    summary: RunSummary
    cross_run: list[CrossRunEntry] = []
    """The agent's cross-run memory entries (the driver stores them under the run's id)."""


def execute_detached(config: RunConfig, chat_model: object | None = None) -> DetachedRun:
    """Run ``config`` without writing anything; used by sweep workers (which read no cross-run memory)."""
    prepared = prepare(config)
    sink = CollectingSink()
    llm = make_llm(prepared, chat_model, None)
    cross_run = LocalCrossRunMemory(run_id="detached", readable=False)
    summary = drive(prepared, llm, sink, "detached", probe_llm=probe_llm(prepared.config, llm, None),
                    cross_run=cross_run)
    return DetachedRun(config=prepared.config, versions=versions(), steps=sink.steps, summary=summary,
                       cross_run=cross_run.recorded)
