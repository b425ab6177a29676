"""Sampling settings per call purpose and prompt caps sized by the model's window, through real runs."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.arigraph.config import AriGraphConfig, FullHistoryPlanConfig
from agents.clin.config import ClinConfig
from agents.hiagent.config import HiAgentConfig
from lab.core.errors import ConfigError
from lab.core.llm.sampling import Sampling, apply, invoke_kwargs, parse_options, sent
from lab.core.records import RunConfig
from lab.runner import execute, prepare
from lab.store import RunStore

GRID = "minigrid:MiniGrid-Empty-5x5-v0"


class KwargsSeen(FakeListChatModel):
    """Answers like ``FakeListChatModel`` and keeps the keyword arguments of each call."""

    seen: list[dict[str, Any]] = []

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        self.seen.append({**kwargs, "stop": stop})
        return super()._call(messages, stop, run_manager, **kwargs)


def history_run(store: RunStore, **update: Any) -> tuple[Any, KwargsSeen]:
    model = KwargsSeen(responses=["forward", "left"], seen=[])
    config = RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=3, probe_every=0)
    return execute(config.model_copy(update=update), store, chat_model=model), model


def test_the_papers_settings_are_sent_per_purpose_and_recorded(store: RunStore) -> None:
    info, model = history_run(store)
    assert [seen["temperature"] for seen in model.seen] == [0.2, 0.2, 0.2]  # the AriGraph actor's 0.2
    assert info.config.sampling["act"] == {"temperature": 0.2}
    assert all(call.sampling == {"temperature": 0.2} for s in store.steps(info.run_id) for call in s.llm_calls)


def test_overrides_apply_to_every_purpose_or_one_and_none_sends_nothing(store: RunStore) -> None:
    info, model = history_run(store, llm_options=parse_options(["temperature=0", "act.max_tokens=32"]))
    assert model.seen[0]["temperature"] == 0.0 and model.seen[0]["max_tokens"] == 32
    assert info.config.llm_options == {"temperature": 0.0, "act.max_tokens": 32}
    info, model = history_run(store, llm_options={"temperature": None})
    assert "temperature" not in model.seen[0] and info.config.sampling["act"] == {}


def test_each_agent_carries_its_papers_settings() -> None:
    ari = AriGraphConfig().sampling
    assert {p: ari[p].temperature for p in ari} == {"entities": 0.7, "extract": 0.001, "refine": 0.001,
                                                   "explore_gate": 0.2, "plan": 0.2, "act": 0.2}
    assert AriGraphConfig(exploration=False).sampling["act"].temperature == 1.0  # the reference's switch
    assert AriGraphConfig(exploration=False, sampling={"act": {"temperature": 0.2}}).sampling["act"].temperature == 0.2
    assert {p: s.params() for p, s in HiAgentConfig().sampling.items()} == {
        p: {"temperature": 0.0, "top_p": 1.0} for p in ("subgoal", "act", "summarize")}
    clin = ClinConfig().sampling
    assert (clin["act"].max_tokens, clin["memory"].max_tokens, clin["act"].temperature) == (256, 1000, 0.0)


def test_the_embedded_model_and_replays_are_sent_no_sampling(store: RunStore) -> None:
    config = prepare(RunConfig(env_id="tw-coin", agent_id="hiagent"))
    assert config.config.sampling and all(params == {} for params in config.config.sampling.values())
    assert config.config.agent_config["sampling"]["act"]["temperature"] == 0.0  # configured, not sent


@pytest.mark.parametrize("llm, options, message", [
    ("openai:o3-mini", {}, "openai:o3-mini refuses temperature"),
    ("openai:gpt-5-mini", {"temperature": None}, "refuses top_p"),
    ("anthropic:claude-sonnet-4-5", {}, "takes temperature or top_p, not both"),
    ("openai:gpt-4o", {"temperature": 2.5}, "from 0 to 2"),
])
def test_a_setting_the_provider_refuses_is_a_one_line_error_before_anything_is_stored(
        store: RunStore, llm: str, options: dict, message: str) -> None:
    pytest.importorskip("langchain_openai")
    if llm.startswith("anthropic"):
        with pytest.raises(ConfigError, match=message):  # checked without the integration package
            sent("anthropic", "claude-sonnet-4-5", HiAgentConfig().sampling)
        return
    agent = "full-history" if "gpt-5" in llm else "arigraph"
    update = {"top_p": 0.9} if "gpt-5" in llm else {}
    with pytest.raises(ConfigError, match=message) as err:
        execute(RunConfig(env_id="tw-coin", agent_id=agent, llm=llm, llm_options={**options, **update}), store)
    assert "\n" not in str(err.value)
    assert store.list_runs() == []


@pytest.mark.parametrize("items, message", [
    (["temperature"], "write key=value"),
    (["warmth=1"], "unknown setting"),
    (["temperature=hot"], "not a number"),
    (["max_tokens=2.5"], "whole number"),
    (["context=none"], "context window in tokens"),
])
def test_bad_options_name_the_item(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_options(items)


def test_an_out_of_range_override_names_the_purpose() -> None:
    with pytest.raises(ConfigError, match=r"--llm-opt act\.top_p: input should be less than or equal to 1"):
        apply({"act": Sampling()}, {"act.top_p": 3.0})
    with pytest.raises(ConfigError, match=r"--llm-opt top_p: input should be"):
        apply({"act": Sampling()}, {"top_p": 3.0})


def test_ollama_receives_its_own_option_names() -> None:
    assert invoke_kwargs("ollama", {"temperature": 0.2, "max_tokens": 9}) == {
        "options": {"temperature": 0.2, "num_predict": 9}}
    assert invoke_kwargs("openai", {"temperature": 0.2}) == {"temperature": 0.2}


def test_prompt_caps_follow_the_models_window_and_are_recorded(store: RunStore) -> None:
    small = prepare(RunConfig(env_id="tw-coin", agent_id="arigraph-full-history")).config
    assert (small.context_tokens, small.context_source) == (8192, "known")
    assert small.agent_config["max_history_chars"] == 24_000 and small.agent_config["max_section_chars"] == 6000
    large = prepare(RunConfig(env_id="tw-coin", agent_id="arigraph-full-history", llm="fake:x",
                              llm_options={"context": 128_000})).config
    assert (large.context_tokens, large.context_source) == (128_000, "declared")
    assert large.agent_config["max_history_chars"] == 375_000 and large.agent_config["max_section_chars"] == 93_750
    pinned = prepare(RunConfig(env_id="tw-coin", agent_id="arigraph-full-history", llm="fake:x",
                               llm_options={"context": 128_000}, agent_config={"max_history_chars": 5000})).config
    assert pinned.agent_config["max_history_chars"] == 5000  # a cap the user set stays
    assert FullHistoryPlanConfig().fit_context(128_000).fit_context(128_000).max_history_chars == 375_000


def test_a_replay_keeps_the_recorded_runs_window(store: RunStore) -> None:
    info, _ = history_run(store, llm_options={"context": 32_768})
    assert info.config.agent_config["max_history_chars"] == 96_000
    replay = execute(info.config.model_copy(update={"llm": f"replay:{info.run_id}", "llm_options": {},
                                                    "agent_config": {}}), store)
    assert replay.config.context_tokens == 32_768 and "replayed run" in replay.config.context_source
    assert replay.config.agent_config["max_history_chars"] == 96_000
    assert [s.action for s in store.steps(replay.run_id)] == [s.action for s in store.steps(info.run_id)]
