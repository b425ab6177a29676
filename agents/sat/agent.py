"""The SAT agent in ``minigrid-room-recall``: write each explored step into the slot memory, answer with
the trained reader, or (navigate task) predict the target's room and walk there.

The write strategy is fixed per variant (FIFO, or PM for SAT-PM-PH); SAT-AMA reads the announced task
(``extra["family"]``) at the first step and takes the bandit's greedy strategy for it, as the paper's
AMA conditions on the task description before memorising.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from agents.sat.config import VARIANT_SPECS, SatConfig
from agents.sat.features import FAMILY_INDEX, OFFSETS, query_args, room_frames
from agents.sat.memory import AMABandit, Slot, SlotMemory
from agents.sat.model import SpatialTransformer
from agents.sat.planner import GridMap, Navigator
from agents.sat.train import ASSETS, load
from lab.core.env import Observation
from envs.room_recall import OBJECT_CLASSES, answers, visible_classes
from lab.core.errors import ConfigError
from lab.core.policy.device import choose_device
from lab.core.protocols import Action, AgentContext, Answer, Task, Transition, TrialOutcome
from lab.core.settings import cache_dir


def weights_path(config: SatConfig) -> Path:
    """The checkpoint a config names: shipped asset, latest trained checkpoint, or a path."""
    if config.weights == "shipped":
        path = ASSETS / f"{config.variant}.pt"
    elif config.weights == "trained":
        found = sorted(cache_dir("sat").glob(f"{config.variant}-seed*.pt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise ConfigError(
                f"no trained {config.variant} checkpoint; run: memlab train sat --variant {config.variant}"
            )
        path = found[-1]
    else:
        path = Path(config.weights).expanduser()
    if not path.exists():
        raise ConfigError(
            f"SAT weights not found: {path} (train with: memlab train sat --variant {config.variant})"
        )
    return path


@lru_cache(maxsize=8)
def cached_model(path: str, mtime: float) -> tuple[SpatialTransformer, AMABandit | None]:
    """Load a checkpoint once per file version (the model is only read)."""
    model, bandit, _ = load(Path(path))
    return model, bandit


def describe(frame: np.ndarray, place: int, step: int) -> str:
    """A slot's one-line summary: room, time and the objects its frame shows."""
    seen = ", ".join(OBJECT_CLASSES[c] for c in sorted(set(visible_classes(frame).tolist()))) or "no object"
    return f"t={step} room {place}: {seen}"


