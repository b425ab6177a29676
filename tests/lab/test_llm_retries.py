"""The retry policy against a real OpenAI-compatible server on 127.0.0.1, through langchain-openai's
``ChatOpenAI``: ``Retry-After`` is honoured, the time budget ends a call with one line, client errors are
not retried, and every wait is recorded in the call."""

from __future__ import annotations

import json
import random
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from langchain_core import exceptions

from lab.core.errors import ConfigError, LLMError
from lab.core.llm import LLM, build
from lab.core.llm.retry import RetryPolicy, http_status, retry_after_s, verdict
from lab.core.records import LLMCall, RunConfig, Step
from lab.runner import execute
from lab.store import RunStore

pytest.importorskip("langchain_openai")
SPEC = "openai:test-model"
RETRY_VARS = ("MEMLAB_LLM_RETRY_BUDGET", "MEMLAB_LLM_BACKOFF", "MEMLAB_LLM_MAX_WAIT", "MEMLAB_LLM_RETRIES")


class Reply:
    """One scripted answer: a completion (status 200) or an error status with its headers."""

    def __init__(self, status: int = 200, content: str = "forward", **headers: str) -> None:
        self.status, self.content = status, content
        self.headers = {k.replace("_", "-"): v for k, v in headers.items()}

    def body(self) -> bytes:
        if self.status != 200:
            return json.dumps({"error": {"message": f"status {self.status}", "type": "test"}}).encode()
        return json.dumps({
            "id": "c1", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
        }).encode()


class Server:
    """A chat-completions server in a thread that answers from a script (its last reply repeats)."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        self.arrivals: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = server.script[min(len(server.arrivals), len(server.script) - 1)]
                server.arrivals.append(time.monotonic())
                body = reply.body()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def play(self, *replies: Reply) -> Server:
        self.script, self.arrivals = list(replies), []
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


class Clock:
    """A fake clock whose ``sleep`` advances it: hours of waits take no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """The server, with ``openai:`` specs pointed at it and the retry settings at their defaults."""
    srv = Server()
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-retries-0000000000")
    monkeypatch.setenv("MEMLAB_LLM_TIMEOUT", "10")
    for var in RETRY_VARS:
        monkeypatch.delenv(var, raising=False)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def client(clock: Clock | None = None, **policy: float) -> LLM:
    """The lab's client on ChatOpenAI, as a run builds it (``policy``: overrides of the environment's)."""
    return LLM(build(SPEC), SPEC, policy=RetryPolicy.from_env(**policy) if policy else None,
               sleep=clock.sleep if clock else None, clock=clock)


def test_retry_after_is_honoured_and_each_wait_recorded(server: Server) -> None:
    server.play(Reply(429, retry_after="1"), Reply(503, retry_after="1"), Reply(content="open fridge"))
    llm = client()
    assert llm.model.max_retries == 0  # the SDK's own retries would hide the 429s from the lab
    assert llm.chat([("user", "Kitchen.")], purpose="act") == "open fridge"
    (call,) = llm.take_calls()
    assert call.attempts == 3 == len(server.arrivals) and call.error is None and call.tokens_in == 7
    assert [(w.attempt, w.wait_s, w.retry_after) for w in call.waits] == [(1, 1.0, True), (2, 1.0, True)]
    assert "RateLimitError: Error code: 429" in call.waits[0].error
    assert "Error: Error code: 503" in call.waits[1].error
    assert call.retry_errors == [w.error for w in call.waits]
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:])]
    assert all(gap >= 0.99 for gap in gaps)  # the server really was left alone for a second
    assert call.latency_s >= 2.0


def test_retry_after_as_an_http_date_and_in_milliseconds(server: Server) -> None:
    clock = Clock()
    server.play(Reply(429, retry_after=formatdate(time.time() + 30, usegmt=True)),
                Reply(429, retry_after_ms="250"), Reply())
    llm = client(clock)
    assert llm.chat([("user", "x")], purpose="act") == "forward"
    first, second = llm.take_calls()[0].waits
    assert 28.0 <= first.wait_s <= 30.0 and first.retry_after
    assert second.wait_s == 0.25 and second.retry_after


