"""HiAgent's loop with fake chat models: subgoals, summaries, retrieve(), check valid actions, bad output."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.hiagent import HiAgent, HiAgentConfig, parse_reply
from lab.core.env import Observation
from lab.core.llm import LLM
from lab.core.protocols import Action, AgentContext, Task, Transition

ADMISSIBLE = ["go east", "look", "open fridge", "take milk from fridge"]


class ScoringFake(FakeListChatModel):
    """Generates from ``responses`` and scores options: the one containing ``favourite`` wins."""

    favourite: str = "fridge"
    scored: list[list[str]] = []

    def score_options(self, messages, options):
        self.scored.append(list(options))
        return [1.0 if self.favourite in o else 0.0 for o in options]


def make_agent(responses: list[str], model: FakeListChatModel | None = None, **config) -> tuple[HiAgent, LLM]:
    llm = LLM(model or FakeListChatModel(responses=responses), "fake")
    agent = HiAgent(HiAgentConfig(**config), AgentContext(llm=llm, rng=np.random.default_rng(0), seed=0))
    agent.reset(Task(env_id="tw-test", env_kind="text", objective="Drink the milk."))
    return agent, llm


def obs(text: str, reward: float = 0.0) -> Observation:
    return Observation(
        text=text,
        admissible=list(ADMISSIBLE),
        objective="Drink the milk.",
        reward=reward,
        room="Kitchen",
        inventory="You carry nothing.",
    )


def step(
    agent: HiAgent, current: Observation, reply_text: str, reward: float = 0.0
) -> tuple[Action, Observation]:
    action = agent.act(current)
    nxt = obs(reply_text, reward)
    agent.observe(Transition(current, action, nxt, reward, False))
    return action, nxt


def prompts_of(llm: LLM, purpose: str = "act") -> list[str]:
    return [c.messages[-1].content for c in llm.calls if c.purpose == purpose]


@pytest.mark.parametrize(
    ("reply", "subgoal", "action"),
    [
        ("Subgoal: Open the fridge.\nAction: open fridge", "Open the fridge.", "open fridge"),
        ("3 Subgoal: Open the fridge.\nAction: 'open fridge'.", "Open the fridge.", "open fridge"),
        ("Action: take milk from fridge\nObservation: Taken.", None, "take milk from fridge"),
        ("I think the next action: go east", None, "go east"),
        ("go east", None, "go east"),
        ("Subgoal: Open the fridge.", "Open the fridge.", None),
        ("Subgoal: A\nSubgoal: B", "A", None),
        ("", None, None),
    ],
)
def test_parse_reply(reply: str, subgoal: str | None, action: str | None) -> None:
    parsed = parse_reply(reply)
    assert (parsed.subgoal, parsed.action) == (subgoal, action)


def test_subgoals_chunk_the_prompt_and_each_is_summarised_once() -> None:
    agent, llm = make_agent(
        [
            "Subgoal: Open the fridge.\nAction: open fridge",
            "Subgoal: Take the milk.\nAction: take milk from fridge",
            "The fridge is open; the subgoal was met.",  # summary of subgoal 1, asked when subgoal 2 opens
            "Action: look",
            "Action: go east",
        ]
    )
    current = obs("You are in a kitchen.")
    action, current = step(agent, current, "You open the fridge. You see some milk.")
    assert action.command == "open fridge" and action.thoughts["subgoal"] == "1: Open the fridge."
    action, current = step(agent, current, "You take the milk.", reward=1.0)
    assert action.command == "take milk from fridge"
    assert action.thoughts["closed_subgoal"] == {
        "number": 1,
        "summary": "The fridge is open; the subgoal was met.",
    }
    for expected in ("look", "go east"):
        action, current = step(agent, current, "Nothing happens.")
        assert action.command == expected
    purposes = [c.purpose for c in llm.calls]
    assert purposes == ["act", "act", "summarize", "act", "act"]
    summary_prompt = llm.calls[2].messages[-1].content
    assert (
        "##Trajectory\nAction: open fridge\nObservation: You open the fridge. You see some milk."
        in summary_prompt
    )
    assert "##Subgoal\nOpen the fridge." in summary_prompt
    last = prompts_of(llm)[-1]
    assert (
        "1 Subgoal: Open the fridge.\nObservation: The fridge is open; the subgoal was met.\n"
        "2 Subgoal: Take the milk.\nAction: take milk from fridge\nObservation: You take the milk.\n"
        "Action: look\nObservation: Nothing happens."
    ) in last
    assert agent.memory.snapshot().prompt_text in last


def test_retrieve_comes_back_as_the_observation_and_is_never_played() -> None:
    agent, llm = make_agent(
        [
            "Subgoal: Open the fridge.\nAction: open fridge",
            "Subgoal: Take the milk.\nAction: retrieve(1)",
            "Opened.",  # the summary of subgoal 1
            "Action: take milk from fridge",
        ],
        summarizer="llm",
    )
    current = obs("You are in a kitchen.")
    step(agent, current, "You open the fridge.")
    action = agent.act(current)
    assert action.command == "take milk from fridge"
    assert action.thoughts["pseudo_commands"][0]["command"] == "retrieve(1)"
    after_retrieve = prompts_of(llm)[-1]
    assert (
        "Action: retrieve(1)\nObservation: Trajectory of subgoal 1 (Open the fridge.):\n"
        "Action: open fridge\nObservation: You open the fridge."
    ) in after_retrieve
    assert agent.memory.snapshot().retrieved == ["t0-chunk-1"]


def test_check_valid_actions_lists_the_admissible_commands_without_an_env_step() -> None:
    agent, llm = make_agent(["Subgoal: Look around.\nAction: check valid actions", "Action: go east"])
    action = agent.act(obs("You are in a kitchen."))
    assert action.command == "go east"
    assert (
        "Action: check valid actions\nObservation: Valid actions: go east, look, open fridge, "
        "take milk from fridge"
    ) in prompts_of(llm)[-1]


def test_malformed_replies_are_retried_with_an_error_then_fall_back() -> None:
    agent, llm = make_agent(["", "Subgoal: Open the fridge.", "   "], parse_retries=2)
    action = agent.act(obs("You are in a kitchen."))
    assert action.command == "look"
    assert action.thoughts["fallback"]["reason"] == "no action could be parsed from the reply"
    assert action.thoughts["parse_failures"] == ["", "Subgoal: Open the fridge.", "   "]
    calls = prompts_of(llm)
    assert len(calls) == 3 and "ERROR" not in calls[0]
    assert "ERROR: No action found." in calls[1]
    assert "ERROR: A subgoal must be followed by an action." in calls[2]


def test_endless_pseudo_commands_hit_the_bound() -> None:
    agent, llm = make_agent(["Action: check valid actions"], max_pseudo_commands=2)
    action = agent.act(obs("You are in a kitchen."))
    assert action.command == "look" and len(action.thoughts["pseudo_commands"]) == 2
    assert "pseudo-commands" in action.thoughts["fallback"]["reason"] and len(llm.calls) == 3


def test_scoring_model_chooses_among_admissible_and_generates_subgoals_after_the_step() -> None:
    model = ScoringFake(responses=["Subgoal: Get the milk.", "Drink it."], scored=[])
    agent, llm = make_agent([], model=model, summarizer="composite", subgoal_max_steps=2)
    current = obs("You are in a kitchen.")
    action, current = step(agent, current, "You open the fridge.")
    assert action.command == "open fridge" and action.thoughts["mode"] == "score"
    assert action.thoughts["next_subgoal"] == "Get the milk." and action.thoughts["why"] == "no subgoal yet"
    assert model.scored == [ADMISSIBLE]
    action, current = step(agent, current, "You take the milk.", reward=1.0)
    assert action.thoughts["subgoal"] == "1: Get the milk." and action.thoughts["why"] == "the score went up"
    assert action.thoughts["closed_subgoal"]["summary"].startswith("Location: Kitchen.")
    assert [c.purpose for c in llm.calls] == ["act", "subgoal", "act", "subgoal"]
    assert [c.kind for c in llm.calls] == ["score", "chat", "score", "chat"]
    assert "2 Subgoal: Drink it." in agent.memory.serialize()


def test_a_new_trial_starts_an_empty_working_memory() -> None:
    agent, _ = make_agent(["Subgoal: Open the fridge.\nAction: open fridge"])
    step(agent, obs("You are in a kitchen."), "You open the fridge.")
    agent.reset(Task(env_id="tw-test", env_kind="text", objective="Drink the milk.", trial=1))
    assert agent.memory.is_empty and agent.memory.trial == 1


def test_the_prompt_keeps_within_the_context_budget_by_dropping_the_oldest_entries() -> None:
    agent, llm = make_agent(["Action: look"], context_length=1200, reply_tokens=100)
    current = obs("You are in a kitchen. " * 20)
    for i in range(12):
        _, current = step(agent, current, f"Observation number {i}. " * 10)
    agent.act(current)
    prompt = prompts_of(llm)[-1]
    assert "Observation number 11." in prompt and "Observation number 0." not in prompt
    assert agent.memory.truncated_entries > 0
    assert sum(len(m.content) for m in llm.calls[-1].messages) / 4 <= 1200 - 100


def test_the_example_can_be_left_out_of_the_action_prompt() -> None:
    with_example, llm_with = make_agent(["Action: look"])
    without, llm_without = make_agent(["Action: look"], example=False)
    for agent in (with_example, without):
        step(agent, obs("You are in a kitchen."), "You see a fridge.")
        agent.act(obs("You see a fridge."))
    kept, dropped = prompts_of(llm_with)[-1], prompts_of(llm_without)[-1]
    assert "Here is an example:" in kept and "Here is an example:" not in dropped
    assert "prepare meal" in kept and "prepare meal" not in dropped  # a line of the example itself
    for prompt in (kept, dropped):  # everything else stays
        assert "Work in subgoals." in prompt and "accomplish the goal: Drink the milk." in prompt
        assert "You see a fridge." in prompt


@pytest.mark.parametrize(
    ("reply", "subgoal", "action"),
    [
        (  # a model that writes on past its turn: its invented later actions are never played
            "Subgoal: Get the milk.\nAction: open fridge\nObservation: You open the fridge.\n"
            "Action: take milk from fridge\nObservation: Taken.\nAction: drink milk",
            "Get the milk.",
            "open fridge",
        ),
        ("**Subgoal:** Get the milk.\n**Action:** open fridge", "Get the milk.", "open fridge"),
        ("Sure, here is my next step.\n### Action:\n`take milk from fridge`", None, "take milk from fridge"),
        ("Action: *\"go east\"*", None, "go east"),
        ("Thought: the fridge is closed.\nAction: __open fridge__.\nAction: look", None, "open fridge"),
        (
            "Last action: look\nSubgoal: _Open the fridge._\n**Action**: 'open fridge'",
            "Open the fridge.",
            "open fridge",
        ),
    ],
)
def test_parse_reply_takes_the_first_action_after_the_subgoal_without_markdown(
    reply: str, subgoal: str | None, action: str | None
) -> None:
    parsed = parse_reply(reply)
    assert (parsed.subgoal, parsed.action) == (subgoal, action)


def test_a_markdown_reply_with_invented_turns_plays_its_first_action() -> None:
    agent, llm = make_agent(
        [
            "Here is my plan.\n**Subgoal:** Get the milk.\n**Action:** `open fridge`\n"
            "**Observation:** You open the fridge.\n**Action:** `take milk from fridge`",
        ]
    )
    action, _ = step(agent, obs("You are in a kitchen."), "You open the fridge. You see some milk.")
    assert action.command == "open fridge" and action.thoughts["subgoal"] == "1: Get the milk."
    assert "1 Subgoal: Get the milk.\nAction: open fridge\nObservation: You open the fridge." in (
        agent.memory.serialize()
    )