class SatAgent:
    """Spatially-Aware Transformer with a capacity-L episodic memory (see the package README)."""

    id: ClassVar[str] = "sat"

    def __init__(self, config: SatConfig, ctx: AgentContext) -> None:
        self.config, self.ctx = config, ctx
        self.spec = VARIANT_SPECS[config.variant]
        path = weights_path(config)
        self.model, self.bandit = cached_model(str(path), path.stat().st_mtime)
        if self.model.cfg.place != self.spec.place or self.model.cfg.chunk != self.spec.chunk:
            raise ConfigError(f"{path} holds a different variant than {config.variant}")
        self.device = choose_device(config.device)
        self.mem = SlotMemory(config.capacity, "fifo", self.spec.layout, self.spec.chunk)
        self.map = GridMap()
        self.navigator: Navigator | None = None
        self.strategy: str | None = None

    @property
    def memory(self) -> SlotMemory:
        """The slot memory."""
        return self.mem

    def reset(self, task: Task) -> None:
        """A new episode: empty memory and map; the strategy is chosen at the first observation."""
        self.mem = SlotMemory(self.config.capacity, "fifo", self.spec.layout, self.spec.chunk)
        self.map, self.navigator, self.strategy = GridMap(), None, None

    def choose_strategy(self, family: str) -> str:
        """The variant's strategy; AMA: the bandit's greedy choice for the announced task."""
        if self.config.strategy != "auto":
            return self.config.strategy
        if self.bandit is None:
            return str(self.spec.strategy)
        task = FAMILY_INDEX.get("Q2" if family == "navigate" else family, 0)
        return self.bandit.greedy()[task]

    def act(self, observation: Observation) -> Action:
        """Explore: write; query: answer; navigate: move."""
        phase = observation.extra.get("phase")
        if phase == "explore":
            return self.explore(observation)
        if phase == "query":
            return self.answer(observation)
        if phase == "navigate":
            return self.navigate(observation)
        return Action(command=(observation.admissible or ["continue"])[0], thoughts={"note": "unknown phase"})

    def explore(self, obs: Observation) -> Action:
        """Project the view into its room frame and write it under the strategy."""
        if self.strategy is None:
            self.strategy = self.mem.strategy = self.choose_strategy(str(obs.extra.get("family")))
        x, place, t = obs.extra["agent_pos"], int(obs.extra["place"]), int(obs.extra["t"])
        with self.ctx.clock.phase("memory_write"):
            frame = room_frames(
                obs.image[None],
                np.array([obs.direction]),
                np.array([x]),
                np.array([place]),
                int(obs.extra["interior"]),
                self.model.cfg.frame,
            )[0]
            decision = self.mem.write(
                Slot(step=t, place=place, frame=frame, summary=describe(frame, place, t))
            )
            self.map.observe(obs.image, int(obs.direction), tuple(x), place)
        return Action(command="continue", thoughts={"strategy": self.strategy, "write": decision})

    @torch.no_grad()
    def read(self, family: str, args: np.ndarray, label: str) -> np.ndarray:
        """Ask the model; return the family's answer probabilities and keep the attention for the view."""
        kept, order = self.mem.kept(), self.mem.read_layout()
        if not kept:
            return np.full(len(answers(family)), 1.0 / len(answers(family)))
        idx = torch.as_tensor(order)[None]  # (1, N, c) indices into kept
        mask = idx >= 0
        pick = idx.clamp(min=0)
        frames = torch.as_tensor(np.stack([s.frame for s in kept]))[pick]  # (1, N, c, F, F, 3)
        places = torch.as_tensor([s.place for s in kept])[pick]
        times = torch.as_tensor([s.step for s in kept])[pick]
        fam = torch.tensor([[FAMILY_INDEX[family]]])
        model = self.model.to(self.device)
        logits, infos = model(
            *(
                v.to(self.device)
                for v in (frames, places, times, mask, fam, torch.as_tensor(args)[None, None])
            )
        )
        self.remember_attention(kept, order, infos, label)
        lo, hi = OFFSETS[FAMILY_INDEX[family]], OFFSETS[FAMILY_INDEX[family] + 1]
        return torch.softmax(logits[0, 0, lo:hi].cpu(), -1).numpy()

    def remember_attention(self, kept: list[Slot], order: np.ndarray, infos: list[dict], label: str) -> None:
        """Per-slot and per-chunk attention (mean over layers) into the memory's view data."""
        slot_w = torch.stack([i["slot"][0, 0] for i in infos]).mean(0).cpu().numpy()  # (N, c)
        chunk_w = torch.stack([i["chunk"][0, 0] for i in infos]).mean(0).cpu().numpy()  # (N,)
        selected = infos[-1]["selected"]
        chosen = set(selected[0, 0].tolist()) if selected is not None else set(range(len(order)))
        slots, chunk_of, chunks = {}, {}, []
        for n, row in enumerate(order):
            steps = [kept[i].step for i in row if i >= 0]
            for i, w in zip(row, slot_w[n]):
                if i >= 0:
                    slots[kept[i].step], chunk_of[kept[i].step] = float(w), n
            rooms = sorted({kept[i].place for i in row if i >= 0})
            chunks.append(
                {
                    "label": f"chunk {n}: rooms {rooms}, t={steps[0]}..{steps[-1]}"
                    if steps
                    else f"chunk {n}",
                    "index": n,
                    "slots": steps,
                    "attention": float(chunk_w[n]),
                    "selected": n in chosen,
                }
            )
        top = sorted(slots, key=slots.get, reverse=True)[:3]  # type: ignore[arg-type]
        self.mem.attention = {
            "slots": slots,
            "chunk_of": chunk_of,
            "query": label,
            "chunks": chunks if self.spec.layout != "flat" else [],
            "retrieved": [f"slot{s}" for s in top],
        }

    def answer(self, obs: Observation) -> Action:
        """Pick the most probable valid answer."""
        query = obs.extra["query"]
        family = str(query["family"])
        with self.ctx.clock.phase("memory_read"):
            probs = self.read(family, query_args(query, int(obs.extra["steps"])), obs.text)
        names = answers(family)
        best = np.argsort(-probs)[:3]
        index = int(obs.extra.get("query_index", len(self.mem.answers)))
        self.mem.answers.append(Answer(index=index, family=family, answer=names[int(best[0])]))
        return Action(
            command=names[int(best[0])],
            thoughts={
                "answer": names[int(best[0])],
                "confidence": round(float(probs[best[0]]), 3),
                "alternatives": {names[int(i)]: round(float(probs[i]), 3) for i in best[1:]},
                "retrieved": self.mem.attention.get("retrieved", []),
            },
        )

    def navigate(self, obs: Observation) -> Action:
        """First step: rank rooms with the Q2 head; then follow the navigator."""
        x, place, n = tuple(obs.extra["agent_pos"]), int(obs.extra["place"]), int(obs.extra["interior"])
        thoughts: dict[str, object] = {}
        if self.navigator is None:
            target = int(obs.extra["target"])
            with self.ctx.clock.phase("memory_read"):
                probs = self.read("Q2", query_args({"object": target}, int(obs.extra["steps"])), obs.text)
            ranking = [int(r) for r in np.argsort(-probs)]
            self.mem.answers.append(Answer(index=0, family="navigate", answer=answers("Q2")[ranking[0]]))
            self.navigator = Navigator(self.map, ranking, target, n)
            thoughts["predicted_rooms"] = {f"room {r}": round(float(probs[r]), 3) for r in ranking[:3]}
        command, why = self.navigator.next(obs.image, int(obs.direction), x, place)
        return Action(command=command, thoughts={**thoughts, **why})

    def observe(self, transition: Transition) -> None:
        """Writes happen in :meth:`act`."""

    def end_trial(self, outcome: TrialOutcome) -> None:
        """Nothing carries across episodes (each has a new world)."""
