"""The Spatially-Aware Transformer network: nn.Modules only (nanoGPT style).

A memory of slots (observation encoding + time sinusoid [+ place embedding]) is read by query tokens
through ``n_layers`` HCAM layers (Lampinen et al. 2021; SAT reference ``htm/hcam.py``): each query
scores mean-pooled chunk summaries with one head, keeps the top-k chunks and attends with several
heads inside each, and the chunk outputs are mixed by the softmax of the kept scores. A flat read
(chunk 1, every chunk kept) reduces to single-head softmax attention over slots followed by a per-slot
value projection, and runs as that special case. The memory itself is not re-encoded between layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from agents.sat.config import ModelConfig
from agents.sat.features import ARG_DIRECTION, ARG_OBJECT, ARG_ROOM, ARG_TIME, N_CLASSES, OFFSETS
from envs.room_recall import N_ROOMS, OBJECT_CLASSES, SIDE

NEG = -1e9
"""Finite "minus infinity" for masks (no NaN when a row is fully masked)."""


def sinusoid(n: int, dim: int) -> torch.Tensor:
    """(n, dim) table [sin(p w), cos(p w)], w = 10000^(-2i/dim), p = 0..n-1 (not reversed, spec §10)."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    inv = 10000 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    return torch.cat([torch.sin(pos * inv), torch.cos(pos * inv)], dim=-1)


