"""CLIN's actor with fake chat models: output protocol, grounding retries, TASK_COMPLETE, generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.clin import ClinAgent, ClinConfig
from agents.clin.memory import Learning, TrialRecord
from agents.clin.meta import entry_data, episode_key, provenance
from agents.clin.protocol import early_stop_reason, parse_reply
from lab.core.env import Observation
from lab.core.llm import LLM
from lab.core.protocols import AgentContext, LocalCrossRunMemory, Task, TrialOutcome, Transition
from lab.core.records import CrossRunEntry, RunConfig
from lab.runner import prepare

ADMISSIBLE = ["examine cookbook", "look", "open fridge", "take milk from fridge"]


class OverlapEncoder:
    """A stand-in for the sentence encoder: Jaccard word overlap as the similarity."""

    def similarity_matrix(self, a: list[str], b: list[str]) -> torch.Tensor:
        def sim(x: str, y: str) -> float:
            wx, wy = set(x.lower().split()), set(y.lower().split())
            return len(wx & wy) / len(wx | wy)

        return torch.tensor([[sim(x, y) for y in b] for x in a])


class ScoringFake(FakeListChatModel):
    """Scores options: the one containing ``favourite`` wins; generates from ``responses``."""

    favourite: str = "fridge"

    def score_options(self, messages, options):
        return [1.0 if self.favourite in o else 0.0 for o in options]


def make_agent(
    responses: list[str], tmp_path: Path, model=None, store: LocalCrossRunMemory | None = None, **config
) -> tuple[ClinAgent, LLM]:
    llm = LLM(model or FakeListChatModel(responses=responses), "fake")
    cross_run = store if store is not None else LocalCrossRunMemory(run_id="this")
    ctx = AgentContext(llm=llm, rng=np.random.default_rng(0), seed=0, cross_run=cross_run)
    agent = ClinAgent(ClinConfig(**config), ctx, encoder=OverlapEncoder())
    agent.reset(Task(env_id="tw-cooking", env_kind="text", objective="Cook and eat the meal."))
    return agent, llm


def earlier(run_id: str, key: str, env_id: str, record: TrialRecord, **config) -> CrossRunEntry:
    """An entry another run recorded with the fake LLM and ``config``."""
    return CrossRunEntry(
        run_id=run_id,
        key=key,
        provenance=provenance("fake", ClinConfig(**config)),
        data=entry_data(env_id, "x", record),
    )


def obs(text: str = "You are in a kitchen.", reward: float = 0.0, score: float = 0.0) -> Observation:
    return Observation(
        text=text,
        admissible=list(ADMISSIBLE),
        objective="Cook and eat the meal.",
        description="A kitchen with a fridge.",
        inventory="You carry nothing.",
        reward=reward,
        score=score,
        max_score=2.0,
    )


def play(agent: ClinAgent, steps: list[tuple[str, float]]) -> list[str]:
    """Act on each observation text, the step giving ``reward``; return the commands."""
    current, commands = obs(), []
    for text, reward in steps:
        action = agent.act(current)
        nxt = obs(text, reward)
        agent.observe(Transition(current, action, nxt, reward, False))
        commands.append(action.command)
        current = nxt
    return commands


def act_prompts(llm: LLM) -> list[str]:
    return [c.messages[-1].content for c in llm.calls if c.purpose == "act"]


def test_the_output_protocol_is_parsed_and_used_learnings_noted(tmp_path: Path) -> None:
    agent, llm = make_agent(
        ["I used learning id(s): 1 $$$ The milk is in the fridge. ### Open the fridge."], tmp_path
    )
    agent.clin.replace([Learning("open fridge", "necessary", "may", "take milk from fridge")], 0)
    action = agent.act(obs())
    assert action.command == "open fridge"
    assert action.thoughts["used_learnings"] == [1]
    assert action.thoughts["rationale"] == "The milk is in the fridge."
    assert agent.memory.snapshot().retrieved == [agent.clin.learnings[0].record_id]
    framing = llm.calls[0].messages[1].content
    assert "1. open fridge may be necessary to take milk from fridge" in framing
    final = act_prompts(llm)[0]
    assert "Possible actions:\n- examine cookbook\n- look\n- open fridge\n- take milk from fridge" in final
    assert "$$$" in final and "###" in final and "ERROR" not in final


def test_ungroundable_actions_are_retried_with_the_error_then_the_nearest_is_taken(tmp_path: Path) -> None:
    agent, llm = make_agent(
        [
            "ids: none $$$ hmm ### dance wildly",
            "none $$$ hmm ### fridge open now",
            "none $$$ hmm ### open the big fridge",
        ],
        tmp_path,
    )
    action = agent.act(obs())
    prompts = act_prompts(llm)
    assert len(prompts) == 3
    assert "ERROR: 'dance wildly' cannot be matched to a valid action." in prompts[1]
    assert "ERROR: 'fridge open now' cannot be matched to a valid action." in prompts[2]
    assert action.command == "open fridge"
    assert action.thoughts["fallback"]["reason"] == "nearest command after the last try"
    assert [t["grounded"] for t in action.thoughts["tries"]] == [
        "examine cookbook",
        "open fridge",
        "open fridge",
    ]


def test_a_close_paraphrase_is_accepted_on_the_first_try(tmp_path: Path) -> None:
    agent, llm = make_agent(
        ["none $$$ get it ### take milk from the fridge"], tmp_path, grounding_threshold=0.7
    )
    action = agent.act(obs())
    assert (
        action.command == "take milk from fridge"
        and len(llm.calls) == 1
        and "fallback" not in action.thoughts
    )


def test_malformed_replies_get_the_error_then_a_recorded_fallback(tmp_path: Path) -> None:
    agent, llm = make_agent(["open fridge", "", "I think so"], tmp_path)
    action = agent.act(obs())
    assert action.command == "look"
    assert action.thoughts["fallback"]["reason"] == "no parseable reply in 3 tries"
    assert all("ERROR: your reply did not follow the format" in p for p in act_prompts(llm)[1:])


def test_task_complete_ends_the_trial_or_is_recorded(tmp_path: Path) -> None:
    agent, _ = make_agent(["I used learning id(s): none $$$ all done ### TASK_COMPLETE"], tmp_path)
    action = agent.act(obs())
    assert action.thoughts["task_complete"]
    assert action.stop and action.thoughts["end_trial"] == "the agent declared TASK_COMPLETE"


def test_early_stop_rules() -> None:
    assert early_stop_reason(["look", "look", "look", "look"], 4, None, 5, 1.5) is None
    assert early_stop_reason(["go east"] + ["look"] * 5, 6, None, 5, 1.5) == "5 identical actions in a row"
    assert early_stop_reason(["a", "b"], 9, 6, 5, 1.5) is not None
    assert early_stop_reason(["a", "b"], 50, None, 5, 1.5) is None  # no walkthrough length: no cap


def test_deterministic_learning_carries_into_the_next_trial_prompt(tmp_path: Path) -> None:
    agent, llm = make_agent(
        ["none $$$ a ### open fridge", "none $$$ b ### take milk from fridge"],
        tmp_path,
        generator="deterministic",
        record_meta_memory=False,
    )
    play(agent, [("You open the fridge.", 0.0), ("Taken.", 1.0)])
    agent.end_trial(TrialOutcome(trial=0, steps=2, score=1.0, max_score=2.0, won=False, lost=False))
    assert agent.clin.trials[0].score == 50.0 and agent.clin.trials[0].verbal == "very well"
    agent.reset(Task(env_id="tw-cooking", env_kind="text", objective="Cook and eat the meal.", trial=1))
    agent.act(obs())
    assert (
        "1. take milk from fridge may be necessary to complete the task" in llm.calls[-1].messages[1].content
    )
    assert agent.ctx.cross_run.recorded == []


def test_the_llm_generator_rewrites_the_memory_and_survives_garbage(tmp_path: Path) -> None:
    agent, llm = make_agent(
        [
            "none $$$ a ### open fridge",
            "1. open fridge SHOULD BE NECESSARY to take milk\n2. look DOES NOT CONTRIBUTE to cook",
            "none $$$ a ### open fridge",
            "I cannot help with that.",
        ],
        tmp_path,
    )
    play(agent, [("You open the fridge.", 0.0)])
    agent.end_trial(TrialOutcome(trial=0, steps=1, score=0.0, max_score=2.0, won=False, lost=False))
    memory_call = llm.calls[-1]
    assert memory_call.purpose == "memory"
    assert (
        "Action: open fridge\nObservation: You open the fridge.\nREWARD_FINAL: 0. This means: poor"
        in memory_call.messages[-1].content
    )
    assert [x.text() for x in agent.clin.learnings] == [
        "open fridge should be necessary to take milk",
        "look does not contribute to cook",
    ]
    agent.reset(Task(env_id="tw-cooking", env_kind="text", objective="Cook and eat the meal.", trial=1))
    play(agent, [("Nothing.", 0.0)])
    agent.end_trial(TrialOutcome(trial=1, steps=1, score=0.0, max_score=2.0, won=False, lost=False))
    assert "EPISODE: 0\nLEARNINGS:\n1. open fridge should be necessary" in llm.calls[-1].messages[2].content
    assert len(agent.clin.learnings) == 2 and "no learning could be parsed" in agent.clin.trials[1].note
    stored = agent.ctx.cross_run.recorded
    assert len(stored) == 1 and stored[0].data["trial"] == 1  # ties keep the later trial
    assert stored[0].run_id == "this" and stored[0].provenance == agent.provenance


def test_gen_env_seeds_trial_zero_with_the_meta_memory_of_other_episodes(tmp_path: Path) -> None:
    shared = Learning("prepare meal", "necessary", "may", "eat meal", 2)
    entries = [
        earlier(
            f"run-{i}",
            f"episode-{i}",
            family,
            TrialRecord(
                2,
                50.0,
                5,
                False,
                [shared, Learning(f"take thing {i}", "necessary", "may", "complete the task", 2)],
            ),
            generator="deterministic",
        )
        for i, family in enumerate(["tw-cooking", "tw-cooking", "tw-treasure"])
    ]
    current = episode_key("tw-cooking", obs().text)
    own = TrialRecord(0, 100.0, 5, True, [Learning("own", "necessary", "may", "x")])
    entries.append(earlier("run-3", current, "tw-cooking", own, generator="deterministic"))
    agent, llm = make_agent(
        ["none $$$ a ### open fridge"],
        tmp_path,
        store=LocalCrossRunMemory(entries, run_id="this"),
        mode="gen-env",
        generator="deterministic",
    )
    action = agent.act(obs())
    note = action.thoughts["meta_memory"]
    assert (note["episodes"], note["learnings"]) == (2, 3) and "unavailable" not in note
    sources = [(s["run_id"], s["episode"]) for s in note["sources"]]
    assert sources == [("run-0", "episode-0"), ("run-1", "episode-1")]
    texts = [x.text() for x in agent.clin.learnings]
    assert (
        texts[0] == "prepare meal should be necessary to eat meal"
        and "own may be necessary to x" not in texts
    )
    assert "take thing 2 may be necessary to complete the task" not in texts  # another family
    assert "learnings from other worlds where you did the same task" in llm.calls[0].messages[1].content
    records = agent.memory.snapshot().records
    assert {r.attrs["status"] for r in records if r.kind == "learning"} == {"seeded"}
    assert [r.attrs["run_id"] for r in records if r.kind == "meta-source"] == ["run-0", "run-1"]


def test_gen_env_ignores_entries_of_another_provenance_and_takes_each_episode_s_best(tmp_path: Path) -> None:
    def record(score: float, cause: str) -> TrialRecord:
        return TrialRecord(1, score, 3, False, [Learning(cause, "necessary", "may", "win")])

    entries = [
        earlier("a", "e1", "tw-cooking", record(100.0, "llm generator"), generator="llm"),
        earlier("b", "e1", "tw-cooking", record(20.0, "weak"), generator="deterministic"),
        earlier("c", "e1", "tw-cooking", record(60.0, "strong"), generator="deterministic"),
        earlier("d", "e1", "tw-cooking", record(60.0, "strong later"), generator="deterministic"),
        earlier(
            "e", "e2", "tw-cooking", record(100.0, "other actor"), generator="deterministic", decision="score"
        ),
        # the bookkeeping switches are not provenance
        earlier("f", "e3", "tw-cooking", record(10.0, "from adapt"), generator="deterministic", mode="adapt",
                record_meta_memory=True, max_meta_learnings=3),
    ]
    agent, _ = make_agent(
        ["none $$$ a ### open fridge"],
        tmp_path,
        store=LocalCrossRunMemory(entries, run_id="this"),
        mode="gen-env",
        generator="deterministic",
        record_meta_memory=False,
    )
    action = agent.act(obs())
    assert [s["run_id"] for s in action.thoughts["meta_memory"]["sources"]] == ["d", "f"]
    assert {x.cause for x in agent.clin.learnings} == {"strong later", "from adapt"}


def test_a_run_that_cannot_read_the_store_says_it_was_not_seeded(tmp_path: Path) -> None:
    won = TrialRecord(1, 100.0, 3, True, [Learning("x", "necessary", "may", "y")])
    entry = earlier("a", "e1", "tw-cooking", won, generator="deterministic")
    agent, _ = make_agent(
        ["none $$$ a ### open fridge"],
        tmp_path,
        store=LocalCrossRunMemory([entry], run_id="this", readable=False),
        mode="gen-env",
        generator="deterministic",
    )
    note = agent.act(obs()).thoughts["meta_memory"]
    assert note["episodes"] == 0 and note["unavailable"] and agent.clin.learnings == []


def test_gen_task_uses_other_families_only(tmp_path: Path) -> None:
    def won(cause: str, effect: str) -> TrialRecord:
        return TrialRecord(1, 100.0, 3, True, [Learning(cause, "necessary", "may", effect)])

    entries = [
        earlier("r1", "a", "tw-treasure", won("go east", "find it"), generator="deterministic"),
        earlier("r2", "b", "tw-cooking", won("eat meal", "win"), generator="deterministic"),
    ]
    agent, _ = make_agent(
        ["none $$$ a ### open fridge"],
        tmp_path,
        store=LocalCrossRunMemory(entries, run_id="this"),
        mode="gen-task",
        generator="deterministic",
    )
    agent.act(obs())
    assert [x.text() for x in agent.clin.learnings] == ["go east may be necessary to find it"]


def test_the_scoring_model_chooses_among_admissible_commands(tmp_path: Path) -> None:
    agent, llm = make_agent([], tmp_path, model=ScoringFake(responses=["unused"]))
    action = agent.act(obs())
    assert action.command == "open fridge" and action.thoughts["mode"] == "score"
    assert llm.calls[0].kind == "score" and llm.calls[0].options == ADMISSIBLE
    assert "Reply with the next action only." in llm.calls[0].messages[-1].content


def test_parse_reply_without_ids_separator() -> None:
    reply = parse_reply("The fridge holds the milk ### take milk from fridge")
    assert (reply.ids, reply.rationale, reply.action) == (
        [],
        "The fridge holds the milk",
        "take milk from fridge",
    )
    assert parse_reply("ids: 2,3 $$$ r ### ").action is None


@pytest.mark.parametrize("mode", ["adapt", "gen-env"])
def test_the_memory_survives_reset(tmp_path: Path, mode: str) -> None:
    agent, _ = make_agent(["none $$$ a ### look"], tmp_path, mode=mode, generator="deterministic")
    agent.clin.replace([Learning("a", "necessary", "may", "b")], 0)
    agent.reset(Task(env_id="tw-cooking", env_kind="text", objective="x", trial=3))
    assert len(agent.clin.learnings) == 1


@pytest.mark.parametrize(
    ("reply", "complete", "action"),
    [
        (
            "I used learning id(s): none $$$ this gets the task completed ### take cilantro",
            False,
            "take cilantro",
        ),
        (
            "I used learning id(s): 2 $$$ Task complete? Not yet. The milk is still in the fridge. "
            "### take milk from fridge",
            False,
            "take milk from fridge",
        ),
        ("ids: none $$$ It is not successfully completed yet. ### **open fridge**", False, "open fridge"),
        ("Task complete? Not yet.", False, None),
        ("I used learning id(s): 1, 2 $$$ I ate the meal, so I am done. ### TASK_COMPLETE", True, None),
        ("I used learning id(s): none $$$ Done. ### **Task complete.**", True, None),
        ("TASK_COMPLETE", True, None),
    ],
)
def test_only_the_action_part_declares_the_task_complete(
    reply: str, complete: bool, action: str | None
) -> None:
    parsed = parse_reply(reply)
    assert (parsed.complete, parsed.action) == (complete, action)


def test_a_rationale_that_talks_of_completion_does_not_end_the_trial(tmp_path: Path) -> None:
    agent, _ = make_agent(
        ["I used learning id(s): none $$$ Opening the fridge gets the task completed. ### open fridge"],
        tmp_path,
    )
    action = agent.act(obs())
    assert action.command == "open fridge" and not action.stop and "task_complete" not in action.thoughts


def test_the_history_replays_the_actor_s_own_replies_verbatim(tmp_path: Path) -> None:
    first = (
        "Sure! Here is my answer.\nI used learning id(s): none $$$ The milk should be in the fridge, "
        "so I open it first. ### open fridge"
    )
    agent, llm = make_agent(
        [first, "I used learning id(s): none $$$ The milk is there. ### take milk from fridge"], tmp_path
    )
    play(agent, [("You open the fridge. You see some milk.", 0.0), ("Taken.", 1.0)])
    second = [(m.role, m.content) for m in llm.calls[1].messages]
    turn = second.index(("assistant", first))
    assert second[turn + 1 :] == [
        ("user", "Selected action: open fridge"),
        ("user", "You open the fridge. You see some milk."),
        second[-1],
    ]
    assert agent.trace[0].rationale == "The milk should be in the fridge, so I open it first."


def test_a_stored_config_with_the_retired_meta_memory_file_still_loads() -> None:
    old = {"meta_memory_file": "meta_memory.json"}
    assert "meta_memory_file" not in ClinConfig.model_validate(old).model_dump()
    prepared = prepare(RunConfig(env_id="tw-cooking", agent_id="clin", llm="fake:x", agent_config=old))
    assert "meta_memory_file" not in prepared.config.agent_config
    with pytest.raises(ValueError):
        ClinConfig.model_validate({"meta_memory_files": "typo"})  # other unknown keys stay errors
