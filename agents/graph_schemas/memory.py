"""The agent's memory: a latent graph bound to the room's observations, the belief, the plan.

:class:`WorldModel` is what both agents navigate with (a rebound schema, or a CSCG learned from
scratch); :class:`LatentGraphMemory` turns it into the lab's :class:`~lab.core.records.MemorySnapshot`:

- nodes: clones (kind ``clone``; attrs ``observation``, ``slot``, ``colour`` hex, ``cell`` [x, y]);
- edges: nonzero transitions of the planning graph (kind ``transition``, label = action,
  attrs ``probability``);
- records: the belief over clones (top-k rows), the planned path, the learning curve and binding;
- ``retrieved``: the current MAP clone and the planned path's clones.

``LatentGraphMemory.current_belief()`` (:class:`lab.core.protocols.BeliefMemory`) states the MAP clone,
the cell the model's clone-to-cell map gives it, and the plan; the lab scores them against the env's ground
truth (``probe/localisation/...``, ``probe/plan/...``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from minigrid.core.constants import COLORS

from lab.core.protocols import Belief
from lab.core.memory import refuse, unknown
from lab.core.records import MemEdge, MemNode, MemoryEdit, MemorySnapshot, MemRecord


@dataclass
class WorldModel:
    """A latent graph plus emissions, ready for localisation and planning (CPU tensors)."""

    actions: list[str]
    """Model action names (T's first axis)."""
    vocab: list[str]
    """Observation symbols: E's columns."""
    E: torch.Tensor
    """(S, O) emission probabilities."""
    T_infer: torch.Tensor
    """(A, S, S) smoothed transitions for localisation."""
    T_plan: torch.Tensor
    """(A, S, S) sparse refined transitions for planning."""
    slots: list[str]
    """Label of every clone's slot (the observation it emitted where the graph was learned)."""
    cells: list[list[int] | None]
    """Decoded true cell of every clone (schema room), or None."""
    curve: list[float]
    """Bits per step over the iterations that produced this model."""
    source: str
    """``schema <name>`` or ``scratch``."""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def bps(self) -> float:
        """Bits per step of the walk under this model (last learning iteration)."""
        return self.curve[-1] if self.curve else float("nan")

    def column(self, symbol: str) -> int | None:
        """E's column of ``symbol``, None for a symbol the model never saw."""
        try:
            return self.vocab.index(symbol)
        except ValueError:
            return None

    def observation_of(self, clone: int) -> str:
        """The symbol a clone is bound to (argmax of its emission row)."""
        return self.vocab[int(self.E[clone].argmax())]

    def targets(self, symbol: str) -> torch.Tensor:
        """(S,) clones bound to ``symbol`` with probability > 0.5 (spec §9 step 4)."""
        col = self.column(symbol)
        if col is None:
            return torch.zeros(self.E.shape[0], dtype=torch.bool)
        return self.E[:, col] > 0.5


def symbol_colour(symbol: str) -> str:
    """A colour for the UI: the MiniGrid colour of a colour name, else a stable hashed hue."""
    if symbol in COLORS:
        return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in COLORS[symbol]))
    digest = int(hashlib.sha256(symbol.encode()).hexdigest()[:6], 16)
    return "#{:02x}{:02x}{:02x}".format(
        64 + digest % 160, 64 + (digest >> 8) % 160, 64 + (digest >> 16) % 160
    )


