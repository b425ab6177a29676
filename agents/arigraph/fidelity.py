"""Memory fidelity: precision and recall of the semantic graph against TextWorld's ground-truth facts.

Facts are mapped to triplets by the lab's one fact mapping, :mod:`envs.tw_facts` (its module table: location,
state, spatial, exit, door, key and recipe families, names lower-cased), which also says which facts are
**observable** at a step. Graph triplets are compared after the same normalisation
(:func:`envs.tw_facts.normalise`): articles dropped, ``in``/``inside``/``located in`` read as ``is in``,
``on``/``on top of`` as ``is on``, and ``c, contains, x`` as ``x, is in, c``.

Here the tracker sees the facts only, not the observation's text, so the recipe is never counted as
observed (its facts are in the true set, and ``recipe, requires, x`` triplets are reported as ``unscored``).

* **recall** = |graph ∩ observed| / |observed|, where observed = facts true now that were observable at
  some step so far (``key`` facts are never counted: they are learned from notes, not seen).
* **precision** = |graph ∩ true facts| / |graph triplets in the mapped relations| (others are
  reported as ``unscored``).
"""

from __future__ import annotations

from collections.abc import Iterable

from envs.tw_facts import (
    STATES,
    Fact,
    FactTracker,
    Triplet,
    fact_triplets,
    map_facts,
    name,
    normalise,
    observable,
    parse_fact,
    player_room,
    scorable,
)

__all__ = ["STATES", "Fact", "FidelityTracker", "Triplet", "fact_triplets", "map_facts", "name", "normalise",
           "observable", "oracle_triplets", "parse_fact", "player_room", "scorable"]


class FidelityTracker(FactTracker):
    """Accumulates what the agent has observed over a trial (:class:`envs.tw_facts.FactTracker`) and scores a
    graph against the facts."""

    def score(self, graph: Iterable[Triplet], facts: list[str]) -> dict[str, float]:
        """``fidelity/precision``, ``fidelity/recall`` (and per family), counts; empty sets give 1.0."""
        true = {f.triplet: f.family for f in map_facts(facts)}
        triplets = {normalise(t) for t in graph}
        judged = {t for t in triplets if scorable(t)}
        target = {t: fam for t, fam in self.observed.items() if t in true and fam != "key"}
        out = {
            "fidelity/precision": _ratio(len(judged & true.keys()), len(judged)),
            "fidelity/recall": _ratio(sum(t in triplets for t in target), len(target)),
            "fidelity/observed": float(len(target)),
            "fidelity/scored": float(len(judged)),
            "fidelity/unscored": float(len(triplets - judged)),
        }
        for family in sorted(set(target.values())):
            part = [t for t, fam in target.items() if fam == family]
            out[f"fidelity/recall_{family}"] = _ratio(sum(t in triplets for t in part), len(part))
        return out


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def oracle_triplets(facts: list[str], traversed: set[frozenset[str]] = frozenset()) -> list[Triplet]:
    """What a perfect extractor reads from the current view (the ``oracle`` extractor): an upper bound."""
    return [f.triplet for f in observable(facts, traversed) if f.family not in ("spatial", "key")]
