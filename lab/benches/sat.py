"""``memlab bench sat``: accuracy per query family, variant and capacity; the paper's claims as hypotheses.

Trains (or resumes from the data dir) every variant for each seed, evaluates each query family at
L in {16, 32, 96} on held-out skewed-dwell episodes, prints the tables and writes ``docs/sat.md``.
``--quick`` runs 1 seed (seed 0, which the shipped weights already are, so it trains nothing when
they match the training config); the default is 5 seeds. Runs already finished in the data dir are
read back, not retrained.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest
from tqdm import tqdm

from agents.sat.agent import SatAgent
from agents.sat.config import STRATEGIES, VARIANT_SPECS, VARIANTS, SatConfig, TrainConfig
from agents.sat.data import Episodes
from agents.sat.memory import keep_indices
from agents.sat.train import ASSETS, Run, load, load_data, outcomes
from envs.room_recall import FAMILIES, RoomRecallEnv, RoomRecallOptions
from lab.benches import markdown_table, write_report
from lab.core.stats import Paired, bootstrap_ci, paired
from lab.core.protocols import AgentContext, Task


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="memlab bench sat", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed (the shipped seed-0 runs when they match)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds (default 5, quick 1)")
    p.add_argument("--steps", type=int, default=None, help="training steps per model")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--no-report", action="store_true", help="print only; do not write docs/sat.md")
    return p.parse_args(argv)


def shipped(tc: TrainConfig) -> Path | None:
    """The shipped weights of ``tc.variant`` when they were trained with exactly ``tc``."""
    path = ASSETS / f"{tc.variant}.pt"
    if not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return path if blob["config"]["train"] == tc.model_dump(mode="json") else None


def train_all(variants: list[str], seeds: int, steps: int) -> dict[str, list[dict]]:
    """Every (variant, seed) run: its training stats, where its weights came from, and its held-out query
    outcomes re-evaluated now with this code (shipped weights and finished checkpoints are reused, not
    retrained; their stored evaluations are not)."""
    out: dict[str, list[dict]] = {v: [] for v in variants}
    jobs = [(v, s) for v in variants for s in range(seeds)]
    held = None
    for variant, seed in tqdm(jobs, desc="sat bench runs"):
        tc = TrainConfig(variant=variant, steps=steps, seed=seed)
        path = shipped(tc)
        if path is not None:
            source = f"shipped weights, {path.relative_to(ASSETS.parents[1])}"
        else:
            run = Run(tc, progress=False)
            run.resume()
            source = f"checkpoint {run.path.name}" if run.step >= steps else "trained in this run"
            if run.step < steps:
                run.run()
            path = run.path
            held = run.held
        model, bandit, blob = load(path)
        if held is None:
            held = load_data(tc, progress=False)[1]
        found = {str(cap): outcomes(model, tc, bandit, held, cap) for cap in tc.capacities}
        release = {}
        if VARIANT_SPECS[variant].strategy in TIED:
            as_released = Episodes(held.worlds[False], held.worlds[True], ties="lowest-place")
            release = {str(cap): outcomes(model, tc, bandit, as_released, cap) for cap in tc.capacities}
        trained = blob["stats"].get("trained_at", "not recorded")
        out[variant].append({"stats": blob["stats"], "outcomes": found, "release_ties": release, "source": source,
                             "trained": trained, "seed": seed})
    return out


TIED = ("pm", "ama")
"""Write strategies whose evictions can tie between places (PM when full; AMA's MVFO, LVFO and PM)."""


def accuracy(run: dict, cap: int, family: str, key: str = "outcomes") -> float:
    """A run's held-out accuracy, re-evaluated by this code (``release_ties``: under the release's tie rule)."""
    return float(run[key][str(cap)][family].mean())


def accuracy_table(stats: dict[str, list[dict]], capacities: tuple[int, ...], key: str = "outcomes") -> str:
    """Rows variant x L, columns the query families: mean [95% bootstrap interval over seeds]."""
    rows = [
        [v, cap] + [bootstrap_ci([accuracy(r, cap, f, key) for r in runs]).format(count=False)
                    for f in FAMILIES]
        for v, runs in stats.items()
        if all(r[key] for r in runs)
        for cap in capacities
    ]
    return markdown_table(["variant", "L"] + list(FAMILIES), rows)


def pooled_table(stats: dict[str, list[dict]], capacities: tuple[int, ...]) -> str:
    """The same cells pooled over seeds, with the 95% bootstrap interval over queries."""
    rows = [
        [v, cap] + [bootstrap_ci(np.concatenate([r["outcomes"][str(cap)][f] for r in runs]).astype(float))
                    .format(count=False) for f in FAMILIES]
        for v, runs in stats.items()
        for cap in capacities
    ]
    return markdown_table(["variant", "L"] + list(FAMILIES), rows)


def verdict(difference: Paired) -> str:
    """``supported`` only when the paired difference's interval lies above 0."""
    d = difference.difference
    if d.n < 2:
        return "too few seeds"
    if d.excludes(0.0):
        return "supported" if d.mean > 0 else "contradicted"
    return "not supported (the interval includes 0)"


def versus(stats: dict[str, list[dict]], claim: str, a: str, b: str, cap: int, family: str) -> list[str]:
    """One hypothesis row: variant ``a`` against ``b`` on ``family`` at capacity ``cap``, paired by seed."""
    if a not in stats or b not in stats:
        return [claim, "not run", "", "", "not run"]
    xs = [accuracy(r, cap, family) for r in stats[a]]
    ys = [accuracy(r, cap, family) for r in stats[b]]
    n = min(len(xs), len(ys))
    difference = paired(xs[:n], ys[:n])
    per_seed = ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(xs, ys))
    return [claim, f"{a} {np.mean(xs):.2f} vs {b} {np.mean(ys):.2f}", str(difference), per_seed,
            verdict(difference)]