class LatentGraphMemory:
    """The snapshot side of the agent's memory."""

    def __init__(self, top_k: int = 5) -> None:
        self.top_k = top_k
        self.model: WorldModel | None = None
        self.nodes: list[MemNode] = []
        self.edges: list[MemEdge] = []
        self.belief: list[tuple[int, float]] = []
        self.current: int | None = None
        self.plan_actions: list[str] = []
        self.plan_states: list[int] = []
        self.status = "no model yet"
        self.step = 0
        self.learned_at = 0

    def set_model(self, model: WorldModel, step: int) -> None:
        """A new model (after rebinding or learning): rebuild the graph."""
        self.model, self.learned_at = model, step
        self.nodes = [self._node(model, i, step) for i in range(model.E.shape[0])]
        self.edges = []
        nz = torch.nonzero(model.T_plan)
        for a, i, j in nz.tolist():
            name = model.actions[a]
            self.edges.append(
                MemEdge(
                    id=f"c{i}-{name}-c{j}",
                    source=f"c{i}",
                    target=f"c{j}",
                    kind="transition",
                    label=name,
                    attrs={"probability": round(float(model.T_plan[a, i, j]), 3)},
                    added_step=step,
                )
            )
        self.plan_actions, self.plan_states = [], []

    def _node(self, model: WorldModel, clone: int, step: int) -> MemNode:
        symbol = model.observation_of(clone)
        cell = model.cells[clone] if clone < len(model.cells) else None
        return MemNode(
            id=f"c{clone}",
            kind="clone",
            label=f"{clone}:{symbol}",
            added_step=step,
            attrs={
                "observation": symbol,
                "slot": model.slots[clone],
                "colour": symbol_colour(symbol),
                "cell": cell,
                "p": round(float(model.E[clone].max()), 3),
            },
        )

    EDITS = ("change a clone's emission binding (c<N> with attrs observation=<symbol>); remove a clone's "
             "binding (it then emits nothing, so localisation never lands on it); clones and transitions "
             "are learned, so none is added")

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`) of the emission matrix the agent
        localises with (shared, changed in place). A later rebinding or relearning rebuilds the model and
        drops the edit, as it drops everything the old binding held."""
        model = self.model
        if edit.op == "add" or edit.text or set(edit.attrs) - {"observation"} or (
                edit.op == "change" and "observation" not in edit.attrs):
            raise refuse("graph-schemas", edit, self.EDITS)
        clones = [node.id for node in self.nodes if node.removed_step is None]
        if model is None or edit.id not in clones:
            raise unknown("graph-schemas", edit, clones)
        clone = int(edit.id[1:])
        if edit.op == "remove":
            model.E[clone] = 0.0
            self.nodes[clone] = self.nodes[clone].model_copy(update={"removed_step": step})
            return [edit.id]
        col = model.column(str(edit.attrs["observation"]))
        if col is None:
            raise refuse("graph-schemas", edit, self.EDITS + f" (symbols: {', '.join(model.vocab)})")
        model.E[clone] = 0.0
        model.E[clone, col] = 1.0
        self.nodes[clone] = self._node(model, clone, self.nodes[clone].added_step or 0)
        return [edit.id]

    def current_belief(self) -> Belief:
        """The MAP clone now, its cell in the model's own map (a schema's: where the clone decoded to in
        the room it was learned in; none for a CSCG learned from scratch) and the plan; reads only.

        ``model`` names the model and the step it was (re)built at: a new binding can give the same clone
        ids another meaning."""
        model, current = self.model, self.current
        if model is None or current is None:
            return Belief()
        cell = model.cells[current] if current < len(model.cells) else None
        return Belief(
            state=current,
            model=f"{model.source}@{self.learned_at}",
            cell=tuple(cell) if cell is not None else None,
            plan=tuple(self.plan_actions) if self.plan_actions else None,
        )

    def snapshot(self) -> MemorySnapshot:
        """Clones, transitions, belief rows, plan and learning records."""
        records = [MemRecord(id="status", kind="status", text=self.status)]
        model = self.model
        if model is not None:
            records += self._belief_records(model)
            records.append(
                MemRecord(
                    id="plan",
                    kind="plan",
                    text=self._plan_text(),
                    attrs={"actions": self.plan_actions, "clones": self.plan_states},
                )
            )
            records.append(
                MemRecord(
                    id="learning",
                    kind="learning_curve",
                    added_step=self.learned_at,
                    text=f"{model.source}: {len(model.curve)} iterations, {model.bps:.4f} bits/step",
                    attrs={"bps": [round(v, 5) for v in model.curve], "source": model.source, **model.extra},
                )
            )
        retrieved = [f"c{self.current}"] if self.current is not None else []
        retrieved += [f"c{s}" for s in self.plan_states[1:]]
        return MemorySnapshot(
            nodes=list(self.nodes),
            edges=list(self.edges),
            records=records,
            retrieved=list(dict.fromkeys(retrieved)),
        )

    def _belief_records(self, model: WorldModel) -> list[MemRecord]:
        rows = []
        for rank, (clone, p) in enumerate(self.belief[: self.top_k]):
            cell = model.cells[clone] if clone < len(model.cells) else None
            rows.append(
                MemRecord(
                    id=f"belief-{rank}",
                    kind="belief",
                    text=f"clone {clone} ({model.observation_of(clone)}) p={p:.3f}",
                    attrs={"clone": clone, "p": round(p, 4), "cell": cell},
                )
            )
        return rows

    def _plan_text(self) -> str:
        if not self.plan_actions:
            return "no plan"
        return f"{', '.join(self.plan_actions)} -> clone {self.plan_states[-1]}"
