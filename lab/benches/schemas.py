"""``memlab bench schemas``: (a) correctness, (b) transfer, (c) speed of the CSCG / graph-schemas agent.

(a) The intro-notebook cases of the CSCG reference (unique-symbol 5x5 maze; two stitched rooms)
(b) schema transfer to recoloured rooms vs a CSCG learned from scratch on the same walks, and
schema matching across room sizes; (c) seconds per EM iteration at N = 50,000 steps and ~100 clones,
batched vs a plain per-step loop, timed side by side. Prints the tables and writes docs/schemas.md.
The benchmark drives agent and env directly (no run store): it measures the algorithm, not the recorder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.graph_schemas.agent import GraphSchemaAgent, Navigator, ScratchCSCGAgent
from agents.graph_schemas.config import GraphSchemaConfig, ScratchConfig
from lab.benches.schemas_speed import cpu_wall, speed
from agents.graph_schemas.model import CSCG, EM_PATIENCE
from agents.graph_schemas.schema import Schema, match, save_schema
from agents.graph_schemas.train import train_schema, walk_room
from agents.graph_schemas.walks import room_walk, stitch, stitched_rooms, unique_maze
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions
from lab.benches import markdown_table, write_report
from lab.core.protocols import AgentContext, Task
from lab.core.stats import bootstrap_ci, paired


@dataclass
class Settings:
    """Sizes of one benchmark run (``--quick`` shrinks them)."""

    maze_steps: int = 10_000
    stitched_steps: int = 50_000
    schema_steps: int = 50_000
    schema_iters: int = 1000
    match_steps: int = 30_000
    budgets: tuple[int, ...] = (100, 200, 400)
    trials: int = 20
    match_trials: int = 5
    speed_iters: int = 10


QUICK = Settings(
    stitched_steps=25_000,
    schema_steps=20_000,
    schema_iters=400,
    match_steps=12_000,
    budgets=(200, 400),
    trials=10,
    match_trials=3,
    speed_iters=5,
)


# ---- (a) correctness -------------------------------------------------------------------------------


def correctness(s: Settings) -> list[list[object]]:
    """The notebook cases; measured values next to the reference notebook's."""
    rng = np.random.default_rng(4)
    walk = room_walk(unique_maze(5, rng), s.maze_steps, rng)
    maze = CSCG([10] * 25, 4, pseudocount=1e-2, seed=4)
    em = maze.learn_em(walk.x, walk.a, 1000)
    monotone = all(b <= a + 1e-6 for a, b in zip(em[:-2], em[1:-1]))
    rows_ok = bool(((maze.T.sum(2) - 1).abs() < 1e-4).all())
    maze.pseudocount = 0.0
    vit = maze.learn_viterbi(walk.x, walk.a, 100)
    rows = [
        [
            "5x5 unique maze, 25x10 clones, pc 1e-2",
            f"{s.maze_steps} steps",
            f"EM iterations to the lowest bits/step (then {EM_PATIENCE} more without gain, the stop rule)",
            f"{em.index(min(em)) + 1} (+{len(em) - em.index(min(em)) - 1})",
            "~120 (stops at the first without gain)",
        ],
        ["", "", "EM bits/step", f"{min(em):.4f}", "0.036"],
        ["", "", "Viterbi bits/step (max-product, as the notebook)", f"{vit[-1]:.5f}", "0.0008"],
        ["", "", "bits/step after Viterbi (sum-product)", f"{maze.bps(walk.x, walk.a):.5f}", "-"],
        ["", "", "EM bits/step non-increasing; rows of T sum to 1", f"{monotone}; {rows_ok}", "True; True"],
    ]
    rng = np.random.default_rng(19)
    room1, room2, places = stitched_rooms(rng)
    x, a = stitch(
        room_walk(room1, s.stitched_steps, rng, bump=False),
        room_walk(room2, s.stitched_steps, rng, bump=False),
    )
    n_clones = np.full(x.max() + 1, 20)
    n_clones[0] = 1
    stitched = CSCG(n_clones, 5, pseudocount=2e-2, seed=19)
    em = stitched.learn_em(x, a, 1000)
    stitched.pseudocount = 0.0
    stitched.learn_viterbi(x, a, 100)
    _, states = stitched.decode(x, a)
    rows += [
        [
            "two stitched 8x6 rooms (3x3 shared), 20 clones, pc 2e-2",
            f"2 x {s.stitched_steps} steps",
            "EM iterations to the lowest bits/step / bits/step",
            f"{em.index(min(em)) + 1} / {min(em):.4f}",
            "182 / 0.026",
        ],
        ["", "", "decoded states (places + separator)", len(torch.unique(states)), places + 1],
    ]
    return rows


