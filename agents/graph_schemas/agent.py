"""The MiniGrid navigator: explore, bind a latent graph, localise, plan to the goal, replan on surprise.

Two agents share the loop (spec §9-§10):

- ``graph-schemas``: rebinds stored schemas to the room's observations (emission EM, T frozen,
  slots tied), keeps the best-matching one, and plans on its refined graph;
- ``cscg-scratch``: the baseline, learning a CSCG (EM + Viterbi) from the same exploration walk.

The goal is an observation (the env's ``extra["goal_symbol"]``): the agent explores until it has
seen it, binds or learns, plans to the clones bound to it and plays the finish action there.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from agents.graph_schemas.config import GraphSchemaConfig, NavigatorConfig, ScratchConfig
from agents.graph_schemas.memory import LatentGraphMemory, WorldModel
from agents.graph_schemas.planning import Localiser, Plan, plan
from agents.graph_schemas.schema import Schema, learn_schema, load_schema, match
from lab.core.env import Observation
from lab.core.errors import ConfigError
from lab.core.policy.device import choose_device
from lab.core.protocols import Action, AgentContext, Task, TrialOutcome, Transition


def symbol_of(observation: Observation) -> str:
    """The observation as one symbol: ``extra["symbol"]``, else the egocentric image, else the text."""
    symbol = observation.extra.get("symbol")
    if symbol is not None:
        return str(symbol)
    if observation.image is not None:
        return "view:" + np.asarray(observation.image, dtype=np.uint8).tobytes().hex()
    return observation.text.strip()


class Navigator(ABC):
    """The shared decision loop; subclasses say how a :class:`WorldModel` is obtained."""

    id: ClassVar[str] = "navigator"

    def __init__(self, config: NavigatorConfig, ctx: AgentContext) -> None:
        self.config, self.ctx = config, ctx
        self.device = choose_device(config.device)
        self.graph = LatentGraphMemory(config.belief_top_k)
        self.moves: list[str] = []
        self._new_trial()

    @property
    def memory(self) -> LatentGraphMemory:
        """The latent-graph memory."""
        return self.graph

    def _new_trial(self) -> None:
        self.xs: list[str] = []
        self.acts: list[str] = []
        self.model: WorldModel | None = None
        self.localiser: Localiser | None = None
        self.route: Plan | None = None
        self.stale, self.surprises = False, 0
        self.notice = ""
        """Why the model is being rebuilt (an unseen observation), shown in the status."""
        self.explore_until = self.config.explore_steps
        self.last_move: str | None = None
        self.explore_reason = ""
        """Why exploration was extended past the initial budget (shown while it lasts)."""
        self.pending: str | None = None
        """The move played at the last step (None at the start and after the finish action)."""

    def reset(self, task: Task) -> None:
        """A new trial: the walk and the binding start over (the schema library stays)."""
        self.moves = [a for a in task.action_names if a != self.config.finish_action]
        self._check_actions(task)
        self._new_trial()
        self.graph.model, self.graph.nodes, self.graph.edges = None, [], []
        self.graph.status, self.graph.belief, self.graph.current = "exploring", [], None

    def _check_actions(self, task: Task) -> None:
        """Subclasses reject envs whose actions their models cannot use."""

    # ---- the loop ------------------------------------------------------------------------------

    def act(self, observation: Observation) -> Action:
        """Record the observation, then explore, (re)bind, or follow the plan."""
        symbol = symbol_of(observation)
        goal = observation.extra.get("goal_symbol") or self.config.goal_symbol
        self._record(symbol)
        self.graph.step = len(self.xs) - 1
        thoughts: dict[str, Any] = {}
        command = self._decide(symbol, goal, thoughts)
        if self.localiser is not None:  # the belief shown is the one the decision used
            self.graph.current = self.localiser.current()
            self.graph.belief = self.localiser.top(self.config.belief_top_k)
        if self.notice:
            self.graph.status = f"{self.notice}; {self.graph.status}"
            thoughts["notice"], self.notice = self.notice, ""
        thoughts.setdefault("status", self.graph.status)
        if self.model is not None:
            thoughts["bits_per_step"] = round(self.model.bps, 5)
        self.pending = command if command != self.config.finish_action else None
        if self.pending is not None:
            self.acts.append(command)
        return Action(command=command, thoughts=thoughts)

    def _record(self, symbol: str) -> None:
        """Append the observation; advance the localiser with the last move; check the prediction."""
        if self.xs and self.pending is None:  # after a finish action that did not end the trial
            self.xs[-1] = symbol
            return
        self.xs.append(symbol)
        if self.model is None or self.localiser is None or not self.acts:
            return
        col = self.model.column(symbol)
        with self.ctx.clock.phase("memory_write"):
            self.localiser.step(self.model.actions.index(self.acts[-1]), col)
        if col is None:
            self.stale = True
            self.notice = f"observation {symbol!r} was never seen by the {self.model.source} model: rebinding"
        if self.route is not None and len(self.route.states) > 1:
            predicted = self.route.states[1]
            if col is None or float(self.model.E[predicted, col]) < 0.5:
                self.surprises += 1
                self.route = None
            else:
                self.route = Plan(actions=self.route.actions[1:], states=self.route.states[1:])

    def _decide(self, symbol: str, goal: str | None, thoughts: dict[str, Any]) -> str:
        n = len(self.acts)
        if n < self.explore_until:
            return self._explore(self.explore_reason or f"exploring ({n}/{self.explore_until} steps)")
        if goal is None:
            return self._explore("no goal observation given: exploring", extend=True)
        if goal not in self.xs:
            return self._explore("goal not yet observed: exploring", extend=True)
        if symbol == goal:
            self.graph.status = "at the goal: done"
            self.graph.plan_actions, self.graph.plan_states = [], []  # the plan is done
            return self.config.finish_action
        if self.model is None or self.stale:
            self._learn(thoughts)
        if self.surprises > self.config.max_replans:
            self.surprises, self.stale = 0, True
            return self._explore("too many surprises: exploring, then rebinding", extend=True)
        return self._navigate(goal, thoughts)

    def _explore(self, status: str, extend: bool = False) -> str:
        """A random move (uniform, or persistent: repeat the last one with probability ``persistence``)."""
        if extend and len(self.acts) >= self.explore_until:
            self.explore_until = len(self.acts) + self.config.relearn_every
            self.explore_reason = status
        self.graph.status, self.route = status, None
        self.graph.plan_actions, self.graph.plan_states = [], []
        rng = self.ctx.rng
        repeat = self.config.explore_policy == "persistent" and self.last_move is not None
        if not (repeat and rng.random() < self.config.persistence):
            self.last_move = self.moves[int(rng.integers(len(self.moves)))]
        return self.last_move

    def _navigate(self, goal: str, thoughts: dict[str, Any]) -> str:
        model, localiser = self.model, self.localiser
        assert model is not None and localiser is not None
        with self.ctx.clock.phase("memory_read"):
            current = localiser.current()
            if self.route is None or self.route.states[0] != current or not self.route.actions:
                targets = model.targets(goal)
                if not bool(targets.any()):
                    self.stale = True
                    return self._explore(
                        "goal not bound to any clone: exploring, then rebinding", extend=True
                    )
                self.route = plan(model.T_plan, current, targets, self.config.max_plan_steps)
                if self.route is None or not self.route.actions:
                    self.stale = True
                    return self._explore("goal unreachable in the latent graph: exploring", extend=True)
        route = self.route
        self.graph.plan_actions = [model.actions[a] for a in route.actions]
        self.graph.plan_states = list(route.states)
        thoughts.update(
            plan=self.graph.plan_actions,
            path=[f"c{s}" for s in route.states],
            clone=f"c{current}",
            surprises=self.surprises,
        )
        replanned = f" (replanned after surprise {self.surprises})" if self.surprises else ""
        self.graph.status = f"navigating{replanned}"
        return model.actions[route.actions[0]]

    # ---- learning ------------------------------------------------------------------------------

    def _learn(self, thoughts: dict[str, Any]) -> None:
        """Build the model from the walk so far, then localise by filtering the whole walk."""
        with self.ctx.clock.phase("memory_write"):
            self.model = self.build_model()
            self.localiser = Localiser(self.model.T_infer, self.model.E)
            self.localiser.start(self.model.column(self.xs[0]))
            for action, symbol in zip(self.acts, self.xs[1:]):
                self.localiser.step(self.model.actions.index(action), self.model.column(symbol))
        self.stale, self.route, self.surprises = False, None, 0
        self.graph.set_model(self.model, len(self.xs) - 1)
        thoughts.update(
            learned=self.model.source,
            learning_curve=[round(v, 5) for v in self.model.curve],
            learn_seconds=round(self.model.seconds, 3),
            **self.model.extra,
        )

    @abstractmethod
    def build_model(self) -> WorldModel:
        """The world model for the walk so far (``self.xs``, ``self.acts``)."""

    def observe(self, transition: Transition) -> None:
        """Nothing: the next ``act`` records the new observation."""

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Nothing carries over but the schema library."""


