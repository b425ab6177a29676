"""``memlab bench schemas``: (a) correctness, (b) transfer, (c) speed of the CSCG / graph-schemas agent.

(a) The intro-notebook cases of the CSCG reference (unique-symbol 5x5 maze; two stitched rooms)
(b) schema transfer vs a CSCG learned from scratch on the same walks: to recoloured rooms, to new colour
layouts of the same grid, and in the egocentric room; schema matching across room sizes; two rooms'
schemas composed for the joined rooms; (c) seconds per
EM iteration at N = 50,000 steps and ~100 clones, and EM then refinement against the numba reference
(the ``bench`` extra), timed side by side. Prints the tables and writes docs/schemas.md.
The benchmark drives agent and env directly (no run store): it measures the algorithm, not the recorder."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from agents.graph_schemas.agent import GraphSchemaAgent, Navigator, ScratchCSCGAgent
from agents.graph_schemas.config import GraphSchemaConfig, ScratchConfig
from lab.benches.schemas_compose import COMPOSE_COLUMNS, composition
from lab.benches.schemas_speed import NUMBA_COLUMNS, against_numba, cpu_wall, speed, speed_walk
from agents.graph_schemas.model import CSCG, EM_PATIENCE
from agents.graph_schemas.schema import Schema, match, save_schema
from agents.graph_schemas.train import train_schema, walk_room
from agents.graph_schemas.walks import room_walk, stitch, stitched_rooms, unique_maze
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions, EgoRoomOptions
from lab.benches import markdown_table, write_report
from lab.core.protocols import AgentContext, Task
from lab.core.stats import bootstrap_ci, paired


@dataclass
class Settings:
    """Sizes of one benchmark run (``--quick`` shrinks them)."""

    maze_steps: int = 10_000
    stitched_steps: int = 50_000
    schema_steps: int = 50_000
    ego_steps: int = 60_000
    schema_iters: int = 1000
    match_steps: int = 30_000
    budgets: tuple[int, ...] = (100, 200, 400)
    trials: int = 20
    match_trials: int = 5
    speed_iters: int = 10
    compose_lengths: tuple[int, ...] = (200, 500, 1000, 3000)
    compose_trials: int = 20
    part_steps: int = 20_000


QUICK = Settings(
    stitched_steps=25_000,
    schema_steps=20_000,
    ego_steps=20_000,
    schema_iters=400,
    match_steps=12_000,
    budgets=(200, 400),
    trials=10,
    match_trials=3,
    speed_iters=5,
    compose_lengths=(500, 2000),
    compose_trials=10,
    part_steps=10_000,
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


Arm = tuple[str, str, dict]
"""(agent id, label, config options) of one arm of a transfer table."""


def run_arm(
    arm: Arm, budget: int, trials: int, make_env: Callable[[int], AliasedRoomEnv], bar: tqdm
) -> list[dict[str, object]]:
    """Every trial of one arm at one exploration budget; trial k explores room ``make_env(k)`` with seed k,
    so two arms at the same budget see the same rooms (and, with the same policy, the same walks)."""
    agent_id, _, options = arm
    results = []
    for trial in range(trials):
        env = make_env(trial)
        ctx = AgentContext(llm=None, rng=np.random.default_rng(trial), seed=trial)
        agent: Navigator = (
            GraphSchemaAgent(GraphSchemaConfig(explore_steps=budget, **options), ctx)
            if agent_id == "graph-schemas"
            else ScratchCSCGAgent(ScratchConfig(explore_steps=budget, **options), ctx)
        )
        results.append(run_trial(agent, env, trial, budget, nav_limit=60))
        env.close()
        bar.update(1)
    return results


def transfer_table(
    s: Settings, arms: list[Arm], make_env: Callable[[int], AliasedRoomEnv], bar: tqdm, grid_moves: bool = True
) -> tuple[list[list[object]], dict[tuple[str, int], list[float]]]:
    """Rows (agent, arm label, budget, summary) and every (arm label, budget)'s per-trial wins."""
    rows, won = [], {}
    for budget in s.budgets:
        for arm in arms:
            results = run_arm(arm, budget, s.trials, make_env, bar)
            rows.append([arm[0], arm[1], budget, *summarise(results, grid_moves)])
            won[(arm[1], budget)] = [float(r["won"]) for r in results]
    return rows, won


def paired_rows(
    s: Settings, won: dict[tuple[str, int], list[float]], a: str, b: str
) -> list[list[object]]:
    """Arm ``a`` minus arm ``b`` in success on the same trials, per budget."""
    return [[budget, str(paired(won[(a, budget)], won[(b, budget)]))] for budget in s.budgets]


def transfer(s: Settings, schema: Schema, bar: tqdm) -> tuple[list[list[object]], list[list[object]]]:
    """Recoloured rooms (the layout of room A, colours permuted): the schema agent under two exploration
    policies vs the scratch baseline; the table and the paired rows."""
    arms: list[Arm] = [
        ("graph-schemas", "persistent", {"schemas": [schema.name], "explore_policy": "persistent"}),
        ("graph-schemas", "uniform", {"schemas": [schema.name], "explore_policy": "uniform"}),
        ("cscg-scratch", "persistent, from scratch", {"explore_policy": "persistent"}),
    ]
    rows, won = transfer_table(
        s, arms, lambda k: AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions(recolour_seed=100 + k)), bar
    )
    return rows, paired_rows(s, won, "persistent", "persistent, from scratch")


