"""A plain per-step loop implementation of one CSCG EM iteration: the speed baseline and test oracle.

This is what a direct port of the numba reference (CSCGnc ``forward``, ``backward``, ``updateC``)
looks like in PyTorch: one small block product per time step, no batching, exact at every step.
``memlab bench schemas`` times it side by side with the batched version (spec §11), and the tests
check the batched messages against it.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.graph_schemas.model import CSCG, LOOP_THREADS, torch_threads


def _block(model: CSCG, x: np.ndarray, t: int) -> tuple[slice, slice]:
    """State slices of the clones of ``x[t-1]`` and ``x[t]``."""
    loc = model.state_loc
    i, j = int(x[t - 1]), int(x[t])
    return slice(int(loc[i]), int(loc[i + 1])), slice(int(loc[j]), int(loc[j + 1]))


@torch.no_grad()
def forward_loop(model: CSCG, x: np.ndarray, a: np.ndarray) -> tuple[list[torch.Tensor], np.ndarray]:
    """Forward messages (one tensor per step, on the clones of ``x_t``) and ``log2 p_t``."""
    loc = model.state_loc
    msg = model.pi[int(loc[x[0]]) : int(loc[x[0] + 1])].clone()
    log2 = np.zeros(len(x))
    p = msg.sum()
    msg = msg / p
    log2[0] = float(torch.log2(p))
    out = [msg]
    for t in range(1, len(x)):
        rows, cols = _block(model, x, t)
        msg = msg @ model.T[int(a[t - 1]), rows, cols]
        p = msg.sum()
        msg = msg / p
        log2[t] = float(torch.log2(p))
        out.append(msg)
    return out, log2


@torch.no_grad()
def backward_loop(model: CSCG, x: np.ndarray, a: np.ndarray) -> list[torch.Tensor]:
    """Backward messages, one per step."""
    loc = model.state_loc
    n = len(x)
    size = int(loc[x[-1] + 1] - loc[x[-1]])
    msg = torch.full((size,), 1.0 / size, dtype=model.dtype, device=model.device)
    out: list[torch.Tensor] = [msg] * n
    for t in range(n - 2, -1, -1):
        rows, cols = _block(model, x, t + 1)
        msg = model.T[int(a[t]), rows, cols] @ msg
        msg = msg / msg.sum()
        out[t] = msg
    return out


@torch.no_grad()
def em_step_loop(model: CSCG, x: np.ndarray, a: np.ndarray) -> float:
    """One EM iteration with per-step loops; updates ``model`` in place, returns bits per step.

    Runs with the same intra-op thread count as the batched version (:data:`LOOP_THREADS` on CPU).
    """
    with torch_threads(LOOP_THREADS if model.device.type == "cpu" else None):
        return _em_step_loop(model, x, a)


def _em_step_loop(model: CSCG, x: np.ndarray, a: np.ndarray) -> float:
    fwd, log2 = forward_loop(model, x, a)
    bwd = backward_loop(model, x, a)
    counts = torch.zeros_like(model.C)
    for t in range(1, len(x)):
        rows, cols = _block(model, x, t)
        xi = fwd[t - 1][:, None] * model.T[int(a[t - 1]), rows, cols] * bwd[t][None, :]
        counts[int(a[t - 1]), rows, cols] += xi / xi.sum()
    model.C = counts
    model.update_T()
    return float(-log2.mean())
