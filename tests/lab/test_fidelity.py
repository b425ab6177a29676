"""Memory fidelity is generic: any memory that declares its facts is scored, in real runs and by hand.

A memory of plain records that maps each record to a fact is scored exactly like AriGraph's graph; memories
that declare no facts get no fidelity metrics; the run loop scores AriGraph's graph on a real game along the
walkthrough, and the oracle extractor's graph is perfect.
"""

from __future__ import annotations

import re

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from lab import runner
from lab.core.protocols import FactMemory
from lab.core.records import MemRecord, MemorySnapshot, RunConfig
from lab.fidelity import Fidelity, holds_facts
from lab.store import RunStore
from tests.lab.test_probe_runs import COOKING, QUICK, REPLIES, TEXT_AGENTS

FACTS = ["at(P, kitchen)", "in(apple, fridge)", "at(fridge, kitchen)", "closed(fridge)", "on(knife, table)",
         "at(table, kitchen)", "north_of(pantry, kitchen)"]


class Notes:
    """A records memory whose items are sentences; it declares the ones that state where a thing is."""

    PLACE = re.compile(r"^the (.+?) (?:is|lies) (in|on) the (.+?)\.?$")

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot(records=[MemRecord(id=str(i), kind="note", text=n) for i, n in enumerate(self.notes)])

    def fact_triplets(self) -> list[tuple[str, str, str]]:
        found = (self.PLACE.match(n.lower()) for n in self.notes)
        return [(m[1], m[2], m[3]) for m in found if m]


def test_a_records_memory_is_scored_by_the_facts_it_declares() -> None:
    notes = Notes(["The apple is in the fridge.", "The knife lies on the table.", "I feel hungry."])
    assert holds_facts(notes) and isinstance(notes, FactMemory)
    score = Fidelity().score(notes, FACTS)
    assert score["fidelity/precision"] == 1.0 and score["fidelity/scored"] == 2.0
    # observed so far: every location fact in view (the apple is inside the closed fridge: not in view)
    wrong = Notes(["The apple is in the table.", "The knife is on the table."])
    assert Fidelity().score(wrong, FACTS)["fidelity/precision"] == 0.5
    assert Fidelity().score(Notes([]), FACTS)["fidelity/recall"] < 1.0  # facts in view, none held


def test_memories_that_declare_no_facts_get_no_fidelity() -> None:
    class Plain:
        def snapshot(self) -> MemorySnapshot:
            return MemorySnapshot(prompt_text="The apple is in the fridge.")

    assert not holds_facts(Plain()) and Fidelity().score(Plain(), FACTS) == {}
    assert Fidelity().score(Notes(["The apple is in the fridge."]), None) == {}  # an env without facts


def test_recall_accumulates_what_was_observed_over_the_trial_and_resets_with_it() -> None:
    fidelity = Fidelity()
    notes = Notes(["The knife is on the table."])
    first = fidelity.score(notes, FACTS)
    moved = [f for f in FACTS if not f.startswith("at(P")] + ["at(P, pantry)"]
    later = fidelity.score(notes, moved)  # the kitchen's facts are out of view now, still counted as observed
    assert later["fidelity/observed"] >= first["fidelity/observed"]
    fidelity.start_trial()
    assert fidelity.score(notes, moved)["fidelity/observed"] < later["fidelity/observed"]


def test_the_run_loop_scores_every_memory_that_declares_facts(games_store: RunStore) -> None:
    declaring = set()
    for agent_id in TEXT_AGENTS:
        config = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id=agent_id,
                           agent_config=QUICK.get(agent_id, {}), llm="fake:x", max_steps=4,
                           policy="walkthrough", probe_every=0)
        info = runner.execute(config, games_store, chat_model=FakeListChatModel(responses=REPLIES))
        assert info.status == "finished", (agent_id, info.message)
        steps = games_store.steps(info.run_id)
        scored = all("fidelity/recall" in s.metrics for s in steps)
        assert scored or not any(k.startswith("fidelity/") for s in steps for k in s.metrics), agent_id
        if scored:
            declaring.add(agent_id)
    assert declaring == {"arigraph"}  # the one text memory that holds facts today (its semantic graph)


def test_the_oracle_graph_is_perfect_along_the_walkthrough(games_store: RunStore) -> None:
    config = RunConfig(env_id="tw-cooking", env_options=COOKING, agent_id="arigraph",
                       agent_config={"encoder": "hash", "extractor": "oracle", "outdated": "rules"}, llm="fake:x", max_steps=30,
                       policy="walkthrough", probe_every=0)
    info = runner.execute(config, games_store, chat_model=FakeListChatModel(responses=REPLIES))
    steps = games_store.steps(info.run_id)
    assert info.status == "finished" and len(steps) > 5
    assert all(s.metrics["fidelity/recall"] == 1.0 for s in steps)
    assert min(s.metrics["fidelity/precision"] for s in steps) > 0.9
    assert steps[-1].metrics["fidelity/observed"] > steps[0].metrics["fidelity/observed"]
