"""Memory fidelity, for every memory that holds facts: precision and recall against TextWorld's ground truth.

A memory takes part by declaring how its items map to facts (``FactMemory.fact_triplets``, in the agent's
folder: AriGraph's semantic graph gives its triplets). The run loop scores that after every ``act`` against
the facts of the observation acted on; the numbers go into the step's metrics, so charts and exports read
them like any other metric.

Facts are mapped to triplets by the lab's one fact mapping, :mod:`envs.tw_facts` (its module table: location,
state, spatial, exit, door, key and recipe families, names lower-cased), which also says which facts are
**observable** at a step. A memory's triplets are compared after the same normalisation
(:func:`envs.tw_facts.normalise`): articles dropped, ``in``/``inside``/``located in`` read as ``is in``,
``on``/``on top of`` as ``is on``, and ``c, contains, x`` as ``x, is in, c``.

The tracker sees the facts only, not the observation's text, so the recipe is never counted as observed (its
facts are in the true set, and ``recipe, requires, x`` triplets are reported as ``unscored``).

* **recall** = |memory ∩ observed| / |observed|, where observed = facts true now that were observable at some
  step so far (``key`` facts are never counted: they are learned from notes, not seen).
* **precision** = |memory ∩ true facts| / |memory triplets in the mapped relations| (others are reported as
  ``unscored``).
"""

from __future__ import annotations

from collections.abc import Iterable

from envs.tw_facts import FactTracker, Triplet, map_facts, normalise, scorable
from lab.core.protocols import FactMemory, Memory

PREFIX = "fidelity/"


class FidelityTracker(FactTracker):
    """Accumulates what the player has observed over a trial (:class:`envs.tw_facts.FactTracker`) and scores
    a memory's triplets against the facts."""

    def score(self, triplets: Iterable[Triplet | tuple[str, str, str]], facts: list[str]) -> dict[str, float]:
        """``fidelity/precision``, ``fidelity/recall`` (and per family), counts; empty sets give 1.0."""
        true = {f.triplet: f.family for f in map_facts(facts)}
        held = {normalise(t if isinstance(t, Triplet) else Triplet(*t)) for t in triplets}
        judged = {t for t in held if scorable(t)}
        target = {t: fam for t, fam in self.observed.items() if t in true and fam != "key"}
        out = {
            f"{PREFIX}precision": _ratio(len(judged & true.keys()), len(judged)),
            f"{PREFIX}recall": _ratio(sum(t in held for t in target), len(target)),
            f"{PREFIX}observed": float(len(target)),
            f"{PREFIX}scored": float(len(judged)),
            f"{PREFIX}unscored": float(len(held - judged)),
        }
        for family in sorted(set(target.values())):
            part = [t for t, fam in target.items() if fam == family]
            out[f"{PREFIX}recall_{family}"] = _ratio(sum(t in held for t in part), len(part))
        return out


def holds_facts(memory: Memory | None) -> bool:
    """Whether a memory declares its facts (and so gets fidelity metrics)."""
    return isinstance(memory, FactMemory)


class Fidelity:
    """The fidelity of one run's memory, trial by trial (the run loop's)."""

    def __init__(self) -> None:
        self.tracker = FidelityTracker()

    def start_trial(self) -> None:
        """What was observed is tracked from each trial's start."""
        self.tracker = FidelityTracker()

    def score(self, memory: Memory | None, facts: list[str] | None) -> dict[str, float]:
        """The metrics after an ``act`` on an observation with these facts (none: no facts, or a memory
        that holds none)."""
        if facts is None or not holds_facts(memory):
            return {}
        self.tracker.see(facts)
        return self.tracker.score(memory.fact_triplets(), facts)  # type: ignore[union-attr]


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0