def new_layouts(s: Settings, schema: Schema, bar: tqdm) -> tuple[list[list[object]], list[list[object]]]:
    """Rooms with room A's grid but a new colouring (layout seeds 100..): only the topology carries over, so
    the schema's clones may bind freely (untied slots) or keep room A's colour classes (tied, the default)."""
    arms: list[Arm] = [
        ("graph-schemas", "tied slots", {"schemas": [schema.name], "tie_slots": True}),
        ("graph-schemas", "untied slots", {"schemas": [schema.name], "tie_slots": False}),
        ("cscg-scratch", "from scratch", {}),
    ]
    rows, won = transfer_table(
        s, arms, lambda k: AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions(layout_seed=100 + k)), bar
    )
    return rows, [[budget, str(paired(won[("untied slots", budget)], won[("from scratch", budget)])),
                   str(paired(won[("untied slots", budget)], won[("tied slots", budget)]))] for budget in s.budgets]


def egocentric(s: Settings, bar: tqdm) -> tuple[list[object], list[list[object]], list[list[object]]]:
    """The egocentric room (heading matters; the view from a corner is the goal): a schema learned in it,
    then recoloured rooms; the learning row, the table and the paired rows."""
    wall, cpu, schema = cpu_wall(
        lambda: train_schema("bench-room-ego-5x5", EgoRoomOptions(), steps=s.ego_steps, max_iter=s.schema_iters,
                             device="cpu")
    )
    save_schema(schema)
    bar.update(1)
    arms: list[Arm] = [
        ("graph-schemas", "schema", {"schemas": [schema.name]}),
        ("cscg-scratch", "from scratch", {}),
    ]
    rows, won = transfer_table(
        s, arms, lambda k: AliasedRoomEnv("minigrid-aliased-room-ego", EgoRoomOptions(recolour_seed=100 + k)), bar,
        grid_moves=False,
    )
    return learning_row(schema, f"{s.ego_steps} steps", wall, cpu), rows, paired_rows(s, won, "schema", "from scratch")


