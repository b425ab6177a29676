"""Ground-truth probes of grid memories: what a memory believes, scored against the env's privileged state.

A grid memory takes part by stating its belief (``BeliefMemory.current_belief``, in the agent's folder:
the decoded latent state and the plan of graph schemas, the answers SAT gave). The run loop reads it after
every ``act`` and scores it here against the privileged state of the observation acted on; the agent is
never handed any of it. Like the text probes (:mod:`lab.probing`), the metrics of a step join its
``metrics`` every ``probe_every`` steps and at trial ends (0: none), but the belief is read at every step,
so the lab's state-to-cell map (below) sees the whole trial.

What the envs put in ``privileged`` for this:

| key | what | env |
|---|---|---|
| ``state`` | the latent truth: (x, y), or (x, y, heading) in the egocentric room | aliased rooms |
| ``goal_distance`` | fewest moves from ``state`` to a state observing the goal (true map) | aliased rooms |
| ``queries`` | per question of the trial: its ``family`` and true ``answer`` token | RoomRecall |

Metrics (a memory gets those its belief and the env's ground truth allow):

* ``probe/localisation/accuracy``: 1 when the cell of the decoded latent state is the true state, else 0.
  A state's cell is the one of the standard CSCG measure: the place the state co-occurs with most. When the
  memory carries that map (``Belief.cell``; graph schemas: the cell each clone decoded to on the schema's
  learning walk, 50,000 steps in the room it was learned in), it is used: rebinding keeps the layout, so the
  map holds in the new room, and it is a prediction made without any of the new room's ground truth, good
  from the first step after binding (navigation after binding is often a dozen steps: too few to map a
  hundred clones online). Otherwise (a CSCG learned from scratch has no map) the lab's online map is used.
* ``probe/localisation/cooccurrence``: the lab's online map alone, for every model: each state maps to the
  true place it co-occurred with most at the earlier steps of the trial under the same model
  (``Belief.model``; a new binding starts a new map). It is prequential: a step is scored before it is
  counted, so the map is never judged on what it just saw (an in-sample map scores 1 on every state visited
  once), and a state's first visit is not scored.
* ``probe/plan/optimal``: 1 when the plan has as many moves as the true shortest path from the true state to
  the goal, else 0; ``probe/plan/excess``: planned minus shortest moves (negative: the plan counts on a
  shortcut the room does not have, i.e. the memory is localised wrong).
* ``probe/<family>/answer``: the fraction of the trial's questions of that query family answered so far that
  were answered right; ``probe/<family>/count``: how many (RoomRecall families ``Q1``..``Q4``, ``QR``,
  ``navigate``: the room SAT predicts for the target). Every answer counts at the next probed step, whatever
  the schedule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from lab.core.protocols import Answer, Belief, BeliefMemory, Memory

PREFIX = "probe/"
LOCALISATION = f"{PREFIX}localisation/"
PLAN = f"{PREFIX}plan/"
KEYS = ("state", "goal_distance", "queries")
"""The privileged keys this module reads (an env with none of them gets no grid probes)."""

Place = tuple[int, ...]


class CellMap:
    """The lab's online map of one model's latent states to true places: co-occurrence counts."""

    def __init__(self, model: str = "") -> None:
        self.model = model
        self.counts: dict[int, Counter[Place]] = defaultdict(Counter)

    def predict(self, state: int) -> Place | None:
        """The place ``state`` co-occurred with most so far (ties: the first seen); None: never seen."""
        seen = self.counts.get(state)
        return seen.most_common(1)[0][0] if seen else None

    def add(self, state: int, place: Place) -> None:
        """Count one step at ``place`` decoded as ``state``."""
        self.counts[state][place] += 1


class GridProber:
    """The grid probes of one run's memory, trial by trial (the run loop's)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.map = CellMap()

    @property
    def on(self) -> bool:
        """Whether the run probes at all (``probe_every`` > 0)."""
        return self.every > 0

    def start_trial(self) -> None:
        """Each trial is mapped from its start."""
        self.map = CellMap()

    def score(self, memory: Memory | None, truth: dict[str, Any]) -> dict[str, float]:
        """The metrics of the belief ``memory`` holds after an ``act``, against the privileged state
        ``truth`` of the observation acted on (none: probes off, no grid ground truth, or no belief)."""
        if not self.on or not any(key in truth for key in KEYS) or not isinstance(memory, BeliefMemory):
            return {}
        belief = memory.current_belief()
        return {
            **self.localisation(belief, truth.get("state")),
            **plan_metrics(belief, truth.get("goal_distance")),
            **answer_metrics(belief.answers, truth.get("queries")),
        }

    def localisation(self, belief: Belief, state: Sequence[int] | None) -> dict[str, float]:
        """Score the decoded state against the true one, then count it in the online map."""
        if belief.state is None or state is None:
            return {}
        true = tuple(int(v) for v in state)
        if belief.model != self.map.model:  # state ids of another model: map afresh
            self.map = CellMap(belief.model)
        guess = self.map.predict(belief.state)
        self.map.add(belief.state, true)
        out: dict[str, float] = {}
        cell = tuple(int(v) for v in belief.cell) if belief.cell is not None else guess
        if cell is not None:
            out[f"{LOCALISATION}accuracy"] = float(cell == true)
        if guess is not None:
            out[f"{LOCALISATION}cooccurrence"] = float(guess == true)
        return out


def plan_metrics(belief: Belief, distance: int | None) -> dict[str, float]:
    """Whether the plan is as long as the true shortest path to the goal (none without both)."""
    if belief.plan is None or distance is None:
        return {}
    excess = len(belief.plan) - int(distance)
    return {f"{PLAN}optimal": float(excess == 0), f"{PLAN}excess": float(excess)}


def answer_metrics(answers: Sequence[Answer], queries: list[dict[str, str]] | None) -> dict[str, float]:
    """Per query family, the fraction of the answers given that are right, and their count."""
    if not answers or not queries:
        return {}
    marks: dict[str, list[bool]] = defaultdict(list)
    for given in answers:
        if 0 <= given.index < len(queries):
            truth = queries[given.index]
            marks[truth["family"]].append(given.family == truth["family"] and given.answer == truth["answer"])
    out: dict[str, float] = {}
    for family, right in sorted(marks.items()):
        out[f"{PREFIX}{family}/count"] = float(len(right))
        out[f"{PREFIX}{family}/answer"] = sum(right) / len(right)
    return out
