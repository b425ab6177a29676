"""A loopback OpenAI-compatible HTTP server over any langchain chat model (by default the embedded one).

It lets the lab's strong-model path, ``openai:<model>`` through ``langchain-openai``'s real
client, run offline over real HTTP: start an :class:`OpenAIServer` on 127.0.0.1 and point
``OPENAI_BASE_URL`` (or ``ChatOpenAI(base_url=...)``) at its :attr:`~OpenAIServer.base_url`.
Tests use it to check what the client really sends, and :func:`serve` runs it from the command
line. It speaks the part of the protocol the lab needs: ``GET /v1/models`` and
``POST /v1/chat/completions``, plain or streamed as server-sent events.

Decoding is the served model's own: the embedded model decodes greedily, so the same request
always gets the same reply. ``temperature``, ``top_p`` and ``seed`` are accepted and recorded
but never change decoding. ``max_tokens`` (or ``max_completion_tokens``) becomes the model's
per-call ``max_new_tokens`` and ``stop`` is passed on as stop strings. The server keeps each
request body (:attr:`OpenAIServer.requests`, and optionally one JSON line per body in a log
file) but never the request headers, so an API key sent as ``Authorization`` is never stored.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk, HumanMessage, SystemMessage

log = logging.getLogger(__name__)

ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "developer": SystemMessage,  # newer OpenAI clients' name for the system role
    "user": HumanMessage,
    "assistant": AIMessage,
}
IGNORED = ("temperature", "top_p", "seed")
"""Sampling fields accepted (and recorded with the body) that never change decoding."""
MAX_BODY_BYTES = 8 * 1024 * 1024


class RequestError(ValueError):
    """A request the server refuses: answered with HTTP 400 and an OpenAI-style error body."""


class ChatRequest:
    """A validated ``/v1/chat/completions`` body: the messages and the model kwargs it asks for."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        self.messages = [to_message(m, i) for i, m in enumerate(_messages_of(body))]
        self.stop = _stop_of(body.get("stop"))
        self.max_tokens = _max_tokens_of(body)
        self.stream = body.get("stream", False)
        if not isinstance(self.stream, bool):
            raise RequestError("'stream' must be true or false")
        if body.get("n", 1) != 1:
            raise RequestError("only n=1 is supported")
        options = body.get("stream_options") or {}
        self.include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

    def model_kwargs(self) -> dict[str, Any]:
        """What the chat model is called with besides the messages."""
        kwargs: dict[str, Any] = {"stop": self.stop}
        if self.max_tokens is not None:
            kwargs["max_new_tokens"] = self.max_tokens
        return kwargs