def summarise(results: list[dict], grid_moves: bool = True) -> list[object]:
    """trials, success [95% CI], goal seen, success | seen, first plan optimal, steps/optimal (median),
    model ms (median). Without ``grid_moves`` (the egocentric room, whose plans also turn) the two
    columns that compare with the Manhattan distance are left out."""
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
        bootstrap_ci([float(r["won"]) for r in results]).format(count=False),
        f"{len(seen) / len(results):.2f}",
        f"{len(won) / max(1, len(seen)):.2f}",
        f"{len(optimal) / max(1, len(planned)):.2f}" if grid_moves else "-",
        f"{statistics.median(ratio):.2f}" if ratio and grid_moves else "-",
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
    units = 2 + len(s.budgets) * (3 + 3 + 2) * s.trials + 1 + 2 + 3 * s.match_trials + 1 + len(s.compose_lengths) + 6
    start = time.perf_counter()
    with tqdm(total=units, desc="bench schemas", unit="task") as bar:
        bar.set_postfix_str("(a) correctness")
        rows_a = correctness(s)
        bar.update(1)
        bar.set_postfix_str("learning schema A")
        schema, learn = learn_room_schema(s)
        bar.update(1)
        bar.set_postfix_str("(b) transfer")
        rows_b, rows_p = transfer(s, schema, bar)
        bar.set_postfix_str("(b) new layouts")
        rows_l, rows_lp = new_layouts(s, schema, bar)
        bar.set_postfix_str("(b) egocentric room")
        ego = egocentric(s, bar)
        bar.set_postfix_str("(b) matching")
        rows_m = matching(s, schema, bar)
        bar.set_postfix_str("(b) composition")
        composed = composition(s.compose_lengths, s.compose_trials, s.part_steps, bar)
        bar.set_postfix_str("(c) speed")
        rows_c, rows_ops = speed(s.speed_iters, schema, bar)
        bar.set_postfix_str("(c) against numba")
        rows_n = against_numba(*speed_walk())
        bar.update(1)
    body = report(
        s,
        args.quick,
        rows_a,
        learn,
        rows_b,
        rows_p,
        (rows_l, rows_lp),
        ego,
        rows_m,
        composed,
        rows_c,
        rows_n,
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
    return schema, learning_row(schema, f"{s.schema_steps} steps", wall, cpu)


def learning_row(schema: Schema, walk: str, wall: float, cpu: float) -> list[object]:
    """One row of the schema-learning table."""
    info = schema.info
    return [
        walk,
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


LEARN_COLUMNS = ["walk", "clones", "clones used", "EM iterations", "EM bps (sum-product)",
                 "Viterbi bps (max-product)", "bps after Viterbi (sum-product)", "transitions kept", "wall s",
                 "CPU s"]
TRANSFER_COLUMNS = ["agent", "arm", "explore steps", "trials", "success [95% CI]", "goal seen",
                    "success given seen", "first plan optimal", "steps / optimal (median)",
                    "model build ms (median)"]


def report(
    s: Settings,
    quick: bool,
    rows_a: list,
    learn: list,
    rows_b: list,
    rows_p: list,
    layouts: tuple[list, list],
    ego: tuple[list, list, list],
    rows_m: list,
    composed: tuple[list, list, dict],
    rows_c: list,
    rows_n: tuple[list, float] | None,
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
        markdown_table(LEARN_COLUMNS, [learn]),
        f"Rooms B: same layout, colours permuted (recolour seeds 100..{99 + s.trials}); both agents see "
        "the same walks for a given policy and trial. *success*: reached the landmark and said done within "
        "60 steps after exploring, over all trials, with its 95% percentile bootstrap interval over trials. "
        "*success | seen*: the same among trials whose exploration saw the goal (the agent cannot plan to a "
        "goal it has not seen, so this is the planner's figure, not the agent's). *first plan optimal*: "
        "the first plan's length equals the true Manhattan distance. *steps / optimal*: moves from the "
        "first plan to the goal over that distance.",
        markdown_table(TRANSFER_COLUMNS, rows_b),
        "Paired over the same trials (persistent exploration): graph-schemas minus cscg-scratch in success, "
        "with its bootstrap interval, wins-losses-ties and the sign test.",
        markdown_table(["explore steps", "success, graph-schemas − cscg-scratch"], rows_p),
        f"New layouts: room A's 6x8 grid with the colours laid out anew (layout seeds 100..{99 + s.trials}, "
        "landmark moved too), persistent exploration. Only the topology carries over: with *tied slots* (the "
        "default) the clones of one room-A colour must share one new colour, which a new layout breaks; with "
        "*untied slots* every clone binds on its own (spec §7.1).",
        markdown_table(TRANSFER_COLUMNS, layouts[0]),
        markdown_table(["explore steps", "success, untied slots − from scratch", "success, untied − tied slots"],
                       layouts[1]),
        f"Egocentric room (`minigrid-aliased-room-ego`, 5x5, the agent sees the wall ahead; the goal is the view "
        f"from a corner): a schema learned on a {s.ego_steps}-step walk of room A, then rooms with the four wall "
        f"colours permuted (recolour seeds 100..{99 + s.trials}). Plans also turn, so the columns that compare "
        "a plan with the Manhattan distance are left out.",
        markdown_table(LEARN_COLUMNS, [ego[0]]),
        markdown_table(TRANSFER_COLUMNS, ego[1]),
        markdown_table(["explore steps", "success, schema − from scratch"], ego[2]),
        "Schema matching (spec §7.2): schemas of 5x5, 6x8 and 8x8 rooms, each rebound on a 400-step walk "
        "of a recoloured room; the lowest bits per step should be the room's own size.",
        markdown_table(["room B", "trials", "right schema picked", "mean bits/step after rebinding"], rows_m),
        "Composition (spec §7.2): two 5x5 rooms of 4 aliased colours side by side, a wall between them with one "
        "door, a landmark (the goal) in the right room. A schema of each room is learned on a "
        f"{s.part_steps}-step walk of that room alone ("
        + ", ".join(f"{p['name']}: {p['clones']} clones, {p['bps_refined']} bits/step" for p in composed[2]["parts"])
        + "). For each joint walk, the composition of the two (`agents/graph_schemas/compose.py`: the schemas' "
        "clones side by side, their transitions as a prior, EM and refinement on the joint walk to learn the "
        "door) and a CSCG from scratch with as many clones learn from the same walk. *Held-out bits/step*: a "
        "5,000-step joint walk (inf: a symbol the model has no clone for). *Success*: after a 30-step walk in "
        f"the left room to localise, plan to the landmark and walk the plan in the true rooms, replanning on a "
        f"surprise, within 60 moves ({s.compose_trials} starts, the same for both models).",
        markdown_table(COMPOSE_COLUMNS, composed[0]),
        markdown_table(["joint walk steps", "success, composed − from scratch"], composed[1]),
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
        "Against the reference users would otherwise run: the numba CSCG (naturecomm_cscg "
        "``chmm_actions.py``'s algorithm in float64, one sequential pass, `lab/benches/cscg_numba.py`), on the "
        "same walk from the same initial counts, one thread each, at most 1,000 EM iterations (`learn_schema`'s "
        "cap) under each one's stop rule (the reference: the first iteration without gain). *Time to the equal "
        "fit*: until the EM curve first reaches the worse of the two end points"
        + (f", {rows_n[1]:.5f} bits/step." if rows_n else ".")
        + " The per-step loop above is a loop of tiny torch ops written here, a test oracle, not this baseline.",
        markdown_table(NUMBA_COLUMNS, rows_n[0]) if rows_n else
        "Not run: numba is not installed (`pip install .[bench]`).",
        markdown_table(["operation", "wall", "CPU", "spec §11 target"], rows_ops),
    ]
    return "\n\n".join(parts)
