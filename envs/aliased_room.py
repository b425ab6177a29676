"""Aliased rooms: MiniGrid rooms where many places look alike (graph-schemas spec §8-§9).

Two registered families, both real MiniGrid envs (a ``MiniGridEnv`` subclass whose ``_gen_grid``
lays the room out, so MiniGrid renders them) behind the lab's string-action protocol:

``minigrid-aliased-room`` (allocentric, the CSCG-paper rooms)
    An interior of ``width x height`` ``Floor`` tiles painted with ``colours`` colours (balanced,
    shuffled by ``layout_seed``), plus one purple landmark tile. Actions: ``north``, ``east``,
    ``south``, ``west`` (turn that way, then step; bumping a wall = stay) and ``done``.
    Observation: the colour of the tile under the agent (``extra["symbol"]``).
``minigrid-aliased-room-ego`` (egocentric)
    An empty ``width x height`` interior whose four walls have distinct colours. Actions:
    ``left``, ``right``, ``forward``, ``done``; observation: the 3x3 egocentric view, as a symbol.

``recolour_seed`` permutes the colours (a non-identity bijection) while the layout stays: a new
room with the same schema. The goal is an observation: ``done`` while observing
``extra["goal_symbol"]`` (the landmark, or the view from a corner facing its wall) wins the
trial; ``done`` anywhere else does nothing. The true position is only in ``privileged``, with the
latent truth (``state``) and the fewest moves from it to the goal (``goal_distance``) that the lab scores a
memory's localisation and plans against (:mod:`lab.grid_probes`).
"""

from __future__ import annotations

import io
from collections import deque
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from minigrid.core.constants import COLORS, DIR_TO_VEC, IDX_TO_COLOR, IDX_TO_OBJECT
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Floor, Wall
from minigrid.minigrid_env import MiniGridEnv
from pydantic import Field, field_validator

from lab.core.env import EnvOptions, EnvSpec, Observation, replay_frames
from envs.text_render import render_text

FLOOR_COLOURS = ("red", "green", "blue", "yellow")
"""Palette of the aliased floor tiles (and of the egocentric walls)."""
LANDMARK_COLOUR = "purple"
MOVES = {"north": 3, "east": 0, "south": 1, "west": 2}
"""Allocentric action name -> MiniGrid direction (0 east, 1 south, 2 west, 3 north)."""
FINISH = "done"
ALLO_ACTIONS = [*MOVES, FINISH]
EGO_ACTIONS = ["left", "right", "forward", FINISH]
CORNERS = {"ne": ((1, 0), 3), "nw": ((0, 0), 3), "se": ((1, 1), 1), "sw": ((0, 1), 1)}
"""Corner -> ((x at the east side?, y at the south side?), facing direction)."""


class AliasedRoomOptions(EnvOptions):
    """Options of ``minigrid-aliased-room``."""

    width: int = Field(default=6, ge=2, le=16)
    """Interior columns (spec §9: 6 x 8)."""
    height: int = Field(default=8, ge=2, le=16)
    """Interior rows."""
    colours: int = Field(default=4, ge=2, le=4)
    """Floor colours (heavy aliasing with 4; spec §9)."""
    layout_seed: int = 0
    """Seeds which colour class each cell gets, and the landmark cell."""
    recolour_seed: int | None = None
    """Permutes the colour names (same layout); None keeps the base palette."""
    goal: tuple[int, int] | None = None
    """Landmark (goal) cell as interior (column, row) from 0; None draws it from ``layout_seed``."""
    max_steps: int = Field(default=1000, ge=1, le=1_000_000)
    """Steps before the trial is truncated."""

    @field_validator("goal")
    @classmethod
    def _inside(cls, value: tuple[int, int] | None, info: Any) -> tuple[int, int] | None:
        width, height = info.data.get("width", 6), info.data.get("height", 8)
        if value is not None and not (0 <= value[0] < width and 0 <= value[1] < height):
            raise ValueError(f"must be an interior cell: column 0..{width - 1}, row 0..{height - 1}")
        return value


