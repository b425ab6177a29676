"""Reflexion on the paper's planner and actor: reflections after failed trials, carried across trials."""

from __future__ import annotations

from tests.agents.arigraph.arigraph_helpers import RoutingFake
from tests.agents.arigraph.test_agent import HUNT, agent, llm

from agents.arigraph import ReflexionAgent, ReflexionConfig
from lab.core.protocols import TrialOutcome
from lab.core.records import RunConfig
from lab.runner import execute

FIRST = "Reflection: I only looked around. Next time take the key first. Then unlock the locker. Extra."


def run(store, reflections: list[str], **config):
    replies = {"act": ['{"action_to_take": "look"}'], "reflect": reflections}
    model = RoutingFake(responses=["x"], replies=replies, seen=[])
    info = execute(
        RunConfig(env_id="tw-hunt", env_options=HUNT, agent_id="reflexion", agent_config=config, llm="fake:x",
                  max_steps=2, trials=3, probe_every=0),
        store,
        chat_model=model,
    )
    return info, store.steps(info.run_id), model.seen


def test_reflections_enter_later_trials_and_persist_across_them(games_store) -> None:
    info, steps, seen = run(games_store, [FIRST, "", "Open the White locker with Key 1."])
    assert info.status == "finished" and [t.trial for t in info.summary.trials] == [0, 1, 2]
    reflect = [prompt for kind, prompt in seen if kind == "reflect"]
    assert len(reflect) == 3  # every trial failed
    assert "ran out of steps after 2 steps with a score of 0" in reflect[0]
    assert "Action taken: look" in reflect[0] and "Main goal:" in reflect[0]
    acts = [prompt for kind, prompt in seen if kind == "act"]
    assert not any("reflections on earlier attempts" in p for p in acts[:2])
    wanted = "Trial 1: I only looked around. Next time take the key first. Then unlock the locker."
    assert all(wanted in p for p in acts[2:]) and not any("Extra." in p for p in acts)
    by_trial = {s.trial: s for s in steps if s.trial_end}
    assert [c.purpose for c in by_trial[2].llm_calls][-1] == "reflect"  # recorded in the trial's last step
    final = games_store.memory_at(info.run_id, len(steps) - 1)
    assert [(r.id, r.kind) for r in final.records if r.kind == "reflection"] == [
        ("reflection-0", "reflection"),
        ("reflection-2", "reflection"),
    ]
    trials = {r.id: r for r in final.records if r.kind == "trial"}
    assert trials["trial-0"].attrs["reflection"] == wanted.removeprefix("Trial 1: ")
    assert trials["trial-1"].attrs["reflection_parse_failure"] == "empty reply"  # nothing added, recorded
    assert trials["trial-2"].text == "Trial 3: ran out of steps after 2 steps with a score of 0 out of 3"
    after_first = games_store.memory_at(info.run_id, by_trial[0].index)  # the trial-end keyframe has it
    carried = [r.id for r in after_first.records if r.kind in ("reflection", "trial")]
    assert carried == ["reflection-0", "trial-0"]


def test_only_the_newest_reflections_are_kept(games_store) -> None:
    info, steps, seen = run(games_store, ["First.", "Second.", "Third."], max_reflections=1)
    final = games_store.memory_at(info.run_id, len(steps) - 1)
    assert [r.text for r in final.records if r.kind == "reflection"] == ["Third."]
    last_act = [prompt for kind, prompt in seen if kind == "act"][-1]
    assert "Trial 2: Second." in last_act and "First." not in last_act


def test_a_won_trial_writes_no_reflection() -> None:
    model, fake = llm(reflect=["Should not be asked."])
    reflexion = agent(ReflexionAgent, ReflexionConfig(planner="static"), model)
    reflexion.end_trial(TrialOutcome(trial=0, steps=9, score=3, max_score=3, won=True, lost=False))
    assert not fake.seen and not reflexion.reflections
    again = agent(ReflexionAgent, ReflexionConfig(planner="static", reflect_on_win=True), model)
    again.end_trial(TrialOutcome(trial=0, steps=9, score=3, max_score=3, won=True, lost=False))
    assert "won after 9 steps with a score of 3 out of 3" in fake.seen[0][1]
    assert again.reflections == [(0, "Should not be asked.")]
