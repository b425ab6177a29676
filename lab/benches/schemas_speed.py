"""Speed section of ``memlab bench schemas``: seconds per EM iteration, batched vs a plain per-step loop.

N = 50,000 steps of the allocentric 6x8 room and S = 102 clones (25 x 4 colours + 2), as in spec §6;
then rebinding and planning times against the spec §11 targets. Wall and process CPU time are both
reported: on a shared machine the wall time includes other processes' load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from agents.graph_schemas import reference
from agents.graph_schemas.messages import Boundary
from agents.graph_schemas.model import CSCG, torch_threads
from agents.graph_schemas.planning import plan
from agents.graph_schemas.schema import Schema, match
from agents.graph_schemas.train import walk_room
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions


def cpu_wall(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, process CPU s, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def speed_walk() -> tuple[np.ndarray, np.ndarray]:
    """50,000 uniform random steps in the allocentric 6x8 room (4 colours + landmark)."""
    env = AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions())
    symbols, moves, _ = walk_room(env, 50_000, np.random.default_rng(1))
    vocab = sorted(set(symbols))
    return np.asarray([vocab.index(v) for v in symbols], dtype=np.int64), moves


def em_timing(
    x: np.ndarray, a: np.ndarray, threads: int, chunk_len: int, iters: int, device: str = "cpu"
) -> tuple[float, float, float]:
    """Median wall, median CPU and worst wall seconds per batched EM iteration, after one warm-up."""
    n_clones = [2 if (x == o).mean() < 0.05 else 25 for o in range(int(x.max()) + 1)]  # 25 x 4 + 2 = 102
    model = CSCG(n_clones, 4, pseudocount=2e-3, seed=42, device=device)
    prep = model.prepare(x, a, chunk_len)
    edge = Boundary.uniform(prep.layout.chunks, model.width, model.device, model.dtype)
    walls, cpus = [], []
    with torch_threads(threads if device == "cpu" else None):
        for it in range(iters + 1):
            wall, cpu, _ = cpu_wall(
                lambda: (model.em_step(prep, edge), torch.cuda.synchronize() if device == "cuda" else 0)
            )
            if it:
                walls.append(wall)
                cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus), max(walls)


def speed(iterations: int, schema: Schema, bar: tqdm) -> tuple[list[list[object]], list[list[object]]]:
    """EM seconds per iteration: batched (threads, chunk length) vs the plain loop; then small operations."""
    x, a = speed_walk()
    rows = []
    for threads, chunk_len in [(1, 100), (2, 100), (1, 50), (1, 200)]:
        wall, cpu, worst = em_timing(x, a, threads, chunk_len, iterations)
        label = f"batched, chunks of {chunk_len} ({-(-len(x) // chunk_len)} in parallel)"
        rows.append([label, f"cpu x{threads}", f"{wall:.3f}", f"{cpu:.3f}", f"{worst:.3f}"])
        bar.update(1)
    if torch.cuda.is_available():
        wall, cpu, worst = em_timing(x, a, 1, 100, iterations, device="cuda")
        rows.append(["batched, chunks of 100", "cuda", f"{wall:.3f}", f"{cpu:.3f}", f"{worst:.3f}"])
    loop_model = CSCG(
        [2 if (x == o).mean() < 0.05 else 25 for o in range(int(x.max()) + 1)], 4, pseudocount=2e-3
    )
    wall, cpu, _ = cpu_wall(lambda: reference.em_step_loop(loop_model, x, a))
    bar.update(1)
    rows.append(["plain per-step loop (one iteration)", "cpu x1", f"{wall:.3f}", f"{cpu:.3f}", f"{wall:.3f}"])
    base_wall, base_cpu = float(rows[0][2]), float(rows[0][3])
    ratio = [
        "ratio loop / batched (chunks of 100, cpu x1)",
        "",
        f"{wall / base_wall:.0f}x",
        f"{cpu / base_cpu:.0f}x",
    ]
    rows.append([*ratio, ""])
    return rows, small_ops(schema)


def against_numba(
    x: np.ndarray, a: np.ndarray, iterations: int = 1000
) -> tuple[list[list[object]], float] | None:
    """EM (``iterations`` at most, ``learn_schema``'s cap, each under its own stop rule), then Viterbi
    refinement, from the same initial counts: the numba reference and this code, one thread each. Besides
    the time per iteration, the time each took to first reach the worse of the two end points (equal fit).
    None without numba (the ``bench`` extra)."""
    try:
        from lab.benches.cscg_numba import NumbaCSCG
    except ImportError:
        return None
    n_clones = [2 if (x == o).mean() < 0.05 else 25 for o in range(int(x.max()) + 1)]
    ours = CSCG(n_clones, 4, pseudocount=2e-3, seed=42)
    ref = NumbaCSCG(n_clones, ours.C.double().numpy(), pseudocount=2e-3)
    NumbaCSCG(n_clones, ours.C.double().numpy()).learn_em(x[:200], a[:200], 1)  # compile (not timed)
    runs = {}
    for name, model in (("numba reference (float64, one pass)", ref), ("this code (float32, chunks of 100)", ours)):
        stamps: list[tuple[float, float]] = []
        start = time.perf_counter()
        with torch_threads(1):
            em = model.learn_em(x, a, iterations, progress=lambda it, bits: stamps.append(
                (time.perf_counter() - start, bits)))
            em_s = time.perf_counter() - start
            em_bps = model.bps(x, a)
            model.pseudocount = 0.0
            vit_start = time.perf_counter()
            vit = model.learn_viterbi(x, a, 100)
            vit_s = time.perf_counter() - vit_start
            runs[name] = (em, em_s, em_bps, vit, vit_s, model.bps(x, a), stamps)
    target = max(run[2] for run in runs.values())  # the worse end point: a fit both reached
    rows, reached = [], []
    for name, (em, em_s, em_bps, vit, vit_s, bps, stamps) in runs.items():
        reach = next(((t, k + 1) for k, (t, bits) in enumerate(stamps) if bits <= target), (em_s, len(em)))
        reached.append(reach[0])
        rows.append([name, len(em), f"{em_s / len(em):.3f}", f"{em_s:.1f}", f"{em_bps:.5f}",
                     f"{reach[0]:.1f} s ({reach[1]} it.)", len(vit), f"{vit_s:.1f}", f"{bps:.6f}"])
    (_, r), (_, o) = runs.items()
    rows.append(["ratio numba / this code", "", f"{(r[1] / len(r[0])) / (o[1] / len(o[0])):.1f}x",
                 f"{r[1] / o[1]:.1f}x", "", f"{reached[0] / max(reached[1], 1e-9):.1f}x", "",
                 f"{r[4] / o[4]:.1f}x", ""])
    return rows, target


NUMBA_COLUMNS = ["implementation", "EM iterations", "s / iteration", "EM s", "EM bits/step at its end",
                 "time to the equal fit", "Viterbi iterations", "Viterbi s", "bits/step after Viterbi (sum-product)"]


def small_ops(schema: Schema) -> list[list[object]]:
    """Rebinding on 400 steps and one plan (spec §11 targets)."""
    env = AliasedRoomEnv("minigrid-aliased-room", AliasedRoomOptions(recolour_seed=7))
    symbols, moves, _ = walk_room(env, 400, np.random.default_rng(3))
    names = [env.action_names[m] for m in moves[:-1]]
    rebinds = [cpu_wall(lambda: match([schema], symbols, names)) for _ in range(5)]
    T = schema.plan_transitions(1e-3)
    rng = np.random.default_rng(0)
    plans = []
    for _ in range(50):
        targets = torch.zeros(schema.n_states, dtype=torch.bool)
        targets[int(rng.integers(schema.n_states))] = True
        plans.append(cpu_wall(lambda: plan(T, int(rng.integers(schema.n_states)), targets)))
    return [
        [
            "rebind (emission EM, slots tied), 400 steps",
            f"{1000 * statistics.median(r[0] for r in rebinds):.0f} ms",
            f"{1000 * statistics.median(r[1] for r in rebinds):.0f} ms",
            "<= 100 ms",
        ],
        [
            "plan (max-product sweep + backtrace)",
            f"{1000 * statistics.median(p[0] for p in plans):.1f} ms",
            f"{1000 * statistics.median(p[1] for p in plans):.1f} ms",
            "<= 10 ms",
        ],
    ]
