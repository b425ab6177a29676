"""CLIN's meta-memory in the run store, end to end: provenance, deletion, export and import, the UI.

Each test gives its runs an LLM spec of its own (``fake:<name>``), so the runs that other tests add to the
session's shared store never match their provenance.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from agents.clin import ClinConfig
from agents.clin.meta import provenance
from lab.core.errors import ConfigError
from lab.core.records import RunConfig, RunInfo
from lab.export import import_jsonl, jsonl_lines
from lab.runner import execute, execute_detached
from lab.store import RunStore
from lab.views.hooks import agent_figures
from tests.agents.clin.test_clin_run import REPLIES
from tests.conftest import page

pytestmark = pytest.mark.filterwarnings("ignore::jericho.UnsupportedGameWarning")

LEARNING = "take cilantro from fridge may be necessary to complete the task"
"""One of the learnings the deterministic generator writes after REPLIES win the default game."""


def run(store: RunStore, llm: str, replies: list[str], env_options: dict | None = None, max_steps: int = 8,
        **agent_config) -> RunInfo:
    """One trial of tw-cooking (the default game unless ``env_options`` say otherwise)."""
    config = RunConfig(env_id="tw-cooking", env_options=env_options or {}, agent_id="clin", llm=llm,
                       max_steps=max_steps, probe_every=0,
                       agent_config={"generator": "deterministic", **agent_config})
    info = execute(config, store, chat_model=FakeListChatModel(responses=replies))
    assert info.status == "finished", info.message
    return info


def test_gen_env_is_seeded_only_from_runs_of_the_same_provenance(games_store: RunStore) -> None:
    recorded = run(games_store, "fake:clin-meta", REPLIES)
    other_llm = run(games_store, "fake:clin-meta-other", REPLIES)
    other_generator = run(  # recorded later than ``recorded``: it would win the tie if it matched
        games_store, "fake:clin-meta", [*REPLIES, f"1. {LEARNING}"], generator="llm"
    )
    for info in (recorded, other_llm, other_generator):
        (entry,) = games_store.cross_run_entries(info.run_id)
        assert entry.data["score"] == 100.0 and entry.data["learnings"]
    (entry,) = games_store.cross_run_entries(recorded.run_id)
    assert entry.provenance == provenance("fake:clin-meta", ClinConfig(generator="deterministic"))
    assert entry.provenance != games_store.cross_run_entries(other_generator.run_id)[0].provenance

    seeded = run(games_store, "fake:clin-meta", ["none $$$ r ### look"], env_options={"game_seed": 1235},
                 max_steps=2, mode="gen-env")
    first = games_store.steps(seeded.run_id, 0, 1, with_snapshots=True)[0]
    note = first.thoughts["meta_memory"]
    assert [(s["run_id"], s["episode"]) for s in note["sources"]] == [(recorded.run_id, entry.key)]
    assert note["provenance"] == entry.provenance and note["episodes"] == 1
    assert "take cilantro from fridge" in first.llm_calls[0].messages[1].content

    snapshot = first.memory_snapshot
    assert [r.attrs["run_id"] for r in snapshot.records if r.kind == "meta-source"] == [recorded.run_id]
    tables = agent_figures("clin", snapshot, first)
    assert "seeded from 1 earlier episode (same LLM and config)" in tables[-1].layout.title.text
    assert list(tables[-1].data[0].cells.values[0]) == [recorded.run_id]
    explore = page("explore", run=seeded.run_id, step="0")  # the records table names the seeding run
    assert not explore.exception
    texts = [t for d in explore.dataframe if "text" in d.value.columns for t in d.value["text"]]
    assert any(t.startswith(f"Seeded from run {recorded.run_id}, episode {entry.key}") for t in texts)

    unmatched = run(games_store, "fake:clin-meta-nobody", ["none $$$ r ### look"],
                    env_options={"game_seed": 1235}, max_steps=1, mode="gen-env")
    assert games_store.steps(unmatched.run_id, 0, 1)[0].thoughts["meta_memory"]["sources"] == []


def test_deleting_the_recording_run_deletes_its_meta_memory(games_store: RunStore) -> None:
    info = run(games_store, "fake:clin-meta-delete", REPLIES)
    wanted = provenance("fake:clin-meta-delete", ClinConfig(generator="deterministic"))
    assert [e.run_id for e in games_store.find_entries("clin", wanted)] == [info.run_id]
    games_store.delete_run(info.run_id)
    assert games_store.find_entries("clin", wanted) == []
    rows = games_store._query("SELECT COUNT(*) FROM cross_run_memory WHERE run_id=?", (info.run_id,))
    assert rows == [(0,)]


def test_export_and_import_carry_the_meta_memory(games_store: RunStore, tmp_path: Path) -> None:
    info = run(games_store, "fake:clin-meta-export", REPLIES)
    entries = games_store.cross_run_entries(info.run_id)
    lines = list(jsonl_lines(games_store, info.run_id))
    assert len(lines) == 1 + info.n_steps + 1 and '"type": "cross_run_memory"' in lines[-1]

    other = RunStore(tmp_path / "other.sqlite")
    assert import_jsonl(other, lines) == info.run_id
    assert other.cross_run_entries(info.run_id) == entries
    assert list(jsonl_lines(other, info.run_id)) == lines

    older = RunStore(tmp_path / "older.sqlite")  # an export made before the meta-memory lines existed
    import_jsonl(older, lines[:-1])
    assert older.cross_run_entries(info.run_id) == [] and older.n_steps(info.run_id) == info.n_steps

    foreign = lines[-1].replace(info.run_id, "someone-else")
    with pytest.raises(ConfigError, match=f"line {len(lines)}: cross-run memory entry of run 'someone-else'"):
        import_jsonl(RunStore(tmp_path / "foreign.sqlite"), [*lines[:-1], foreign])


def test_a_sweep_worker_s_run_brings_its_meta_memory_to_the_store(games_store: RunStore) -> None:
    """A detached run (a sweep worker's) cannot read the store, so it is not seeded; what it records is
    written with the run by the driver."""
    config = RunConfig(env_id="tw-cooking", agent_id="clin", llm="fake:clin-meta-sweep", max_steps=8,
                       probe_every=0, agent_config={"generator": "deterministic", "mode": "gen-env"})
    detached = execute_detached(config, chat_model=FakeListChatModel(responses=REPLIES))
    assert detached.steps[0].thoughts["meta_memory"]["unavailable"]
    (entry,) = detached.cross_run
    run_id = games_store.add_run(detached.config, detached.versions, detached.steps, detached.summary,
                                 cross_run=detached.cross_run)
    (stored,) = games_store.cross_run_entries(run_id)
    assert stored.run_id == run_id and (stored.key, stored.data) == (entry.key, entry.data)
    assert LEARNING in [f"{x['cause']} may be necessary to {x['effect']}" for x in stored.data["learnings"]]
