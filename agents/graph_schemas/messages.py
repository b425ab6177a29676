"""Batched message passing over a walk cut into parallel sub-sequences (chunks).

A walk of ``n`` steps is cut into ``B`` chunks of ``L`` steps (the last one padded with identity
steps) and the chunks are run side by side as a batch dimension, so one EM sweep costs ``L``
sequential torch steps instead of ``n`` (spec §11). Each step ``g`` has a *block id*: the index of
the transition matrix that leads into it, in a ``bank`` of matrices. For the clone-structured
model the bank holds the ``(C, C)`` blocks ``T[a, clones(x_prev), clones(x)]``; for learned
(dense) emissions it holds ``T[a]`` itself and an emission vector multiplies every step.

Chunk boundaries are handled with *stale messages*: chunk ``b`` starts from the last forward
message of chunk ``b-1`` computed in the previous sweep (and ends with the first backward message
of chunk ``b+1``), so no transition of the walk is dropped; the boundary messages lag one sweep
behind, which vanishes as EM converges. The first sweep starts the boundaries uniform. With one
chunk the result is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

TINY = 1e-30
"""Floor of a normaliser, so an impossible step gives zero messages instead of NaN."""


@dataclass
class Layout:
    """Where each step of a walk sits in the ``(L, B)`` chunk grid."""

    n: int
    """Real steps of the walk."""
    ids: torch.Tensor
    """``(L, B)`` block id of every step (padding steps use the identity block)."""
    next_ids: torch.Tensor
    """``(B,)`` block id of the step after each chunk's end (identity after the last chunk)."""

    @property
    def length(self) -> int:
        """``L``, steps per chunk."""
        return int(self.ids.shape[0])

    @property
    def chunks(self) -> int:
        """``B``, the number of chunks."""
        return int(self.ids.shape[1])

    def position(self, g: torch.Tensor) -> torch.Tensor:
        """Flat index into a time-major ``(L * B)`` array of the global steps ``g``."""
        return (g % self.length) * self.chunks + g // self.length

    def real_mask(self) -> torch.Tensor:
        """``(L, B)`` True on real (not padding) steps."""
        g = torch.arange(self.length * self.chunks, device=self.ids.device)
        mask = torch.zeros(self.length * self.chunks, dtype=torch.bool, device=self.ids.device)
        mask[self.position(g[: self.n])] = True
        return mask.view(self.length, self.chunks)


