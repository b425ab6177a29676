"""Memory → action attribution on real recorded runs, with a scorer whose dependence on memory is known."""

from __future__ import annotations

from typing import Any

import pytest

from agents.registry import get_spec
from lab import attribution
from lab.benches.strong_model import ScriptedStrongModel
from lab.core.errors import ConfigError
from lab.core.records import RunConfig
from lab.runner import execute
from lab.store import RunStore
from tests.scorers import KeyedScorer

GAME = {"env_id": "tw-coin", "env_options": {"level": 5}}
RULES = {"extractor": "rules", "outdated": "rules", "entities": "rules"}
"""AriGraph without LLM memory calls; the MiniLM encoder (hashed vectors retrieve nothing at the 0.4 cut)."""


def recorded(store: RunStore, agent: str, agent_config: dict[str, Any]) -> str:
    config = RunConfig(**GAME, agent_id=agent, agent_config=agent_config, llm="openai:scripted-strong",
                       max_steps=20, probe_every=0)
    info = execute(config, store, chat_model=ScriptedStrongModel())
    assert info.summary.won, info.summary.message
    return info.run_id


def split_at(store: RunStore, run_id: str, index: int):
    step = store.step(run_id, index)
    call = attribution.decision_call(step)
    spec = get_spec(store.get_run(run_id).config.agent_id)
    return step, spec.prompt_items([(m.role, m.content) for m in call.messages])


def test_leaving_out_the_one_item_the_scorer_needs_flips_the_choice_and_nothing_else_does(
        games_store: RunStore) -> None:
    run = recorded(games_store, "arigraph", RULES)
    step, split = split_at(games_store, run, 2)
    triplets = [item for item in split.items() if item.kind == "triplet"]
    assert len(triplets) >= 3 and {"episode", "history"} & {i.kind for i in split.items()}
    needed = triplets[1]
    other = next(o for o in split.options if o != step.action)
    scorer = KeyedScorer(needed=needed.text, favourite=step.action, fallback=other)
    result = attribution.attribute(games_store, run, 2, "keyed", scorer)
    assert result.chosen == result.full_choice == step.action and set(result.options) == set(split.options)
    effects = {e.key: e for e in result.items}
    assert set(effects) == {i.key for i in split.items()}
    assert effects[needed.key].rank == 1 and effects[needed.key].choice == other
    assert effects[needed.key].delta < -2.0  # from the favourite's share to the fallback's
    assert all(e.delta == pytest.approx(0.0) and e.choice == step.action
               for key, e in effects.items() if key != needed.key)
    assert result.none_choice == other and result.none_logprob < result.full_logprob
    assert effects[needed.key].memory_id  # the triplet is an edge of the memory at this step
    # the prompt rebuilt without the item is the agent's own, less that item and its separator
    without = split.without({needed.key})[-1][1]
    assert needed.text not in without and "; ;" not in without
    assert split.without(set())[-1][1] == split.messages[-1][1]


@pytest.mark.parametrize(("agent", "agent_config", "kind"), [
    ("full-history", {}, "history"),
    ("rag", {"encoder": "hash"}, "history"),
    ("summary", {}, "summary"),
    ("hiagent", {}, "chunk"),
    ("clin", {"record_meta_memory": False}, "learning"),
])
def test_every_text_agents_prompt_splits_into_items_and_rebuilds_without_each(
        games_store: RunStore, agent: str, agent_config: dict[str, Any], kind: str) -> None:
    trials = 2 if agent == "clin" else 1  # CLIN's learnings reach the prompt in the next trial
    config = RunConfig(**GAME, agent_id=agent, agent_config=agent_config, llm="openai:scripted-strong",
                       max_steps=20, trials=trials, probe_every=0)
    run = execute(config, games_store, chat_model=ScriptedStrongModel()).run_id
    index = next(s.index for s in games_store.steps(run) if s.trial == trials - 1 and s.t == 3)
    step, split = split_at(games_store, run, index)
    found = [i for i in split.items() if i.kind == kind]
    assert found, [i.kind for i in split.items()]
    full = split.messages
    for item in split.items():
        rebuilt = split.without({item.key})
        changed = [k for k, (a, b) in enumerate(zip(full, rebuilt)) if a != b]
        assert len(changed) == 1, item  # one message loses the item, the others stay as recorded
        before, after = full[changed[0]][1], rebuilt[changed[0]][1]
        assert after.count(item.text) < before.count(item.text) and len(after) < len(before)
    scorer = KeyedScorer(needed=found[0].text, favourite=step.action,
                         fallback=next(o for o in (split.options or step.observation.admissible) if o != step.action))
    result = attribution.attribute(games_store, run, index, "keyed", scorer)
    top = min(result.items, key=lambda e: e.rank)
    assert top.key == found[0].key and top.choice != step.action


def test_attributions_are_kept_by_step_and_model_and_go_with_their_run(games_store: RunStore) -> None:
    run = recorded(games_store, "full-history", {})
    step, split = split_at(games_store, run, 1)
    scorer = KeyedScorer(needed=split.items()[0].text, favourite=step.action, fallback="inventory")
    first = attribution.cached(games_store, run, 1, "keyed", scorer)
    calls = len(scorer.seen)
    again = attribution.cached(games_store, run, 1, "keyed", scorer)
    assert again == first and len(scorer.seen) == calls  # read back, not scored again
    assert [(a.step, a.model) for a in games_store.attributions(run)] == [(1, "keyed")]
    assert games_store.attributions(run, 0) == [] and games_store.attributions(run, 1, "other") == []
    games_store.delete_run(run)
    assert games_store._query("SELECT count(*) FROM attributions WHERE run_id=?", (run,))[0][0] == 0


