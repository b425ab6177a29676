"""The first-run examples: every example prepares, opens at a step worth seeing, and Home records them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import examples as gallery
from lab.core import memory as memlib
from lab.core.records import MemorySnapshot, MemRecord, ObservationRecord, Step
from lab.runner import prepare
from lab.store import RunStore
from tests.conftest import PAGE_TIMEOUT, page


def test_every_example_is_a_valid_labelled_run_and_the_cooking_pair_shares_game_seed_and_trajectory() -> None:
    found = gallery.examples()
    assert {e.config.agent_id for e in found} == {"arigraph", "rag", "clin", "hiagent", "graph-schemas", "sat"}
    for example in found:
        prepared = prepare(example.config).config
        assert prepared.label == "example" and example.scripted == (prepared.llm != "none")
    ari, rag = (next(e.config for e in found if e.config.agent_id == a) for a in ("arigraph", "rag"))
    assert (ari.env_id, ari.env_options, ari.seed, ari.policy) == (rag.env_id, rag.env_options, rag.seed, rag.policy)
    assert ari.policy != "agent" and next(e.config for e in found if e.config.agent_id == "clin").trials == 3


def step(index: int, trial: int, records: int) -> Step:
    snap = MemorySnapshot(records=[MemRecord(id=f"r{k}", kind="note", text=str(k)) for k in range(records)])
    before = MemorySnapshot(records=snap.records[:-1]) if records else MemorySnapshot()
    return Step(index=index, trial=trial, t=index, observation=ObservationRecord(text=""), action="a",
                memory_diff=memlib.diff(before if records > 1 else None, snap))


def test_an_example_opens_where_its_memory_changed_most_after_the_first_step() -> None:
    steps = [step(0, 0, 5), step(1, 0, 1), step(2, 1, 3), step(3, 1, 2)]
    assert gallery.step_worth_seeing(steps) == 2  # the last trial; step 0's initial fill does not count
    assert gallery.step_worth_seeing([step(0, 0, 0)]) == 0


def test_home_records_the_examples_with_progress_and_links_them(home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    few = [e for e in gallery.examples() if e.config.agent_id in ("hiagent", "sat")]
    monkeypatch.setattr(gallery, "examples", lambda: few)
    at = page("home")
    assert not at.exception and any(b.label == "Try the examples" for b in at.button)
    at.button(key="examples").click().run(timeout=PAGE_TIMEOUT)
    assert not at.exception and "Recorded 2 example runs." in [s.value for s in at.success]
    store = RunStore()
    runs = store.list_runs(label="example")
    assert sorted(r.config.agent_id for r in runs) == ["hiagent", "sat"] and all(r.status == "finished" for r in runs)
    shown = "\n".join(m.value for m in at.markdown)
    for run in runs:
        assert f"explore?run={run.run_id}&step=" in shown
    at = page("home")  # recorded: the links, no button
    assert not any(b.label == "Try the examples" for b in at.button) and "Example runs" in "\n".join(
        m.value for m in at.markdown)
    for run in runs:  # SAT's room: one of the lab's own grid envs, whose frame Explore replays through its spec
        at = page("explore", run=run.run_id, step="3")
        assert not at.exception and not [w.value for w in at.warning if "re-render" in w.value]
        if run.config.agent_id == "sat":
            assert at.get("image")