class GraphSchemaAgent(Navigator):
    """Rebinds a library of schemas to the new room and navigates with the best match."""

    id: ClassVar[str] = "graph-schemas"

    def __init__(self, config: GraphSchemaConfig, ctx: AgentContext) -> None:
        super().__init__(config, ctx)
        self.config: GraphSchemaConfig = config
        self.library: list[Schema] = [load_schema(name) for name in config.schemas]

    def _check_actions(self, task: Task) -> None:
        """Keep the schemas whose actions the env offers; explore with those actions only."""
        usable = [s for s in self.library if set(s.actions) <= set(self.moves)]
        if not usable:
            learned = "; ".join(f"{s.name}: {', '.join(s.actions)}" for s in self.library)
            raise ConfigError(
                f"no schema fits {task.env_id} (actions {', '.join(self.moves)}); "
                f"the schemas were learned with {learned}"
            )
        self.usable = usable
        self.moves = [a for a in usable[0].actions]

    def build_model(self) -> WorldModel:
        """Match: rebind every usable schema on the walk, keep the lowest bits per step."""
        cfg = self.config
        bindings = match(
            self.usable,
            self.xs,
            self.acts,
            tie_slots=cfg.tie_slots,
            pseudocount=cfg.rebind_pseudocount,
            max_iter=cfg.rebind_max_iter,
            smoothing=cfg.transition_smoothing,
            chunk_len=cfg.chunk_len,
            device=self.device,
        )
        best = bindings[0]
        schema = best.schema
        extra = {
            "binding": best.slot_binding(),
            "matching": {b.schema.name: round(b.bps, 4) for b in bindings},
            "schema_curve": schema.curve,
        }
        return WorldModel(
            actions=list(schema.actions),
            vocab=best.vocab,
            E=best.E.cpu(),
            T_infer=best.T.cpu(),
            T_plan=schema.plan_transitions(cfg.plan_threshold).cpu(),
            slots=[schema.slots[s] for s in schema.slot_of_clone],
            cells=list(schema.cells),
            curve=best.curve,
            source=f"schema {schema.name}",
            seconds=best.seconds,
            extra=extra,
        )