def test_agents_without_prompt_items_and_models_that_cannot_score_are_refused_in_one_line(
        games_store: RunStore) -> None:
    run = recorded(games_store, "full-history", {})
    with pytest.raises(ConfigError, match="cannot score options"):
        attribution.attribute(games_store, run, 1, "fake:go north")
    walk = execute(RunConfig(**GAME, agent_id="random", max_steps=3, probe_every=0), games_store)
    with pytest.raises(ConfigError, match="no memory items"):
        attribution.attribute(games_store, walk.run_id, 0)


def test_memlab_attribute_prints_the_table_and_refuses_bad_input(games_store: RunStore) -> None:
    """In process, so the embedded scorer loaded by the session's other tests serves here too."""
    from typer.testing import CliRunner

    from lab.cli import app

    run = recorded(games_store, "full-history", {})
    done = CliRunner().invoke(app, ["attribute", run, "--step", "1"])  # one history pair: three passes
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"run {run} step 1: chose ") and "(scored by embedded" in lines[0]
    assert lines[1].split() == ["item", "text", "logprob", "change", "choice"]
    assert lines[2].startswith("(full prompt)") and lines[3].startswith("(no memory)")
    assert [line.split("  ")[0] for line in lines[4:]] == ["1. history"]
    assert [(a.step, a.model) for a in games_store.attributions(run)] == [(1, "embedded")]
    bad = CliRunner().invoke(app, ["attribute", run])
    assert bad.exit_code != 0 and bad.stderr.strip().endswith("give --step N or --all")
    assert "\n" not in bad.stderr.strip()
    missing = CliRunner().invoke(app, ["attribute", "nope", "--step", "0"])
    assert missing.exit_code != 0 and missing.stderr.count("\n") == 1 and "nope" in missing.stderr


def test_attributions_travel_with_a_jsonl_export_and_a_foreign_one_is_refused(
        games_store: RunStore, tmp_path) -> None:
    import json

    from lab.export import export_run, import_file

    run = recorded(games_store, "full-history", {})
    step, split = split_at(games_store, run, 1)
    scorer = KeyedScorer(needed=split.items()[0].text, favourite=step.action, fallback="inventory")
    kept = attribution.cached(games_store, run, 1, "keyed", scorer)
    path = tmp_path / "run.jsonl"
    assert export_run(games_store, run, "jsonl", path) == games_store.get_run(run).n_steps + 2
    target = RunStore(tmp_path / "other.sqlite")
    assert import_file(target, path) == run
    assert target.attributions(run) == [kept]
    lines = path.read_text().splitlines()
    foreign = json.loads(lines[-1]) | {"run_id": "someone-else"}
    (tmp_path / "bad.jsonl").write_text("\n".join([*lines[:-1], json.dumps(foreign)]) + "\n")
    with pytest.raises(ConfigError, match=f"line {len(lines)}: attribution of run 'someone-else'"):
        import_file(RunStore(tmp_path / "third.sqlite"), tmp_path / "bad.jsonl")
    past = json.loads(lines[-1]) | {"step": 99}
    (tmp_path / "past.jsonl").write_text("\n".join([*lines[:-1], json.dumps(past)]) + "\n")
    with pytest.raises(ConfigError, match="an attribution of step 99"):
        import_file(RunStore(tmp_path / "fourth.sqlite"), tmp_path / "past.jsonl")
    target.close()


def test_a_model_behind_a_completions_endpoint_scores_attribution_as_the_embedded_one(
        games_store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """``logprobs:<model>`` over real HTTP (the loopback server's /v1/completions, echoing the embedded model's
    prompt log-probabilities, as vLLM serves them) ranks and flips as the in-process scorer, to bf16 rounding."""
    from lab.core.llm import build
    from lab.core.llm.embedded import EmbeddedChatModel
    from lab.core.llm.serve import OpenAIServer

    grid = RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm="fake:forward|left",
                     max_steps=2, probe_every=0)  # short prompts: the server runs each option's whole prompt
    run = execute(grid, games_store).run_id
    here = attribution.attribute(games_store, run, 1, "embedded")
    with OpenAIServer(EmbeddedChatModel(), model_name="smol") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        remote = attribution.attribute(games_store, run, 1, "logprobs:smol")
        bodies = [b for b in server.requests if b.get("echo")]
        assert bodies and all(b["max_tokens"] == 0 and len(b["prompt"]) == len(here.options) for b in bodies)
        assert bodies[0]["prompt"][0].startswith("<|im_start|>system\n")
    assert remote.model == "logprobs:smol" and remote.options == here.options
    assert remote.full_choice == here.full_choice and remote.none_choice == here.none_choice
    # in-process, the leave-one-out prompts share one prefix pass (ActionScorer.score_variants); the server
    # scores each prompt whole: they agree to bf16 rounding, which moves an option by up to 0.25 nats
    assert abs(remote.full_logprob - here.full_logprob) < 0.25
    for a, b in zip(here.items, remote.items):
        assert a.key == b.key and a.choice == b.choice and abs(a.delta - b.delta) < 0.25
    with OpenAIServer(ScriptedStrongModel(), model_name="chat-only") as server:  # no prompt log-probabilities
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        with pytest.raises(Exception, match="Error code: 400 - chat-only completes chats only"):
            build("logprobs:chat-only").score_options([], ["a"])
