"""What a perfect extractor reads: the ``oracle`` extractor's triplets, from TextWorld's ground truth.

The graph's fidelity (precision and recall against the facts) is the lab's generic metric
(:mod:`lab.fidelity`), fed by :meth:`agents.arigraph.memory.AriGraphMemory.fact_triplets`. Facts map to
triplets by :mod:`envs.tw_facts`, the mapping the probes use too.
"""

from __future__ import annotations

from envs.tw_facts import Triplet, observable


def oracle_triplets(facts: list[str], traversed: set[frozenset[str]] = frozenset()) -> list[Triplet]:
    """What a perfect extractor reads from the current view (the ``oracle`` extractor): an upper bound."""
    return [f.triplet for f in observable(facts, traversed) if f.family not in ("spatial", "key")]