def hypotheses(stats: dict[str, list[dict]]) -> str:
    """The paper's claims against the measurements, each a paired comparison over seeds."""
    rows = [
        versus(stats, f"H1 place memory beats FIFO ({fam}, L={cap} < T=96, skewed)", "SAT-PM-PH", "SAT-FIFO",
               cap, fam)
        for cap in (16, 32)
        for fam in ("Q1", "Q2", "Q3")
    ]
    rows += [
        versus(stats, f"H1, the allocator alone: place writes, flat reads ({fam}, L={cap})", "SAT-PM", "SAT-FIFO",
               cap, fam)
        for cap in (16, 32)
        for fam in ("Q1", "Q2", "Q3")
    ]
    rows += [
        versus(stats, f"H1, the read alone: place chunks over place writes ({fam}, L={cap})", "SAT-PM-PH",
               "SAT-PM", cap, fam)
        for cap in (16, 32)
        for fam in ("Q1", "Q2", "Q3")
    ]
    rows += [
        versus(stats, f"H2 place chunks beat time chunks on Q4 (L={cap})", "SAT-PM-PH", "SAT-FIFO-TH", cap, "Q4")
        for cap in (16, 32, 96)
    ]
    table = markdown_table(["hypothesis", "measured (mean over seeds)", "paired difference over seeds",
                            "per seed (a/b)", "verdict"], rows)
    arms = len(TrainConfig().ama_strategies)
    ama = []
    for fam, want in (("Q1", {"pm", "mvfo"}), ("QR", {"fifo"})):
        picks = [r["stats"]["ama_greedy"][fam] for r in stats.get("SAT-AMA", [])]
        hit, chance = sum(p in want for p in picks), len(want) / arms
        p = float(binomtest(hit, len(picks), chance, alternative="greater").pvalue) if picks else float("nan")
        ama.append([f"H3 AMA picks {' or '.join(sorted(want))} for {fam}", ", ".join(picks) or "-",
                    f"{hit}/{len(picks)} seeds", f"{chance:.2f} ({len(want)} of {arms} arms)", f"{p:.2g}"])
    return table + "\n\n" + markdown_table(
        ["hypothesis", "greedy pick per seed", "hits", "chance per seed", "one-sided binomial p"], ama)


def sources_table(stats: dict[str, list[dict]]) -> str:
    """Where every run's weights came from and when they were trained."""
    rows = [[v, r["seed"], r["source"], r["trained"]] for v, runs in stats.items() for r in runs]
    return markdown_table(["variant", "seed", "weights", "trained"], rows)


