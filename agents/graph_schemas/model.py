"""The clone-structured cognitive graph (CSCG): an action-augmented cloned HMM in torch.

George et al., Nat. Commun. 12:2392 (2021); reference code vicariousinc/naturecomm_cscg @66c81ea
(``chmm_actions.py``, numpy + numba). Spec: ``graph-schemas.md`` §1-2, §6, §11.

- Observations ``x_t`` in 0..O-1, actions ``a_t`` in 0..A-1 (``a_t`` is taken at t and leads to
  ``x_{t+1}``), hidden clones ``z_t`` in 0..S-1 laid out in contiguous blocks per observation.
- Emissions are fixed and deterministic (a clone emits its block's observation), so messages only
  live on the ``C = n_clones[x_t]`` clones of the current observation: every step multiplies a
  ``(C, C)`` block ``T[a, clones(x_{t-1}), clones(x_t)]``. Blocks are padded to ``max(n_clones)``.
- Learning: Baum-Welch on T with a pseudocount (``learn_em``, stopped by ``stalled`` rather than at the
  reference's first non-increasing iteration, which float32 rounding reaches early), then Viterbi
  refinement with hard counts (``learn_viterbi``), both batched over chunks of the walk (:mod:`.messages`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.graph_schemas import messages as mp

Progress = Callable[[int, float], None]
"""Called after every iteration with (iteration, bits per step)."""

EM_PATIENCE = 20
"""EM stops when this many iterations in a row bring no gain over ``EM_TOL`` (see ``stalled``)."""
EM_TOL = 1e-6
"""The relative gain in bits per step below which EM counts an iteration as no gain."""

LOOP_THREADS = 1
"""Intra-op threads while message loops run on CPU. Each step's work (B x C x C ~ 3e5 flops) is too
small to gain from a second thread, and on 2 shared cores 2 OpenMP threads stall whenever another
process holds a core: on this lab's machine an EM iteration took 0.1 s or 8-10 s with 2 threads
depending on the load, and 0.04-0.11 s with 1 (docs/schemas.md, worst-iteration column)."""


def loop_threads(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a CSCG method with :data:`LOOP_THREADS` intra-op threads when the model is on CPU."""

    @functools.wraps(method)
    def wrapper(self: CSCG, *args: Any, **kwargs: Any) -> Any:
        with torch_threads(LOOP_THREADS if self.device.type == "cpu" else None):
            return method(self, *args, **kwargs)

    return wrapper


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run a block with ``count`` intra-op threads (None: leave as is), then restore the previous count."""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Prepared:
    """A walk turned into block ids, chunk layout and count groups (built once per walk)."""

    x: torch.Tensor
    """(n,) observations."""
    a: torch.Tensor
    """(n,) actions (the last one is unused)."""
    layout: mp.Layout
    triples: torch.Tensor
    """(K, 3) distinct (action, previous observation, observation) of the walk's transitions."""
    order_pos: torch.Tensor
    """Flat (time-major) positions of steps 1..n-1 sorted by triple."""
    prev_pos: torch.Tensor
    """Flat positions of the step before each of ``order_pos``."""
    sizes: list[int]
    """Steps per triple, in sorted order."""
    boundary: torch.Tensor
    """Indices into ``order_pos`` of the steps that start a chunk (their normaliser is recomputed)."""
    flat_index: torch.Tensor
    """(K * W * W,) where each block entry lands in a flat padded count tensor."""