class ObsEncoder(nn.Module):
    """Room frame -> vector: embed object/colour/state codes, sum per cell, flatten, MLP (spec §9).

    The three code tables are stacked in one (11 + 6 + 3) x code_dim table and looked up as a multi-hot
    matmul: the same function as three summed ``nn.Embedding``s, with a much cheaper backward on CPU.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.codes = nn.Embedding(20, cfg.code_dim)
        self.register_buffer("ids", torch.arange(20), persistent=False)
        self.fc1 = nn.Linear(cfg.frame * cfg.frame * cfg.code_dim, cfg.d_model)
        self.fc2 = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        codes = frames.long()  # (..., F, F, 3)
        obj, col, state = codes[..., 0].clamp(0, 10), codes[..., 1].clamp(0, 5), codes[..., 2].clamp(0, 2)
        ids = self.ids
        hot = (obj[..., None] == ids) | (11 + col[..., None] == ids) | (17 + state[..., None] == ids)
        x = hot.float() @ self.codes.weight  # (..., F, F, code_dim): sum of the cell's three code embeddings
        return self.fc2(F.relu(self.fc1(x.flatten(-3))))  # (..., d)


def object_counts(frames: torch.Tensor) -> torch.Tensor:
    """(..., F, F, 3) codes -> (..., 18) how many cells show each object class (ball/key/box x colour)."""
    codes = frames.long()
    kind = torch.full_like(codes[..., 0], -1)
    for k, code in enumerate((6, 5, 7)):  # MiniGrid ball, key, box -> class type index 0, 1, 2
        kind = torch.where(codes[..., 0] == code, k, kind)
    cls = torch.where(kind >= 0, kind * 6 + codes[..., 1].clamp(0, 5), -1).flatten(-2)  # (..., F*F)
    return (cls[..., None] == torch.arange(len(OBJECT_CLASSES), device=frames.device)).sum(-2).float()


class PlaceEmbedding(nn.Module):
    """Learned room embedding plus a 2-D sinusoid of the room's (column, row) in the 3x3 layout (spec §9)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.learned = nn.Embedding(N_ROOMS, d)
        half = sinusoid(SIDE, d // 2)  # (3, d/2)
        rooms = torch.arange(N_ROOMS)
        self.register_buffer(
            "fixed", torch.cat([half[rooms % SIDE], half[rooms // SIDE]], -1), persistent=False
        )

    def forward(self, rooms: torch.Tensor) -> torch.Tensor:
        rooms = rooms.clamp(0, N_ROOMS - 1)
        return self.learned(rooms) + self.fixed[rooms]  # (..., d)


class HCAMAttention(nn.Module):
    """Hierarchical chunk attention: top-k chunks by summary score, multi-head attention inside each."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        d = cfg.d_model
        self.n_heads, self.top_k = cfg.n_heads, cfg.top_k
        self.summary_q, self.summary_k = nn.Linear(d, d), nn.Linear(d, d)
        self.to_q, self.to_kv = nn.Linear(d, d, bias=False), nn.Linear(d, 2 * d, bias=False)
        self.to_out = nn.Linear(d, d)
        if cfg.identity_init:  # start by matching shared embeddings (place, time) between query and slot
            for lin in (self.summary_q, self.summary_k):
                nn.init.eye_(lin.weight)
                nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, mem: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """x (B, Q, d), mem (B, N, c, d), mask (B, N, c) -> (B, Q, d) and the attention weights."""
        B, N, c, d = mem.shape
        summary = (mem * mask[..., None]).sum(2) / (mask.sum(2, keepdim=True) + 1e-5)  # (B, N, d) masked mean
        logits = self.summary_q(x) @ self.summary_k(summary).transpose(1, 2) / math.sqrt(d)  # (B, Q, N)
        logits = logits.masked_fill(~mask.any(2)[:, None, :], NEG)
        kv = self.to_kv(mem)  # (B, N, c, 2d), computed once for every query
        k = N if self.top_k <= 0 else min(self.top_k, N)
        if c == 1 and k == N:
            return self.flat(logits, kv)
        top, idx = logits.topk(k, dim=-1)  # (B, Q, k)
        weights = top.softmax(-1)  # (B, Q, k)
        Q = x.shape[1]
        sel = torch.gather(
            kv[:, None].expand(B, Q, N, c, 2 * d), 2, idx[..., None, None].expand(B, Q, k, c, 2 * d)
        )
        sel_mask = torch.gather(mask[:, None].expand(B, Q, N, c), 2, idx[..., None].expand(B, Q, k, c))
        h, dh = self.n_heads, d // self.n_heads
        keys, values = sel.view(B, Q, k, c, 2, h, dh).unbind(4)  # (B, Q, k, c, h, dh) each
        q = self.to_q(x).view(B, Q, h, dh)
        att = torch.einsum("bqhe,bqkche->bqkhc", q, keys) / math.sqrt(dh)  # (B, Q, k, h, c)
        att = att.masked_fill(~sel_mask[:, :, :, None, :], NEG).softmax(-1)
        out = self.to_out(
            torch.einsum("bqkhc,bqkche->bqkhe", att, values).reshape(B, Q, k, d)
        )  # (B, Q, k, d)
        slot_w = torch.zeros(
            B, Q, N, c, device=x.device
        )  # per-slot weight = chunk weight x mean head attention
        slot_w.scatter_(2, idx[..., None].expand(B, Q, k, c), weights[..., None] * att.mean(3))
        return (weights[..., None] * out).sum(2), {
            "chunk": logits.softmax(-1),
            "selected": idx,
            "slot": slot_w,
        }

    def flat(self, logits: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Chunk 1, all kept: one softmax over slots, per-slot value projection."""
        weights = logits.softmax(-1)  # (B, Q, N)
        values = self.to_out(kv[:, :, 0, kv.shape[-1] // 2 :])  # (B, N, d)
        return weights @ values, {"chunk": weights, "selected": None, "slot": weights[..., None]}


class HCAMLayer(nn.Module):
    """Pre-LN: x + HCAM read of the memory, then x + MLP (reference ``HCAMLayer`` minus the query
    self-attention, which over a single query token is a linear map)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = HCAMAttention(cfg)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_hidden), nn.GELU(), nn.Linear(cfg.mlp_hidden, cfg.d_model)
        )

    def forward(self, x: torch.Tensor, mem: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        read, info = self.attn(self.ln_1(x), mem, mask)
        x = x + read
        return x + self.mlp(self.ln_2(x)), info


class QNet(nn.Module):
    """AMA's Q_phi: one-hot task -> Linear(n, 64) -> ReLU -> Linear(64, strategies) (reference rb_multi)."""

    def __init__(self, n_tasks: int, n_strategies: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_tasks, hidden), nn.ReLU(), nn.Linear(hidden, n_strategies))

    def forward(self, tasks: torch.Tensor) -> torch.Tensor:
        return self.net(tasks)  # (B, n_strategies)


class SpatialTransformer(nn.Module):
    """Slots + query tokens -> HCAM layers -> logits over the 68 answers of the query's family."""

    def __init__(self, cfg: ModelConfig, ama_arms: int = 0) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.encoder = ObsEncoder(cfg)
        self.place = PlaceEmbedding(d)
        self.register_buffer("time", sinusoid(cfg.max_steps, d), persistent=False)
        self.family = nn.Embedding(cfg.n_families, d)
        self.object = nn.Embedding(len(OBJECT_CLASSES), d)
        self.direction = nn.Embedding(4, d)
        self.ln_mem, self.ln_f = nn.LayerNorm(d), nn.LayerNorm(d)
        self.layers = nn.ModuleList(HCAMLayer(cfg) for _ in range(cfg.n_layers))
        self.head = nn.Linear(d, N_CLASSES)
        self.register_buffer("offsets", torch.as_tensor(OFFSETS), persistent=False)
        self.qnet = QNet(cfg.n_families, ama_arms) if ama_arms else None

    def slots(self, frames: torch.Tensor, places: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Slot = enc(obs) [+ object bag] + sin(t) [+ place_emb] (spec §9); (..., F, F, 3) -> (..., d)."""
        x = self.encoder(frames) + self.time[times.clamp(0, self.cfg.max_steps - 1)]
        if self.cfg.object_bag:  # the query's object table, summed over the objects in view
            x = x + object_counts(frames) @ self.object.weight
        return x + self.place(places) if self.cfg.place else x

    def tokens(self, family: torch.Tensor, args: torch.Tensor) -> torch.Tensor:
        """Query token = family embedding + argument embedding; family (B, Q), args (B, Q, 4) -> (B, Q, d)."""
        x = self.family(family)
        parts = (
            (ARG_ROOM, self.place),
            (ARG_OBJECT, self.object),
            (ARG_DIRECTION, self.direction),
            (ARG_TIME, lambda t: self.time[t]),
        )
        for col, embed in parts:
            arg = args[..., col]
            x = x + embed(arg.clamp(min=0)) * (arg >= 0)[..., None]
        return x

    def forward(
        self,
        frames: torch.Tensor,
        places: torch.Tensor,
        times: torch.Tensor,
        mask: torch.Tensor,
        family: torch.Tensor,
        args: torch.Tensor,
    ) -> tuple[torch.Tensor, list[dict]]:
        """frames (B, N, c, F, F, 3), places/times/mask (B, N, c), family (B, Q), args (B, Q, 4)
        -> logits (B, Q, 68) with other families' answers at NEG, and per-layer attention."""
        mem = frames.new_zeros(*mask.shape, self.cfg.d_model, dtype=torch.float32)
        mem[mask] = self.ln_mem(
            self.slots(frames[mask], places[mask], times[mask])
        )  # (B, N, c, d); pads stay 0
        x = self.tokens(family, args)  # (B, Q, d)
        infos = []
        for layer in self.layers:
            x, info = layer(x, mem, mask)
            infos.append(info)
        logits = self.head(self.ln_f(x))  # (B, Q, 68)
        cols = torch.arange(N_CLASSES, device=logits.device)
        inside = (cols >= self.offsets[family][..., None]) & (cols < self.offsets[family + 1][..., None])
        return logits.masked_fill(~inside, NEG), infos