def test_without_retry_after_the_backoff_doubles_with_jitter_and_a_cap(server: Server) -> None:
    clock = Clock()
    server.play(*[Reply(500)] * 9, Reply())
    llm = LLM(build(SPEC), SPEC, sleep=clock.sleep, clock=clock, rng=random.Random(7),
              policy=RetryPolicy(backoff_s=1.0, max_wait_s=20.0))
    assert llm.chat([("user", "x")], purpose="act") == "forward"
    waits = llm.take_calls()[0].waits
    assert len(waits) == 9 and not any(w.retry_after for w in waits)
    for wait in waits:
        nominal = min(20.0, 2.0 ** (wait.attempt - 1))
        assert nominal / 2 <= wait.wait_s <= nominal
    assert len({w.wait_s for w in waits}) == 9  # jittered: no two clients retry in step


def test_the_default_budget_outlasts_ten_minutes_of_429s(server: Server) -> None:
    clock = Clock()
    server.play(*[Reply(429, retry_after="60")] * 11, Reply(content="at last"))
    llm = client(clock)
    assert llm.chat([("user", "x")], purpose="act") == "at last"
    call = llm.take_calls()[0]
    assert call.attempts == 12 and sum(w.wait_s for w in call.waits) == clock.now == 660.0


def test_a_spent_budget_ends_the_call_with_one_line(server: Server) -> None:
    clock = Clock()
    server.play(Reply(429, retry_after="50"))
    llm = client(clock)
    with pytest.raises(LLMError) as caught:
        llm.chat([("user", "x")], purpose="act")
    message = str(caught.value)
    assert message.startswith("LLM call 'act' failed after 19 attempts in 900.0 s: the next wait "
                              "(50.0 s, Retry-After) would overrun its retry budget of 900 s "
                              "(MEMLAB_LLM_RETRY_BUDGET): ")
    assert "RateLimitError: Error code: 429" in message and len(message.splitlines()) == 1
    (call,) = llm.take_calls()
    assert call.attempts == 19 == len(server.arrivals) and len(call.waits) == 18 and call.error
    assert sum(w.wait_s for w in call.waits) == 900.0


def test_a_spent_budget_ends_the_run_with_one_line(server: Server, store: RunStore,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMLAB_LLM_RETRY_BUDGET", "2.5")
    server.play(Reply(), Reply(429, retry_after="1"))
    info = execute(RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm=SPEC,
                             max_steps=5, probe_every=0), store)
    assert info.status == "error" and len(info.message.splitlines()) == 1
    assert "retry budget of 2.5 s (MEMLAB_LLM_RETRY_BUDGET)" in info.message
    assert "Error code: 429" in info.message
    steps = store.steps(info.run_id)
    assert [s.action for s in steps] == ["forward", ""]
    failed = steps[-1].llm_calls[0]
    assert failed.attempts >= 2 and len(failed.waits) == failed.attempts - 1
    assert all(w.wait_s == 1.0 and w.retry_after for w in failed.waits)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(server: Server, status: int) -> None:
    server.play(Reply(status, retry_after="1"), Reply())
    llm = client(Clock())
    with pytest.raises(LLMError, match=rf"^LLM call 'act' failed \(HTTP {status}, not retried\): "
                                       rf"\w+: Error code: {status} - "):
        llm.chat([("user", "x")], purpose="act")
    (call,) = llm.take_calls()
    assert call.attempts == 1 == len(server.arrivals) and call.waits == [] and len(call.retry_errors) == 1


def test_old_calls_without_waits_still_load() -> None:
    old = {"purpose": "act", "model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "attempts": 2,
           "retry_errors": ["RateLimitError: Error code: 429"]}
    assert LLMCall.model_validate(old).waits == []
    step = Step.model_validate_json(json.dumps({
        "schema_version": 1, "index": 0, "t": 0, "observation": {"text": "hi"}, "action": "look",
        "llm_calls": [old]}))
    assert step.llm_calls[0].waits == [] and step.llm_calls[0].attempts == 2