def _messages_of(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    return messages


def to_message(message: Any, index: int) -> BaseMessage:
    """One OpenAI chat message as a langchain message (text content only)."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RequestError(f"{where} must be an object")
    role = message.get("role")
    if role not in ROLES:
        raise RequestError(f"{where}.role {role!r} is not one of {', '.join(ROLES)}")
    content = message.get("content")
    if content is None and role == "assistant":
        content = ""
    return ROLES[role](content=text_of(content, where))


def text_of(content: Any, where: str = "content") -> str:
    """The text of a message content: a string, or the text parts of a content list joined by newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or a list of content parts")
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            raise RequestError(f"{where}.content: only text parts are supported, got {part!r:.80}")
    return "\n".join(t for t in texts if t)


def _stop_of(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop) or None
    raise RequestError("'stop' must be a string or a list of strings")


def _max_tokens_of(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError("'max_tokens' must be a positive integer")
    return value


def usage_of(message: BaseMessage | None) -> dict[str, int]:
    """OpenAI ``usage`` from a reply's langchain ``usage_metadata`` (zeros when the model gives none)."""
    meta = getattr(message, "usage_metadata", None) or {}
    prompt, completion = int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    total = int(meta.get("total_tokens", prompt + completion))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def finish_reason_of(message: BaseMessage | None) -> str:
    """The model's ``finish_reason`` from ``response_metadata``, else ``"stop"``."""
    meta = getattr(message, "response_metadata", None) or {}
    return str(meta.get("finish_reason") or "stop")


def content_text(message: BaseMessage) -> str:
    """A reply's content as plain text (the text parts of a content list; other parts are dropped)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else p.get("text", "") for p in content if isinstance(p, str | dict)]
    return "".join(p for p in parts if isinstance(p, str))


class OpenAIServer:
    """An OpenAI chat-completions endpoint over ``model`` on ``host:port`` (0: any free port), in a thread.

    ``with OpenAIServer(model) as server:`` starts it and stops it; ``server.base_url`` is what an
    OpenAI client's ``base_url`` takes. The port is bound on construction.
    """

    def __init__(
        self,
        model: BaseChatModel | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        model_name: str | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        if model is None:
            from lab.core.llm.embedded import EmbeddedChatModel

            model = EmbeddedChatModel()
        self.model = model
        self.model_name = model_name or _name_of(model)
        self.log_path = Path(log_path) if log_path is not None else None
        self.requests: list[dict[str, Any]] = []
        """The JSON bodies of the chat-completion requests received, in order, before validation."""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, an OpenAI client's ``base_url``."""
        return f"http://{self._httpd.server_address[0]}:{self.port}/v1"

    def start(self) -> OpenAIServer:
        """Serve in a daemon thread (returns at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then release the port."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def record(self, body: dict[str, Any]) -> None:
        """Keep a request body, and append it to the log file as one JSON line."""
        with self._lock:
            self.requests.append(body)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(body, ensure_ascii=False) + "\n")

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        """A non-streaming ``chat.completion`` response."""
        reply = self.model.invoke(request.messages, **request.model_kwargs())
        return {
            **self._envelope("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content_text(reply)},
                    "logprobs": None,
                    "finish_reason": finish_reason_of(reply),
                }
            ],
            "usage": usage_of(reply),
        }

    def completions(self, body: Any) -> dict[str, Any]:
        """A legacy ``text_completion`` response: with ``echo`` and ``max_tokens`` 0, each prompt's tokens and
        their log-probabilities (how ``logprobs:<model>`` scores options); otherwise greedy continuations."""
        if not isinstance(body, dict) or "prompt" not in body:
            raise RequestError("a completions request needs a JSON object with 'prompt'")
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("'prompt' must be a string or a non-empty list of strings")
        echo, max_tokens = bool(body.get("echo")), body.get("max_tokens", 16)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise RequestError("'max_tokens' must be a non-negative integer")
        scorer, completer = getattr(self.model, "prompt_logprobs", None), getattr(self.model, "complete_text", None)
        if scorer is None or completer is None:
            raise RequestError(f"{self.model_name} completes chats only: use /v1/chat/completions")
        choices, used = [], [0, 0]
        if echo and max_tokens == 0:  # scoring: the prompts' shared prefix runs once
            for index, (prompt, logprobs) in enumerate(zip(prompts, scorer(prompts))):
                choices.append({"index": index, "text": prompt, "logprobs": logprobs, "finish_reason": "length"})
                used[0] += len(logprobs["tokens"])
            prompts = []
        for index, prompt in enumerate(prompts):
            if max_tokens == 0:
                raise RequestError("'max_tokens' 0 completes nothing: give echo with it to score a prompt")
            text, n_in, n_out, stopped = completer(prompt, max_tokens, _stop_of(body.get("stop")))
            choices.append({"index": index, "text": (prompt if echo else "") + text, "logprobs": None,
                            "finish_reason": "stop" if stopped else "length"})
            used = [used[0] + n_in, used[1] + n_out]
        usage = {"prompt_tokens": used[0], "completion_tokens": used[1], "total_tokens": sum(used)}
        return {**self._envelope("text_completion"), "choices": choices, "usage": usage}

    def stream(self, request: ChatRequest) -> Iterator[dict[str, Any]]:
        """``chat.completion.chunk`` events: a role delta, content deltas, a finish, then usage if asked."""
        envelope = self._envelope("chat.completion.chunk")
        chunks = self.model.stream(request.messages, **request.model_kwargs())
        first = next(chunks, None)  # a model that fails at once fails before any byte is sent
        yield _chunk(envelope, {"role": "assistant", "content": ""})
        finish = "stop"
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for piece in _prepend(first, chunks):
            text = content_text(piece)
            if text:
                yield _chunk(envelope, {"content": text})
            if getattr(piece, "usage_metadata", None):
                usage = {k: usage[k] + v for k, v in usage_of(piece).items()}
            finish = (piece.response_metadata or {}).get("finish_reason") or finish
        yield _chunk(envelope, {}, str(finish))
        if request.include_usage:
            yield {**envelope, "choices": [], "usage": usage}

    def models(self) -> dict[str, Any]:
        """The ``GET /v1/models`` listing: the one served model."""
        entry = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "memlab"}
        return {"object": "list", "data": [entry]}

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model_name,
        }


def _name_of(model: BaseChatModel) -> str:
    for attr in ("model_name", "model"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return model._llm_type


def _chunk(
    envelope: dict[str, Any], delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {**envelope, "choices": [choice]}


def _prepend(first: BaseMessageChunk | None, rest: Iterator[BaseMessageChunk]) -> Iterator[BaseMessageChunk]:
    if first is not None:
        yield first
    yield from rest


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"the request body is not valid JSON: {e}") from None


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection; ``owner`` is the :class:`OpenAIServer` it answers for."""

    owner: OpenAIServer
    protocol_version = "HTTP/1.1"
    server_version = "memlab-openai"
    timeout = 120  # seconds an idle keep-alive connection is held

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, self.owner.models())
        else:
            self._not_found()

    def do_POST(self) -> None:
        try:
            raw = self._read_body()
            if self.path.rstrip("/") == "/v1/completions":
                self._completions(_parse(raw))
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._not_found()
                return
            body = _parse(raw)
            if isinstance(body, dict):
                self.owner.record(body)
            request = ChatRequest(body)
        except RequestError as e:
            self._json(400, error_body(str(e)))
            return
        try:
            if request.stream:
                self._sse(self.owner.stream(request))
            else:
                self._json(200, self.owner.complete(request))
        except Exception as e:  # the model failed: the client gets a message, the log the traceback
            log.exception("chat completion failed")
            self._json(500, error_body(f"{type(e).__name__}: {e}", "server_error"))

    def _completions(self, body: Any) -> None:
        if isinstance(body, dict):
            self.owner.record(body)
        try:
            payload = self.owner.completions(body)
        except RequestError as e:
            self._json(400, error_body(str(e)))
            return
        except Exception as e:  # the model failed
            log.exception("completion failed")
            self._json(500, error_body(f"{type(e).__name__}: {e}", "server_error"))
            return
        self._json(200, payload)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would garble the next request
            raise RequestError("bad or too large Content-Length")
        return self.rfile.read(length)

    def _not_found(self) -> None:
        self._json(404, error_body(f"no such endpoint: {self.command} {self.path}"))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Iterator[dict[str, Any]]) -> None:
        """Server-sent events ending in ``data: [DONE]``; the connection closes after them."""
        first = next(events)  # raises before the status line when the model fails at once
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for event in _prepend(first, events):
                self._event(json.dumps(event, ensure_ascii=False))
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as e:  # headers are sent: report the failure as an error event
            log.exception("chat completion stream failed")
            self._event(json.dumps(error_body(f"{type(e).__name__}: {e}", "server_error")))
        self._event("[DONE]")

    def _event(self, data: str) -> None:
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model_spec: str = "embedded",
    log_path: str | Path | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the model ``model_spec`` names (see :mod:`lab.core.llm.spec`) on ``host:port`` until ^C.

    ``ready`` is called with the base URL once the port is bound (``port=0`` picks a free one).
    """
    from lab.core.llm.spec import build

    server = OpenAIServer(build(model_spec), host=host, port=port, log_path=log_path)
    log.info("serving %s at %s", server.model_name, server.base_url)
    if ready is not None:
        ready(server.base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
