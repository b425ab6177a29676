"""``memlab train schemas``: learn a schema in one aliased room and save it in the data dir.

A uniform random walk of ``--steps`` steps in room A (spec §9: 50k allocentric, 60k egocentric),
clones proportional to symbol frequency (about twice the true places per symbol), EM with
pseudocount 2e-3 and early stop, Viterbi refinement, then the used clones are kept and saved as
JSON under ``<data dir>/schemas/<name>.json``. The agent ``graph-schemas`` loads it by name.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from agents.graph_schemas.schema import Schema, clones_for, learn_schema, save_schema
from envs.aliased_room import AliasedRoomEnv, AliasedRoomOptions, EgoRoomOptions
from lab.core.errors import ConfigError
from lab.core.policy.device import choose_device


def walk_room(
    env: AliasedRoomEnv, steps: int, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A uniform random walk: symbols (n,), move indices (n,), true states (n, 2) or (n, 3) with heading."""
    env.reset(seed=int(rng.integers(2**31)))
    moves = rng.integers(len(env.action_names) - 1, size=steps)  # every action but "done"
    symbols, states = [], []
    for move in moves:
        symbols.append(env.symbol())
        states.append(env.state if env.ego else env.position)
        env.move(int(move))
    return symbols, moves.astype(np.int64), np.asarray(states, dtype=np.int64)


def train_schema(
    name: str,
    options: AliasedRoomOptions | EgoRoomOptions,
    *,
    steps: int = 50_000,
    clone_factor: float = 2.0,
    pseudocount: float = 2e-3,
    max_iter: int = 1000,
    seed: int = 42,
    walk_seed: int = 0,
    chunk_len: int = 100,
    device: str = "auto",
    progress: Callable[[int, float], None] | None = None,
) -> Schema:
    """Walk room A, learn the schema; ``progress(iteration, bits_per_step)`` is called every EM iteration."""
    ego = isinstance(options, EgoRoomOptions)
    env = AliasedRoomEnv("minigrid-aliased-room-ego" if ego else "minigrid-aliased-room", options)
    symbols, moves, states = walk_room(env, steps, np.random.default_rng(walk_seed))
    vocab = sorted(set(symbols))
    index = {s: i for i, s in enumerate(vocab)}
    x = np.asarray([index[s] for s in symbols], dtype=np.int64)
    places = len(env.cells()) * (4 if ego else 1)
    n_clones = clones_for(x, len(vocab), places, clone_factor, minimum=1 if ego else 2)
    schema = learn_schema(
        name,
        x,
        moves,
        vocab,
        env.action_names[:-1],
        n_clones,
        pseudocount=pseudocount,
        em_iters=max_iter,
        seed=seed,
        chunk_len=chunk_len,
        pos=states,
        device=choose_device(device),
        progress=progress,
    )
    schema.info.update(
        env=env.env_id, room=options.model_dump(mode="json"), walk_seed=walk_seed, true_places=places
    )
    env.close()
    return schema


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="memlab train schemas", description=__doc__.split("\n\n")[0])
    p.add_argument("--name", help="schema name (default room-<W>x<H>, or room-ego-<W>x<H> with --ego)")
    p.add_argument("--ego", action="store_true", help="egocentric room (view 3, coloured walls)")
    p.add_argument("--width", type=int, help="interior columns (6 allocentric, 5 egocentric)")
    p.add_argument("--height", type=int, help="interior rows (8 allocentric, 5 egocentric)")
    p.add_argument("--layout-seed", type=int, default=0, help="colouring of the allocentric room")
    p.add_argument("--steps", type=int, help="walk length (50000 allocentric, 60000 egocentric)")
    p.add_argument("--clone-factor", type=float, default=2.0, help="clones per true place of a symbol")
    p.add_argument("--pseudocount", type=float, default=2e-3)
    p.add_argument("--max-iter", type=int, default=1000, help="EM iterations at most (early stop)")
    p.add_argument("--seed", type=int, default=42, help="initial counts")
    p.add_argument("--walk-seed", type=int, default=0)
    p.add_argument("--chunk-len", type=int, default=100, help="steps per parallel sub-sequence")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return p.parse_args(argv)


def room_options(args: argparse.Namespace) -> AliasedRoomOptions | EgoRoomOptions:
    """The room A options from the command line."""
    if args.ego:
        return EgoRoomOptions(width=args.width or 5, height=args.height or 5)
    return AliasedRoomOptions(width=args.width or 6, height=args.height or 8, layout_seed=args.layout_seed)


def main(argv: list[str]) -> int:
    """Learn and save a schema; print where it went."""
    args = parse(argv)
    try:
        options = room_options(args)
    except ValueError as err:
        raise ConfigError(f"train schemas: {err}") from None
    name = args.name or (
        f"room-ego-{options.width}x{options.height}" if args.ego else f"room-{options.width}x{options.height}"
    )
    steps = args.steps or (60_000 if args.ego else 50_000)
    bar = tqdm(total=args.max_iter, desc=f"EM {name}", unit="it")

    def tick(iteration: int, bits: float) -> None:
        bar.update(1)
        bar.set_postfix(bps=f"{bits:.4f}")

    start = time.perf_counter()
    schema = train_schema(
        name,
        options,
        steps=steps,
        clone_factor=args.clone_factor,
        pseudocount=args.pseudocount,
        max_iter=args.max_iter,
        seed=args.seed,
        walk_seed=args.walk_seed,
        chunk_len=args.chunk_len,
        device=args.device,
        progress=tick,
    )
    bar.close()
    path = save_schema(schema)
    print(
        f"{name}: {schema.info['em_iterations']} EM iterations (bps {schema.curve['em'][-1]:.4f}), "
        f"Viterbi bps {schema.curve['viterbi'][-1]:.5f}, {schema.n_states} clones used for "
        f"{schema.info['true_places']} places, {time.perf_counter() - start:.0f} s -> {path}"
    )
    return 0