def coverage_table(run: Run, capacities: tuple[int, ...]) -> str:
    """Share of Q1 (room content) and QR (recent room) evidence each write strategy keeps (data only), under
    this lab's tie rule and the release's, and how often the two rules keep different slots."""
    held = run.held
    release = Episodes(held.worlds[False], held.worlds[True], ties="lowest-place")
    rows = []
    for s in STRATEGIES:
        for cap in capacities:
            row = [s, cap, f"{held.oracle('Q1', cap, s):.2f}", f"{held.oracle('QR', cap, s):.2f}"]
            if s in ("mvfo", "lvfo", "pm"):
                differ = np.mean([not np.array_equal(keep_indices(p, cap, s), keep_indices(p, cap, s, ties="lowest-place"))
                                  for p in held.worlds[False]["places"]])
                row += [f"{release.oracle('Q1', cap, s):.2f}", f"{release.oracle('QR', cap, s):.2f}", f"{differ:.2f}"]
            else:
                row += ["", "", ""]
            rows.append(row)
    return markdown_table(["strategy", "L", "Q1 evidence kept", "QR evidence kept", "Q1, release's ties",
                           "QR, release's ties", "episodes whose kept slots differ"], rows)


def speed_table(stats: dict[str, list[dict]]) -> str:
    """Training steps per second and time to 90 % Q1 accuracy (L = 96)."""
    rows = []
    for variant, found in stats.items():
        runs = [r["stats"] for r in found]
        hit = [s for s in runs if s.get("t90_q1_s") is not None]
        t90 = f"not reached (0/{len(runs)} seeds)"
        if hit:
            seconds, steps = np.mean([s["t90_q1_s"] for s in hit]), np.mean([s["t90_q1_step"] for s in hit])
            t90 = f"{seconds:.0f} s / {steps:.0f} steps ({len(hit)}/{len(runs)} seeds)"
        best = max(max((c[2] for c in s["q1_curve"]), default=0.0) for s in runs)
        rows.append([variant, bootstrap_ci([s["steps_per_s"] for s in runs]).format(1, count=False), t90,
                     f"{best:.2f}"])
    header = ["variant", "train steps/s", "time to 90 % Q1 (train time / steps)", "best Q1 probe"]
    return markdown_table(header, rows)


def navigate_success(variant: str, episodes: int, capacity: int = 32) -> tuple[float, float]:
    """Navigate-back with the shipped weights: success rate and mean moves used / budget, over fresh seeds."""
    agent = SatAgent(
        SatConfig(variant=variant, capacity=capacity), AgentContext(None, np.random.default_rng(0), 0)
    )
    env, wins, used = RoomRecallEnv(options=RoomRecallOptions(family="navigate", skew=1.0)), 0, []
    for seed in range(10_000, 10_000 + episodes):
        obs = env.reset(seed=seed)
        agent.reset(Task(env_id=env.env_id, env_kind="grid", objective=obs.objective))
        while not obs.done:
            obs = env.step(agent.act(obs).command)
        wins += obs.won
        used.append(env.used / max(env.budget, 1))
    return wins / episodes, float(np.mean(used))


def navigate_table(variants: list[str], episodes: int) -> str:
    """Success of predict-the-room, plan, reach, per variant (shipped weights, L = 32, skewed dwell)."""
    rows = []
    for variant in variants:
        if (ASSETS / f"{variant}.pt").exists():
            rate, used = navigate_success(variant, episodes)
            rows.append([variant, f"{rate:.2f}", f"{used:.2f}"])
    return markdown_table(["variant", f"success ({episodes} episodes)", "moves / budget"], rows)