class CSCG:
    """Counts ``C`` (A, S, S) and transitions ``T`` = normalised ``C + pseudocount`` (CSCGnc ``CHMM``)."""

    def __init__(
        self,
        n_clones: Sequence[int],
        n_actions: int,
        *,
        pseudocount: float = 0.0,
        seed: int = 42,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        assert len(n_clones) > 0 and min(n_clones) > 0, "every observation needs at least one clone"
        self.device, self.dtype = torch.device(device), dtype
        self.n_clones = torch.as_tensor(list(n_clones), dtype=torch.long)
        self.state_loc = torch.cat([torch.zeros(1, dtype=torch.long), self.n_clones.cumsum(0)])
        self.n_states, self.n_actions = int(self.n_clones.sum()), int(n_actions)
        self.width = int(self.n_clones.max())
        self.pseudocount = float(pseudocount)
        gen = torch.Generator().manual_seed(seed)  # C ~ U[0,1), as CSCGnc CHMM.__init__
        self.C = torch.rand(self.n_actions, self.n_states, self.n_states, generator=gen, dtype=dtype).to(
            self.device
        )
        self.pi = torch.full((self.n_states,), 1.0 / self.n_states, dtype=dtype, device=self.device)
        self.clone_index = self._clone_index()
        self.prior: torch.Tensor | None = None
        """(A, S, S) Dirichlet pseudo-counts added to ``C`` in every update (schema composition), or None."""
        self.T = self.C
        self.update_T()

    def _clone_index(self) -> torch.Tensor:
        """(O, width) state index of every clone slot of every observation; padding points at S."""
        index = torch.full((len(self.n_clones), self.width), self.n_states, dtype=torch.long)
        for o, (start, count) in enumerate(zip(self.state_loc[:-1].tolist(), self.n_clones.tolist())):
            index[o, :count] = torch.arange(start, start + count)
        return index.to(self.device)

    @property
    def slot_of_state(self) -> torch.Tensor:
        """(S,) the observation each clone emits."""
        return torch.repeat_interleave(torch.arange(len(self.n_clones)), self.n_clones).to(self.device)

    def update_T(self) -> None:
        """``T = (C + pc) / sum_j (C + pc)``; all-zero rows stay zero (CSCGnc ``update_T``). With a
        ``prior`` it is added to the counts too (MAP instead of maximum-likelihood EM)."""
        T = self.C + self.pseudocount
        if self.prior is not None:
            T = T + self.prior
        norm = T.sum(2, keepdim=True)
        self.T = T / torch.where(norm == 0, torch.ones_like(norm), norm)

    # ---- walks -------------------------------------------------------------------------------

    def prepare(
        self,
        x: Sequence[int] | np.ndarray | torch.Tensor,
        a: Sequence[int] | np.ndarray | torch.Tensor,
        chunk_len: int = 100,
    ) -> Prepared:
        """Block ids, chunk layout and count groups of a walk (reuse it across iterations)."""
        x_t = torch.as_tensor(np.asarray(x), dtype=torch.long, device=self.device)
        a_t = torch.as_tensor(np.asarray(a), dtype=torch.long, device=self.device)
        assert x_t.ndim == 1 and x_t.shape == a_t.shape and len(x_t) > 0
        assert int(x_t.min()) >= 0 and int(x_t.max()) < len(self.n_clones), "observation without clones"
        assert int(a_t.min()) >= 0 and int(a_t.max()) < self.n_actions, "unknown action"
        n_obs = len(self.n_clones)
        key = (a_t[:-1] * n_obs + x_t[:-1]) * n_obs + x_t[1:]  # (n-1,)
        uniq, inverse = torch.unique(key, return_inverse=True)
        n_triples = len(uniq)
        triples = torch.stack([uniq // (n_obs * n_obs), (uniq // n_obs) % n_obs, uniq % n_obs], 1)
        ids = torch.cat([torch.tensor([n_triples + 1], device=self.device), inverse])  # step 0: prior
        layout = mp.make_layout(ids, chunk_len, pad_id=n_triples)
        order = torch.argsort(inverse, stable=True) + 1  # global steps 1..n-1 grouped by triple
        sizes = torch.bincount(inverse, minlength=n_triples).tolist()
        is_start = (order % layout.length) == 0
        return Prepared(
            x=x_t,
            a=a_t,
            layout=layout,
            triples=triples,
            order_pos=layout.position(order),
            prev_pos=layout.position(order - 1),
            sizes=sizes,
            boundary=torch.nonzero(is_start)[:, 0],
            flat_index=self._flat_index(triples),
        )

    def bank(self, prep: Prepared, T: torch.Tensor | None = None) -> torch.Tensor:
        """(K + 2, W, W): the walk's transition blocks, then identity (padding), then the prior.

        The prior block's rows all equal ``Pi`` on the clones of ``x_0``, so any normalised
        incoming message gives ``alpha_0 = Pi[clones(x_0)]`` (CSCGnc ``forward``, t = 0).
        """
        T = self.T if T is None else T
        S, W = self.n_states, self.width
        padded = torch.zeros(self.n_actions, S + 1, S + 1, dtype=self.dtype, device=self.device)
        padded[:, :S, :S] = T
        act, prev, cur = prep.triples.unbind(1)
        rows, cols = self.clone_index[prev], self.clone_index[cur]  # (K, W)
        blocks = padded[act[:, None, None], rows[:, :, None], cols[:, None, :]]  # (K, W, W)
        eye = torch.eye(W, dtype=self.dtype, device=self.device)
        pi = torch.cat([self.pi, torch.zeros(1, dtype=self.dtype, device=self.device)])
        prior = pi[self.clone_index[prep.x[0]]].expand(W, W)
        return torch.cat([blocks, eye[None], prior[None]])

    # ---- EM ----------------------------------------------------------------------------------

    @torch.no_grad()
    def em_step(self, prep: Prepared, edge: mp.Boundary) -> float:
        """One Baum-Welch iteration on T (E fixed); returns the walk's bits per step before the M-step."""
        bank = self.bank(prep)
        alpha, scale = mp.forward(bank, prep.layout, edge.incoming)
        beta = mp.backward(bank, prep.layout, edge.outgoing)
        edge.update(alpha, beta)
        self.C = self._expected_counts(prep, bank, alpha, beta, scale)
        self.update_T()
        return _bits(scale, prep.layout)

    def _expected_counts(
        self, prep: Prepared, bank: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, scale: torch.Tensor
    ) -> torch.Tensor:
        """``C[a, i, j] = sum_t xi_t(i, j)`` grouped by triple: one (W, n_k) @ (n_k, W) matmul each.

        ``xi_t = alpha_{t-1}[:, None] * M_t * beta_t[None, :] / n_t`` with
        ``n_t = alpha_{t-1} M_t beta_t = p_t * <alpha_t, beta_t>`` (CSCGnc ``updateC``).
        """
        W = self.width
        a_flat, b_flat = alpha.view(-1, W), beta.view(-1, W)
        cur = b_flat.index_select(0, prep.order_pos)
        norm = scale.view(-1).index_select(0, prep.order_pos) * (
            a_flat.index_select(0, prep.order_pos) * cur
        ).sum(1)
        prev = a_flat.index_select(0, prep.prev_pos)
        if len(prep.boundary):  # chunk starts: alpha_t came from a stale message; recompute n_t
            ids = prep.layout.ids.view(-1)[prep.order_pos[prep.boundary]]
            start = torch.bmm(prev[prep.boundary].unsqueeze(1), bank[ids]).squeeze(1)  # (b, W)
            norm[prep.boundary] = (start * cur[prep.boundary]).sum(1)
        prev = prev / norm.clamp_min(mp.TINY).unsqueeze(1)
        parts = [p.t() @ c for p, c in zip(prev.split(prep.sizes), cur.split(prep.sizes))]
        block_counts = torch.stack(parts) * bank[: len(parts)]  # (K, W, W)
        return self._scatter(prep, block_counts)

    def _scatter(self, prep: Prepared, block_counts: torch.Tensor) -> torch.Tensor:
        """Add (K, W, W) block counts into a dense (A, S, S) count tensor."""
        S = self.n_states
        counts = torch.zeros(self.n_actions * (S + 1) * (S + 1), dtype=self.dtype, device=self.device)
        counts.index_add_(0, prep.flat_index, block_counts.reshape(-1))
        return counts.view(self.n_actions, S + 1, S + 1)[:, :S, :S].contiguous()

    def _flat_index(self, triples: torch.Tensor) -> torch.Tensor:
        """(K * W * W,) index of every block entry in a flat padded (A, S + 1, S + 1) tensor."""
        side = self.n_states + 1
        act, prev, cur = triples.unbind(1)
        rows, cols = self.clone_index[prev][:, :, None], self.clone_index[cur][:, None, :]
        return ((act[:, None, None] * side + rows) * side + cols).reshape(-1)

    @loop_threads
    def learn_em(
        self,
        x: Sequence[int] | np.ndarray,
        a: Sequence[int] | np.ndarray,
        n_iter: int = 100,
        *,
        term_early: bool = True,
        chunk_len: int = 100,
        patience: int = EM_PATIENCE,
        tol: float = EM_TOL,
        progress: Progress | None = None,
    ) -> list[float]:
        """Baum-Welch on T (CSCGnc ``learn_em_T``); with ``term_early`` it stops once the likelihood has
        stopped increasing (``stalled``)."""
        prep = self.prepare(x, a, chunk_len)
        edge = mp.Boundary.uniform(prep.layout.chunks, self.width, self.device, self.dtype)
        curve: list[float] = []
        for it in range(n_iter):
            curve.append(self.em_step(prep, edge))
            if progress:
                progress(it, curve[-1])
            if term_early and stalled(curve, patience, tol):
                break
        return curve

    # ---- Viterbi -----------------------------------------------------------------------------

    @torch.no_grad()
    def decode_prepared(
        self, prep: Prepared, edge: mp.Boundary | None = None, sweeps: int = 2
    ) -> tuple[float, torch.Tensor]:
        """MAP clone sequence (n,) and max-product bits per step (CSCGnc ``decode``).

        Without a carried ``edge`` the boundaries are settled by ``sweeps`` sweeps (one suffices
        for a single chunk).
        """
        bank = self.bank(prep)
        if edge is None:
            edge = mp.Boundary.uniform(prep.layout.chunks, self.width, self.device, self.dtype)
        sweeps = 1 if prep.layout.chunks == 1 else max(1, sweeps)
        for _ in range(sweeps):
            alpha, scale, psi = mp.forward_max(bank, prep.layout, edge.incoming)
            edge.update(alpha, None)
        local = mp.backtrace(bank, prep.layout, alpha, psi)
        states = self.clone_index[prep.x, local]
        return _bits(scale, prep.layout), states

    @loop_threads
    def decode(
        self, x: Sequence[int] | np.ndarray, a: Sequence[int] | np.ndarray, chunk_len: int = 100
    ) -> tuple[float, torch.Tensor]:
        """MAP clone sequence of a walk and its max-product bits per step."""
        return self.decode_prepared(self.prepare(x, a, chunk_len))

    @loop_threads
    def learn_viterbi(
        self,
        x: Sequence[int] | np.ndarray,
        a: Sequence[int] | np.ndarray,
        n_iter: int = 100,
        *,
        chunk_len: int = 100,
        progress: Progress | None = None,
    ) -> list[float]:
        """Hard-count refinement (CSCGnc ``learn_viterbi_T``): C = transition counts of the MAP path."""
        prep = self.prepare(x, a, chunk_len)
        edge = mp.Boundary.uniform(prep.layout.chunks, self.width, self.device, self.dtype)
        curve: list[float] = []
        for it in range(n_iter):
            bits, states = self.decode_prepared(prep, edge, sweeps=2 if it == 0 else 1)
            self.C = self.path_counts(prep.a, states)
            self.update_T()
            curve.append(bits)
            if progress:
                progress(it, bits)
            if len(curve) > 1 and curve[-1] >= curve[-2]:
                break
        return curve

    def path_counts(self, a: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """(A, S, S) transition counts of a clone path."""
        counts = torch.zeros(
            self.n_actions, self.n_states, self.n_states, dtype=self.dtype, device=self.device
        )
        ones = torch.ones(len(states) - 1, dtype=self.dtype, device=self.device)
        counts.index_put_((a[:-1], states[:-1], states[1:]), ones, accumulate=True)
        return counts

    @loop_threads
    @torch.no_grad()
    def bps(
        self,
        x: Sequence[int] | np.ndarray,
        a: Sequence[int] | np.ndarray,
        chunk_len: int = 100,
        sweeps: int = 3,
    ) -> float:
        """Sum-product bits per step of a walk (CSCGnc ``bps``, averaged)."""
        prep = self.prepare(x, a, chunk_len)
        bank = self.bank(prep)
        edge = mp.Boundary.uniform(prep.layout.chunks, self.width, self.device, self.dtype)
        for _ in range(1 if prep.layout.chunks == 1 else sweeps):
            alpha, scale = mp.forward(bank, prep.layout, edge.incoming)
            edge.update(alpha, None)
        return _bits(scale, prep.layout)


def stalled(curve: Sequence[float], patience: int = EM_PATIENCE, tol: float = EM_TOL) -> bool:
    """True when the best of the last ``patience`` values of a falling bits-per-step curve is lower than
    the best before them by at most ``tol``, relative.

    The reference stops at the first iteration that does not improve, which in float64 is where EM has
    converged. In float32 two iterations tie, or rise by rounding, long before that: on the 50,000-step
    bench walk of the 6x8 room (102 clones, chunks of 100) the first such iteration was 514, at 0.00156
    bits per step, while EM went on falling to 0.00140 by iteration 1000, as the float64 numba reference
    algorithm does from the same counts (docs/schemas.md). Waiting ``patience`` iterations costs that
    many at convergence.
    """
    if len(curve) <= patience:
        return False
    before, recent = min(curve[:-patience]), min(curve[-patience:])
    return before - recent <= tol * abs(before)


def _bits(scale: torch.Tensor, layout: mp.Layout) -> float:
    """Mean ``-log2 p_t`` over the real steps."""
    logs = -torch.log2(scale.clamp_min(mp.TINY))
    return float(logs[layout.real_mask()].mean())
