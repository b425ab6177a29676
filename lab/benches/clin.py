"""``memlab bench clin``: CLIN Adapt on tw-cooking games, the score of each trial, per memory generator.

Each game is one run of ``--trials`` trials through the lab's run loop (the memory carries across
them); the trial's step cap is ``--cap-factors`` x the game's walkthrough length: 1.5, CLIN's rule, which
on a 5-command walkthrough leaves 8 steps and little room to explore in trial 0, and 3, a budget that
does (the agent's own early stop uses the same factor). Two conditions share
the actor (the LLM given by ``--llm``; on the embedded model the action is chosen among the admissible
commands by log-likelihood, with the learnings in the prompt) and differ in who writes the learnings
after each trial: the deterministic generator (credit assignment, no LLM) or the LLM itself. The
paper's claim that scores rise over trials is the hypothesis; the table reports what was measured.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

from tqdm import tqdm

from envs.registry import make_env
from lab.benches import capped_chat_model, markdown_table, write_report
from lab.core.stats import bootstrap_ci, paired
from lab.core.records import RunConfig, RunInfo
from lab.runner import execute
from lab.store import RunStore

COOKING = {"recipe": 1, "take": 1, "go": 1}
"""One kitchen, one ingredient to take among several (3 points; walkthrough of 5 commands, cap 8 steps).
The smallest cooking game: the embedded actor scores on some of them, so learnings have something to
build on (with two ingredients it scored nothing in any trial of the quick run)."""
CONDITIONS = ("deterministic", "llm")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options (``--quick``: 2 games x 3 trials)."""
    parser = argparse.ArgumentParser(prog="memlab bench clin", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 games x 3 trials")
    parser.add_argument(
        "--games", type=int, default=None, help="tw-cooking games (game_seed 1..N; default 5)"
    )
    parser.add_argument("--trials", type=int, default=None, help="trials per game (default 5: trials 0-4)")
    parser.add_argument("--llm", default="embedded", help="LLM spec of the actor (and of the llm generator)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="generators to compare")
    parser.add_argument("--cap-factors", default="1.5,3",
                        help="step caps as multiples of the walkthrough length (1.5: CLIN's rule)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=64,
        help="generation cap of the embedded model (the llm generator's reply)",
    )
    args = parser.parse_args(argv)
    args.games = args.games or (2 if args.quick else 5)
    args.trials = args.trials or (3 if args.quick else 5)
    args.conditions = [c for c in args.conditions.split(",") if c]
    try:
        args.cap_factors = [float(f) for f in args.cap_factors.split(",") if f]
    except ValueError:
        parser.error(f"--cap-factors takes numbers separated by commas, not {args.cap_factors!r}")
    if not args.cap_factors or min(args.cap_factors) <= 0:
        parser.error("--cap-factors needs at least one positive factor")
    unknown = set(args.conditions) - set(CONDITIONS)
    if unknown:
        parser.error(f"unknown condition(s) {sorted(unknown)}; choose from {', '.join(CONDITIONS)}")
    return args


def step_cap(options: dict[str, Any], factor: float = 1.5) -> int:
    """``factor`` x the game's walkthrough length (1.5: CLIN's cap), from the env's privileged walkthrough."""
    env = make_env("tw-cooking", options)
    try:
        return math.ceil(factor * len(env.reset().privileged["walkthrough"]))
    finally:
        env.close()


def run_game(
    store: RunStore, model: Any, args: argparse.Namespace, condition: str, seed: int, factor: float, bar: tqdm
) -> dict[str, Any]:
    """One Adapt episode: ``args.trials`` trials of one game; per-trial scores (0-100) and learnings."""
    options = {**COOKING, "game_seed": seed}
    config = RunConfig(
        env_id="tw-cooking",
        env_options=options,
        agent_id="clin",
        llm=args.llm,
        trials=args.trials,
        max_steps=step_cap(options, factor),
        label="bench-clin",
        probe_every=0,  # the agent's own runs, as measured before memory probes existed
        agent_config={"generator": condition, "record_meta_memory": False, "mode": "adapt",
                      "walkthrough_factor": factor},
    )
    info = execute(config, store, chat_model=model, progress=lambda done, total: bar.update(1))
    if info.status != "finished":
        raise RuntimeError(f"run {info.run_id} ended with {info.status}: {info.summary.message}")
    return collect(store, info)


def collect(store: RunStore, info: RunInfo) -> dict[str, Any]:
    """What the tables need from one stored bench run."""
    assert info.summary is not None, "collect() needs a finished run"
    ends = [s for s in store.steps(info.run_id, with_snapshots=True) if s.trial_end and s.memory_snapshot]
    learnings = [
        sum(1 for r in s.memory_snapshot.records if r.kind == "learning" and r.removed_step is None)
        for s in ends
    ]
    records = ends[-1].memory_snapshot.records if ends else []
    trials = info.summary.trials
    factor = info.config.agent_config.get("walkthrough_factor", 1.5)
    return {
        "condition": f"{info.config.agent_config['generator']}, cap {factor:g}x",
        "seed": info.config.env_options["game_seed"],
        "run_id": info.run_id,
        "cap": info.config.max_steps,
        "scores": [100.0 * t.score / t.max_score if t.max_score else t.score for t in trials],
        "ends": ["won" if t.won else "lost" if t.lost else "" for t in trials],
        "steps": [t.steps for t in trials],
        "learnings": learnings,
        "generator_failures": sum(1 for r in records if r.kind == "trial" and r.attrs.get("note")),
        "wall_s": info.summary.wall_s,
    }


def summary_table(results: list[dict[str, Any]], trials: int) -> str:
    """Per condition: the mean over games of the score at each trial [95% bootstrap interval over games],
    the last trial minus the first paired by game, and the learnings kept."""
    header = ["generator, step cap", *[f"trial {t}" for t in range(trials)],
              f"trial {trials - 1} − trial 0 (paired by game)", "learnings after each trial"]
    rows = []
    for condition in dict.fromkeys(r["condition"] for r in results):
        mine = [r for r in results if r["condition"] == condition]
        cells = [bootstrap_ci([r["scores"][t] for r in mine if t < len(r["scores"])]).format(1)
                 for t in range(trials)]
        change = paired([r["scores"][trials - 1] for r in mine], [r["scores"][0] for r in mine]).format(1)
        kept = " / ".join(f"{statistics.fmean(r['learnings'][t] for r in mine):.1f}" for t in range(trials))
        rows.append([condition, *cells, change, kept])
    return markdown_table(header, rows)


def games_table(results: list[dict[str, Any]]) -> str:
    """One row per game and condition: scores and steps of each trial, run id."""
    rows = [
        [
            r["condition"],
            r["seed"],
            r["cap"],
            " / ".join(
                f"{s:.0f}" + (f" ({e})" if e else "") for s, e in zip(r["scores"], r["ends"], strict=True)
            ),
            " / ".join(map(str, r["steps"])),
            r["generator_failures"],
            f"{r['wall_s']:.0f}",
            r["run_id"],
        ]
        for r in results
    ]
    return markdown_table(
        [
            "generator, step cap",
            "game_seed",
            "step cap",
            "score per trial (won / lost)",
            "steps per trial",
            "trials whose generator output did not parse",
            "wall s",
            "run",
        ],
        rows,
    )


def verdict(results: list[dict[str, Any]], trials: int) -> str:
    """Whether the mean score rose from the first to the last trial, per condition."""
    lines = []
    for condition in dict.fromkeys(r["condition"] for r in results):
        mine = [r for r in results if r["condition"] == condition]
        first = statistics.fmean(r["scores"][0] for r in mine)
        last = statistics.fmean(r["scores"][trials - 1] for r in mine)
        change = paired([r["scores"][trials - 1] for r in mine], [r["scores"][0] for r in mine]).difference
        said = ("rose" if change.mean > 0 else "fell") if change.excludes(0.0) else (
            "too few games to tell" if change.n < 2 else
            "did not change detectably (the interval of the change includes 0)")
        lines.append(
            f"- {condition}: the mean score went from {first:.1f} (trial 0) to {last:.1f} (trial {trials - 1}): "
            f"{said}."
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the benchmark, print the tables and write ``docs/clin.md``."""
    args = parse_args(argv)
    model = capped_chat_model(args.llm, args.max_new_tokens)
    store = RunStore()
    caps = {(seed, f): step_cap({**COOKING, "game_seed": seed}, f)
            for seed in range(1, args.games + 1) for f in args.cap_factors}
    total = sum(caps.values()) * args.trials * len(args.conditions)
    results = []
    with tqdm(total=total, desc="clin bench (steps, at most)", unit="step") as bar:
        for condition in args.conditions:
            for factor in args.cap_factors:
                for seed in range(1, args.games + 1):
                    results.append(run_game(store, model, args, condition, seed, factor, bar))
    body = report(args, results)
    print(body)
    print(f"\nwritten to {write_report('clin', 'CLIN Adapt on tw-cooking: score per trial', body)}")
    return 0


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The Markdown body of ``docs/clin.md``."""
    command = "memlab bench clin " + " ".join(
        ["--quick"] * args.quick + [f"--games {args.games}", f"--trials {args.trials}", f"--llm {args.llm}",
                                    f"--conditions {','.join(args.conditions)}",
                                    f"--cap-factors {','.join(f'{f:g}' for f in args.cap_factors)}"]
    )
    return f"""Command: `{command}` (embedded generation cap {args.max_new_tokens} new tokens).

Setup: CLIN in Adapt mode on {args.games} tw-cooking games (options {COOKING}, game_seed 1..{args.games}),
{args.trials} trials each; a trial ends when the game is won or lost or after the step cap, a multiple of the
walkthrough length: {', '.join(f'{f:g}x' for f in args.cap_factors)} (1.5x is CLIN's rule; it applies from
step 0 here, as TextWorld has no teleport, so trial 0 has little room to explore; 3x leaves that room). Score = 100 x points / max points (a lost game keeps the points it had; CLIN's own
memory generator sees -100 for it). Actor: `{args.llm}` (on the embedded model the action is
the admissible command with the highest mean log-likelihood given the prompt, learnings included).
Generator: `deterministic` = credit assignment over the trace (no LLM); `llm` = the actor's LLM writing the
learnings from CLIN's generator prompt.

## Score per trial (mean [95% bootstrap interval over games])

{summary_table(results, args.trials)}

{verdict(results, args.trials)}

The paper's hypothesis is that scores rise over trials (ScienceWorld, GPT-4). These numbers are what
this run measured with the model above; a rise needs a learning that changes the actor's choice.

## Per game

{games_table(results)}
"""
