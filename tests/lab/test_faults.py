"""Faults against a real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose,
with langchain-openai pointed at it; plus a full data dir and API-key hygiene."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lab.core.errors import StoreError
from lab.export import export_run
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore

pytest.importorskip("langchain_openai")
GRID = "minigrid:MiniGrid-Empty-5x5-v0"
SECRET = "sk-test-SECRET-never-stored-4242"
TIMEOUT_S = 2.0
"""``MEMLAB_LLM_TIMEOUT`` here: normal replies are instant (a wide margin on a busy machine)..."""
SLOW_S = 30.0
"""...and a ``slow`` reply holds its answer this long (or until the test ends): far past the timeout."""
BUDGET_S = 1.0
"""``MEMLAB_LLM_RETRY_BUDGET`` here: transient failures are retried for a second (a slow attempt spends
it all)."""


class Script:
    """What the server answers, call by call (the last entry repeats)."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.calls = list(answers), 0
        self.release = threading.Event()
        """Set at teardown, so a held ``slow`` reply does not outlive its test."""

    def next(self) -> str:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return answer


def completion(content: str) -> bytes:
    return json.dumps({
        "id": "c1", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
    }).encode()


def handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            kind = script.next()
            if kind == "slow":  # slow on purpose: the client gives up long before this would answer
                script.release.wait(SLOW_S)
                return
            status, body = {"500": (500, b'{"error": {"message": "boom"}}'),
                            "429": (429, b'{"error": {"message": "slow down"}}'),
                            "garbage": (200, b"this is not json")}.get(kind, (200, completion(kind)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """Start a scripted server; yields a function that sets the script and returns it."""
    script = Script("forward")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(script))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("MEMLAB_LLM_BACKOFF", "0.01")
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "2")
    monkeypatch.setenv("MEMLAB_LLM_RETRY_BUDGET", str(BUDGET_S))
    monkeypatch.setenv("MEMLAB_LLM_MAX_WAIT", "0.05")
    monkeypatch.setenv("MEMLAB_LLM_TIMEOUT", str(TIMEOUT_S))

    def use(*answers: str) -> Script:
        script.answers, script.calls = list(answers), 0
        return script

    yield use
    script.release.set()
    httpd.shutdown()
    httpd.server_close()


def run(store: RunStore, steps: int = 3):
    return execute(RunConfig(env_id=GRID, agent_id="full-history", llm="openai:test-model", max_steps=steps), store)


def test_transient_failures_are_retried_and_recorded(store: RunStore, server) -> None:
    server("500", "429", "forward")
    info = run(store)
    assert info.status == "finished" and info.n_steps == 3
    first = store.step(info.run_id, 0).llm_calls[0]
    assert first.attempts == 3 and first.error is None and first.response == "forward"
    assert "Error code: 500" in first.retry_errors[0] and "Error code: 429" in first.retry_errors[1]
    assert first.tokens_in == 7


@pytest.mark.parametrize("answers,error,ended", [
    (("forward", "500"), "Error code: 500", "retry budget of 1 s"),
    (("forward", "429"), "Error code: 429", "retry budget of 1 s"),
    (("forward", "slow"), "TimeoutError", "failed after 1 attempt in "),  # the attempt spent the budget
    (("forward", "garbage"), "", "failed after 3 attempts"),  # not transient: MEMLAB_LLM_RETRIES applies
])
def test_persistent_failures_end_the_run_and_keep_every_step(store: RunStore, server, answers, error,
                                                             ended) -> None:
    server(*answers)
    info = run(store, steps=5)
    assert info.status == "error" and error in info.message and ended in info.message
    assert len(info.message.splitlines()) == 1
    steps = store.steps(info.run_id)
    assert [s.action for s in steps] == ["forward", ""]
    failed = steps[-1].llm_calls[0]
    assert failed.error and len(failed.retry_errors) == failed.attempts == len(failed.waits) + 1
    assert failed.attempts == 3 if "garbage" in answers else failed.attempts >= 1


def test_connection_refused(store: RunStore, server, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port}/v1")
    info = run(store)
    assert info.status == "error" and "ConnectionError" in info.message and "retry budget" in info.message
    failed = store.steps(info.run_id)[-1].llm_calls[0]
    assert failed.attempts > 3 and len(failed.waits) == failed.attempts - 1  # retried until the budget


def test_api_keys_never_reach_the_store_or_exports(store: RunStore, server, tmp_path: Path) -> None:
    server("forward")
    info = run(store)
    outputs = [tmp_path / f"run.{fmt}" for fmt in ("jsonl", "html", "atif")]
    for out in outputs:
        export_run(store, info.run_id, out.suffix[1:], out)
    store.close()
    for path in [*Path(store.path.parent).rglob("*"), *outputs]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_full_data_dir_gives_a_clear_error_and_loses_nothing(store: RunStore) -> None:
    kept = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=5), store)
    pages = store._db().execute("PRAGMA page_count").fetchone()[0]
    store._db().execute(f"PRAGMA max_page_count={pages}")  # the disk is now "full"
    with pytest.raises(StoreError, match="full"):
        execute(RunConfig(env_id=GRID, agent_id="random", max_steps=400), store)
    assert len(RunStore(store.path).steps(kept.run_id)) == 5
