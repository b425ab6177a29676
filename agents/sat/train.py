"""Train one SAT variant on RoomRecall: ``memlab train sat --variant SAT-PM-PH --steps 3000``.

Examples::

    memlab train sat --variant SAT-FIFO --steps 3000 --seed 1
    memlab train sat --variant SAT-AMA --steps 3000 --ship   # also write assets/sat/SAT-AMA.pt + .json

Checkpoints ``{schema_version, config, state_dict, ...}`` go to ``<data dir>/sat/`` every few hundred
steps; rerunning the same command resumes from the last one. They load with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from tqdm import tqdm

from agents.sat.config import VARIANT_SPECS, VARIANTS, ModelConfig, TrainConfig
from agents.sat.data import DATA_VERSION, Batch, Episodes, dataset
from agents.sat.features import FAMILY_INDEX, N_CLASSES
from agents.sat.memory import AMABandit, epsilon
from agents.sat.model import SpatialTransformer
from envs.registry import validation_message
from envs.room_recall import FAMILIES
from lab.core.errors import ConfigError
from lab.core.settings import cache_dir

SCHEMA_VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent.parent / "assets" / "sat"
EVAL_SKEW = 1.0
"""Evaluation episodes all have skewed dwell (the bench's setting)."""


def model_config(tc: TrainConfig) -> ModelConfig:
    """The network of a run's variant (spec §9 sizes)."""
    spec = VARIANT_SPECS[tc.variant]
    return ModelConfig(
        place=spec.place,
        chunk=spec.chunk,
        top_k=spec.top_k,
        object_bag=tc.object_bag,
        identity_init=tc.identity_init,
    )


def build(tc: TrainConfig) -> tuple[SpatialTransformer, AMABandit | None]:
    """A fresh model (and AMA bandit for SAT-AMA); weights draw from torch's global generator."""
    ama = VARIANT_SPECS[tc.variant].strategy == "ama"
    model = SpatialTransformer(model_config(tc), ama_arms=len(tc.ama_strategies) if ama else 0)
    bandit = AMABandit(model.qnet, tc.ama_strategies, len(FAMILIES)) if model.qnet is not None else None
    return model, bandit


def load_data(tc: TrainConfig, progress: bool = True) -> tuple[Episodes, Episodes]:
    """Train and held-out (skewed) episodes; generated once, then read from the cache."""
    train = Episodes(
        dataset(tc.train_static, tc.data_seed, False, skew=tc.skew, progress=progress),
        dataset(tc.train_dynamic, tc.data_seed + 1, True, skew=tc.skew, progress=progress),
    )
    held = Episodes(
        dataset(tc.eval_episodes, tc.data_seed + 1000, False, skew=EVAL_SKEW, progress=progress),
        dataset(tc.eval_episodes, tc.data_seed + 1001, True, skew=EVAL_SKEW, progress=progress),
    )
    return train, held


def strategies(
    tc: TrainConfig, bandit: AMABandit | None, families: list[str], eps: float, rng: np.random.Generator
) -> list[str]:
    """Each episode's write strategy: the variant's, or the bandit's (epsilon-greedy)."""
    if bandit is None:
        return [str(VARIANT_SPECS[tc.variant].strategy)] * len(families)
    tasks = torch.tensor([FAMILY_INDEX[f] for f in families])
    return [bandit.strategies[i] for i in bandit.choose(tasks, eps, rng)]


def plans(tc: TrainConfig, items: list[tuple[str, int]]) -> list[list[str]]:
    """Training queries per episode: every static family ``tc.queries`` times (Q4 episodes: Q4 as often)."""
    static = [f for f in tc.families if f != "Q4"] or ["Q4"]
    mix = [f for f in static for _ in range(tc.queries)]
    return [["Q4"] * len(mix) if task == "Q4" else mix for task, _ in items]


def losses(model: SpatialTransformer, batch: Batch, tasks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy, and each episode's mean CE over its task family's queries (B,): AMA's -reward."""
    logits, _ = model(*batch.inputs())  # (B, Q, 68)
    ce = F.cross_entropy(logits.flatten(0, 1), batch.target.flatten(), reduction="none").view(
        batch.target.shape
    )
    own = (batch.family == tasks[:, None]).float()  # (B, Q)
    return ce.mean(), (ce * own).sum(1) / own.sum(1).clamp(min=1)


def evaluate(*args: Any, **kwargs: Any) -> dict[str, float]:
    """Accuracy per family at a capacity on held-out episodes; the arguments of :func:`outcomes`."""
    return {family: float(right.mean()) for family, right in outcomes(*args, **kwargs).items()}


@torch.no_grad()
def outcomes(
    model: SpatialTransformer,
    tc: TrainConfig,
    bandit: AMABandit | None,
    held: Episodes,
    capacity: int,
    families: tuple[str, ...] = FAMILIES,
    limit: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Whether each held-out query was answered right, per family (episodes x ``tc.queries``, in order), at
    ``capacity`` (AMA: greedy strategy per family); the queries are seeded, so every variant gets the same."""
    spec, out = VARIANT_SPECS[tc.variant], {}
    greedy = bandit.greedy() if bandit else {}
    was_training = model.training
    model.eval()
    for family in families:
        rng, n = np.random.default_rng(seed), len(held.worlds[family == "Q4"]["places"])
        items = [(family, i) for i in range(min(n, limit or n))]
        strategy = greedy.get(FAMILY_INDEX[family], spec.strategy)
        right = []
        for start in range(0, len(items), 64):
            chunk = items[start : start + 64]
            batch = held.build(
                chunk,
                [str(strategy)] * len(chunk),
                capacity,
                spec.layout,
                spec.chunk,
                [[family] * tc.queries] * len(chunk),
                rng,
            )
            logits, _ = model(*batch.inputs())
            right.append((logits.argmax(-1) == batch.target).flatten().numpy())
        out[family] = np.concatenate(right)
    model.train(was_training)
    return out


def checkpoint_path(tc: TrainConfig) -> Path:
    """Where a run's checkpoint lives: variant, seed and a hash of the whole training config."""
    key = f"{tc.model_dump_json()} data v{DATA_VERSION} classes {N_CLASSES} checkpoint v{SCHEMA_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return cache_dir("sat") / f"{tc.variant}-seed{tc.seed}-{digest}.pt"


def save(
    path: Path, tc: TrainConfig, model: SpatialTransformer, stats: dict, extra: dict | None = None
) -> None:
    """Write ``{schema_version, config, state_dict, stats}`` (+ optimiser state for resuming) atomically."""
    config = {"train": tc.model_dump(mode="json"), "model": model.cfg.model_dump(mode="json")}
    blob = {
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "state_dict": model.state_dict(),
        "stats": json.loads(json.dumps(stats)),
        **(extra or {}),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load(path: Path) -> tuple[SpatialTransformer, AMABandit | None, dict]:
    """A model (and bandit) from a checkpoint, loaded with ``weights_only=True``; returns the blob too."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: checkpoint schema {blob.get('schema_version')}, expected {SCHEMA_VERSION}"
        )
    tc = TrainConfig.model_validate(blob["config"]["train"])
    model, bandit = build(tc)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, bandit, blob


class Run:
    """One training run: model, optimiser, data, and the running statistics."""

    def __init__(self, tc: TrainConfig, progress: bool = True) -> None:
        torch.set_num_threads(tc.threads)
        torch.manual_seed(tc.seed)  # weight init reads the global generator (lab convention 13)
        self.tc, self.progress = tc, progress
        self.model, self.bandit = build(tc)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=tc.lr)
        self.train_set, self.held = load_data(tc, progress)
        self.step, self.path = 0, checkpoint_path(tc)
        self.stats: dict = {"train_s": 0.0, "q1_curve": [], "t90_q1_s": None, "t90_q1_step": None}

    def resume(self) -> None:
        """Continue from this config's checkpoint when there is one."""
        if not self.path.exists():
            return
        blob = torch.load(self.path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(blob["state_dict"])
        self.opt.load_state_dict(blob["optimizer"])
        self.step, self.stats = int(blob["step"]), blob["stats"]

    def train_step(self, rng: np.random.Generator) -> float:
        """One optimiser step on a fresh batch; returns the loss."""
        tc, spec = self.tc, VARIANT_SPECS[self.tc.variant]
        items = self.train_set.draw(rng, tc.batch, tc.families)
        families = [f for f, _ in items]
        eps = epsilon(self.step, tc.steps, tc.eps_start, tc.eps_end, tc.eps_fraction)
        chosen = strategies(tc, self.bandit, families, eps, rng)
        capacity = int(rng.choice(tc.capacities))
        batch = self.train_set.build(items, chosen, capacity, spec.layout, spec.chunk, plans(tc, items), rng)
        tasks = torch.tensor([FAMILY_INDEX[f] for f in families])
        loss, per_episode = losses(self.model, batch, tasks)
        if self.bandit is not None:  # spec §5: reward = -CE of the task's queries (detached), + 0.1 q_loss
            arms = torch.tensor([self.bandit.strategies.index(s) for s in chosen])
            loss = loss + tc.q_weight * self.bandit.loss(tasks, arms, -per_episode)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.opt.step()
        return float(loss.detach())

    def probe(self) -> None:
        """Q1 accuracy at full capacity on 100 held-out episodes; records the first time it reaches 90 %."""
        acc = evaluate(
            self.model, self.tc, self.bandit, self.held, max(self.tc.capacities), ("Q1",), limit=100
        )["Q1"]
        self.stats["q1_curve"].append([self.step, round(self.stats["train_s"], 2), acc])
        if acc >= 0.9 and self.stats["t90_q1_s"] is None:
            self.stats["t90_q1_s"], self.stats["t90_q1_step"] = self.stats["train_s"], self.step

    def run(self) -> dict:
        """Train to ``tc.steps`` (checkpointing), then evaluate every family at every capacity."""
        tc = self.tc
        bar = tqdm(
            total=tc.steps,
            initial=self.step,
            desc=f"train {tc.variant} seed {tc.seed}",
            disable=not self.progress,
        )
        while self.step < tc.steps:
            rng = np.random.default_rng([tc.seed, self.step])
            start = time.perf_counter()
            loss = self.train_step(rng)
            self.stats["train_s"] += time.perf_counter() - start
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.step % tc.eval_every == 0 or self.step == tc.steps:
                self.probe()
            if self.step % 250 == 0 or self.step == tc.steps:
                save(
                    self.path,
                    tc,
                    self.model,
                    self.stats,
                    {"optimizer": self.opt.state_dict(), "step": self.step},
                )
        bar.close()
        return self.finish()

    def finish(self) -> dict:
        """Final evaluation and statistics."""
        self.stats["steps"] = self.step
        self.stats["steps_per_s"] = self.step / max(self.stats["train_s"], 1e-9)
        self.stats["trained_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.stats["eval"] = {
            str(cap): evaluate(self.model, self.tc, self.bandit, self.held, cap) for cap in self.tc.capacities
        }
        if self.bandit is not None:
            self.stats["ama_greedy"] = {FAMILIES[k]: v for k, v in self.bandit.greedy().items()}
        save(
            self.path,
            self.tc,
            self.model,
            self.stats,
            {"optimizer": self.opt.state_dict(), "step": self.step},
        )
        return self.stats


def ship(run: Run) -> Path:
    """Write the model to ``assets/sat/<variant>.pt`` (weights only) with a JSON sidecar of config + stats."""
    ASSETS.mkdir(parents=True, exist_ok=True)
    path = ASSETS / f"{run.tc.variant}.pt"
    save(path, run.tc, run.model, run.stats)
    sidecar = {
        "config": {"train": run.tc.model_dump(mode="json"), "model": run.model.cfg.model_dump(mode="json")},
        "stats": run.stats,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options; every TrainConfig field can be set (``--train-static 2000``)."""
    p = argparse.ArgumentParser(prog="memlab train sat", description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=VARIANTS, default="SAT-PM-PH")
    for name, info in TrainConfig.model_fields.items():
        flag, kind = f"--{name.replace('_', '-')}", info.annotation
        if kind in (int, float):
            p.add_argument(flag, type=kind, default=None, help=info.description)
        elif kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=info.description)
        elif name != "variant":  # tuples: comma-separated
            cast = int if name == "capacities" else str
            p.add_argument(
                flag,
                type=lambda v, c=cast: tuple(c(x) for x in v.split(",")),
                default=None,
                help=info.description,
            )
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--ship", action="store_true", help="also write assets/sat/<variant>.pt and .json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """``memlab train sat``: train (or resume), print the evaluation, optionally ship the weights."""
    ns = parse(argv)
    fields = {k: v for k, v in vars(ns).items() if k in TrainConfig.model_fields and v is not None}
    try:
        tc = TrainConfig(**fields)
    except ValidationError as err:
        raise ConfigError(f"memlab train sat: {validation_message(err, TrainConfig)}") from None
    run = Run(tc, progress=not ns.quiet)
    if not ns.no_resume:
        run.resume()
    stats = run.run()
    print(f"{tc.variant}: {stats['steps']} steps, {stats['steps_per_s']:.1f} steps/s, checkpoint {run.path}")
    for cap, accs in stats["eval"].items():
        print(f"  L={cap}: " + "  ".join(f"{f} {a:.2f}" for f, a in accs.items()))
    if "ama_greedy" in stats:
        print("  AMA greedy:", stats["ama_greedy"])
    if ns.ship:
        print(f"shipped {ship(run)}")
    return 0
