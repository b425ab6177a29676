"""Graph schemas: a learned latent graph reused in new rooms by rebinding its slots.

Guntupalli et al., "Graph schemas..." arXiv 2302.07350 (abstract); the rebinding step follows
google-deepmind/space_is_a_latent_sequence @65a6a2a ``cscg_se.py::learn_em_emission`` with
``keep_clone_structure=True`` (spec §7.1), and the learning recipe spec §9.

- :func:`learn_schema`: EM + Viterbi on a walk of room A; the schema keeps the refined counts of the
  clones the walk actually decodes to (spec §13: shrink S before transfer), the slot (source
  observation) of every clone, and the true cell each clone decodes to (for the lab's grid view).
- :func:`rebind`: EM on the emission matrix E with T frozen; with ``tie_slots`` every clone of a
  slot shares one emission row (gamma summed per slot), so only ``slots x O_new`` numbers are fit.
- :func:`match`: rebind every schema of a library and keep the one with the lowest bits per step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.graph_schemas import messages as mp
from agents.graph_schemas.model import CSCG, LOOP_THREADS, Progress, torch_threads
from lab.core.errors import ConfigError
from lab.core.settings import cache_dir


@dataclass
class Schema:
    """A latent graph learned in one room, with slots that can be rebound."""

    name: str
    actions: list[str]
    """Action names, in the order of T's first axis."""
    slots: list[str]
    """Slot labels: the observation each slot emitted in the source room."""
    slot_of_clone: np.ndarray
    """(S,) slot index of every clone."""
    counts: torch.Tensor
    """(A, S, S) Viterbi-refined transition counts (pseudocount 0)."""
    cells: list[list[int] | None] = field(default_factory=list)
    """True (x, y) cell each clone decodes to in the source room (None: unknown)."""
    curve: dict[str, list[float]] = field(default_factory=dict)
    """Bits per step per iteration: ``em`` and ``viterbi``."""
    info: dict[str, Any] = field(default_factory=dict)
    """How it was learned: room options, walk length, seconds, pseudocount, seed..."""

    @property
    def n_states(self) -> int:
        """S, the number of clones kept."""
        return int(self.counts.shape[1])

    def transitions(self, smoothing: float = 0.0) -> torch.Tensor:
        """``T = normalise(counts + smoothing)``; smoothing > 0 keeps inference away from zero likelihoods."""
        T = self.counts + smoothing
        norm = T.sum(2, keepdim=True)
        return T / torch.where(norm == 0, torch.ones_like(norm), norm)

    def plan_transitions(self, threshold: float) -> torch.Tensor:
        """The sparse T planning runs on (spec §4): refined counts, entries below ``threshold`` dropped."""
        T = self.transitions(0.0)
        return torch.where(T >= threshold, T, torch.zeros_like(T))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (sparse counts; no pickles)."""
        nz = torch.nonzero(self.counts).cpu()
        values = self.counts[nz[:, 0], nz[:, 1], nz[:, 2]].cpu()
        return {
            "format": "memlab-cscg-schema",
            "version": 1,
            "name": self.name,
            "actions": self.actions,
            "slots": self.slots,
            "slot_of_clone": self.slot_of_clone.tolist(),
            "n_states": self.n_states,
            "counts": {"index": nz.tolist(), "value": [round(float(v), 6) for v in values]},
            "cells": self.cells,
            "curve": self.curve,
            "info": self.info,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], device: torch.device | str = "cpu") -> Schema:
        """Rebuild a schema from :meth:`to_json` output."""
        if data.get("format") != "memlab-cscg-schema":
            raise ValueError("not a memlab CSCG schema file")
        S, A = int(data["n_states"]), len(data["actions"])
        counts = torch.zeros(A, S, S)
        index = torch.as_tensor(data["counts"]["index"], dtype=torch.long).view(-1, 3)
        counts[index[:, 0], index[:, 1], index[:, 2]] = torch.as_tensor(data["counts"]["value"])
        return cls(
            name=data["name"],
            actions=list(data["actions"]),
            slots=list(data["slots"]),
            slot_of_clone=np.asarray(data["slot_of_clone"], dtype=np.int64),
            counts=counts.to(device),
            cells=data.get("cells", []),
            curve=data.get("curve", {}),
            info=data.get("info", {}),
        )


def clones_for(
    x: np.ndarray, n_symbols: int, n_places: int, factor: float = 2.0, minimum: int = 2
) -> list[int]:
    """Clones per observation proportional to its frequency: ``max(minimum, round(factor * freq * places))``
    (spec §9: about twice the true places per symbol, without using ground truth)."""
    freq = np.bincount(x, minlength=n_symbols) / max(1, len(x))
    return [max(minimum, int(round(factor * f * n_places))) for f in freq]


def learn_schema(
    name: str,
    x: np.ndarray,
    a: np.ndarray,
    symbols: Sequence[str],
    actions: Sequence[str],
    n_clones: Sequence[int],
    *,
    pseudocount: float = 2e-3,
    em_iters: int = 1000,
    viterbi_iters: int = 100,
    seed: int = 42,
    chunk_len: int = 100,
    pos: np.ndarray | None = None,
    keep_worse_refinement: bool = False,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> Schema:
    """EM (pseudocount, early stop), then Viterbi refinement (pseudocount 0), then keep the used clones.

    Refinement is kept only when it does not raise the walk's sum-product bits per step; otherwise the
    EM transitions are (``info["kept"]`` says which). The reference keeps the refined ones whatever
    they score: set ``keep_worse_refinement`` for that.
    """
    start = time.perf_counter()
    model = CSCG(n_clones, len(actions), pseudocount=pseudocount, seed=seed, device=device)
    em = model.learn_em(x, a, em_iters, chunk_len=chunk_len, progress=progress)
    em_bps = model.bps(x, a, chunk_len=chunk_len)
    em_counts = model.C
    model.pseudocount = 0.0
    viterbi = model.learn_viterbi(x, a, viterbi_iters, chunk_len=chunk_len)
    refined_bps = model.bps(x, a, chunk_len=chunk_len)
    kept = "viterbi"
    if refined_bps > em_bps and not keep_worse_refinement:
        model.pseudocount, model.C, kept = pseudocount, em_counts, "em"
        model.update_T()
    _, states = model.decode(x, a, chunk_len=chunk_len)
    used = torch.unique(states)
    remap = torch.full((model.n_states,), -1, dtype=torch.long, device=states.device)
    remap[used] = torch.arange(len(used), device=states.device)
    counts = _restricted(model, a, states, remap, len(used))
    info = {
        "steps": int(len(x)),
        "seconds": round(time.perf_counter() - start, 2),
        "pseudocount": pseudocount,
        "seed": seed,
        "n_clones": [int(c) for c in n_clones],
        "clones_before": model.n_states,
        "em_iterations": len(em),
        "viterbi_iterations": len(viterbi),
        "bps_em": round(em_bps, 6),
        "bps_refined": round(refined_bps, 6),
        "kept": kept,
    }
    return Schema(
        name=name,
        actions=list(actions),
        slots=list(symbols),
        slot_of_clone=model.slot_of_state[used].cpu().numpy(),
        counts=counts,
        cells=clone_cells(remap[states].cpu().numpy(), pos, len(used)),
        curve={"em": [float(v) for v in em], "viterbi": [float(v) for v in viterbi]},
        info=info,
    )


def _restricted(
    model: CSCG, a: np.ndarray, states: torch.Tensor, remap: torch.Tensor, size: int
) -> torch.Tensor:
    """(A, S', S') transition counts of the MAP path over the used clones only."""
    a_t = torch.as_tensor(np.asarray(a), dtype=torch.long, device=states.device)
    path = remap[states]
    counts = torch.zeros(model.n_actions, size, size, dtype=model.dtype, device=states.device)
    ones = torch.ones(len(path) - 1, dtype=model.dtype, device=states.device)
    counts.index_put_((a_t[:-1], path[:-1], path[1:]), ones, accumulate=True)
    return counts


def clone_cells(path: np.ndarray, pos: np.ndarray | None, size: int) -> list[list[int] | None]:
    """The most frequent true position of every clone along the decoded walk."""
    if pos is None:
        return [None] * size
    cells: list[list[int] | None] = []
    for clone in range(size):
        where = pos[path == clone]
        if not len(where):
            cells.append(None)
            continue
        values, counts = np.unique(where, axis=0, return_counts=True)
        cells.append([int(v) for v in values[counts.argmax()]])
    return cells


@dataclass
class Binding:
    """A schema's clones bound to the observations of a new room."""

    schema: Schema
    vocab: list[str]
    """Observation symbols of the new room: the columns of E."""
    E: torch.Tensor
    """(S, O) emission probabilities."""
    T: torch.Tensor
    """(A, S, S) the smoothed, frozen transitions inference used."""
    curve: list[float]
    """Bits per step per emission-EM iteration."""
    seconds: float

    @property
    def bps(self) -> float:
        """Bits per step of the walk under the final binding."""
        return self.curve[-1]

    def slot_binding(self) -> dict[str, str]:
        """The new observation each slot is bound to (argmax of its emission row)."""
        best: dict[str, str] = {}
        E = self.E.cpu()
        for slot, label in enumerate(self.schema.slots):
            rows = np.nonzero(self.schema.slot_of_clone == slot)[0]
            if len(rows):
                best[label] = self.vocab[int(E[rows].sum(0).argmax())]
        return best


