"""The CSCG core: batched message passing against a per-step loop, and the notebook cases at reduced size."""

from __future__ import annotations

import copy

import numpy as np
import torch

from agents.graph_schemas import reference
from agents.graph_schemas.model import CSCG
from agents.graph_schemas.walks import room_walk, stitch, stitched_rooms, unique_maze


def test_batched_em_matches_the_plain_loop() -> None:
    rng = np.random.default_rng(0)
    walk = room_walk(rng.integers(0, 3, size=(3, 4)), 400, rng)
    loop, one_chunk, chunked = (CSCG([5, 5, 5], 4, pseudocount=1e-2, seed=1) for _ in range(3))
    loop_bits = [reference.em_step_loop(loop, walk.x, walk.a) for _ in range(4)]
    exact = one_chunk.learn_em(walk.x, walk.a, 4, term_early=False, chunk_len=10_000)
    approx = chunked.learn_em(
        walk.x, walk.a, 4, term_early=False, chunk_len=25
    )  # 16 chunks, stale boundaries
    np.testing.assert_allclose(exact, loop_bits, rtol=1e-5)
    torch.testing.assert_close(one_chunk.T, loop.T, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(approx, loop_bits, rtol=5e-3)
    assert float((chunked.T - loop.T).abs().max()) < 0.02


def test_unique_maze_em_then_viterbi_reach_near_zero_bits() -> None:
    rng = np.random.default_rng(4)
    walk = room_walk(unique_maze(4, rng), 3000, rng)
    model = CSCG([6] * 16, 4, pseudocount=1e-2, seed=4)
    em = model.learn_em(walk.x, walk.a, 500, chunk_len=20)
    assert 20 < len(em) < 500  # stopped early, when the likelihood stopped increasing
    assert all(b <= a + 1e-6 for a, b in zip(em[:-2], em[1:-1]))  # non-increasing until the stop
    assert em[-1] < 0.05 and em[0] > 1.0
    sums = model.T.sum(2)
    assert torch.all((sums - 1).abs() < 1e-4)
    model.pseudocount = 0.0
    viterbi = model.learn_viterbi(walk.x, walk.a, 100, chunk_len=20)
    assert viterbi[-1] < em[-1] / 5
    assert model.bps(walk.x, walk.a, chunk_len=20) < 0.005
    assert torch.all(((model.T.sum(2) - 1).abs() < 1e-5) | (model.T.sum(2) == 0))


def test_stitched_rooms_decode_to_every_place_exactly_once() -> None:
    rng = np.random.default_rng(1)
    room1, room2, places = stitched_rooms(rng, (4, 4), symbols=10, overlap=2)
    x, a = stitch(room_walk(room1, 5000, rng, bump=False), room_walk(room2, 5000, rng, bump=False))
    n_clones = np.full(x.max() + 1, 10)
    n_clones[0] = 1
    model = CSCG(n_clones, 5, pseudocount=2e-2, seed=19)
    model.learn_em(x, a, 500, chunk_len=20)
    model.pseudocount = 0.0
    model.learn_viterbi(x, a, 100, chunk_len=20)
    _, states = model.decode(x, a, chunk_len=20)
    assert len(torch.unique(states)) == places + 1 == 29  # 2 x 16 cells - 4 shared + the separator


def brute_force_viterbi(model: CSCG, x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Log-space Viterbi over all S states with block emissions (a 15-line numpy oracle)."""
    T = np.log(model.T.numpy() + 1e-300)
    emits = np.log((model.slot_of_state.numpy()[None, :] == x[:, None]) + 1e-300)
    score = np.log(model.pi.numpy()) + emits[0]
    back = []
    for t in range(1, len(x)):
        cand = score[:, None] + T[a[t - 1]]
        back.append(cand.argmax(0))
        score = cand.max(0) + emits[t]
    path = [int(score.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return np.array(path[::-1])


def test_decode_is_the_exact_map_path_with_one_chunk_and_close_with_many() -> None:
    rng = np.random.default_rng(3)
    walk = room_walk(rng.integers(0, 3, size=(3, 3)), 300, rng)
    model = CSCG([4, 4, 4], 4, pseudocount=0.5, seed=2)
    model.learn_em(walk.x, walk.a, 3, term_early=False, chunk_len=10_000)
    _, states = model.decode(walk.x, walk.a, chunk_len=10_000)
    np.testing.assert_array_equal(states.numpy(), brute_force_viterbi(model, walk.x, walk.a))
    chunked = copy.deepcopy(model)
    _, approx = chunked.decode(walk.x, walk.a, chunk_len=30)
    assert float((approx == states).float().mean()) > 0.9