def make_layout(block_ids: torch.Tensor, chunk_len: int, pad_id: int) -> Layout:
    """Cut ``block_ids`` (one per step) into chunks of at most ``chunk_len`` steps."""
    n = int(block_ids.shape[0])
    chunks = max(1, -(-n // max(1, chunk_len)))
    length = -(-n // chunks)
    flat = torch.full((chunks * length,), pad_id, dtype=torch.long, device=block_ids.device)
    flat[:n] = block_ids
    grid = flat.view(chunks, length)
    next_ids = torch.cat([grid[1:, 0], torch.tensor([pad_id], device=block_ids.device)])
    return Layout(n=n, ids=grid.t().contiguous(), next_ids=next_ids)


def to_grid(values: torch.Tensor, layout: Layout, fill: float = 1.0) -> torch.Tensor:
    """Per-step rows ``(n, C)`` laid out as ``(L, B, C)``; padding rows get ``fill``."""
    length, chunks = layout.length, layout.chunks
    out = torch.full((chunks * length, values.shape[1]), fill, dtype=values.dtype, device=values.device)
    out[: layout.n] = values
    return out.view(chunks, length, -1).transpose(0, 1).contiguous()


def from_grid(grid: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The inverse of :func:`to_grid`: ``(L, B, ...)`` back to per-step rows ``(n, ...)``."""
    rest = grid.shape[2:]
    return grid.transpose(0, 1).reshape(layout.chunks * layout.length, *rest)[: layout.n]


@dataclass
class Boundary:
    """Stale messages at chunk boundaries, carried from one sweep to the next."""

    incoming: torch.Tensor
    """``(B, C)`` forward message entering each chunk (the previous chunk's last one)."""
    outgoing: torch.Tensor
    """``(B, C)`` backward message leaving each chunk (the next chunk's first one)."""

    @classmethod
    def uniform(cls, chunks: int, width: int, device: torch.device, dtype: torch.dtype) -> Boundary:
        """Uniform messages: the first sweep's guess."""
        flat = torch.full((chunks, width), 1.0 / width, device=device, dtype=dtype)
        return cls(incoming=flat, outgoing=flat.clone())

    def update(self, alpha: torch.Tensor | None, beta: torch.Tensor | None) -> None:
        """Take this sweep's chunk-end messages for the next sweep."""
        if alpha is not None and alpha.shape[1] > 1:
            self.incoming = torch.cat([self.incoming[:1], alpha[-1, :-1]])
        if beta is not None and beta.shape[1] > 1:
            self.outgoing = torch.cat([beta[0, 1:], self.outgoing[-1:]])


def _gather(flat_bank: torch.Tensor, ids: torch.Tensor, width: int) -> torch.Tensor:
    """The ``(B, C, C)`` matrices of ``ids`` (``embedding`` is the fastest row gather on CPU)."""
    return F.embedding(ids, flat_bank).view(-1, width, width)


@torch.no_grad()
def forward(
    bank: torch.Tensor, layout: Layout, incoming: torch.Tensor, emit: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum-product forward: ``alpha_t = norm((alpha_{t-1} @ M_t) * e_t)`` (CSCGnc ``forward``).

    ``bank``: (K, C, C); ``incoming``: (B, C); ``emit``: (L, B, C) or None.
    Returns normalised messages (L, B, C) and the normalisers p_t (L, B), ``log p_t`` being
    the log-likelihood of step t given the past.
    """
    return _sweep(bank.reshape(bank.shape[0], -1), layout.ids, incoming, emit)


@torch.no_grad()
def backward(
    bank: torch.Tensor,
    layout: Layout,
    outgoing: torch.Tensor,
    emit: torch.Tensor | None = None,
    emit_after: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum-product backward: ``beta_t = norm(M_{t+1} @ (beta_{t+1} * e_{t+1}))`` (CSCGnc ``backward``).

    Run as a forward sweep over the reversed steps with transposed blocks (a row-vector product
    is the fast path of batched matmul on CPU). ``emit_after``: (B, C) emission of the step after
    each chunk (ones after the last one).
    """
    flat_t = bank.transpose(1, 2).reshape(bank.shape[0], -1)
    ids = torch.cat([layout.ids[1:], layout.next_ids[None]]).flip(0)  # block leading into t + 1
    shifted = None
    if emit is not None:
        shifted = torch.cat([emit[1:], emit_after[None]]).flip(0)
    beta, _ = _sweep(flat_t, ids, outgoing, shifted, emit_first=True)
    return beta.flip(0)


def _sweep(
    flat: torch.Tensor,
    ids: torch.Tensor,
    msg: torch.Tensor,
    emit: torch.Tensor | None,
    emit_first: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``m_t = norm((m_{t-1} * e_t) @ M_t)`` if ``emit_first`` else ``norm((m_{t-1} @ M_t) * e_t)``.

    Buffers are preallocated: a fresh 1 MB block tensor per step costs more than the product.
    """
    length, chunks = ids.shape
    width = msg.shape[1]
    out = torch.empty(length, chunks, width, dtype=flat.dtype, device=flat.device)
    scale = torch.empty(length, chunks, dtype=flat.dtype, device=flat.device)
    blocks = torch.empty(chunks, width * width, dtype=flat.dtype, device=flat.device)
    prod = torch.empty(chunks, 1, width, dtype=flat.dtype, device=flat.device)
    for t in range(length):
        torch.index_select(flat, 0, ids[t], out=blocks)
        if emit is not None and emit_first:
            msg = msg * emit[t]
        u = torch.bmm(msg.unsqueeze(1), blocks.view(chunks, width, width), out=prod).squeeze(1)  # (B, C)
        if emit is not None and not emit_first:
            u.mul_(emit[t])
        p = torch.sum(u, 1, out=scale[t])
        msg = torch.div(u, p.clamp_min(TINY).unsqueeze(1), out=out[t])
    return out, scale


@torch.no_grad()
def forward_max(
    bank: torch.Tensor, layout: Layout, incoming: torch.Tensor, emit: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max-product forward (CSCGnc ``forward_mp``): messages normalised by their max.

    Returns messages (L, B, C), normalisers (L, B) and back-pointers (L, B, C): the best
    predecessor clone of every clone at every step.
    """
    length, chunks, width = layout.length, layout.chunks, bank.shape[-1]
    flat = bank.reshape(bank.shape[0], width * width)
    alpha = torch.empty(length, chunks, width, dtype=bank.dtype, device=bank.device)
    scale = torch.empty(length, chunks, dtype=bank.dtype, device=bank.device)
    psi = torch.empty(length, chunks, width, dtype=torch.long, device=bank.device)
    msg = incoming
    for t in range(length):
        u, _ = torch.max(_gather(flat, layout.ids[t], width) * msg.unsqueeze(2), 1, out=(alpha[t], psi[t]))
        if emit is not None:
            u.mul_(emit[t])
        p = torch.amax(u, 1, out=scale[t])
        msg = u.div_(p.clamp_min(TINY).unsqueeze(1))
    return alpha, scale, psi


@torch.no_grad()
def backtrace(bank: torch.Tensor, layout: Layout, alpha: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """The MAP path (n,) of clone indices (positions within each step's block or state vector).

    Every chunk is traced back from *every* possible end clone at once; then the chunks are
    linked from the last one backwards, each chunk's start choosing the previous chunk's end
    through this sweep's last message of that chunk (exact for one chunk).
    """
    length, chunks, width = alpha.shape
    paths = torch.empty(length, chunks, width, dtype=torch.long, device=alpha.device)
    paths[-1] = torch.arange(width, device=alpha.device).expand(chunks, width)
    for t in range(length - 1, 0, -1):
        paths[t - 1] = psi[t].gather(1, paths[t])
    link = _links(bank, layout, alpha)  # (B, C): best end of chunk b-1 given the start of chunk b
    ends = np.zeros(chunks, dtype=np.int64)
    ends[-1] = int(alpha[-1, -1].argmax())
    starts, link_np = paths[0].cpu().numpy(), link.cpu().numpy()
    for b in range(chunks - 1, 0, -1):
        ends[b - 1] = link_np[b, starts[b, ends[b]]]
    ends_t = torch.as_tensor(ends, device=alpha.device)
    chosen = paths.gather(2, ends_t.view(1, chunks, 1).expand(length, chunks, 1)).squeeze(2)  # (L, B)
    return from_grid(chosen.unsqueeze(2), layout).squeeze(1)


def _links(bank: torch.Tensor, layout: Layout, alpha: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` argmax_i alpha_end[b-1, i] * M[i, j] for the first step of every chunk b >= 1."""
    width = bank.shape[-1]
    link = torch.zeros(layout.chunks, width, dtype=torch.long, device=alpha.device)
    if layout.chunks > 1:
        blocks = _gather(bank.reshape(bank.shape[0], -1), layout.ids[0, 1:], width)  # (B-1, C, C)
        link[1:] = (blocks * alpha[-1, :-1].unsqueeze(2)).argmax(1)
    return link