# ---- (b) transfer ----------------------------------------------------------------------------------


def run_trial(
    agent: Navigator, env: AliasedRoomEnv, seed: int, budget: int, nav_limit: int
) -> dict[str, object]:
    """Explore ``budget`` steps, then navigate; what happened."""
    observation = env.reset(seed=seed)
    agent.reset(Task(env_id=env.env_id, env_kind="grid", objective="", action_names=observation.admissible))
    out: dict[str, object] = {"won": False, "nav_start": None}
    for t in range(budget + nav_limit):
        action = agent.act(observation.public())
        if out["nav_start"] is None and action.thoughts.get("status", "").startswith("navigating"):
            optimal = abs(env.position[0] - env.goal_cell[0]) + abs(env.position[1] - env.goal_cell[1])
            out.update(
                nav_start=t,
                optimal=optimal,
                first_plan=len(action.thoughts["plan"]),
                model_s=action.thoughts.get("learn_seconds", float("nan")),
            )
        observation = env.step(action.command)
        if observation.done:
            out.update(won=observation.won, steps=t + 1)
            break
    out["seen"] = env.goal_symbol in agent.xs[: budget + 1]
    return out


def transfer(
    s: Settings, schema: Schema, bar: tqdm
) -> tuple[list[list[object]], dict[tuple[str, str, int], list[float]]]:
    """Schema agent (two exploration policies) vs scratch baseline on the same recoloured rooms: the table
    rows, and every arm's per-trial wins."""
    arms = [("graph-schemas", "persistent"), ("graph-schemas", "uniform"), ("cscg-scratch", "persistent")]
    rows, won = [], {}
    for budget in s.budgets:
        for name, policy in arms:
            results = []
            for trial in range(s.trials):
                env = AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions(recolour_seed=100 + trial))
                ctx = AgentContext(llm=None, rng=np.random.default_rng(trial), seed=trial)
                if name == "graph-schemas":
                    agent: Navigator = GraphSchemaAgent(
                        GraphSchemaConfig(schemas=[schema.name], explore_steps=budget, explore_policy=policy),
                        ctx,
                    )
                else:
                    agent = ScratchCSCGAgent(ScratchConfig(explore_steps=budget, explore_policy=policy), ctx)
                results.append(run_trial(agent, env, trial, budget, nav_limit=60))
                env.close()
                bar.update(1)
            rows.append([name, policy, budget, *summarise(results)])
            won[(name, policy, budget)] = [float(r["won"]) for r in results]
    return rows, won


def paired_rows(s: Settings, won: dict[tuple[str, str, int], list[float]]) -> list[list[object]]:
    """Schema agent minus scratch on the same trials (recoloured room, seed and walk), persistent exploration."""
    return [[budget, str(paired(won[("graph-schemas", "persistent", budget)],
                                won[("cscg-scratch", "persistent", budget)]))]
            for budget in s.budgets]


def summarise(results: list[dict]) -> list[object]:
    """trials, success [95% CI], goal seen, success | seen, first plan optimal, steps/optimal (median),
    model ms (median)."""
    seen = [r for r in results if r["seen"]]
    won = [r for r in seen if r["won"]]
    planned = [r for r in seen if r["nav_start"] is not None]
    optimal = [r for r in planned if r["first_plan"] == r["optimal"]]
    ratio = [
        (r["steps"] - r["nav_start"] - 1) / max(1, r["optimal"]) for r in won if r["nav_start"] is not None
    ]
    model_ms = [1000 * r["model_s"] for r in planned]
    return [
        len(results),
        bootstrap_ci([float(r["won"]) for r in results]).format().rsplit(" (n=", 1)[0],
        f"{len(seen) / len(results):.2f}",
        f"{len(won) / max(1, len(seen)):.2f}",
        f"{len(optimal) / max(1, len(planned)):.2f}",
        f"{statistics.median(ratio):.2f}" if ratio else "-",
        f"{statistics.median(model_ms):.0f}" if model_ms else "-",
    ]


