"""Planning on the refined latent graph, and online localisation for re-decoding on surprise.

Spec §4 (CSCGnc ``bridge``, ``forward_mp_all``, ``backtrace_all``), generalised to a set of target
clones: a max-product sweep from the current clone over ``T_max[i, j] = max_a T[a, i, j]`` until a
target is reached, then a backtrace choosing ``(a, i) = argmax m_k[i] T[a, i, s_{k+1}]``. On a sparse
T (Viterbi-refined, pseudocount 0, small entries dropped) this is a shortest-hop path, and among
those the most probable one. On a smoothed T every clone is one step away, so never plan there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Plan:
    """A path in the latent graph."""

    actions: list[int]
    """Action index of every step."""
    states: list[int]
    """Clones visited: the start, then one per action (``len(actions) + 1``)."""


@torch.no_grad()
def plan(T: torch.Tensor, start: int, targets: torch.Tensor, max_steps: int = 100) -> Plan | None:
    """Shortest path from clone ``start`` to any clone where ``targets`` (S,) is True; None if unreachable.

    ``T``: (A, S, S) sparse transitions. A start that is a target gives an empty plan.
    """
    S = T.shape[1]
    if bool(targets[start]):
        return Plan(actions=[], states=[start])
    t_max = T.amax(0)  # (S, S)
    msg = torch.zeros(S, dtype=T.dtype, device=T.device)
    msg[start] = 1.0
    sweep = [msg]
    reached = (msg > 0).clone()
    for _ in range(max_steps):
        msg = (msg[:, None] * t_max).amax(0)  # (S,)
        top = msg.max()
        if top <= 0:
            return None
        msg = msg / top
        sweep.append(msg)
        if bool((msg[targets] > 0).any()):
            return _backtrace(T, sweep, torch.where(targets, msg, torch.zeros_like(msg)))
        grown = reached | (msg > 0)
        if torch.equal(grown, reached):  # nothing new within reach: the targets never will be
            return None
        reached = grown
    return None


def _backtrace(T: torch.Tensor, sweep: list[torch.Tensor], final: torch.Tensor) -> Plan:
    """Walk the sweep back from the best target (CSCGnc ``backtrace_all``)."""
    state = int(final.argmax())
    states, actions = [state], []
    for k in range(len(sweep) - 2, -1, -1):
        scores = sweep[k][None, :] * T[:, :, state]  # (A, S)
        flat = int(scores.argmax())
        action, state = divmod(flat, T.shape[1])
        actions.append(action)
        states.append(state)
    return Plan(actions=actions[::-1], states=states[::-1])


class Localiser:
    """Online filtering over clones: the posterior (belief) and the max-product message (MAP state).

    The MAP clone now is the argmax of the max-product forward message, i.e. the last clone of the
    MAP decode of the whole history (spec §4), updated in O(S^2) per step.
    """

    def __init__(self, T: torch.Tensor, E: torch.Tensor) -> None:
        self.T, self.E = T, E  # (A, S, S), (S, O)
        S = T.shape[1]
        self.belief = torch.full((S,), 1.0 / S, dtype=T.dtype, device=T.device)
        self.best = self.belief.clone()

    def start(self, column: int | None) -> None:
        """The first observation (``None``: a symbol without an emission column, no evidence)."""
        S = self.T.shape[1]
        prior = torch.full((S,), 1.0 / S, dtype=self.T.dtype, device=self.T.device)
        self.belief, self.best = self._norm(prior, column), self._norm(prior, column, by_max=True)

    @torch.no_grad()
    def step(self, action: int, column: int | None) -> None:
        """Advance by one action and observation."""
        T = self.T[action]
        self.belief = self._norm(self.belief @ T, column)
        self.best = self._norm((self.best[:, None] * T).amax(0), column, by_max=True)

    def _norm(self, msg: torch.Tensor, column: int | None, by_max: bool = False) -> torch.Tensor:
        if column is not None:
            msg = msg * self.E[:, column]
        total = msg.max() if by_max else msg.sum()
        if total <= 0:  # impossible under the model: restart from the evidence alone
            msg = torch.ones_like(msg) if column is None else self.E[:, column].clone()
            total = msg.max() if by_max else msg.sum()
        return msg / total

    def current(self) -> int:
        """The MAP clone now."""
        return int(self.best.argmax())

    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` most probable clones and their posterior probability."""
        values, index = self.belief.topk(min(k, self.belief.shape[0]))
        return [(int(i), float(v)) for i, v in zip(index, values)]
