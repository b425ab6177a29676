"""The planner returns shortest paths on hand-built graphs; the localiser tracks a known walk."""

from __future__ import annotations

from collections import deque

import pytest
import torch

from agents.graph_schemas.planning import Localiser, plan

MOVES = [(0, -1), (1, 0), (0, 1), (-1, 0)]  # north, east, south, west on (x, y)


def grid_graph(width: int, height: int, blocked: set[tuple[int, int]] = frozenset()) -> torch.Tensor:
    """(4, S, S) deterministic moves on a grid; bumping a wall or a blocked cell stays put."""
    cells = [(x, y) for y in range(height) for x in range(width)]
    index = {c: i for i, c in enumerate(cells)}
    T = torch.zeros(4, len(cells), len(cells))
    for (x, y), i in index.items():
        for a, (dx, dy) in enumerate(MOVES):
            target = (x + dx, y + dy)
            T[a, i, index.get(target, i) if target not in blocked else i] = 1.0
    return T


def bfs(T: torch.Tensor, start: int) -> dict[int, int]:
    adjacency = (T > 0).any(0)
    dist, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        for nxt in torch.nonzero(adjacency[node])[:, 0].tolist():
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


def follow(T: torch.Tensor, start: int, actions: list[int]) -> int:
    state = start
    for a in actions:
        state = int(T[a, state].argmax())
    return state


@pytest.mark.parametrize("blocked", [set(), {(1, 0), (1, 1), (1, 2), (3, 1), (3, 2), (3, 3)}])
def test_plans_are_shortest_and_executable_between_all_pairs(blocked: set[tuple[int, int]]) -> None:
    T = grid_graph(5, 4, blocked)
    free = [i for i in range(20) if (i % 5, i // 5) not in blocked]
    for start in free:
        dist = bfs(T, start)
        for goal in free:
            targets = torch.zeros(20, dtype=torch.bool)
            targets[goal] = True
            route = plan(T, start, targets)
            assert route is not None and len(route.actions) == dist[goal]
            assert follow(T, start, route.actions) == goal and route.states[-1] == goal


def test_several_targets_take_the_nearest_and_unreachable_gives_none() -> None:
    T = grid_graph(6, 1)
    targets = torch.zeros(6, dtype=torch.bool)
    targets[[0, 5]] = True
    assert plan(T, 3, targets).actions == [1, 1]  # east twice to 5, not west three times to 0
    assert plan(T, 0, targets).actions == []
    cut = T.clone()
    cut[1, 2, 3] = 0.0  # one-way wall between cells 2 and 3 going east
    cut[1, 2, 2] = 1.0
    only_far = torch.zeros(6, dtype=torch.bool)
    only_far[5] = True
    assert plan(cut, 0, only_far) is None


def test_small_transitions_are_ignored_after_thresholding() -> None:
    T = grid_graph(6, 1)
    T[1, 0, 5] = 1e-4  # a spurious teleport, as a smoothed T would have
    T = T / T.sum(2, keepdim=True)
    target = torch.zeros(6, dtype=torch.bool)
    target[5] = True
    assert len(plan(T, 0, target).actions) == 1
    sparse = torch.where(T >= 1e-3, T, torch.zeros_like(T))
    assert len(plan(sparse, 0, target).actions) == 5


def test_localiser_finds_the_cell_of_an_aliased_line() -> None:
    T = grid_graph(5, 1)
    colours = [0, 1, 0, 0, 1]  # aliased: three cells show 0
    E = torch.nn.functional.one_hot(torch.tensor(colours), 2).float()
    loc = Localiser(T, E)
    loc.start(0)
    assert loc.current() in (0, 2, 3)
    for action, cell in [(1, 1), (1, 2), (1, 3)]:  # east x3 from cell 0: 1, 0, 0
        loc.step(action, colours[cell])
    assert loc.current() == 3 and loc.top(1)[0][0] == 3