def response_error(status: int | None, **headers: str) -> Exception:
    err = RuntimeError("provider said no")
    err.response = SimpleNamespace(status_code=status, headers=headers)  # type: ignore[attr-defined]
    return err


def test_retry_after_and_status_are_found_on_the_error_or_its_cause() -> None:
    assert retry_after_s(response_error(429, **{"Retry-After": "7"})) == 7.0
    assert retry_after_s(response_error(429, **{"retry-after-ms": "1500"})) == 1.5
    dated = response_error(429, **{"Retry-After": formatdate(1000.0, usegmt=True)})
    assert retry_after_s(dated, now=990.0) == 10.0
    assert retry_after_s(response_error(429, **{"Retry-After": "soon"})) is None
    assert retry_after_s(response_error(429)) is None and retry_after_s(ValueError("x")) is None
    try:
        try:
            raise response_error(503, **{"retry-after": "3"})
        except RuntimeError as inner:
            raise ConnectionError("wrapped") from inner
    except ConnectionError as outer:
        assert retry_after_s(outer) == 3.0 and http_status(outer) == 503
    assert [verdict(response_error(s)) for s in (429, 503, 529, 408, 400, 401, 404)] == [
        "transient"] * 4 + ["final"] * 3
    assert verdict(TimeoutError()) == verdict(ConnectionResetError()) == "transient"
    assert verdict(exceptions.ModelRateLimitError()) == verdict(exceptions.ModelTimeoutError()) == "transient"
    assert verdict(exceptions.ContextOverflowError()) == "final"  # langchain-core's errors say it themselves
    assert verdict(ValueError("unreadable")) == verdict(response_error(200)) == "other"


def test_retry_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in RETRY_VARS:
        monkeypatch.delenv(var, raising=False)
    assert RetryPolicy.from_env() == RetryPolicy(budget_s=900.0, backoff_s=1.0, max_wait_s=60.0, retries=3)
    monkeypatch.setenv("MEMLAB_LLM_RETRY_BUDGET", "3600")
    monkeypatch.setenv("MEMLAB_LLM_MAX_WAIT", "120")
    assert RetryPolicy.from_env(retries=1) == RetryPolicy(budget_s=3600.0, max_wait_s=120.0, retries=1)
    monkeypatch.setenv("MEMLAB_LLM_RETRY_BUDGET", "an hour")
    with pytest.raises(ConfigError, match=r"^MEMLAB_LLM_RETRY_BUDGET must be a non-negative number, not 'an"):
        RetryPolicy.from_env()


def test_a_stop_during_a_long_retry_wait_ends_the_run_at_once_and_keeps_its_steps(
        server: Server, store: RunStore) -> None:
    """The provider asks for a minute's wait; the user stops after half a second. The run stops then, not a
    minute later (nor at the retry budget), with its committed step and a one-line message."""
    server.play(Reply(), Reply(429, retry_after="60"))
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    info = execute(RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm=SPEC,
                             max_steps=5, probe_every=0), store, stop=stop)
    assert time.monotonic() - started < 15
    assert info.status == "stopped" and len(info.message.splitlines()) == 1
    assert "while an LLM call waited 60.0 s to retry" in info.message
    assert [s.action for s in store.steps(info.run_id)] == ["forward"]  # the step in progress is not kept
    assert len(server.arrivals) == 2  # no retry was sent after the stop


def test_a_stop_from_the_store_flag_also_cuts_a_retry_wait(server: Server, store: RunStore) -> None:
    server.play(Reply(), Reply(429, retry_after="60"))
    run_id = "stop-flag-during-wait"
    threading.Timer(0.8, lambda: RunStore(store.path).request_stop(run_id)).start()
    started = time.monotonic()
    info = execute(RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm=SPEC,
                             max_steps=5, probe_every=0), store, run_id=run_id)
    assert time.monotonic() - started < 15 and info.status == "stopped"
    assert len(store.steps(run_id)) == 1
