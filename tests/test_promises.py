"""The README's promises, each tested the way a person would meet it breaking.

The app: ``memlab app`` binds 127.0.0.1 and leaves no process behind on SIGTERM. Runs: a stop asked
from another process ends a background run after its current step; ``--llm embedded`` (the default)
works end to end through ``memlab run``; no agent but an oracle is handed ground truth by the run loop.
The LLM layer: the documented retry defaults (3 retries, 1.0 s doubling, 60 s timeout); API keys reach
neither the store, nor the launch logs, nor the CLI's output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.registry import specs as agent_specs
from lab import runner
from lab.core.env import Observation
from lab.core.errors import LLMError
from lab.core.llm.client import LLM, redact
from lab.core.llm.spec import provider_kwargs
from lab.core.records import RunConfig
from lab.store import RunStore
from tests.conftest import ROOT, memlab

GRID = "minigrid:MiniGrid-Empty-5x5-v0"
APP_START_S = 120
"""How long the Streamlit server may take to answer its health check on a shared 2-core machine."""


# -- memlab app ----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[psutil.Process]:
    """The process and its descendants (empty once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def listeners(port: int, procs: list[psutil.Process] | None = None) -> list[tuple[str, int]]:
    """Addresses listening on ``port``: of ``procs``, or of any process on this machine."""
    if procs is None:
        conns = psutil.net_connections(kind="inet")
    else:
        conns = []
        for proc in procs:
            try:
                conns += proc.net_connections(kind="inet")
            except psutil.NoSuchProcess:
                pass
    return [(c.laddr.ip, c.laddr.port) for c in conns
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port]


def healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def kill_tree(procs: list[psutil.Process]) -> None:
    """Kill the processes this test started (by pid), if any is left."""
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


class App:
    """``memlab app --port PORT`` in a subprocess, answering its health check."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.seen = tree(proc.pid)
        """Every process of the server seen while it ran (refreshed by :meth:`procs`)."""

    def procs(self) -> list[psutil.Process]:
        current = tree(self.proc.pid)
        self.seen += [p for p in current if p.pid not in {s.pid for s in self.seen}]
        return current


def start_app(home: Path, attempts: int = 3) -> App:
    """Start the app on a free port; a port taken between the pick and the bind means a fresh start."""
    env = {**os.environ, "MEMLAB_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "app", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        app = App(proc, port)
        deadline = time.monotonic() + APP_START_S
        while time.monotonic() < deadline and proc.poll() is None:
            if listeners(port, app.procs()) and healthy("127.0.0.1", port):
                return app
            time.sleep(0.25)
        kill_tree(app.seen)
        proc.wait(timeout=10)
        if time.monotonic() >= deadline:
            pytest.fail(f"memlab app did not answer on port {port} within {APP_START_S} s")
        # it exited early: most likely the port was taken in between; try another one
    pytest.fail(f"memlab app exited early {attempts} times (ports taken?)")


@pytest.fixture
def app(home: Path) -> Iterator[App]:
    served = start_app(home)
    yield served
    kill_tree(served.seen)
    served.proc.wait(timeout=10)


def test_app_binds_127_0_0_1_only(app: App) -> None:
    bound = listeners(app.port, app.procs())
    assert bound and {ip for ip, _ in bound} == {"127.0.0.1"}, bound
    others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
              if a.family == socket.AF_INET and not a.address.startswith("127.")]
    for address in others:  # this machine's other interfaces do not reach it
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, app.port)) != 0, f"the app answers on {address}:{app.port}"
        assert not healthy(address, app.port)
    print(f"bound to {bound}; unreachable on {others or 'no other interface'}")


def test_app_leaves_no_process_behind_on_sigterm(app: App) -> None:
    running = app.procs()
    assert listeners(app.port, running)
    os.kill(app.proc.pid, signal.SIGTERM)
    code = app.proc.wait(timeout=30)
    deadline = time.monotonic() + 10  # descendants may take a moment to wind down
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                for p in app.seen):
        time.sleep(0.1)
    left = [p.pid for p in app.seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes left after SIGTERM: {left}"
    assert listeners(app.port) == [] and not healthy("127.0.0.1", app.port)
    print(f"exit code {code}; {len(app.seen)} process(es) seen, 0 left, port {app.port} free")


# -- a scripted OpenAI-compatible server on 127.0.0.1 --------------------------------------------------------
class Server:
    """Answers chat completions with ``reply``, or (``echo_key``) a 401 echoing the key and the header."""

    def __init__(self, reply: str = "left", echo_key: bool = False) -> None:
        self.reply, self.echo_key = reply, echo_key
        self.requests, self.authorizations = 0, []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                auth = self.headers.get("Authorization", "")
                with server.lock:
                    server.requests += 1
                    server.authorizations.append(auth)
                if server.echo_key:
                    key = auth.removeprefix("Bearer ")
                    message = f"Incorrect API key provided: {key}. Request had Authorization: {auth}"
                    status, body = 401, {"error": {"message": message, "type": "invalid_request_error",
                                                   "code": "invalid_api_key"}}
                else:
                    status, body = 200, {
                        "id": "c1", "object": "chat.completion", "created": 0, "model": "test-model",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": server.reply},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_until_done(store: RunStore, run_id: str, timeout: float = 120) -> str:
    """The run's final status; a run still going after ``timeout`` is killed (it is the test's) and fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.get_run(run_id).status
        if status != "running":
            return status
        time.sleep(0.1)
    with sqlite3.connect(store.path) as db:
        (pid,) = db.execute("SELECT pid FROM runs WHERE run_id=?", (run_id,)).fetchone()
    kill_tree(tree(pid))
    pytest.fail(f"run {run_id} still running after {timeout} s")


