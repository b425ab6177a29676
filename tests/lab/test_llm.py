"""The LLM layer with langchain-core's fake chat models: recording, choosing, retries, replay, specs."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage

from lab.core.errors import ConfigError, LLMError, MissingDependencyError, UnknownIdError
from lab.core.llm import LLM, build, match_option, validate
from lab.core.llm.replay import ReplayChatModel


class ScoringFake(FakeListChatModel):
    """A fake that scores options: longer options score higher (deterministic)."""

    def score_options(self, messages, options):
        return [float(len(o)) for o in options]


class Flaky(FakeListChatModel):
    """Fails ``failures`` times, then answers."""

    failures: int = 2
    seen: int = 0

    def _call(self, *args, **kwargs):
        self.seen += 1
        if self.seen <= self.failures:
            raise ConnectionError("connection refused")
        return super()._call(*args, **kwargs)


class Garbled(Flaky):
    """Fails with an error neither transient nor a client error's: retried ``max_retries`` times only."""

    def _call(self, *args, **kwargs):
        try:
            return super()._call(*args, **kwargs)
        except ConnectionError:
            raise ValueError("unreadable reply") from None


def test_chat_records_messages_response_and_tokens() -> None:
    llm = LLM(GenericFakeChatModel(messages=iter([AIMessage(content="open fridge",
              usage_metadata={"input_tokens": 11, "output_tokens": 2, "total_tokens": 13})])), "fake")
    out = llm.chat([("system", "You play."), ("user", "Kitchen.")], purpose="act")
    assert out == "open fridge"
    (call,) = llm.take_calls()
    assert [(m.role, m.content) for m in call.messages] == [("system", "You play."), ("user", "Kitchen.")]
    assert (call.response, call.tokens_in, call.tokens_out, call.kind) == ("open fridge", 11, 2, "chat")
    assert call.latency_s >= 0 and llm.take_calls() == []


@pytest.mark.parametrize("reply,expected", [
    ("open fridge", "open fridge"),
    ("  Open Fridge.  ", "open fridge"),
    ("I think I should:\ntake apple", "take apple"),
    ("go wets", "go west"),
    ("", "go west"),
])
def test_choose_by_generation_matches_an_option(reply: str, expected: str) -> None:
    options = ["go west", "open fridge", "take apple"]
    llm = LLM(FakeListChatModel(responses=[reply]), "fake")
    choice = llm.choose([("user", "pick")], options, purpose="act")
    assert choice.option == expected and choice.option in options
    assert llm.take_calls()[0].response == reply


def test_match_option_always_returns_a_valid_index() -> None:
    assert match_option("blah blah", ["a", "b"])[0] in (0, 1)
    assert match_option("> take key", ["look", "take key"]) == (1, 1.0)


def test_choose_by_scoring_records_options_and_scores() -> None:
    llm = LLM(ScoringFake(responses=["x"]), "fake")
    choice = llm.choose([("user", "pick")], ["look", "take brass key"], purpose="act")
    assert choice.option == "take brass key" and choice.scores == [4.0, 14.0]
    (call,) = llm.take_calls()
    assert call.kind == "score" and call.options == ["look", "take brass key"] and call.response == "take brass key"
    with pytest.raises(ValueError):
        llm.choose([("user", "pick")], [], purpose="act")


def test_failures_are_retried_then_recorded() -> None:
    llm = LLM(Flaky(responses=["look"], failures=2), "fake", max_retries=3, backoff_s=0.001)
    assert llm.chat([("user", "x")], purpose="act") == "look"
    assert llm.take_calls()[0].attempts == 3
    broken = LLM(Garbled(responses=["look"], failures=10), "fake", max_retries=2, backoff_s=0.001)
    with pytest.raises(LLMError, match="failed after 3 attempts: ValueError: unreadable reply"):
        broken.chat([("user", "x")], purpose="act")
    (call,) = broken.take_calls()
    assert call.error.startswith("ValueError") and call.attempts == 3 and len(call.waits) == 2
    refused = LLM(Flaky(responses=["look"], failures=10), "fake", max_retries=2, backoff_s=0.0001)
    assert refused.chat([("user", "x")], purpose="act") == "look"  # transient: retried within the budget
    assert refused.take_calls()[0].attempts == 11


def test_replay_answers_in_recorded_order_and_detects_divergence() -> None:
    source = LLM(ScoringFake(responses=["plan: explore"]), "fake")
    source.chat([("user", "plan?")], purpose="plan")
    source.choose([("user", "act?")], ["look", "go north"], purpose="act")
    calls = source.take_calls()
    replay = LLM(ReplayChatModel.from_calls("r1", calls), "replay:r1")
    assert replay.chat([("user", "plan?")], purpose="plan") == "plan: explore"
    assert replay.choose([("user", "act?")], ["look", "go north"], purpose="act").option == "go north"
    with pytest.raises(LLMError, match="ran out of recorded calls"):
        replay.chat([("user", "more?")], purpose="plan")
    diverged = LLM(ReplayChatModel.from_calls("r1", calls), "replay:r1")
    with pytest.raises(LLMError, match="diverged"):
        diverged.model.score_options([], ["a"])


def test_specs_validate_with_one_line_errors() -> None:
    validate("embedded")
    validate("fake:a|b")
    with pytest.raises(UnknownIdError, match="unknown LLM provider 'gpt'; valid: "):
        validate("gpt:4")
    with pytest.raises(ConfigError, match="names no model"):
        validate("openai:")
    with pytest.raises(ConfigError, match="needs a run id"):
        validate("replay:")


def test_missing_integration_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "langchain_ollama" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install langchain-ollama"):
        validate("ollama:llama3")


def test_fake_spec_builds_a_fake_list_model() -> None:
    model = build("fake:one|two")
    assert [model.invoke("x").content for _ in range(3)] == ["one", "two", "one"]
