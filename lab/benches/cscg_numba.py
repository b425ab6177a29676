"""The CSCG reference algorithm in numba: the baseline users of naturecomm_cscg run, for ``memlab bench schemas``.

Needs the ``bench`` extra (``pip install .[bench]``: numba). Written here from the paper's equations
(George et al., Nat. Commun. 12:2392, 2021, Methods) and our reading of vicariousinc/naturecomm_cscg
``chmm_actions.py``, whose algorithm it follows step for step so that its speed and its fit are the
reference's:

- one sequential float64 pass over the walk; a step's message lives only on the clones of its
  observation, so step t multiplies a ``(C, C)`` block ``T[a_{t-1}, clones(x_{t-1}), clones(x_t)]``;
- forward messages normalised every step (the normalisers are the likelihood), backward messages
  normalised every step, expected counts ``xi_t`` normalised per step;
- Baum-Welch on T with a pseudocount, stopped at the first iteration whose likelihood does not increase;
- Viterbi refinement: max-product forward, backtrace, hard transition counts, pseudocount 0, stopped the
  same way.

Argmax ties go to the first index (the reference draws among ties at random). Compiled functions are not
cached on disk (``cache=False``), so nothing is written next to the sources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numba
import numpy as np


@numba.njit(cache=False)
def _offsets(loc: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Where step t's message starts in the flat message array (length n + 1)."""
    off = np.zeros(x.shape[0] + 1, dtype=np.int64)
    for t in range(x.shape[0]):
        off[t + 1] = off[t] + loc[x[t] + 1] - loc[x[t]]
    return off


@numba.njit(cache=False)
def _forward(T, pi, loc, x, a, off, use_max):  # noqa: ANN001, ANN202 - numba signature
    """Normalised forward messages (flat) and ``-log2`` of each step's normaliser; max-product if ``use_max``."""
    n = x.shape[0]
    msgs = np.empty(off[n])
    bits = np.empty(n)
    i0, i1 = loc[x[0]], loc[x[0] + 1]
    total = 0.0
    for i in range(i1 - i0):
        msgs[i] = pi[i0 + i]
        total = max(total, pi[i0 + i]) if use_max else total + pi[i0 + i]
    for i in range(i1 - i0):
        msgs[i] /= total
    bits[0] = -np.log2(total)
    for t in range(1, n):
        j0, j1 = loc[x[t]], loc[x[t] + 1]
        prev, here, act = off[t - 1], off[t], a[t - 1]
        total = 0.0
        for j in range(j1 - j0):
            acc = 0.0
            for i in range(i1 - i0):
                v = msgs[prev + i] * T[act, i0 + i, j0 + j]
                if use_max:
                    acc = max(acc, v)
                else:
                    acc += v
            msgs[here + j] = acc
            total = max(total, acc) if use_max else total + acc
        for j in range(j1 - j0):
            msgs[here + j] /= total
        bits[t] = -np.log2(total)
        i0, i1 = j0, j1
    return msgs, bits


@numba.njit(cache=False)
def _backward(T, loc, x, a, off):  # noqa: ANN001, ANN202
    """Normalised backward messages (flat)."""
    n = x.shape[0]
    msgs = np.empty(off[n])
    j0, j1 = loc[x[n - 1]], loc[x[n - 1] + 1]
    for j in range(j1 - j0):
        msgs[off[n - 1] + j] = 1.0 / (j1 - j0)
    for t in range(n - 2, -1, -1):
        i0, i1 = loc[x[t]], loc[x[t] + 1]
        nxt, here, act = off[t + 1], off[t], a[t]
        total = 0.0
        for i in range(i1 - i0):
            acc = 0.0
            for j in range(j1 - j0):
                acc += T[act, i0 + i, j0 + j] * msgs[nxt + j]
            msgs[here + i] = acc
            total += acc
        for i in range(i1 - i0):
            msgs[here + i] /= total
        j0, j1 = i0, i1
    return msgs


@numba.njit(cache=False)
def _expected_counts(T, loc, x, a, off, alpha, beta, C):  # noqa: ANN001, ANN202
    """``C[a, i, j] = sum_t xi_t(i, j)``, each step's ``xi_t`` normalised to sum 1."""
    C[:] = 0.0
    for t in range(1, x.shape[0]):
        i0, i1 = loc[x[t - 1]], loc[x[t - 1] + 1]
        j0, j1 = loc[x[t]], loc[x[t] + 1]
        prev, here, act = off[t - 1], off[t], a[t - 1]
        total = 0.0
        for i in range(i1 - i0):
            for j in range(j1 - j0):
                total += alpha[prev + i] * T[act, i0 + i, j0 + j] * beta[here + j]
        for i in range(i1 - i0):
            for j in range(j1 - j0):
                C[act, i0 + i, j0 + j] += alpha[prev + i] * T[act, i0 + i, j0 + j] * beta[here + j] / total