class ScratchCSCGAgent(Navigator):
    """The baseline: learns a CSCG from scratch (EM, then Viterbi) on the walk in the new room."""

    id: ClassVar[str] = "cscg-scratch"

    def __init__(self, config: ScratchConfig, ctx: AgentContext) -> None:
        super().__init__(config, ctx)
        self.config: ScratchConfig = config

    def _check_actions(self, task: Task) -> None:
        if not self.moves:
            raise ConfigError(f"{task.env_id} offers no move besides {self.config.finish_action!r}")

    def build_model(self) -> WorldModel:
        """EM + Viterbi on the walk, every observed symbol getting ``clones_per_symbol`` clones."""
        cfg = self.config
        vocab = sorted(set(self.xs))
        x = np.asarray([vocab.index(s) for s in self.xs], dtype=np.int64)
        a = np.asarray([self.moves.index(m) for m in self.acts] + [0], dtype=np.int64)
        start = time.perf_counter()
        learned = learn_schema(
            "scratch",
            x,
            a,
            vocab,
            self.moves,
            [cfg.clones_per_symbol] * len(vocab),
            pseudocount=cfg.pseudocount,
            em_iters=cfg.em_iters,
            seed=cfg.seed,
            chunk_len=cfg.chunk_len,
            device=self.device,
        )
        E = torch.nn.functional.one_hot(torch.as_tensor(learned.slot_of_clone), len(vocab)).float()
        return WorldModel(
            actions=list(self.moves),
            vocab=vocab,
            E=E,
            T_infer=learned.transitions(cfg.transition_smoothing).cpu(),
            T_plan=learned.plan_transitions(cfg.plan_threshold).cpu(),
            slots=[vocab[s] for s in learned.slot_of_clone],
            cells=[None] * len(learned.slot_of_clone),
            curve=learned.curve["em"] + learned.curve["viterbi"],
            source="scratch",
            seconds=time.perf_counter() - start,
            extra={"clones_used": learned.n_states},
        )
