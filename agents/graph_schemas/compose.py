"""Schema composition (spec §7.2): several schemas as one latent graph of an environment built of their rooms.

The paper composes schemas to model larger environments by placing their transition tensors
block-diagonally and learning the transitions between them and the bindings from data. Here:

- every clone of every schema is kept, with its slot, in one CSCG (clones grouped by observation as the
  model needs), plus free clones for the observations no schema has (a doorway);
- each schema's transitions enter as a Dirichlet prior, ``prior_weight`` pseudo-observations per clone
  and action (a schema learned on 50,000 steps would otherwise be forgotten after the first M-step,
  which keeps only the joint walk's expected counts);
- EM (the stall rule), then Viterbi refinement, on a walk of the joint environment, both with that prior:
  the data adds the transitions between the rooms and through the free clones, and the prior keeps what
  each schema knows of parts of its room the joint walk did not visit.

Observations are bound by name: a schema slot and an observation of the joint walk that have the same
label are the same observation (rebinding a recoloured composition is ``schema.rebind`` afterwards).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from agents.graph_schemas.model import CSCG
from agents.graph_schemas.schema import Schema, clone_cells
from lab.core.errors import ConfigError


def compose(
    name: str,
    schemas: Sequence[Schema],
    x: np.ndarray,
    a: np.ndarray,
    symbols: Sequence[str],
    *,
    new_clones: int = 2,
    extra_clones: int = 0,
    prior_weight: float = 5.0,
    pseudocount: float = 2e-3,
    em_iters: int = 1000,
    viterbi_iters: int = 100,
    chunk_len: int = 100,
    seed: int = 42,
    pos: np.ndarray | None = None,
) -> Schema:
    """One schema for the joint environment, learned on its walk ``x`` (indices into ``symbols``), ``a``.

    Free clones: ``new_clones`` for each observation no schema has (a doorway's), ``extra_clones`` for
    each one they have. The default gives the latter none: with free clones at hand, EM on a short
    joint walk tends to explain a room's cells next to a door by free clones instead of linking the
    schema's own clones, and the plan then cannot enter the room. The result keeps every clone that came
    from a schema, and the free clones the walk's decode used.
    """
    start = time.perf_counter()
    if not schemas:
        raise ConfigError("compose needs at least one schema")
    actions = schemas[0].actions
    if any(s.actions != actions for s in schemas):
        raise ConfigError("schemas to compose must share their actions: " + "; ".join(
            f"{s.name}: {', '.join(s.actions)}" for s in schemas))
    slots = list(dict.fromkeys([label for s in schemas for label in s.slots] + list(symbols)))
    index = {label: i for i, label in enumerate(slots)}
    members: list[list[tuple[int, int]]] = [[] for _ in slots]  # (schema, clone) of every slot
    for k, schema in enumerate(schemas):
        for clone, slot in enumerate(schema.slot_of_clone):
            members[index[schema.slots[int(slot)]]].append((k, clone))
    n_clones = [len(m) + (extra_clones if m else new_clones) for m in members]
    if min(n_clones) == 0:
        raise ConfigError("an observation no schema has needs clones: set new_clones >= 1")
    loc = np.concatenate([[0], np.cumsum(n_clones)])
    where = [np.zeros(s.n_states, dtype=np.int64) for s in schemas]  # a schema clone's composed index
    for o, block in enumerate(members):
        for j, (k, clone) in enumerate(block):
            where[k][clone] = loc[o] + j
    model = CSCG(n_clones, len(actions), pseudocount=pseudocount, seed=seed)
    prior = torch.zeros_like(model.C)
    for k, schema in enumerate(schemas):
        idx = torch.as_tensor(where[k])
        prior[:, idx[:, None], idx[None, :]] += prior_weight * schema.transitions(0.0).to(prior.dtype)
    model.prior = prior
    model.C = torch.zeros_like(model.C)  # the schemas are the starting point, not random counts
    model.update_T()
    xs = np.asarray([index[symbols[int(v)]] for v in x], dtype=np.int64)
    em = model.learn_em(xs, a, em_iters, chunk_len=chunk_len)
    model.pseudocount = 0.0
    viterbi = model.learn_viterbi(xs, a, viterbi_iters, chunk_len=chunk_len)
    _, states = model.decode(xs, a, chunk_len=chunk_len)
    from_schemas = np.concatenate(where)
    keep = torch.as_tensor(np.union1d(from_schemas, states.cpu().numpy()))
    counts = (model.C + prior)[:, keep][:, :, keep]
    remap = torch.full((model.n_states,), -1, dtype=torch.long)
    remap[keep] = torch.arange(len(keep))
    info = {
        "parts": [s.name for s in schemas],
        "steps": int(len(x)),
        "seconds": round(time.perf_counter() - start, 2),
        "new_clones": new_clones,
        "extra_clones": extra_clones,
        "prior_weight": prior_weight,
        "free_clones_used": int(len(keep) - len(from_schemas)),
        "em_iterations": len(em),
        "viterbi_iterations": len(viterbi),
        "bps_refined": round(model.bps(xs, a, chunk_len=chunk_len), 6),
    }
    return Schema(
        name=name,
        actions=list(actions),
        slots=slots,
        slot_of_clone=model.slot_of_state[keep].cpu().numpy(),
        counts=counts,
        cells=clone_cells(remap[states].cpu().numpy(), pos, len(keep)),
        curve={"em": [float(v) for v in em], "viterbi": [float(v) for v in viterbi]},
        info=info,
    )