class EgoRoomOptions(EnvOptions):
    """Options of ``minigrid-aliased-room-ego``."""

    width: int = Field(default=5, ge=2, le=12)
    """Interior columns (spec §8: 5 x 5 interior, view 3)."""
    height: int = Field(default=5, ge=2, le=12)
    recolour_seed: int | None = None
    """Permutes the four wall colours; None: north red, east green, south blue, west yellow."""
    goal: Literal["ne", "nw", "se", "sw"] = "ne"
    """The goal is the view from this corner cell, facing its north or south wall."""
    max_steps: int = Field(default=1000, ge=1, le=1_000_000)


def palette(colours: int, recolour_seed: int | None) -> list[str]:
    """The colour name of every colour class: a non-identity permutation when ``recolour_seed`` is set."""
    base = list(FLOOR_COLOURS[:colours])
    if recolour_seed is None:
        return base
    rng = np.random.default_rng(recolour_seed)
    while True:
        order = rng.permutation(colours)
        if colours < 2 or (order != np.arange(colours)).any():
            return [base[i] for i in order]


def floor_classes(width: int, height: int, colours: int, layout_seed: int) -> np.ndarray:
    """(height, width) balanced colour classes, shuffled by ``layout_seed``."""
    rng = np.random.default_rng(layout_seed)
    classes = np.tile(np.arange(colours), -(-width * height // colours))[: width * height]
    return rng.permutation(classes).reshape(height, width)


def view_symbol(image: np.ndarray) -> str:
    """A readable symbol of an egocentric view: rows far to near, ``/``-separated.

    ``?`` unseen, ``.`` floor, a colour initial (upper case) for a wall, ``o`` other objects;
    the agent's own cell is ``^``.
    """
    view = image.shape[0]
    rows = []
    for y in range(view):
        row = ""
        for x in range(view):
            kind = IDX_TO_OBJECT.get(int(image[x, y, 0]), "unseen")
            if (x, y) == (view // 2, view - 1):
                row += "^"
            elif kind == "unseen":
                row += "?"
            elif kind in ("empty", "floor"):
                row += "."
            elif kind == "wall":
                row += IDX_TO_COLOR[int(image[x, y, 1])][0].upper()
            else:
                row += "o"
        rows.append(row)
    return "/".join(rows)


def colour_hex(name: str) -> str:
    """The MiniGrid RGB of a colour name as ``#rrggbb`` (grey for anything else)."""
    rgb = COLORS.get(name, COLORS["grey"])
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


class RoomGrid(MiniGridEnv):
    """The MiniGrid world: coloured walls, optional coloured floor tiles, the agent."""

    def __init__(
        self,
        floors: np.ndarray | None,
        size: tuple[int, int],
        walls: list[str],
        view: int,
        avoid: tuple[int, int] | None,
        render_mode: str | None = None,
    ) -> None:
        self.floors, self.walls, self.avoid = floors, walls, avoid
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: "reach the goal, then done"),
            width=size[0] + 2,
            height=size[1] + 2,
            max_steps=10**9,
            see_through_walls=False,
            agent_view_size=view,
            render_mode=render_mode,
        )

    def _gen_grid(self, width: int, height: int) -> None:
        north, east, south, west = self.walls
        self.grid = Grid(width, height)
        for x in range(width):
            self.grid.set(x, 0, Wall(north))
            self.grid.set(x, height - 1, Wall(south))
        for y in range(1, height - 1):
            self.grid.set(0, y, Wall(west))
            self.grid.set(width - 1, y, Wall(east))
        if self.floors is not None:
            for (row, col), colour in np.ndenumerate(self.floors):
                self.grid.set(col + 1, row + 1, Floor(colour))
        cells = [(x, y) for y in range(1, height - 1) for x in range(1, width - 1) if (x, y) != self.avoid]
        self.agent_pos = cells[int(self.np_random.integers(len(cells)))]
        self.agent_dir = int(self.np_random.integers(4))
        self.mission = "reach the goal, then done"


class AliasedRoomEnv:
    """An aliased room behind the lab's :class:`lab.core.env.Env` protocol (both families).

    Description: a walled MiniGrid room; allocentric (coloured floor tiles, one landmark) or
    egocentric (empty floor, four coloured walls). Same options and seed, same room and start.

    Observation: ``extra["symbol"]`` (floor colour, or the 3x3 view as ``"???/RRR/.^G"``) and
    ``extra["goal_symbol"]``; egocentric rooms also give MiniGrid's ``image`` and ``direction``.
    ``privileged`` holds ``agent_pos``, ``agent_dir``, ``state`` (:attr:`true_state`) and
    ``goal_distance`` (:meth:`goal_distance`), never shown to agents.

    Actions: ``north east south west done`` (allocentric) or ``left right forward done``.

    Reward: 1 for ``done`` while observing the goal symbol, else 0.

    Termination: that ``done`` (won), or ``max_steps`` actions (lost).

    Registered IDs: ``minigrid-aliased-room``, ``minigrid-aliased-room-ego``.
    """

    kind = "grid"

    def __init__(
        self,
        env_id: str,
        options: AliasedRoomOptions | EgoRoomOptions | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.env_id = env_id
        self.ego = isinstance(options, EgoRoomOptions) or (options is None and env_id.endswith("-ego"))
        self.options = options or (EgoRoomOptions() if self.ego else AliasedRoomOptions())
        self.action_names = list(EGO_ACTIONS if self.ego else ALLO_ACTIONS)
        self.grid_env = self._build(render_mode)
        self.goal_symbol = self._goal_symbol()
        self.grid_env.reset(seed=0)  # the grid exists before the first trial (walks, tests)
        self.distances = self._goal_distances()
        self.steps, self.last = 0, None

    def _build(self, render_mode: str | None) -> RoomGrid:
        opts = self.options
        if isinstance(opts, EgoRoomOptions):
            self.palette = palette(4, opts.recolour_seed)
            return RoomGrid(None, (opts.width, opts.height), self.palette, 3, None, render_mode)
        self.palette = palette(opts.colours, opts.recolour_seed)
        classes = floor_classes(opts.width, opts.height, opts.colours, opts.layout_seed)
        floors = np.asarray(self.palette, dtype=object)[classes]
        goal = opts.goal or tuple(
            int(v) for v in np.random.default_rng([opts.layout_seed, 1]).integers((opts.width, opts.height))
        )
        floors[goal[1], goal[0]] = LANDMARK_COLOUR
        self.goal_cell = (goal[0] + 1, goal[1] + 1)
        return RoomGrid(floors, (opts.width, opts.height), ["grey"] * 4, 3, self.goal_cell, render_mode)

    def _goal_symbol(self) -> str:
        """The landmark colour, or the view from the goal corner (rendered once)."""
        if not self.ego:
            return LANDMARK_COLOUR
        self.grid_env.reset(seed=0)
        (east, south), facing = CORNERS[self.options.goal]
        self.goal_cell = (self.options.width if east else 1, self.options.height if south else 1)
        self.grid_env.agent_pos, self.grid_env.agent_dir = self.goal_cell, facing
        return view_symbol(self.grid_env.gen_obs()["image"])

    def _goal_distances(self) -> dict[tuple[int, ...], int]:
        """Fewest moves from every latent state to one observing the goal symbol (a breadth-first search
        backwards from the goal states over :meth:`successor`); unreachable states are left out."""
        headings = range(4) if self.ego else [None]
        states = [(x, y) if d is None else (x, y, d) for x, y in self.cells() for d in headings]
        goals = self._goal_states(states)
        before_of: dict[tuple[int, ...], list[tuple[int, ...]]] = {s: [] for s in states}
        for state in states:
            for index, name in enumerate(self.action_names):
                if name != FINISH:
                    before_of[self.successor(state, index)].append(state)
        distance = {goal: 0 for goal in goals}
        todo = deque(goals)
        while todo:
            state = todo.popleft()
            for prev in before_of[state]:
                if prev not in distance:
                    distance[prev] = distance[state] + 1
                    todo.append(prev)
        return distance

    def _goal_states(self, states: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        """The latent states whose observation is the goal symbol (the agent is put back afterwards)."""
        env = self.grid_env
        before, goals = (env.agent_pos, env.agent_dir), []
        for state in states:
            env.agent_pos = state[:2]
            if self.ego:
                env.agent_dir = state[2]
            if self.symbol() == self.goal_symbol:
                goals.append(state)
        env.agent_pos, env.agent_dir = before
        return goals

    def successor(self, state: tuple[int, ...], index: int) -> tuple[int, ...]:
        """The latent state that movement action ``index`` leads to from ``state`` (as :meth:`move` plays
        it, without touching the env)."""
        x, y = state[:2]
        name = self.action_names[index]
        if self.ego:
            heading = state[2]
            if name in ("left", "right"):
                return x, y, (heading + (1 if name == "right" else -1)) % 4
            dx, dy = DIR_TO_VEC[heading]
        else:
            dx, dy = DIR_TO_VEC[MOVES[name]]
        cell = self.grid_env.grid.get(x + dx, y + dy)
        if cell is None or cell.can_overlap():
            x, y = int(x + dx), int(y + dy)
        return (x, y, state[2]) if self.ego else (x, y)

    def goal_distance(self) -> int | None:
        """Fewest moves from the agent's state to one observing the goal (0 there; None: unreachable)."""
        return self.distances.get(self.true_state)

    # ---- the Env protocol --------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> Observation:
        """Start a trial: the same seed, the same start cell and heading."""
        self.grid_env.reset(seed=seed)
        self.steps = 0
        self.last = self._observe("", 0.0, 0.0, False, False)
        return self.last

    def step(self, action: str) -> Observation:
        """Play one action name; unknown names and finished trials leave the room unchanged."""
        if self.last is None:
            raise RuntimeError("AliasedRoomEnv.step called before reset()")
        if action not in self.action_names:
            return self._again(f"unknown action {action!r}; valid: {', '.join(self.action_names)}")
        if self.last.done:
            return self._again("the episode is over; reset to play again")
        self.steps += 1
        won = action == FINISH and self.symbol() == self.goal_symbol
        if action != FINISH:
            self.move(self.action_names.index(action))
        feedback = "" if action != FINISH or won else "nothing happens: this is not the goal"
        truncated = not won and self.steps >= self.options.max_steps
        self.last = self._observe(feedback, float(won), float(won), won, truncated)
        return self.last

    def render(self) -> np.ndarray:
        """The full-grid RGB frame (needs ``render_mode="rgb_array"``)."""
        return self.grid_env.render()

    def close(self) -> None:
        """Close the MiniGrid env."""
        self.grid_env.close()

    # ---- fast access for walks, benchmarks and tests ------------------------------------------

    def move(self, index: int) -> None:
        """Apply movement action ``index`` (no observation is built: walks call this 50k times)."""
        env = self.grid_env
        if self.ego:
            env.step(index)  # left 0, right 1, forward 2 are MiniGrid's own indices
            return
        env.agent_dir = MOVES[self.action_names[index]]
        x, y = (
            env.agent_pos[0] + DIR_TO_VEC[env.agent_dir][0],
            env.agent_pos[1] + DIR_TO_VEC[env.agent_dir][1],
        )
        cell = env.grid.get(x, y)
        if cell is None or cell.can_overlap():
            env.agent_pos = (int(x), int(y))

    def symbol(self) -> str:
        """What the agent observes now: the floor colour, or the egocentric view symbol."""
        env = self.grid_env
        if self.ego:
            return view_symbol(env.gen_obs()["image"])
        return env.grid.get(*env.agent_pos).color

    @property
    def position(self) -> tuple[int, int]:
        """The agent's (x, y) in MiniGrid coordinates (walls at 0)."""
        return int(self.grid_env.agent_pos[0]), int(self.grid_env.agent_pos[1])

    @property
    def state(self) -> tuple[int, int, int]:
        """(x, y, heading): the latent truth (heading matters in the egocentric room only)."""
        return (*self.position, int(self.grid_env.agent_dir) if self.ego else 0)

    @property
    def true_state(self) -> tuple[int, ...]:
        """The latent truth a memory localises against: (x, y), or (x, y, heading) in the egocentric room
        (the convention of a schema's clone cells, :mod:`agents.graph_schemas.schema`)."""
        return self.state if self.ego else self.position

    def cells(self) -> list[tuple[int, int]]:
        """All interior cells."""
        return [(x, y) for y in range(1, self.options.height + 1) for x in range(1, self.options.width + 1)]

    def _again(self, feedback: str) -> Observation:
        last = self.last
        assert last is not None
        return replace(last, feedback=feedback, reward=0.0, text=f"{feedback}. {last.text}")

    def _observe(self, feedback: str, reward: float, score: float, won: bool, truncated: bool) -> Observation:
        symbol = self.symbol()
        if self.ego:
            obs = self.grid_env.gen_obs()
            image, direction = obs["image"], int(obs["direction"])
            text = render_text(image, direction, self.objective)
        else:
            image, direction = None, None
            text = f"You stand on a {symbol} tile." + (
                " It is the landmark." if symbol == LANDMARK_COLOUR else ""
            )
        if feedback:
            text = f"{feedback}. {text}"
        return Observation(
            text=text,
            feedback=feedback,
            admissible=list(self.action_names),
            reward=reward,
            score=score,
            max_score=1.0,
            done=won or truncated,
            won=won,
            lost=truncated and not won,
            objective=self.objective,
            image=image,
            direction=direction,
            extra={"symbol": symbol, "goal_symbol": self.goal_symbol},
            privileged={
                "agent_pos": list(self.position),
                "agent_dir": int(self.grid_env.agent_dir),
                "state": list(self.true_state),
                "goal_distance": self.goal_distance(),
            },
        )

    @property
    def objective(self) -> str:
        """The mission text."""
        if self.ego:
            return f"go to the {self.options.goal} corner, face its wall, then say done"
        return "walk to the purple landmark tile, then say done"


def render_frames(env_id: str, options: dict[str, Any], seed: int, actions: list[str]) -> list[np.ndarray]:
    """Replay a trial: the RGB frame after reset and after each action."""
    spec = next(s for s in SPECS if s.id == env_id)
    env = AliasedRoomEnv(env_id, spec.options.model_validate(options), render_mode="rgb_array")
    env.reset(seed)
    return replay_frames(env, actions)


def frame_png(frame: np.ndarray) -> bytes:
    """Encode an RGB frame as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


SPECS: list[EnvSpec] = [
    EnvSpec(
        id="minigrid-aliased-room",
        description="MiniGrid room of 4-colour floor tiles plus a purple landmark; cardinal moves "
        "(graph schemas)",
        kind="grid",
        options=AliasedRoomOptions,
        factory=AliasedRoomEnv,
        frames=render_frames,
    ),
    EnvSpec(
        id="minigrid-aliased-room-ego",
        description="MiniGrid room with 4 coloured walls, egocentric 3x3 view; left/right/forward "
        "(graph schemas)",
        kind="grid",
        options=EgoRoomOptions,
        factory=AliasedRoomEnv,
        frames=render_frames,
    ),
]