def side_by_side(variants: list[str], rounds: int = 3, steps: int = 10) -> str:
    """Training steps/s of every variant timed back to back in this process (interleaved rounds), and the
    ratio to SAT-FIFO: the per-run rates above were measured at different times under different load."""
    runs = {v: Run(TrainConfig(variant=v, seed=99), progress=False) for v in variants}
    seconds = dict.fromkeys(variants, 0.0)
    for r in range(rounds):
        for variant, run in runs.items():
            start = time.perf_counter()
            for k in range(steps):
                run.train_step(np.random.default_rng([r, k]))
            seconds[variant] += time.perf_counter() - start
    rate = {v: rounds * steps / t for v, t in seconds.items()}
    base = rate.get("SAT-FIFO")
    rows = [[v, f"{r:.1f}", f"{r / base:.2f}" if base else "-"] for v, r in rate.items()]
    return markdown_table(["variant", "train steps/s (side by side)", "vs SAT-FIFO"], rows)


def ama_table(stats: dict[str, list[dict]]) -> str:
    """AMA's greedy strategy per family and seed."""
    runs = stats.get("SAT-AMA", [])
    return (
        markdown_table(
            ["seed"] + list(FAMILIES),
            [[r["seed"]] + [r["stats"]["ama_greedy"][f] for f in FAMILIES] for r in runs],
        )
        if runs
        else "(SAT-AMA not run)"
    )


def main(argv: list[str]) -> int:
    """Run the benchmark, print the tables, write docs/sat.md."""
    ns = parse(argv)
    seeds = ns.seeds or (1 if ns.quick else 5)
    steps = ns.steps or TrainConfig().steps
    start = time.perf_counter()
    stats = train_all(ns.variants, seeds, steps)
    tc = TrainConfig()
    probe = Run(TrainConfig(variant=ns.variants[0]), progress=False)
    speed_title = "Training speed per run (1 torch thread, shared 2-core machine; runs at different times)"
    sections = {
        "Accuracy per query family (held-out skewed-dwell episodes, mean [95% bootstrap interval over seeds])":
            accuracy_table(stats, tc.capacities),
        "The same, pooled over seeds (mean [95% bootstrap interval over queries])": pooled_table(
            stats, tc.capacities),
        "The paper's claims as hypotheses": "Each claim is a paired comparison over seeds (the same seed and "
        "data for both variants): the mean difference with its 95% bootstrap interval, wins-losses-ties and the "
        "sign test. A claim is *supported* only when the interval lies above 0.\n\n" + hypotheses(stats),
        "Under the release's eviction tie rule (ties go to the lowest place index)": "The same models evaluated "
        "with MVFO, LVFO and PM breaking ties between places as the release does instead of by the oldest "
        "slot (the variants whose writes can tie).\n\n" + accuracy_table(stats, tc.capacities, "release_ties"),
        "Where each run's weights came from (every one re-evaluated above by this code)": sources_table(stats),
        "AMA: greedy write strategy per query family": ama_table(stats),
        "Evidence each write strategy keeps (data only, no model)": coverage_table(probe, tc.capacities),
        speed_title: speed_table(stats),
        "Training speed side by side (same process, interleaved, batch 32)": side_by_side(ns.variants),
        "Navigate-back (shipped weights, L = 32; budget = 2 x shortest route)": navigate_table(
            ns.variants, 20
        ),
    }
    nothing = 1 - float(probe.held.worlds[False]["vis"][:, -16:].mean())
    command = " ".join(["memlab bench sat", *argv])
    setup = (
        f"Command: `{command}`. {len(ns.variants)} variants x {seeds} seed(s) x {steps} steps, batch "
        f"{tc.batch}, {tc.queries} training queries per family per episode, capacity L drawn per batch from "
        f"{list(tc.capacities)}; {tc.train_static} static + {tc.train_dynamic} dynamic training episodes "
        f"(skew {tc.skew}); {tc.eval_episodes} + {tc.eval_episodes} held-out episodes (all skewed), 3 "
        f"queries per episode and family. Chance: Q1/Q3 1/18, Q2 1/9, Q4 1/4, QR 1/19 (always answering "
        f"'nothing': {nothing:.2f}). Seed 0 is the shipped weights where they match the training config. "
        f"Wall time {time.perf_counter() - start:.0f} s."
    )
    body = setup + "\n\n" + "\n\n".join(f"## {title}\n\n{table}" for title, table in sections.items())
    print(body)
    if not ns.no_report:
        print(
            f"\nwrote {write_report('sat', 'SAT on RoomRecall: memory allocators and chunked reads', body)}"
        )
    return 0
