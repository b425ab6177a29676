"""AriGraph memory on hand-built graphs: update rule, semantic BFS, episodic search, navigation, snapshot."""

from __future__ import annotations

import math

import pytest
from tests.agents.arigraph.arigraph_helpers import WordEncoder

from agents.arigraph.extract import rules_outdated
from agents.arigraph.memory import AriGraphMemory
from agents.arigraph.navigation import ALREADY_THERE, UNREACHABLE, find_path, moves, unexplored_exits
from agents.arigraph.retrieval import HashEncoder, episodic_rank, episodic_relevance
from agents.arigraph.triplets import Triplet

WORDS = "key box table kitchen hall lamp is in on inventory closed open west east north south of exit has red"
WORDS = WORDS.split()


def T(text: str) -> Triplet:
    s, r, o = text.split(", ")
    return Triplet(s, r, o)


def graph(*texts: str, threshold: float = 0.4, width: int = 6) -> AriGraphMemory:
    memory = AriGraphMemory(WordEncoder(WORDS), threshold=threshold, width=width)
    memory.add([T(t) for t in texts], step=0)
    return memory


def texts(triplets) -> set[str]:
    return {t.text for t in triplets}


def test_semantic_search_depth_is_the_number_of_bfs_levels() -> None:
    memory = graph("key, is in, box", "box, is on, table", "table, is in, kitchen", "lamp, is in, hall")
    assert memory.semantic_search({"key": 1}) == ["key, is in, box"]
    assert set(memory.semantic_search({"key": 2})) == {"key, is in, box", "box, is on, table"}
    assert memory.semantic_search({"lamp": 1, "key": 1}) == ["lamp, is in, hall", "key, is in, box"]


def test_semantic_search_keeps_width_hits_above_the_threshold() -> None:
    memory = graph("key, is in, box", "key, is on, table", "key, is in, kitchen", width=2)
    assert len(memory.semantic_search({"key": 1})) == 2
    strict = graph("key, is in, box", threshold=0.6)  # cos(key, "key is in box") = 0.5
    assert strict.semantic_search({"key": 2}) == []


def test_each_text_is_embedded_once_and_search_embeds_only_new_queries() -> None:
    memory = graph("key, is in, box", "box, is on, table")
    encoder = memory.encoder
    before = len(encoder.calls)
    memory.add([T("key, is in, box")], step=1)  # already stored: nothing to embed
    memory.semantic_search({"key": 2})
    memory.semantic_search({"key": 2})
    asked = [t for call in encoder.calls[before:] for t in call]
    assert asked == []  # "key" and "box" are vertices, embedded when their triplets were added
    memory.semantic_search({"red": 1})
    assert [t for call in encoder.calls[before:] for t in call] == ["red"]


def test_update_replaces_outdated_triplets_and_keeps_the_rest() -> None:
    memory = graph("key, is in, box", "box, is, closed", "lamp, is in, hall")
    report = memory.update([T("key, is in, inventory"), T("box, is, open")], step=3, detector=rules_outdated)
    assert set(report.deleted) == {"key, is in, box", "box, is, closed"}
    assert texts(memory.triplets()) == {"lamp, is in, hall", "key, is in, inventory", "box, is, open"}
    removed = {e.triplet.text: e.removed_step for e in memory.edges if e.removed_step is not None}
    assert removed == {"key, is in, box": 3, "box, is, closed": 3}


def test_candidates_are_one_hop_and_exclude_protected_words() -> None:
    memory = graph(
        "hall, is west of, kitchen",
        "kitchen, has exit, north",
        "kitchen, is, dark",
        "stove, used for, frying",
        "lamp, is in, hall",
    )
    seen = []
    memory.update([T("kitchen, is, bright")], step=1, detector=lambda c, n: seen.extend(c) or [])
    assert texts(seen) == {"kitchen, is, dark"}


def test_edges_between_two_known_locations_are_never_deleted() -> None:
    memory = graph("kitchen, is near, hall", "lamp, is near, hall")
    memory.locations |= {"kitchen", "hall"}
    report = memory.update([T("hall, is, dark")], step=1, detector=lambda c, n: list(c))
    assert report.outdated == ["kitchen, is near, hall", "lamp, is near, hall"]
    assert report.deleted == ["lamp, is near, hall"]
    assert "kitchen, is near, hall" in texts(memory.triplets())


def test_moves_add_spatial_edges_but_go_to_does_not() -> None:
    memory = graph()
    report = memory.update([], step=1, detector=rules_outdated, move=("hall", "kitchen", "go east"))
    assert report.spatial == ["kitchen, is east of, hall", "hall, is west of, kitchen"]
    again = memory.update([], step=2, detector=rules_outdated, move=("kitchen", "hall", "go to hall"))
    assert again.spatial == [] and len(memory.triplets()) == 2


def test_free_relations_and_duplicates_are_not_stored() -> None:
    memory = graph()
    memory.update([T("hall, free, kitchen"), T("key, is in, box"), T("key, is in, box")], 0, rules_outdated)
    assert texts(memory.triplets()) == {"key, is in, box"} and len(memory.edges) == 1


