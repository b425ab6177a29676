"""The loopback OpenAI server (``lab.core.llm.serve``), driven by langchain-openai's real client over HTTP.

Fake chat models make the fast tests deterministic; the ``slow`` test serves the real embedded model and
checks that greedy decoding gives the same reply over HTTP as in process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from lab.core.llm.serve import OpenAIServer

API_KEY = "sk-test-key-12345678"
MESSAGES = [SystemMessage("You play a text adventure."), HumanMessage("You are in a kitchen. What now?")]


class EchoChatModel(BaseChatModel):
    """Replies ``echo: <last message>`` and remembers the messages and kwargs of each call."""

    model_name: str = "echo"
    calls: list[dict[str, Any]] = []

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append({"messages": messages, "stop": stop, **kwargs})
        message = AIMessage(
            content=f"echo: {messages[-1].content}",
            usage_metadata={"input_tokens": 11, "output_tokens": 3, "total_tokens": 14},
            response_metadata={"finish_reason": "length"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class Broken(EchoChatModel):
    """A model that always fails (streaming falls back to the same failing call)."""

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise RuntimeError("the weights are gone")


class BreaksMidStream(FakeListChatModel):
    """Streams the first character of its reply, then fails."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content=self.responses[0][0]))
        raise RuntimeError("lost the GPU")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests never go through a proxy the environment may name."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def client(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="smollm2", base_url=server.base_url, api_key=API_KEY, max_retries=0,
                      timeout=120, **kwargs)


def post(url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """POST raw bytes with urllib; the status and the JSON body, errors included."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_chat_openai_round_trip_passes_the_options_and_keeps_no_key(tmp_path: Path) -> None:
    model = EchoChatModel(calls=[])
    log = tmp_path / "requests.jsonl"
    with OpenAIServer(model, log_path=log) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        reply = client(server).invoke(MESSAGES, temperature=0.2, top_p=1, max_tokens=7, stop=["\n\n"])

    assert reply.content == "echo: You are in a kitchen. What now?"
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata is not None
    assert (reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"],
            reply.usage_metadata["total_tokens"]) == (11, 3, 14)

    [body] = server.requests
    assert body["model"] == "smollm2"
    assert body["temperature"] == 0.2 and body["top_p"] == 1 and body["stop"] == ["\n\n"]
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 7
    assert [m["role"] for m in body["messages"]] == ["system", "user"]

    [call] = model.calls
    assert call["max_new_tokens"] == 7 and call["stop"] == ["\n\n"]
    assert "temperature" not in call and "top_p" not in call  # decoding is the model's own
    assert [type(m) for m in call["messages"]] == [SystemMessage, HumanMessage]

    assert [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] == [body]
    assert API_KEY not in json.dumps(server.requests) and API_KEY not in log.read_text(encoding="utf-8")


def test_streaming_through_chat_openai() -> None:
    with OpenAIServer(FakeListChatModel(responses=["go north"])) as server:
        llm = client(server, streaming=True)
        chunks = list(llm.stream(MESSAGES, stop="\n"))
        whole = llm.invoke(MESSAGES)

    assert "".join(str(c.content) for c in chunks) == "go north"
    assert len([c for c in chunks if c.content]) > 1  # the fake streams one character at a time
    assert whole.content == "go north"
    assert all(body["stream"] is True for body in server.requests)
    assert server.requests[0]["stop"] == "\n"


def test_streamed_usage_and_finish_reason() -> None:
    with OpenAIServer(EchoChatModel(calls=[])) as server:
        reply = client(server, streaming=True, stream_usage=True).invoke("hello")

    assert reply.content == "echo: hello"
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] == 14
    assert reply.response_metadata["finish_reason"] == "length"
    assert server.requests[0]["stream_options"] == {"include_usage": True}


def test_content_parts_and_models_listing() -> None:
    model = EchoChatModel(calls=[])
    with OpenAIServer(model, model_name="smollm2") as server:
        status, body = post(server.base_url + "/chat/completions", json.dumps({
            "model": "smollm2",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},
                                                      {"type": "text", "text": "around"}]}],
        }).encode())
        with urllib.request.urlopen(server.base_url + "/models", timeout=30) as response:
            listing = json.loads(response.read())

    assert status == 200
    assert body["object"] == "chat.completion" and body["model"] == "smollm2"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: look\naround"}
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    assert "max_new_tokens" not in model.calls[0]  # no max_tokens: the model's default applies
    assert [m["id"] for m in listing["data"]] == ["smollm2"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "messages"),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "tool", "content": "x"}]}', "role"),
        (b'{"messages": [{"role": "user", "content": 3}]}', "content"),
        (b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}', "text parts"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stop": 5}', "stop"),
    ],
)
def test_bad_bodies_get_400_with_an_error_message(data: bytes, says: str) -> None:
    with OpenAIServer(EchoChatModel(calls=[])) as server:
        status, body = post(server.base_url + "/chat/completions", data)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert says in body["error"]["message"]


def test_unknown_path_is_404_and_model_failure_is_500_without_traceback() -> None:
    with OpenAIServer(Broken(calls=[])) as server:
        missing, missing_body = post(server.base_url + "/embeddings", b"{}")
        bad, bad_body = post(server.base_url + "/completions", b"{}")
        ok_body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
        failed, failed_body = post(server.base_url + "/chat/completions", ok_body)
        streamed, streamed_body = post(server.base_url + "/chat/completions",
                                       json.dumps({**json.loads(ok_body), "stream": True}).encode())

    assert missing == 404 and "error" in missing_body
    assert bad == 400 and "needs a JSON object with 'prompt'" in bad_body["error"]["message"]
    assert failed == streamed == 500
    for body in (failed_body, streamed_body):
        assert body["error"]["message"] == "RuntimeError: the weights are gone"
        assert "Traceback" not in json.dumps(body)



def test_a_failure_mid_stream_reaches_the_client_as_an_error() -> None:
    import openai

    with OpenAIServer(BreaksMidStream(responses=["north"])) as server:
        with pytest.raises(openai.APIError, match="RuntimeError: lost the GPU"):
            list(client(server, streaming=True).stream("hi"))


@pytest.mark.slow
def test_embedded_model_over_http_matches_in_process() -> None:
    from lab.core.llm.embedded import EmbeddedChatModel

    direct = EmbeddedChatModel().invoke(MESSAGES, max_new_tokens=12)
    with OpenAIServer(EmbeddedChatModel()) as server:
        reply = client(server).invoke(MESSAGES, max_tokens=12)

    assert reply.content == direct.content  # greedy decoding: the same reply
    assert reply.usage_metadata is not None and direct.usage_metadata is not None
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert reply.usage_metadata[key] == direct.usage_metadata[key]
    assert reply.response_metadata["finish_reason"] == direct.response_metadata["finish_reason"]