def dense_bank(T: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """(A + 2, S, S): ``T[a]`` for every action, the identity (padding), the prior (rows = Pi)."""
    S = T.shape[1]
    eye = torch.eye(S, dtype=T.dtype, device=T.device)
    return torch.cat([T, eye[None], pi.expand(S, S)[None]])


def dense_layout(a: torch.Tensor, n_actions: int, chunk_len: int) -> mp.Layout:
    """Step 0 uses the prior block; step t the block of ``a[t-1]``; padding the identity."""
    ids = torch.cat([torch.tensor([n_actions + 1], device=a.device), a[:-1]])
    return mp.make_layout(ids, chunk_len, pad_id=n_actions)


@torch.no_grad()
def _emission_pass(
    bank: torch.Tensor, layout: mp.Layout, emit_rows: torch.Tensor, edge: mp.Boundary
) -> tuple[torch.Tensor, float]:
    """Forward-backward with dense emissions; returns gamma (n, S) and bits per step."""
    emit = mp.to_grid(emit_rows, layout)
    after = torch.cat([emit[0, 1:], torch.ones_like(emit[0, :1])])
    alpha, scale = mp.forward(bank, layout, edge.incoming, emit)
    beta = mp.backward(bank, layout, edge.outgoing, emit, after)
    edge.update(alpha, beta)
    gamma = mp.from_grid(alpha * beta, layout)
    gamma = gamma / gamma.sum(1, keepdim=True).clamp_min(mp.TINY)
    bits = -torch.log2(scale.clamp_min(mp.TINY))[layout.real_mask()].mean()
    return gamma, float(bits)


@torch.no_grad()
def rebind(
    schema: Schema,
    observations: Sequence[str],
    actions: Sequence[int],
    *,
    tie_slots: bool = True,
    pseudocount: float = 1e-3,
    max_iter: int = 100,
    smoothing: float = 1e-3,
    chunk_len: int = 64,
    vocab: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
) -> Binding:
    """Emission EM with T frozen (spec §3, §7.1): E uniform at first, stop when bits stop falling.

    ``tie_slots``: gamma is summed over each slot's clones (CSCGjax ``keep_clone_structure``), so
    every clone of a slot gets the same emission row.
    """
    start = time.perf_counter()
    vocab = list(vocab) if vocab is not None else sorted(set(observations))
    col = {s: i for i, s in enumerate(vocab)}
    x = torch.as_tensor([col[s] for s in observations], dtype=torch.long, device=device)
    a = torch.as_tensor(list(actions), dtype=torch.long, device=device)
    T = schema.transitions(smoothing).to(device)
    S, A = T.shape[1], T.shape[0]
    bank = dense_bank(T, torch.full((S,), 1.0 / S, dtype=T.dtype, device=device))
    layout = dense_layout(a, A, chunk_len)
    onehot_x = torch.nn.functional.one_hot(x, len(vocab)).to(T.dtype)  # (n, O)
    slot = torch.as_tensor(schema.slot_of_clone, device=device)
    tie = torch.nn.functional.one_hot(slot, len(schema.slots)).to(T.dtype)  # (S, slots)
    E = torch.full((S, len(vocab)), 1.0 / len(vocab), dtype=T.dtype, device=device)
    edge = mp.Boundary.uniform(layout.chunks, S, torch.device(device), T.dtype)
    curve: list[float] = []
    with torch_threads(LOOP_THREADS if T.device.type == "cpu" else None):
        for _ in range(max_iter):
            gamma, bits = _emission_pass(bank, layout, E.t()[x], edge)
            curve.append(bits)
            if len(curve) > 2 and curve[-1] >= curve[-2] - 1e-6:
                break
            E = _update_emissions(gamma, onehot_x, tie, pseudocount, tie_slots)
    return Binding(schema=schema, vocab=vocab, E=E, T=T, curve=curve, seconds=time.perf_counter() - start)


def _update_emissions(
    gamma: torch.Tensor, onehot_x: torch.Tensor, tie: torch.Tensor, pseudocount: float, tie_slots: bool
) -> torch.Tensor:
    """M-step: ``E = normalise_rows(EC + pseudocount + 1e-20)`` with counts tied per slot or per clone."""
    if tie_slots:
        counts = tie @ ((gamma @ tie).t() @ onehot_x)  # slot counts, copied to every clone of the slot
    else:
        counts = gamma.t() @ onehot_x
    counts = counts + pseudocount + 1e-20
    return counts / counts.sum(1, keepdim=True)


@torch.no_grad()
def decode(
    binding: Binding, observations: Sequence[str], actions: Sequence[int]
) -> tuple[float, torch.Tensor]:
    """Exact MAP clone path (one chunk) of a walk under a binding; unseen symbols carry no evidence."""
    E, T = binding.E, binding.T
    col = {s: i for i, s in enumerate(binding.vocab)}
    rows = torch.stack([E[:, col[s]] if s in col else torch.ones_like(E[:, 0]) for s in observations])
    a = torch.as_tensor(list(actions), dtype=torch.long, device=E.device)
    S = T.shape[1]
    layout = dense_layout(a, T.shape[0], len(observations))
    bank = dense_bank(T, torch.full((S,), 1.0 / S, dtype=T.dtype, device=E.device))
    incoming = torch.full((1, S), 1.0 / S, dtype=T.dtype, device=E.device)
    with torch_threads(LOOP_THREADS if T.device.type == "cpu" else None):
        alpha, scale, psi = mp.forward_max(bank, layout, incoming, mp.to_grid(rows, layout))
        states = mp.backtrace(bank, layout, alpha, psi)
    return float(-torch.log2(scale.clamp_min(mp.TINY)).mean()), states


def match(
    schemas: Sequence[Schema], observations: Sequence[str], moves: Sequence[str], **kwargs: Any
) -> list[Binding]:
    """Rebind every schema whose actions cover ``moves`` (n - 1 action names between the n observations);
    best (lowest bits per step) first (spec §7.2)."""
    bindings = []
    for schema in schemas:
        index = {name: i for i, name in enumerate(schema.actions)}
        if all(name in index for name in moves):
            acts = [index[name] for name in moves] + [
                0
            ]  # the last action is never followed by an observation
            bindings.append(rebind(schema, observations, acts, **kwargs))
    return sorted(bindings, key=lambda b: b.bps)


def schema_path(name: str) -> Path:
    """Where schema ``name`` lives: ``<data dir>/schemas/<name>.json``."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ConfigError(f"invalid schema name {name!r}: use letters, digits, '-' and '_'")
    return cache_dir("schemas") / f"{name}.json"


def save_schema(schema: Schema) -> Path:
    """Write a schema as JSON in the data dir; returns the path."""
    path = schema_path(schema.name)
    path.write_text(json.dumps(schema.to_json()), encoding="utf-8")
    return path


SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "schemas"
"""Schemas that come with the lab (``room-6x8``, the agent's default: ``memlab train schemas`` with its
defaults, 28 KB, most of it the learning curves), so the agent works on first use; one learned into the
data dir takes precedence."""


def load_schema(name: str, device: torch.device | str = "cpu") -> Schema:
    """Read schema ``name`` from the data dir, else the shipped ones; a missing one raises a one-line error
    naming the command that makes it."""
    path = schema_path(name)
    if not path.exists() and (SHIPPED / path.name).exists():
        path = SHIPPED / path.name
    if not path.exists():
        raise ConfigError(
            f"no schema {name!r} in {path.parent}; learn one with: memlab train schemas --name {name}"
        )
    try:
        return Schema.from_json(json.loads(path.read_text(encoding="utf-8")), device)
    except (ValueError, KeyError) as err:
        raise ConfigError(f"schema file {path} is unreadable: {err}") from None