def matching(s: Settings, schema: Schema, bar: tqdm) -> list[list[object]]:
    """Keep schemas of 5x5, 6x8 and 8x8 rooms; rebind all on a 400-step walk; is the right one lowest?"""
    library = {(6, 8): schema}
    for size in [(5, 5), (8, 8)]:
        library[size] = train_schema(
            f"bench-room-{size[0]}x{size[1]}",
            AliasedRoomOptions(width=size[0], height=size[1]),
            steps=s.match_steps,
            max_iter=s.schema_iters,
            device="cpu",
        )
        bar.update(1)
    rows = []
    for (w, h), own in library.items():
        picks, bits = 0, {name: [] for name in (sc.name for sc in library.values())}
        for trial in range(s.match_trials):
            env = AliasedRoomEnv(
                "minigrid-aliased-room", AliasedRoomOptions(width=w, height=h, recolour_seed=200 + trial)
            )
            symbols, moves, _ = walk_room(env, 400, np.random.default_rng(trial))
            bindings = match(list(library.values()), symbols, [env.action_names[m] for m in moves[:-1]])
            picks += bindings[0].schema.name == own.name
            for b in bindings:
                bits[b.schema.name].append(b.bps)
            bar.update(1)
        rows.append(
            [
                f"{w}x{h}",
                s.match_trials,
                f"{picks}/{s.match_trials}",
                ", ".join(f"{k}: {statistics.mean(v):.3f}" for k, v in bits.items()),
            ]
        )
    return rows