def test_a_stop_from_another_process_ends_a_background_run_after_its_current_step(
        store: RunStore, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step of this run makes one LLM call, so the server's request count says which step is current."""
    from lab.launch import launch

    server = Server(reply="left")  # instant replies: steps come fast, and the stop must not lag behind
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    try:
        config = RunConfig(env_id=GRID, env_options={"max_steps": 100_000}, agent_id="full-history",
                           llm="openai:test-model", max_steps=5000)  # no episode end (100 steps) before the stop
        run_id = launch(config, store)
        deadline = time.monotonic() + 120
        while server.requests < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.requests >= 5, store.get_run(run_id)
        before = server.requests
        ask = ("import sys; from lab.store import RunStore; RunStore().request_stop(sys.argv[1]); "
               "print('asked', flush=True); sys.stdin.read()")  # commits the stop, says so, waits
        asker = subprocess.Popen([sys.executable, "-c", ask, run_id], cwd=ROOT, text=True,
                                 env={**os.environ, "MEMLAB_HOME": str(home)},
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert asker.stdout.readline().strip() == "asked"
        after = server.requests  # the stop is committed: the step in progress made at most request `after`
        asker.communicate(timeout=60)
        assert asker.returncode == 0
        status = wait_until_done(store, run_id)
        info = store.get_run(run_id)
        time.sleep(0.5)  # a step begun after the stop would reach the server by now
        assert status == "stopped", info.message
        assert before <= info.n_steps <= after + 1, (before, info.n_steps, after)
        assert server.requests == info.n_steps  # no step began after the one that saw the stop
        assert info.summary and info.summary.steps == info.summary.trials[-1].steps == info.n_steps
        assert store.steps(info.run_id, start=info.n_steps - 1)[0].trial_end  # that step closed the trial
        print(f"stop asked between requests {before} and {after}; the run stopped after step {info.n_steps}")
    finally:
        server.close()


# -- the default LLM, end to end -----------------------------------------------------------------------------
@pytest.mark.slow
def test_memlab_run_with_the_default_embedded_llm_records_its_calls(games_home: Path) -> None:
    from lab.core.policy.lm import MODEL_NAME

    out = memlab("run", "--env", "tw-coin", "--env-opt", "level=5", "--agent", "full-history",
                 "--max-steps", "2", "--probes-per-family", "1", home=games_home, timeout=900)  # no --llm
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    store = RunStore(games_home / "runs.sqlite")
    info, steps = store.get_run(run_id), store.steps(run_id)
    assert info.status == "finished" and info.config.llm == "embedded" and 1 <= len(steps) <= 2
    calls = [c for s in steps for c in s.llm_calls]
    assert all(s.llm_calls for s in steps)
    assert all(c.model == MODEL_NAME and c.kind == "score" and c.error is None for c in calls)
    assert all(c.tokens_in > 0 and c.tokens_out > 0 and c.latency_s > 0 for c in calls)
    assert all(c.response in c.options for c in calls)
    acts = [[c for c in s.llm_calls if c.purpose != "probe"] for s in steps]  # the trial end's probes follow
    assert all(s.action == own[-1].response for s, own in zip(steps, acts, strict=True))
    own = [c for step_calls in acts for c in step_calls]
    assert info.summary.llm_calls == len(own) and info.summary.tokens_in == sum(c.tokens_in for c in own)
    assert info.summary.probe_llm_calls == len(calls) - len(own) > 0
    store.close()


# -- ground truth reaches oracles only -----------------------------------------------------------------------
TEXT_ENV = ("tw-coin", {"level": 5})
GRID_ENV = ("minigrid-aliased-room", {"width": 3, "height": 3})
RUNS: dict[str, tuple[tuple[str, dict], dict, int]] = {
    # agent: (env, agent config, max steps) where the defaults do not fit a quick run
    "arigraph": (TEXT_ENV, {"encoder": "hash"}, 3),
    "rag": (TEXT_ENV, {"encoder": "hash"}, 3),
    "clin": (TEXT_ENV, {"generator": "deterministic", "record_meta_memory": False}, 3),
    "graph-schemas": (GRID_ENV, {"schemas": ["tiny-room"], "explore_steps": 2}, 4),
    "cscg-scratch": (GRID_ENV, {"explore_steps": 2}, 4),
    "sat": (("minigrid-room-recall", {"family": "Q1", "steps": 17, "queries": 1}), {"capacity": 8}, 20),
}
ORACLES = {("arigraph", "oracle"): {"extractor": "oracle", "encoder": "hash"}}
"""Configs that ask for ground truth (the agent sets ``sees_ground_truth``): they must receive it."""
REPLIES = ['{"action_to_take": "go east"}', "Action: take coin", "go east"]


def cases() -> list[Any]:
    out = []
    for agent_id, spec in agent_specs().items():
        for kind in spec.env_kinds:
            default = TEXT_ENV if kind == "text" else GRID_ENV
            env, config, steps = RUNS.get(agent_id, (default, {}, 3))
            if env[0].startswith("tw-") != (kind == "text"):  # a kind the table's env is not
                env = default
            out.append(pytest.param(agent_id, env, config, steps, False, id=f"{agent_id}-{kind}"))
    for (agent_id, name), config in ORACLES.items():
        out.append(pytest.param(agent_id, TEXT_ENV, config, 3, True, id=f"{agent_id}-{name}"))
    return out


def observations(value: Any, depth: int = 0) -> Iterator[Observation]:
    """Every Observation inside an argument (Transitions, Tasks, lists, dicts...)."""
    if depth > 4:
        return
    if isinstance(value, Observation):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from observations(getattr(value, f.name), depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from observations(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from observations(item, depth + 1)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """What the run loop held (``held``: each acted-on observation's privileged) and what the agent got."""
    seen: dict[str, list] = {"held": [], "reset": [], "act": [], "observe": [], "end_trial": []}
    real_build, real_step = runner.build_agent, runner.Loop.step

    def wrap(name: str, method: Any) -> Any:
        def spying(*args: Any, **kwargs: Any) -> Any:
            seen[name].append([*args, *kwargs.values()])
            return method(*args, **kwargs)
        return spying

    def build(prepared: Any, llm: Any, *rest: Any) -> Any:
        agent = real_build(prepared, llm, *rest)
        for name in ("reset", "act", "observe", "end_trial"):
            setattr(agent, name, wrap(name, getattr(agent, name)))
        return agent

    def step(self: Any, trial: int, t: int, obs: Observation) -> Any:
        seen["held"].append(dict(obs.privileged))
        return real_step(self, trial, t, obs)

    monkeypatch.setattr(runner, "build_agent", build)
    monkeypatch.setattr(runner.Loop, "step", step)
    return seen


@pytest.fixture(scope="module")
def tiny_schema() -> Any:
    """A schema of a 3x3 aliased room (graph-schemas needs one in the data dir); well under a second."""
    from agents.graph_schemas.train import train_schema
    from envs.aliased_room import AliasedRoomOptions

    room = AliasedRoomOptions(width=3, height=3)
    return train_schema("tiny-room", room, steps=600, max_iter=50, chunk_len=20, device="cpu")


@pytest.mark.parametrize("agent_id,env,config,steps,oracle", cases())
def test_only_oracles_receive_ground_truth_from_the_run_loop(
        games_store: RunStore, spy: dict[str, list], tiny_schema: Any, agent_id: str, env: tuple[str, dict],
        config: dict, steps: int, oracle: bool) -> None:
    from agents.graph_schemas.schema import save_schema

    save_schema(tiny_schema)  # into the data dir, where graph-schemas looks for it
    info = runner.execute(RunConfig(env_id=env[0], env_options=env[1], agent_id=agent_id, agent_config=config,
                                    llm="fake:x", max_steps=steps), games_store,
                          chat_model=FakeListChatModel(responses=REPLIES))
    assert info.status == "finished", info.message
    assert spy["act"] and any(spy["held"]), "the env carried no ground truth: the check would prove nothing"
    for name in ("reset", "observe", "end_trial"):
        got = [o.privileged for call in spy[name] for o in observations(call)]
        assert not any(got), f"{agent_id}.{name} received ground truth"
    acted_on = [o.privileged for call in spy["act"] for o in observations(call)]
    assert len(acted_on) == len(spy["held"])
    if oracle:  # an oracle gets exactly what the env held, at every step
        assert acted_on == spy["held"] and all("facts" in p for p in acted_on)
    else:  # (the fidelity probe's facts, given after act, are the next test's subject)
        assert not any(acted_on), f"{agent_id}.act received ground truth"


def agent_trace(store: RunStore, run_id: str) -> list[tuple]:
    """What the agent did at each step: action, thoughts, its own prompts (not the probes'), memory diff."""
    return [(s.action, s.thoughts, [c.messages for c in s.llm_calls if c.purpose != "probe"], s.memory_diff)
            for s in store.steps(run_id)]


@pytest.mark.parametrize("agent_id,env,config,steps,oracle",
                         [c for c in cases() if not c.values[-1]])  # an oracle's view of the facts is its input
def test_ground_truth_given_to_probes_never_changes_what_an_agent_does(
        games_store: RunStore, monkeypatch: pytest.MonkeyPatch, tiny_schema: Any, agent_id: str,
        env: tuple[str, dict], config: dict, steps: int, oracle: bool) -> None:
    """The run loop hands ground truth to two probes of the agent after it acts: memory fidelity (the
    facts, scored against a memory that declares its facts) and the memory probes (questions built from the facts, asked of
    its memory). The same run without either does exactly the same: actions, thoughts, prompts, memory."""
    from agents.graph_schemas.schema import save_schema

    save_schema(tiny_schema)
    config = RunConfig(env_id=env[0], env_options=env[1], agent_id=agent_id, agent_config=config, llm="fake:x",
                       max_steps=steps, probe_every=1)
    probed = runner.execute(config, games_store, chat_model=FakeListChatModel(responses=REPLIES))
    monkeypatch.setattr(runner.Fidelity, "score", lambda self, memory, facts: {})  # no fidelity metrics
    blind = runner.execute(config.model_copy(update={"probe_every": 0}), games_store,
                           chat_model=FakeListChatModel(responses=REPLIES))
    assert probed.status == blind.status == "finished", (probed.message, blind.message)
    with_probes = games_store.steps(probed.run_id)
    if any(s.facts for s in with_probes):  # the env gives facts: the probes ran
        assert any(k.startswith("probe/") for s in with_probes for k in s.metrics)
    assert agent_trace(games_store, probed.run_id) == agent_trace(games_store, blind.run_id)
    assert not any(s.metrics for s in games_store.steps(blind.run_id))


# -- retries: the documented defaults ------------------------------------------------------------------------
class Failing(FakeListChatModel):
    """Raises ``failures`` numbered errors (``ValueError``: neither transient nor a client error), then answers."""

    failures: int = 100
    seen: int = 0
    error: type[Exception] = ValueError

    def _call(self, *args: Any, **kwargs: Any) -> str:
        self.seen += 1
        if self.seen <= self.failures:
            raise self.error(f"refused #{self.seen}")
        return super()._call(*args, **kwargs)


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MEMLAB_LLM_RETRIES", "MEMLAB_LLM_BACKOFF", "MEMLAB_LLM_TIMEOUT", "MEMLAB_LLM_RETRY_BUDGET",
                "MEMLAB_LLM_MAX_WAIT"):
        monkeypatch.delenv(var, raising=False)


def jittered(waits: list[float], bases: list[float]) -> bool:
    """Each wait lies between half and all of its doubling backoff."""
    return len(waits) == len(bases) and all(b / 2 <= w <= b for w, b in zip(waits, bases))


def test_backoff_doubles_from_1_s_over_the_3_default_retries(defaults: None) -> None:
    waits: list[float] = []
    started = time.perf_counter()
    broken = LLM(Failing(responses=["look"]), "fake", sleep=waits.append)
    with pytest.raises(LLMError, match=r"failed after 4 attempts.*ValueError: refused #4"):
        broken.chat([("user", "x")], purpose="act")
    assert jittered(waits, [1.0, 2.0, 4.0]), waits
    (call,) = broken.take_calls()
    assert call.attempts == 4 and call.retry_errors == [f"ValueError: refused #{i}" for i in range(1, 5)]
    assert [w.wait_s for w in call.waits] == waits and not any(w.retry_after for w in call.waits)
    waits.clear()
    flaky = LLM(Failing(responses=["look"], failures=2), "fake", sleep=waits.append)
    assert flaky.chat([("user", "x")], purpose="act") == "look"
    (call,) = flaky.take_calls()
    assert jittered(waits, [1.0, 2.0]) and call.attempts == 3 and call.error is None and len(call.retry_errors) == 2
    assert time.perf_counter() - started < 1.0  # the fake clock: nothing really waited


def test_a_dropped_connection_is_retried_past_the_retry_count(defaults: None) -> None:
    waits: list[float] = []
    flaky = LLM(Failing(responses=["look"], failures=6, error=ConnectionError), "fake", sleep=waits.append)
    assert flaky.chat([("user", "x")], purpose="act") == "look"  # transient: the budget, not the count, decides
    assert jittered(waits, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]), waits


def test_retry_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch, defaults: None) -> None:
    assert provider_kwargs("openai")["timeout"] == 60.0 and provider_kwargs("openai")["max_retries"] == 0
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "5")
    monkeypatch.setenv("MEMLAB_LLM_BACKOFF", "0.25")
    monkeypatch.setenv("MEMLAB_LLM_MAX_WAIT", "1.5")
    monkeypatch.setenv("MEMLAB_LLM_TIMEOUT", "7.5")
    waits: list[float] = []
    llm = LLM(Failing(responses=["look"]), "fake", sleep=waits.append)
    with pytest.raises(LLMError, match="failed after 6 attempts"):
        llm.chat([("user", "x")], purpose="act")
    assert jittered(waits, [0.25, 0.5, 1.0, 1.5, 1.5]), waits  # capped by MEMLAB_LLM_MAX_WAIT
    assert provider_kwargs("openai")["timeout"] == 7.5


