"""LLM agents through a real OpenAI-compatible HTTP server: ``--llm openai:<name>`` with ``OPENAI_BASE_URL``.

The loopback server (``lab.core.llm.serve``) serves the embedded model; langchain-openai's own client sends
every call over HTTP. The server's log of request bodies shows what each call really sent, which must be
what the run recorded: the agent's paper settings per purpose, with the run's overrides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.core.records import RunConfig
from lab.core.llm.serve import OpenAIServer
from lab.runner import execute
from lab.store import RunStore

pytest.importorskip("langchain_openai")
pytestmark = pytest.mark.slow

WIRE_NAMES = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_completion_tokens"}
"""langchain-openai sends the reply budget as ``max_completion_tokens``."""


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    from lab.core.llm.embedded import EmbeddedChatModel

    with OpenAIServer(EmbeddedChatModel(), model_name="smollm2-135m") as running:
        yield running


@pytest.fixture
def endpoint(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test-0000")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server.requests.clear()
    return server


@pytest.mark.parametrize("agent, agent_config, steps, paper", [
    ("arigraph", {"extractor": "llm", "outdated": "llm", "entities": "llm", "explore_gate": "keyword",
                  "encoder": "hash"}, 1,
     {"extract": 0.001, "entities": 0.7, "plan": 0.2, "act": 0.2}),
    # generating, HiAgent writes its subgoals inside the act reply; one try each (8 tokens rarely parse)
    ("hiagent", {"parse_retries": 0, "max_pseudo_commands": 0, "example": False}, 1, {"act": 0.0}),
    ("clin", {"record_meta_memory": False, "grounding_tries": 1}, 1, {"act": 0.0, "memory": 0.0}),
])
def test_an_llm_agent_runs_over_http_sends_its_settings_and_replays_exactly(
        endpoint: OpenAIServer, store: RunStore, agent: str, agent_config: dict, steps: int,
        paper: dict[str, float]) -> None:
    config = RunConfig(env_id="tw-coin", agent_id=agent, agent_config=agent_config, llm="openai:smollm2-135m",
                       llm_options={"max_tokens": 8}, max_steps=steps, probe_every=0)
    info = execute(config, store)
    assert info.status == "finished", info.summary.message
    calls = [call for step in store.steps(info.run_id) for call in step.llm_calls]
    bodies = endpoint.requests
    assert len(bodies) == len(calls) >= steps
    for call, body in zip(calls, bodies):
        assert body["messages"][-1]["content"] == call.messages[-1].content
        sent = {WIRE_NAMES[k]: v for k, v in info.config.sampling[call.purpose].items()}
        assert {k: body[k] for k in WIRE_NAMES.values() if k in body} == sent
        assert call.sampling == {**info.config.sampling[call.purpose],
                                 **({"stop": body["stop"]} if "stop" in body else {})}
        assert call.response and call.tokens_in > 0
    purposes = {call.purpose for call in calls}
    assert set(paper) <= purposes
    for purpose, temperature in paper.items():
        assert info.config.sampling[purpose]["temperature"] == temperature
        assert info.config.sampling[purpose]["max_tokens"] == 8  # the override reaches every purpose
    replay = execute(config.model_copy(update={"llm": f"replay:{info.run_id}"}), store)
    assert len(endpoint.requests) == len(bodies)  # a replay asks the server nothing
    assert [s.action for s in store.steps(replay.run_id)] == [s.action for s in store.steps(info.run_id)]
    assert [c.response for s in store.steps(replay.run_id) for c in s.llm_calls] == [c.response for c in calls]