def test_episodic_relevance_is_the_papers_formula() -> None:
    edges = [{"a", "b", "c", "d"}, {"a"}, {"a", "b"}, set()]
    assert episodic_relevance(edges, {"a", "b"}) == [0.5 * 2, 0.0, 1.0, 0.0]
    assert math.isclose(episodic_relevance([{"a", "b", "c"}], {"a"})[0], math.log2(3) / 3)


def test_episodic_search_ranks_by_hyperedge_overlap_and_skips_before_the_cut() -> None:
    memory = graph()
    memory.write_episode(0, "you see a key in a box", [T("key, is in, box"), T("box, is in, hall")])
    memory.write_episode(1, "a lamp", [T("lamp, is in, hall")])
    memory.write_episode(
        2, "key and table", [T("key, is on, table"), T("table, is in, hall"), T("key, is, red")]
    )
    top = memory.episodic_search({"key, is in, box", "box, is in, hall"}, k=2)
    assert [e.step for e in top] == [0]  # relevance 0 is never returned without the plan term
    assert (
        memory.episodic_search({"key, is on, table", "key, is in, box", "box, is in, hall"}, k=1)[0].step == 0
    )
    skipped = memory.episodic_search(
        {"key, is on, table", "key, is in, box", "box, is in, hall"}, k=1, skip=lambda e: e.step == 0
    )
    assert [e.step for e in skipped] == [2]


def test_plan_similarity_term_is_the_reference_codes_option() -> None:
    assert episodic_rank([0.0, 0.0], [0.2, 0.9], 1, lambda i: False) == [1]
    assert episodic_rank([1.0, 0.5], [0.1, 1.0], 2, lambda i: False) == [1, 0]  # 1.0+0.1 vs 0.5+1.0
    memory = AriGraphMemory(HashEncoder(), embed_episodes=True)
    memory.write_episode(0, "the red key lies on the table", [])
    memory.write_episode(1, "a dusty lamp", [])
    assert [e.step for e in memory.episodic_search(set(), 1, plan="take the red key")] == [0]


def test_shortest_path_and_the_papers_errors() -> None:
    places = {"hall", "kitchen", "pantry", "attic"}
    links = moves(
        [T("kitchen, is east of, hall"), T("pantry, is north of, kitchen"), T("hall, is west of, kitchen")],
        places,
    )
    assert find_path(links, "hall", "pantry", places) == ["go east", "go north"]
    assert find_path(links, "pantry", "hall", places) == ["go south", "go west"]
    assert find_path(links, "hall", "hall", places) == ALREADY_THERE
    assert find_path(links, "hall", "attic", places) == UNREACHABLE
    assert find_path(links, "hall", "garden", places).startswith("Destination is unknown")


def test_unexplored_exits_follow_the_exit_triplets() -> None:
    ts = [
        T("hall, has exit, north"),
        T("hall, has exit, east"),
        T("hall, leads west, garden"),
        T("kitchen, is east of, hall"),
        T("attic, has exit, south"),
    ]
    assert unexplored_exits("hall", ts) == ["north", "west"]
    assert unexplored_exits("pantry", ts) == []


def test_snapshot_kinds_removed_items_and_highlights() -> None:
    memory = graph("key, is in, box", "lamp, is in, inventory")
    memory.locations |= {"hall", "kitchen"}
    memory.update([T("key, is in, inventory")], 2, rules_outdated, move=("hall", "kitchen", "go east"))
    episode = memory.write_episode(2, "You take the key.", [T("key, is in, inventory")])
    memory.mark(["key, is in, inventory"], [episode], "memory text")
    snap = memory.snapshot()
    kinds = {n.id: n.kind for n in snap.nodes}
    assert kinds["v:kitchen"] == "room" and kinds["v:inventory"] == "inventory" and kinds["v:key"] == "object"
    assert kinds["e:2"] == "episodic"
    edges = {e.attrs.get("triplet", e.id): e for e in snap.edges}
    assert edges["key, is in, box"].removed_step == 2 and edges["kitchen, is east of, hall"].kind == "spatial"
    assert {e.target for e in snap.edges if e.kind == "episodic"} == {"v:key", "v:inventory"}
    assert edges["key, is in, inventory"].id in snap.retrieved and "e:2" in snap.retrieved
    assert snap.records[0].text == "You take the key." and snap.prompt_text == "memory text"


@pytest.mark.parametrize("n", [3, 100])
def test_vector_index_removal_and_compaction_keep_search_correct(n: int) -> None:
    memory = AriGraphMemory(HashEncoder(), threshold=0.2)
    memory.add([Triplet(f"item{i}", "is in", "box") for i in range(n)], 0)
    for i in range(n - 1):
        memory.remove(Triplet(f"item{i}", "is in", "box"), 1)
    assert memory.semantic_search({"box": 1}) == [f"item{n - 1}, is in, box"]