def test_a_run_retries_with_the_defaults_and_stores_every_attempt(store: RunStore, defaults: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    # the run loop's client waits through its recorder, so that a stop can cut a wait short
    monkeypatch.setattr(runner.Recorder, "wait", lambda recorder, seconds: waits.append(seconds))
    info = runner.execute(RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=3), store,
                          chat_model=Failing(responses=["forward"], failures=3))
    assert info.status == "finished" and jittered(waits, [1.0, 2.0, 4.0]), waits
    first = store.step(info.run_id, 0).llm_calls[0]
    assert first.attempts == 4 and first.error is None and first.response == "forward"
    assert first.retry_errors == [f"ValueError: refused #{i}" for i in range(1, 4)]
    assert [w.wait_s for w in first.waits] == waits


# -- API keys ------------------------------------------------------------------------------------------------
KEY = "memlab-test-key-7f3a9c2e5b1d4680"
"""Not ``sk-`` shaped, so only the environment-value redaction can catch it."""


def holders(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_api_keys_reach_neither_the_logs_the_store_nor_the_cli_output(
        store: RunStore, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.launch import launch_batch

    server = Server(echo_key=True)  # a 401 whose body echoes the key and the Authorization header
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "1")
    monkeypatch.setenv("MEMLAB_LLM_BACKOFF", "0")
    config = RunConfig(env_id=GRID, agent_id="full-history", llm="openai:test-model", max_steps=3)
    try:
        (launched,) = launch_batch([config], store)  # what the Run page's Start button calls
        assert wait_until_done(store, launched) == "error"
        cli = memlab("run", "--env", GRID, "--agent", "full-history", "--llm", "openai:test-model",
                     "--max-steps", "3", home=home)
    finally:
        server.close()
    assert cli.returncode == 1 and server.requests == 2  # two runs, one attempt each: a 401 is not retried
    assert server.authorizations == [f"Bearer {KEY}"] * 2  # the key was sent, and echoed back
    cli_run = cli.stdout.strip().splitlines()[-1]
    for run_id in (launched, cli_run):
        info = store.get_run(run_id)
        failed = store.steps(run_id)[-1].llm_calls[-1]
        assert info.status == "error" and "Error code: 401" in info.message and "[redacted]" in info.message
        assert len(failed.retry_errors) == 1 and all("[redacted]" in e for e in failed.retry_errors)
    log = (home / "logs" / f"{launched}.log").read_text()
    assert "Error code: 401" in log and "[redacted]" in log  # the echoed body reached the log, not the key
    assert KEY not in cli.stdout + cli.stderr and "[redacted]" in cli.stderr
    store.close()
    assert holders(home, KEY.encode()) == []  # runs.sqlite, its WAL, logs/


@pytest.mark.parametrize("text,kept", [
    ("Incorrect API key provided: sk-proj-AbCdEf0123456789", "Incorrect API key provided: "),
    ("{'Authorization': 'Bearer abcDEF123456789xyz'}", "{'Authorization': 'Bearer "),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic "),
    ("retry with Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "retry with Bearer "),
])
def test_token_shaped_keys_are_redacted_even_when_not_in_the_environment(text: str, kept: str) -> None:
    out = redact(text)
    assert out.startswith(kept) and "[redacted]" in out and out != text
    assert redact("Authorization header missing; the sk-8 key is short") == \
        "Authorization header missing; the sk-8 key is short"
