"""The numba reference of ``memlab bench schemas`` learns what this code learns with one exact chunk."""

from __future__ import annotations

import numpy as np
import torch

from agents.graph_schemas.model import CSCG
from agents.graph_schemas.walks import room_walk, unique_maze
from lab.benches.cscg_numba import NumbaCSCG


def test_the_numba_reference_matches_one_chunk_float64_em_and_viterbi() -> None:
    rng = np.random.default_rng(4)
    walk = room_walk(unique_maze(4, rng), 2000, rng)
    ours = CSCG([6] * 16, 4, pseudocount=1e-2, seed=4, dtype=torch.float64)
    ref = NumbaCSCG([6] * 16, ours.C.numpy(), pseudocount=1e-2)
    exact = 10 * len(walk.x)  # one chunk: no stale boundary messages
    np.testing.assert_allclose(ref.learn_em(walk.x, walk.a, 6, term_early=False),
                               ours.learn_em(walk.x, walk.a, 6, term_early=False, chunk_len=exact), rtol=1e-12)
    np.testing.assert_allclose(ref.T, ours.T.numpy(), atol=1e-12)
    assert abs(ref.bps(walk.x, walk.a) - ours.bps(walk.x, walk.a, chunk_len=exact)) < 1e-12
    ref.pseudocount = ours.pseudocount = 0.0
    refined = ref.learn_viterbi(walk.x, walk.a, 20)
    ours.learn_viterbi(walk.x, walk.a, 20, chunk_len=exact)
    assert all(b <= a for a, b in zip(refined, refined[1:-1])) and refined[-1] < refined[0]
    np.testing.assert_allclose(ref.T, ours.T.numpy(), atol=1e-12)  # the same MAP paths, the same counts


def test_em_stops_at_the_first_iteration_without_gain() -> None:
    rng = np.random.default_rng(4)
    walk = room_walk(unique_maze(4, rng), 2000, rng)
    ref = NumbaCSCG([6] * 16, CSCG([6] * 16, 4, seed=4).C.double().numpy(), pseudocount=1e-2)
    curve = ref.learn_em(walk.x, walk.a, 2000)
    assert len(curve) < 2000 and curve[-1] >= curve[-2] and all(b < a for a, b in zip(curve, curve[1:-1]))