@numba.njit(cache=False)
def _backtrace(T, loc, x, a, off, msgs):  # noqa: ANN001, ANN202
    """The MAP clone sequence from max-product forward messages."""
    n = x.shape[0]
    states = np.empty(n, dtype=np.int64)
    j0, j1 = loc[x[n - 1]], loc[x[n - 1] + 1]
    best = 0
    for j in range(1, j1 - j0):
        if msgs[off[n - 1] + j] > msgs[off[n - 1] + best]:
            best = j
    states[n - 1] = j0 + best
    for t in range(n - 2, -1, -1):
        i0, i1 = loc[x[t]], loc[x[t] + 1]
        best, best_v = 0, -1.0
        for i in range(i1 - i0):
            v = msgs[off[t] + i] * T[a[t], i0 + i, states[t + 1]]
            if v > best_v:
                best, best_v = i, v
        states[t] = i0 + best
    return states


class NumbaCSCG:
    """Counts ``C`` and transitions ``T`` (A, S, S) in float64, learned as the reference learns them."""

    def __init__(self, n_clones: Sequence[int], counts: np.ndarray, pseudocount: float = 0.0) -> None:
        self.n_clones = np.asarray(n_clones, dtype=np.int64)
        self.loc = np.concatenate([[0], np.cumsum(self.n_clones)]).astype(np.int64)
        self.C = np.array(counts, dtype=np.float64)
        n_states = int(self.n_clones.sum())
        assert self.C.shape[1:] == (n_states, n_states), "counts must be (A, S, S)"
        self.pi = np.full(n_states, 1.0 / n_states)
        self.pseudocount = float(pseudocount)
        self.update_T()

    def update_T(self) -> None:
        """``T = (C + pc)`` normalised over the next clone; all-zero rows stay zero."""
        T = self.C + self.pseudocount
        norm = T.sum(2, keepdims=True)
        self.T = T / np.where(norm == 0, 1.0, norm)

    def _walk(self, x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, a = np.asarray(x, dtype=np.int64), np.asarray(a, dtype=np.int64)
        return x, a, _offsets(self.loc, x)

    def bps(self, x: np.ndarray, a: np.ndarray) -> float:
        """Sum-product bits per step of a walk."""
        x, a, off = self._walk(x, a)
        return float(_forward(self.T, self.pi, self.loc, x, a, off, False)[1].mean())

    def learn_em(
        self,
        x: np.ndarray,
        a: np.ndarray,
        n_iter: int = 100,
        term_early: bool = True,
        progress: Callable[[int, float], None] | None = None,
    ) -> list[float]:
        """Baum-Welch on T; the walk's bits per step before each M-step (``progress(it, bits)`` after each)."""
        x, a, off = self._walk(x, a)
        curve: list[float] = []
        for it in range(n_iter):
            alpha, bits = _forward(self.T, self.pi, self.loc, x, a, off, False)
            beta = _backward(self.T, self.loc, x, a, off)
            _expected_counts(self.T, self.loc, x, a, off, alpha, beta, self.C)
            self.update_T()
            curve.append(float(bits.mean()))
            if progress:
                progress(it, curve[-1])
            if term_early and len(curve) > 1 and curve[-1] >= curve[-2]:
                break
        return curve

    def learn_viterbi(self, x: np.ndarray, a: np.ndarray, n_iter: int = 100) -> list[float]:
        """Hard-count refinement; the walk's max-product bits per step before each update."""
        x, a, off = self._walk(x, a)
        curve: list[float] = []
        for _ in range(n_iter):
            msgs, bits = _forward(self.T, self.pi, self.loc, x, a, off, True)
            states = _backtrace(self.T, self.loc, x, a, off, msgs)
            self.C = np.zeros_like(self.C)
            np.add.at(self.C, (a[:-1], states[:-1], states[1:]), 1.0)
            self.update_T()
            curve.append(float(bits.mean()))
            if len(curve) > 1 and curve[-1] >= curve[-2]:
                break
        return curve
