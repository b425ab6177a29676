"""RoomRecall: place-centric episodic recall in MiniGrid (SAT reference §9).

Description:
    3x3 rooms joined by one-cell doorways, one object per room (18 classes: ball, key, box x 6
    colours). A scripted explorer walks the rooms for ``steps`` (T) steps; with probability ``skew``
    one "home" room absorbs most of them (skewed dwell). Then the env asks queries.
Observation:
    During exploration: MiniGrid's egocentric ``image`` (view 5, occlusion on), ``direction`` and
    ``extra`` = {phase, t, place (room 0..8, row-major), agent_pos, interior, family}. Queries come as
    text plus ``extra["query"]`` and ``extra["query_index"]``; ``admissible`` lists the valid answers.
    ``privileged`` (after the exploration only): ``facts``, ``answers`` (answer index per question) and
    ``queries`` (per question its ``family`` and ``answer`` token; navigate: the target's room), which the
    lab scores a memory's answers against (:mod:`lab.grid_probes`).
Actions:
    ``continue`` while exploring; an answer token per query (object names, ``room 0``..``room 8``,
    pattern names); MiniGrid ``left``/``right``/``forward`` in the ``navigate`` family.
Query families:
    Q1 room -> object; Q2 object -> room; Q3 object + compass direction -> object of the neighbouring
    room; Q4 (moving objects, 4x4 rooms, short stays) room -> movement pattern; QR "what did you see k
    steps ago" (the room's object or nothing; a recency query for AMA); navigate: "go to the <object>".
Reward / termination:
    1 per correct answer; done after the last query (won when all are right). Navigate: won when the
    object is in front of the agent within 2x the shortest path, lost past that budget.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lab.core.env import EnvOptions, EnvSpec, Observation, replay_frames
from envs.room_episodes import Episode, candidates, explore, generate, visible_classes
from envs.room_world import (
    FAMILIES,
    N_ROOMS,
    OBJECT_CLASSES,
    PATTERN_CELLS,
    QR_MAX,
    SIDE,
    VEC,
    RoomGrid,
    answers,
    bfs,
    make_layout,
)
from envs.text_render import render_text

__all__ = [  # the task's names, for the SAT agent and the tests (defined in room_world / room_episodes)
    "ENV_ID", "FAMILIES", "N_ROOMS", "OBJECT_CLASSES", "PATTERN_CELLS", "QR_MAX", "SIDE", "SPECS", "VEC",
    "Episode", "RoomGrid", "RoomRecallEnv", "RoomRecallOptions", "answers", "bfs", "candidates", "generate",
    "make_layout", "visible_classes",
]

ENV_ID = "minigrid-room-recall"

NAV_ACTIONS = ("left", "right", "forward")


class RoomRecallOptions(EnvOptions):
    """Options of ``minigrid-room-recall``."""

    family: Literal["mixed", "Q1", "Q2", "Q3", "Q4", "QR", "navigate"] = "mixed"
    """Query family; ``mixed`` draws one of Q1-Q4, QR per episode (the task is announced at reset)."""
    queries: int = Field(default=4, ge=1, le=32)
    """Questions asked after the exploration (navigate: one target)."""
    steps: int = Field(default=96, ge=QR_MAX + 1, le=1024)
    """Exploration length T (spec §9: 96)."""
    skew: float = Field(default=0.5, ge=0.0, le=1.0)
    """Probability of a skewed-dwell (home room) episode (spec §9: 0.5)."""


class RoomRecallEnv:
    """The RoomRecall task behind the lab's string-action env protocol (see the module docstring)."""

    kind = "grid"

    def __init__(
        self, env_id: str = ENV_ID, options: RoomRecallOptions | None = None, render_mode: str | None = None
    ) -> None:
        self.env_id, self.options, self.render_mode = env_id, options or RoomRecallOptions(), render_mode
        self.episode: Episode | None = None
        self.last: Observation | None = None

    def reset(self, seed: int | None = None) -> Observation:
        """A new world and exploration; the same seed gives the same episode and queries."""
        opts, rng = self.options, np.random.default_rng(seed)
        self.family = str(rng.choice(FAMILIES)) if opts.family == "mixed" else opts.family
        dynamic = self.family == "Q4"
        state, done = explore(rng, dynamic, opts.steps, opts.skew)
        pool = candidates(
            "Q2" if self.family == "navigate" else self.family,
            done.layout.objects,
            done.layout.patterns,
            done.seen,
            np.asarray(done.places),
            np.asarray(done.shown),
        )
        if self.family == "navigate":  # a target in another room than the one the exploration ends in
            pool = [q for q in pool if q.answer != done.places[-1]] or pool
        count = 1 if self.family == "navigate" else opts.queries
        self.queries = [pool[i] for i in rng.choice(len(pool), count, replace=count > len(pool))]
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        self.episode = Episode(replay, dynamic, opts.steps, opts.skew, render_mode=self.render_mode)
        self.phase, self.score, self.k, self.used, self.budget = "explore", 0.0, 0, 0, 0
        verb = (
            "go to an object you will be named"
            if self.family == "navigate"
            else f"answer {count} {self.family} questions"
        )
        self.objective = f"Watch the exploration of the 3x3 rooms, then {verb} (task {self.family})."
        return self.observe(f"Exploring, step 1/{opts.steps}.")

    def step(self, action: str) -> Observation:
        """``continue`` while exploring, then an answer token (or a MiniGrid move when navigating)."""
        if self.last is None or self.episode is None:
            raise RuntimeError("RoomRecallEnv.step called before reset()")
        if self.last.done:
            return self.unchanged("the episode is over; reset to play again")
        valid = self.last.admissible
        if action not in valid:
            return self.unchanged(f"unknown action {action!r}; valid: {', '.join(valid[:6])}...")
        if self.phase == "explore":
            if self.episode.t < self.options.steps - 1:
                self.episode.advance()
                return self.observe(f"Exploring, step {self.episode.t + 1}/{self.options.steps}.")
            self.phase = "navigate" if self.family == "navigate" else "query"
            self.budget = 2 * len(self.route()) if self.phase == "navigate" else 0
            return self.observe("The exploration is over.")
        if self.phase == "query":
            return self.answer(action)
        return self.navigate(action)

    def answer(self, action: str) -> Observation:
        """Grade one answer and ask the next question (or end)."""
        query, names = self.queries[self.k], answers(self.family)
        right = names.index(action) == query.answer
        self.score, self.k = self.score + right, self.k + 1
        done = self.k == len(self.queries)
        return self.observe(
            "Correct." if right else f"Wrong: it was {names[query.answer]}.",
            float(right),
            done,
            done and self.score == len(self.queries),
        )

    def target_cell(self) -> tuple[int, int]:
        """Grid cell of the navigation target."""
        assert self.episode is not None
        return self.episode.grid.object_at[int(self.queries[0].answer)]

    def route(self) -> list[int]:
        """Shortest left/right/forward sequence that puts the target in front of the agent."""
        g, goal = self.episode.grid, self.target_cell()  # type: ignore[union-attr]

        def nexts(s: tuple) -> list[tuple[int, tuple]]:
            x, y, d = s
            ahead = (x + VEC[d][0], y + VEC[d][1])
            out = [(0, (x, y, (d - 1) % 4)), (1, (x, y, (d + 1) % 4))]
            return out + [(2, (*ahead, d))] if g.free(*ahead) else out

        return bfs(
            (*g.agent_pos, g.agent_dir), lambda s: (s[0] + VEC[s[2]][0], s[1] + VEC[s[2]][1]) == goal, nexts
        )

    def navigate(self, action: str) -> Observation:
        """One MiniGrid move; won when the target is in front, lost past twice the shortest route."""
        g = self.episode.grid  # type: ignore[union-attr]
        g.step(NAV_ACTIONS.index(action))
        self.used += 1
        won = tuple(g.front_pos) == self.target_cell()
        done = won or self.used >= self.budget
        return self.observe("You reached it." if won else "", float(won), done, won)

    def observe(
        self, feedback: str, reward: float = 0.0, done: bool = False, won: bool = False
    ) -> Observation:
        """The observation of the current phase."""
        ep, opts = self.episode, self.options
        g, place = ep.grid, ep.explorer.place  # type: ignore[union-attr]
        if self.phase == "navigate":
            place = g.place_of(place)
        image = ep.images[-1] if self.phase == "explore" else g.gen_obs()["image"]  # type: ignore[union-attr]
        extra = {
            "phase": self.phase,
            "family": self.family,
            "t": ep.t,
            "steps": opts.steps,
            "place": place,  # type: ignore
            "agent_pos": [int(v) for v in g.agent_pos],
            "interior": g.layout.n,
        }
        view = render_text(image, g.agent_dir, "").removeprefix("Mission: . ")
        admissible, text = ["continue"], f"{feedback} In room {place}. {view}"
        if self.phase == "query" and not done:
            query = self.queries[self.k]
            extra["query"] = {"family": query.family, **query.args}
            extra["query_index"] = self.k
            admissible, text = list(answers(self.family)), f"{feedback} Question {self.k + 1}: {query.text()}"
        elif self.phase == "navigate":
            name = OBJECT_CLASSES[self.queries[0].args["object"]]
            extra.update(target=self.queries[0].args["object"], steps_left=self.budget - self.used)
            admissible, text = list(NAV_ACTIONS), f"Go to the {name}. {text}"
        privileged = (
            {}
            if self.phase == "explore"
            else {
                "facts": [f"room {r} holds the {OBJECT_CLASSES[o]}" for r, o in enumerate(g.layout.objects)],
                "answers": [q.answer for q in self.queries],
                "queries": self.truth(),
            }
        )
        self.last = Observation(
            text=text.strip(),
            feedback=feedback,
            admissible=admissible,
            reward=reward,
            score=self.score if self.phase != "navigate" else float(won),
            max_score=float(len(self.queries)),
            done=done,
            won=won,
            lost=done and not won,
            objective=self.objective,
            room=f"room {place}",
            image=image,
            direction=int(g.agent_dir),
            extra=extra,
            privileged=privileged,
        )
        return self.last

    def truth(self) -> list[dict[str, str]]:
        """Per question, its family and the true answer token (navigate: the target's room)."""
        names = answers("Q2" if self.family == "navigate" else self.family)
        return [{"family": self.family, "answer": names[q.answer]} for q in self.queries]

    def unchanged(self, feedback: str) -> Observation:
        """The last observation again, with ``feedback`` and no reward."""
        assert self.last is not None
        return replace(self.last, feedback=feedback, reward=0.0, text=f"{feedback} {self.last.text}")

    def render(self) -> np.ndarray:
        """The full-grid RGB frame (needs ``render_mode="rgb_array"``)."""
        return self.episode.grid.render()  # type: ignore[union-attr]

    def close(self) -> None:
        """Nothing to free."""


def render_frames(env_id: str, options: dict[str, Any], seed: int, actions: list[str]) -> list[np.ndarray]:
    """Replay a trial: the full-grid RGB frame after reset and after each action."""
    env = RoomRecallEnv(env_id, RoomRecallOptions.model_validate(options), render_mode="rgb_array")
    env.reset(seed=seed)
    return replay_frames(env, actions)


SPECS: list[EnvSpec] = [
    EnvSpec(
        id=ENV_ID,
        kind="grid",
        options=RoomRecallOptions,
        factory=RoomRecallEnv,  # type: ignore[arg-type]
        frames=render_frames,
        description="SAT RoomRecall: watch a scripted walk through 3x3 MiniGrid rooms, then answer queries",
    )
]