# ---- report ----------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="memlab bench schemas", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller walks and fewer trials (a few minutes)")
    p.add_argument("--trials", type=int, help="transfer trials per cell (default 20, quick 10)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the three sections, print the tables, write docs/schemas.md."""
    args = parse(argv)
    s = QUICK if args.quick else Settings()
    if args.trials:
        s.trials = args.trials
    load_before = os.getloadavg()[0]
    units = 2 + len(s.budgets) * 3 * s.trials + 2 + 3 * s.match_trials + 5
    start = time.perf_counter()
    with tqdm(total=units, desc="bench schemas", unit="task") as bar:
        bar.set_postfix_str("(a) correctness")
        rows_a = correctness(s)
        bar.update(1)
        bar.set_postfix_str("learning schema A")
        schema, learn = learn_room_schema(s)
        bar.update(1)
        bar.set_postfix_str("(b) transfer")
        rows_b, won = transfer(s, schema, bar)
        rows_m = matching(s, schema, bar)
        bar.set_postfix_str("(c) speed")
        rows_c, rows_ops = speed(s.speed_iters, schema, bar)
    body = report(
        s,
        args.quick,
        rows_a,
        learn,
        rows_b,
        paired_rows(s, won),
        rows_m,
        rows_c,
        rows_ops,
        (load_before, os.getloadavg()[0]),
        time.perf_counter() - start,
    )
    print(body)
    path = write_report("schemas", "Graph schemas and CSCG: correctness, transfer, speed", body)
    print(f"\nwritten to {path}")
    return 0


def learn_room_schema(s: Settings) -> tuple[Schema, list[object]]:
    """Schema A: the default 6x8 room, saved as ``bench-room-6x8`` so the agents can load it."""
    wall, cpu, schema = cpu_wall(
        lambda: train_schema(
            "bench-room-6x8",
            AliasedRoomOptions(),
            steps=s.schema_steps,
            max_iter=s.schema_iters,
            device="cpu",
        )
    )
    save_schema(schema)
    info = schema.info
    return schema, [
        f"{s.schema_steps} steps",
        info["clones_before"],
        schema.n_states,
        info["em_iterations"],
        f"{info['bps_em']:.5f}",
        f"{schema.curve['viterbi'][-1]:.5f}",
        f"{info['bps_refined']:.5f}",
        "refined" if info["kept"] == "viterbi" else "EM (refinement raised bits/step)",
        f"{wall:.0f}",
        f"{cpu:.0f}",
    ]


def report(
    s: Settings,
    quick: bool,
    rows_a: list,
    learn: list,
    rows_b: list,
    rows_p: list,
    rows_m: list,
    rows_c: list,
    rows_ops: list,
    load: tuple[float, float],
    seconds: float,
) -> str:
    """The Markdown body of docs/schemas.md."""
    mode = "`memlab bench schemas --quick`" if quick else "`memlab bench schemas`"
    parts = [
        f"Run: {mode} in {seconds / 60:.1f} min; 1-minute load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after "
        "(2 shared cores: wall times are inflated by other processes; CPU time is this process's own).",
        "## (a) Correctness (reference: naturecomm_cscg intro notebook outputs)",
        markdown_table(["case", "walk", "quantity", "measured", "reference"], rows_a),
        "## (b) Transfer to recoloured rooms",
        "Schema A, learned in the 6x8 room (4 colours + landmark, layout seed 0):",
        markdown_table(
            [
                "walk",
                "clones",
                "clones used",
                "EM iterations",
                "EM bps (sum-product)",
                "Viterbi bps (max-product)",
                "bps after Viterbi (sum-product)",
                "transitions kept",
                "wall s",
                "CPU s",
            ],
            [learn],
        ),
        f"Rooms B: same layout, colours permuted (recolour seeds 100..{99 + s.trials}); both agents see "
        "the same walks for a given policy and trial. *success*: reached the landmark and said done within "
        "60 steps after exploring, over all trials, with its 95% percentile bootstrap interval over trials. "
        "*success | seen*: the same among trials whose exploration saw the goal (the agent cannot plan to a "
        "goal it has not seen, so this is the planner's figure, not the agent's). *first plan optimal*: "
        "the first plan's length equals the true Manhattan distance. *steps / optimal*: moves from the "
        "first plan to the goal over that distance.",
        markdown_table(
            [
                "agent",
                "exploration",
                "explore steps",
                "trials",
                "success [95% CI]",
                "goal seen",
                "success given seen",
                "first plan optimal",
                "steps / optimal (median)",
                "model build ms (median)",
            ],
            rows_b,
        ),
        "Paired over the same trials (persistent exploration): graph-schemas minus cscg-scratch in success, "
        "with its bootstrap interval, wins-losses-ties and the sign test.",
        markdown_table(["explore steps", "success, graph-schemas − cscg-scratch"], rows_p),
        "Schema matching (spec §7.2): schemas of 5x5, 6x8 and 8x8 rooms, each rebound on a 400-step walk "
        "of a recoloured room; the lowest bits per step should be the room's own size.",
        markdown_table(["room B", "trials", "right schema picked", "mean bits/step after rebinding"], rows_m),
        "## (c) Speed: EM at N = 50,000 steps, S = 102 clones (25 x 4 colours + 2)",
        markdown_table(
            [
                "implementation",
                "device",
                "wall s / iteration (median)",
                "CPU s / iteration (median)",
                "wall s (worst iteration)",
            ],
            rows_c,
        ),
        "Intra-op threads: with 2 threads on 2 shared cores, an iteration is as fast as with 1 while the "
        "machine is calm, but whenever another process holds a core the 2 OpenMP threads wait on each other; "
        "compare the worst iterations. The library therefore runs its message loops with 1 thread on CPU.",
        "Not measured here (numba is not installed): the numba reference (naturecomm_cscg "
        "``chmm_actions.py``), which is what users would otherwise run. The review that filed issue 15 ran "
        "it side by side with this code on this walk from the same initial counts, one thread each: "
        "0.19-0.25 s per iteration, against 0.066-0.086 s here at chunks of 100 on that machine (2.9x); "
        "the spec quotes 0.39-0.50 s on a 2-core machine. The ratio to the per-step loop above is to a "
        "loop of tiny torch ops written here, not to that reference.",
        markdown_table(["operation", "wall", "CPU", "spec §11 target"], rows_ops),
    ]
    return "\n\n".join(parts)
