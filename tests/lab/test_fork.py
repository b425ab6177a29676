"""``memlab fork``: a run forked at step N replays its parent's first N steps exactly (actions and memory),
applies its memory edits before step N acts, and goes on live; a bad edit stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab.benches.strong_model import ScriptedStrongModel
from lab.core.errors import ConfigError, LabError
from lab.core.records import MemoryEdit, RunConfig
from lab.fork import ablate_each_retrieved, ablation_rows, fork, retrieved_items
from lab.memdiff import divergence
from lab.runner import execute
from lab.store import RunStore
from tests.conftest import memlab

GRID = "minigrid:MiniGrid-Empty-5x5-v0"
REPLIES = ["forward", "left", "right", "forward", "right", "left"]
CONFIG = RunConfig(env_id=GRID, agent_id="full-history", llm="fake:x", max_steps=6, probe_every=0,
                   snapshot_every=2)


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMLAB_LLM_RETRIES", "0")


def same_prefix(store: RunStore, parent: str, child: str, n: int) -> None:
    """The fork's first ``n`` steps are the parent's: the same actions and the same memory after each."""
    a, b = store.steps(parent)[:n], store.steps(child)[:n]
    assert [s.action for s in a] == [s.action for s in b] and len(b) == n
    for k in range(n):
        assert store.memory_at(parent, k) == store.memory_at(child, k), k


def test_a_minigrid_fork_replays_the_prefix_edits_the_memory_and_goes_on_live(store: RunStore) -> None:
    parent = execute(CONFIG, store, chat_model=FakeListChatModel(responses=REPLIES))
    edits = [MemoryEdit(op="remove", id="h1"), MemoryEdit(op="change", id="h0", text="Observation: a wall\nAction: left")]
    child = fork(parent.run_id, 3, edits, store, chat_model=FakeListChatModel(responses=["left", "left", "left"]))
    assert child.status == "finished" and child.config.fork.parent == parent.run_id
    assert child.config.fork.step == 3 and child.config.fork.edits == edits
    same_prefix(store, parent.run_id, child.run_id, 3)
    steps = store.steps(child.run_id)
    assert [s.action for s in steps] == REPLIES[:3] + ["left"] * 3
    assert steps[3].edits == edits and not any(s.edits for s in steps[:3] + steps[4:])
    held = {r.id: r.text for r in store.memory_at(child.run_id, 3).records}
    assert "h1" not in held and held["h0"] == "Observation: a wall\nAction: left" and "h3" in held
    prompt = steps[3].llm_calls[0].messages[-1].content  # what the live model read at the edited step
    forgotten = next(r.text for r in store.memory_at(parent.run_id, 2).records if r.id == "h1")
    assert "Observation: a wall\nAction: left" in prompt and forgotten not in prompt
    assert forgotten in store.steps(parent.run_id)[3].llm_calls[0].messages[-1].content
    assert steps[3].llm_calls[0].response == "left"
    assert divergence(store, parent.run_id, child.run_id).actions == 3
    assert store.get_run(parent.run_id).n_steps == 6  # the parent is untouched


def test_a_textworld_fork_that_forgets_the_history_acts_otherwise(games_store: RunStore) -> None:
    config = RunConfig(env_id="tw-coin", env_options={"level": 205}, agent_id="full-history",
                       llm="fake:scripted", max_steps=8, probe_every=0)
    parent = execute(config, games_store, chat_model=ScriptedStrongModel())
    assert parent.status == "finished" and parent.n_steps == 8
    forgotten = [MemoryEdit(op="remove", id=f"h{t}") for t in range(4)]
    child = fork(parent.run_id, 4, forgotten, games_store, chat_model=ScriptedStrongModel())
    same_prefix(games_store, parent.run_id, child.run_id, 4)
    assert games_store.memory_at(child.run_id, 3).records == games_store.memory_at(parent.run_id, 3).records
    assert [r.id for r in games_store.memory_at(child.run_id, 4).records] == ["h4"]
    # the parent went back south from the dead end it had seen; without that history the fork walks north again
    assert divergence(games_store, parent.run_id, child.run_id).actions == 4


def test_a_fork_of_a_fork_replays_its_parents_edits(store: RunStore) -> None:
    parent = execute(CONFIG, store, chat_model=FakeListChatModel(responses=REPLIES))
    first = fork(parent.run_id, 2, [MemoryEdit(op="remove", id="h0")], store,
                 chat_model=FakeListChatModel(responses=["left"]))
    second = fork(first.run_id, 4, [MemoryEdit(op="remove", id="h2")], store,
                  chat_model=FakeListChatModel(responses=["right"]))
    assert second.config.fork.inherited == {2: [MemoryEdit(op="remove", id="h0")]}
    same_prefix(store, first.run_id, second.run_id, 4)
    assert [r.id for r in store.memory_at(second.run_id, 4).records] == ["h1", "h3", "h4"]


def test_an_edit_the_memory_cannot_make_stores_nothing(store: RunStore) -> None:
    parent = execute(CONFIG, store, chat_model=FakeListChatModel(responses=REPLIES))
    runs = [i.run_id for i in store.list_runs()]
    with pytest.raises(LabError, match="holds no item 'h9' to remove; it holds: h0, h1, h2$"):
        fork(parent.run_id, 3, [MemoryEdit(op="remove", id="h9")], store, chat_model=FakeListChatModel(responses=["x"]))
    with pytest.raises(LabError, match="cannot change h0 'x' importance=1: it supports remove an entry"):
        fork(parent.run_id, 3, [MemoryEdit(op="change", id="h0", text="x", attrs={"importance": 1})], store)
    with pytest.raises(ConfigError, match="has steps 0-5: cannot fork at step 6"):
        fork(parent.run_id, 6, [], store)
    random = execute(CONFIG.model_copy(update={"agent_id": "random", "llm": "none"}), store)
    with pytest.raises(LabError, match="random has no memory to edit"):
        fork(random.run_id, 1, [MemoryEdit(op="remove", id="h0")], store)
    assert [i.run_id for i in store.list_runs()] == [random.run_id, *runs]


def test_the_fork_command_prints_one_line_for_a_bad_edit_file_and_runs_a_good_one(store: RunStore,
                                                                                 home: Path) -> None:
    parent = execute(CONFIG.model_copy(update={"llm": "fake:forward|left"}), store)
    bad = home / "bad.json"
    bad.write_text(json.dumps([{"op": "remove", "id": "h7"}]))
    out = memlab("fork", parent.run_id, "--step", "2", "--edit-file", str(bad), home=home)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: full-history memory holds no item 'h7' to remove; it holds: h0, h1"]
    bad.write_text('[{"op": "rename", "id": "h1"}]')
    out = memlab("fork", parent.run_id, "--step", "2", "--edit-file", str(bad), home=home)
    assert out.returncode == 2 and "edit 0: op: Input should be 'remove', 'add' or 'change'" in out.stderr
    assert len(store.list_runs()) == 1
    good = home / "good.json"
    good.write_text(json.dumps({"edits": [{"op": "remove", "id": "h0"}]}))
    out = memlab("fork", parent.run_id, "--step", "1", "--edit-file", str(good), "--max-steps", "4", home=home)
    assert out.returncode == 0, out.stderr
    child = store.get_run(out.stdout.strip())
    assert child.n_steps == 4 and child.config.fork.edits == [MemoryEdit(op="remove", id="h0")]
    assert "fork of" in out.stderr and "first other action at step 1" in out.stderr  # the live fake starts over


def test_ablating_each_retrieved_item_forks_once_per_item_the_run_relied_on(games_store: RunStore) -> None:
    config = RunConfig(env_id="tw-coin", env_options={"level": 205}, agent_id="rag", llm="fake:scripted",
                       agent_config={"n_prev": 1, "top_k": 2, "encoder": "hash"}, max_steps=7, probe_every=0)
    parent = execute(config, games_store, chat_model=ScriptedStrongModel())
    items = retrieved_items(games_store, parent.run_id, 3)
    assert items and all(i.startswith("r") and int(i[1:]) < 3 for i in items)
    found = ablate_each_retrieved(parent.run_id, 3, games_store, chat_model=ScriptedStrongModel())
    assert [a.item for a in found] == items
    for a in found:
        child = games_store.get_run(a.run_id)
        assert child.config.fork.ablated == a.item and a.item not in {
            r.id for r in games_store.memory_at(a.run_id, 3).records}
        same_prefix(games_store, parent.run_id, a.run_id, 3)
    rows = ablation_rows(games_store.get_run(parent.run_id), found)
    assert rows[1][0] == "(nothing: parent)" and [r[0] for r in rows[2:]] == items
    with pytest.raises(ConfigError, match="retrieved nothing from step 0 on"):
        ablate_each_retrieved(parent.run_id, 0, games_store)
