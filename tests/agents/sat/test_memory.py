"""SAT memory: write strategies on hand-made sequences, read layouts, snapshots, the AMA bandit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.sat.memory import (
    AMABandit, Slot, SlotMemory, epsilon, keep_indices, place_layout, time_layout, victim,
)
from agents.sat.model import QNet

PLACES = [0, 0, 1, 1, 1, 2, 2, 3]
"""Steps 0..7 in rooms 0,0,1,1,1,2,2,3 (worked by hand in the comments below), capacity 4."""


@pytest.mark.parametrize(
    ("strategy", "n_places", "kept"),
    [
        ("fifo", 9, [4, 5, 6, 7]),  # the last four
        ("lifo", 9, [0, 1, 2, 3]),  # the first four
        # mvfo: t4 ties rooms 0/1 (2 each) -> t0; t5 room 1 has 3 -> t2; t6 room 1 -> t3; t7 room 2 -> t5
        ("mvfo", 9, [1, 4, 6, 7]),
        # lvfo: t4 tie -> t0; t5 room 0 has 1 -> t1; t6 room 2 has 1 -> t5; t7 room 2 has 1 -> t6
        ("lvfo", 9, [2, 3, 4, 7]),
        # pm, 9 places: ceil(4/9) = 1 per room, so each room keeps its newest step
        ("pm", 9, [1, 4, 6, 7]),
        # pm, 2 places: 2 per room; t4 evicts room 1's t2; t5 (full) evicts the most-stored, oldest: t0;
        # t6 evicts room 1's oldest t3; t7 evicts room 2's oldest t5
        ("pm", 2, [1, 4, 6, 7]),
    ],
)
def test_strategies_keep_and_evict_the_right_slots(strategy: str, n_places: int, kept: list[int]) -> None:
    assert keep_indices(PLACES, 4, strategy, n_places).tolist() == kept
    memory = SlotMemory(capacity=4, strategy=strategy, n_places=n_places)
    for t, place in enumerate(PLACES):
        memory.write(Slot(step=t, place=place, frame=np.zeros((6, 6, 3), np.uint8), summary=f"t{t}"))
    assert [s.step for s in memory.kept()] == kept
    evicted = sorted(s.step for s in memory.slots if s.removed_step is not None)
    assert evicted == sorted(set(range(8)) - set(kept))  # evicted slots stay listed, with removed_step set
    assert all(s.removed_step >= s.step for s in memory.slots if s.removed_step is not None)


def test_pm_keeps_every_room_under_skewed_dwell_where_fifo_forgets() -> None:
    places = [0, 1, 2] + [5] * 40  # three quick rooms, then lingering in a home room
    fifo, pm = keep_indices(places, 16, "fifo"), keep_indices(places, 16, "pm")
    assert {places[t] for t in fifo} == {5}
    assert {places[t] for t in pm} == {0, 1, 2, 5} and len(pm) <= 16


def test_eviction_ties_go_to_the_oldest_slot_or_to_the_lowest_place() -> None:
    stored = [1, 1, 0, 0]  # places 1 and 0 hold two slots each: a tie for MVFO and LVFO
    for strategy in ("mvfo", "lvfo"):
        assert victim(stored, 2, strategy, 4) == 0  # the oldest slot, of place 1
        assert victim(stored, 2, strategy, 4, ties="lowest-place") == 2  # the oldest of place 0
    walk = [1, 1, 0, 0, 2]
    assert keep_indices(walk, 4, "mvfo").tolist() == [1, 2, 3, 4]
    assert keep_indices(walk, 4, "mvfo", ties="lowest-place").tolist() == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="tie rule"):
        victim(stored, 2, "mvfo", 4, ties="random")


def test_memory_below_capacity_keeps_everything_and_unknown_strategy_fails() -> None:
    for strategy in ("fifo", "lifo", "mvfo", "lvfo"):
        assert keep_indices(PLACES, 8, strategy).tolist() == list(range(8))
    with pytest.raises(ValueError, match="valid: fifo"):
        keep_indices(PLACES, 2, "random")


def test_time_chunks_are_consecutive_and_left_padded() -> None:
    assert time_layout(np.array([3, 4, 5, 6, 7]), 2).tolist() == [[-1, 3], [4, 5], [6, 7]]
    assert time_layout(np.arange(4), 4).tolist() == [[0, 1, 2, 3]]


def test_place_chunks_group_by_room_in_time_order_and_pad_each_room() -> None:
    layout = place_layout(np.array([0, 1, 2, 3, 4]), np.array([1, 0, 1, 1, 0]), 2)
    assert layout.tolist() == [[1, 4], [0, 2], [3, -1]]


def test_snapshot_shows_rooms_slots_evictions_and_attention() -> None:
    memory = SlotMemory(capacity=2, strategy="fifo", kind="time", chunk=2)
    for t, place in enumerate([0, 1, 1]):
        memory.write(Slot(step=t, place=place, frame=np.zeros((6, 6, 3), np.uint8), summary=f"t{t}"))
    memory.attention = {
        "slots": {1: 0.7, 2: 0.3},
        "chunk_of": {1: 0, 2: 0},
        "retrieved": ["slot1"],
        "chunks": [{"label": "chunk 0", "index": 0, "slots": [1, 2], "attention": 1.0}],
        "query": "q",
    }
    snap = memory.snapshot()
    slots = {r.id: r for r in snap.records if r.kind == "slot"}
    assert slots["slot0"].removed_step == 2 and not slots["slot0"].attrs["kept"]
    assert slots["slot1"].attrs["attention"] == 0.7 and slots["slot1"].attrs["chunk"] == 0
    assert "evicted t=0" in slots["slot2"].attrs["decision"]
    assert [n.id for n in snap.nodes] == ["room0", "room1"] and snap.edges[0].kind == "spatial"
    assert snap.retrieved == ["slot1"] and any(r.kind == "chunk" for r in snap.records)


def test_ama_bandit_learns_the_best_strategy_per_task() -> None:
    torch.manual_seed(0)
    bandit = AMABandit(QNet(2, 3), ("fifo", "pm", "lifo"), n_tasks=2)
    opt = torch.optim.Adam(bandit.qnet.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    best = torch.tensor([1, 0])  # task 0 rewards pm, task 1 rewards fifo
    for _ in range(150):
        tasks = torch.as_tensor(rng.integers(2, size=32))
        arms = torch.as_tensor(bandit.choose(tasks, eps=1.0, rng=rng))
        reward = torch.where(arms == best[tasks], 0.0, -2.0)  # -CE: low loss for the right strategy
        opt.zero_grad()
        bandit.loss(tasks, arms, reward).backward()
        opt.step()
    assert bandit.greedy() == {0: "pm", 1: "fifo"}
    assert (bandit.choose(torch.tensor([0, 1]), eps=0.0, rng=rng) == [1, 0]).all()


def test_epsilon_anneals_linearly_then_stays() -> None:
    assert epsilon(0, 100, 1.0, 0.2, 0.5) == 1.0
    assert epsilon(25, 100, 1.0, 0.2, 0.5) == pytest.approx(0.6)
    assert epsilon(80, 100, 1.0, 0.2, 0.5) == pytest.approx(0.2)
