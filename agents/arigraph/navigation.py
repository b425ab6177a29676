"""The spatial side of AriGraph without an LLM: spatial edges, exploration, ``go to`` paths.

Spatial triplets read ``A, is <dir> of, B`` ("A lies <dir> of B"): from B one goes <dir> to reach A,
from A the opposite way [A:utils/utils.py ``find_direction``, ``find_relation``].
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from agents.arigraph.triplets import COMPASS, OPPOSITE, Triplet, compass_in

ALREADY_THERE = "You are already there."
UNKNOWN = (
    "Destination is unknown. Choose another destination, or explore new paths and locations. "
    "Available locations: {locations}. Your choice: from {start} to {target}."
)
UNREACHABLE = (
    "Destination isn't reachable according to what you know. Choose another destination, or "
    "explore new paths and locations."
)
"""The error observations of the ``go to`` macro, as the reference returns them [A:graphs/parent_graph.py]."""
EXIT_WORDS = ("exit", "lead", "entr", "path")


def spatial_edges(previous: str | None, current: str, action: str) -> list[Triplet]:
    """The two edges added after a move that changed the location (none after ``go to``).

    >>> [t.text for t in spatial_edges("hall", "kitchen", "go east")]
    ['kitchen, is east of, hall', 'hall, is west of, kitchen']
    >>> [t.text for t in spatial_edges("hall", "attic", "climb ladder")]
    ['attic, can be achieved from, hall', 'hall, can be achieved from, attic']
    """
    if previous is None or previous == current or action.startswith("go to "):
        return []
    direction = compass_in(action)
    if direction is None:
        return [
            Triplet(current, "can be achieved from", previous),
            Triplet(previous, "can be achieved from", current),
        ]
    return [
        Triplet(current, f"is {direction} of", previous),
        Triplet(previous, f"is {OPPOSITE[direction]} of", current),
    ]


def moves(triplets: Iterable[Triplet], locations: set[str]) -> dict[str, dict[str, str]]:
    """``{room: {neighbour: direction}}`` from spatial triplets between two visited locations.

    An edge written one way also gives the way back; an explicitly written way wins over a derived one.
    """
    derived: dict[str, dict[str, str]] = {}
    explicit: dict[str, dict[str, str]] = {}
    for t in triplets:
        direction = compass_in(t.relation)
        if (
            direction is None
            or t.subject not in locations
            or t.object not in locations
            or t.subject == t.object
        ):
            continue
        explicit.setdefault(t.subject, {})[t.object] = OPPOSITE[direction]
        derived.setdefault(t.object, {})[t.subject] = direction
    for room, links in explicit.items():
        derived.setdefault(room, {}).update(links)
    return derived


def find_path(
    links: dict[str, dict[str, str]], start: str, target: str, locations: set[str]
) -> list[str] | str:
    """The ``go <dir>`` commands of a shortest path (BFS), or the reference's error observation.

    >>> links = moves([Triplet("kitchen", "is east of", "hall")], {"kitchen", "hall"})
    >>> find_path(links, "hall", "kitchen", {"kitchen", "hall"})
    ['go east']
    >>> find_path(links, "hall", "hall", {"hall"})
    'You are already there.'
    """
    if start == target:
        return ALREADY_THERE
    if start not in locations or target not in locations:
        return UNKNOWN.format(locations=sorted(locations), start=start, target=target)
    parents: dict[str, tuple[str, str]] = {}
    queue, seen = deque([start]), {start}
    while queue:
        room = queue.popleft()
        for neighbour, direction in sorted(links.get(room, {}).items()):
            if neighbour not in seen:
                seen.add(neighbour)
                parents[neighbour] = (room, direction)
                queue.append(neighbour)
    if target not in parents:
        return UNREACHABLE
    path, room = [], target
    while room != start:
        room, direction = parents[room]
        path.append(f"go {direction}")
    return path[::-1]


def exits_of(location: str, triplets: Iterable[Triplet]) -> set[str]:
    """Exit directions of a location named by its triplets [AP App. B, Alg. 3; A:utils/utils.py].

    ``(L, has exit, dir)``, or a relation naming an exit, a lead, an entrance or a path with a compass
    word in the relation or the object.
    """
    found = set()
    for t in triplets:
        if t.subject != location:
            continue
        if "has exit" in t.relation or any(w in t.relation for w in EXIT_WORDS):
            direction = compass_in(t.relation) or compass_in(t.object)
            if direction:
                found.add(direction)
    return found


def unexplored_exits(location: str, triplets: list[Triplet]) -> list[str]:
    """Exits of ``location`` with no ``X, is <dir> of, location`` edge yet (sorted).

    >>> ts = [Triplet("hall", "has exit", "north"), Triplet("hall", "has exit", "east"),
    ...       Triplet("kitchen", "is east of", "hall")]
    >>> unexplored_exits("hall", ts)
    ['north']
    """
    exits = exits_of(location, triplets)
    explored = {compass_in(t.relation) for t in triplets if t.object == location and compass_in(t.relation)}
    return sorted(exits - explored, key=COMPASS.index)
