"""``memlab bench hiagent``: HiAgent against the full-history baseline, prompt tokens per step, score, steps.

HiAgent (with and without its one-shot example) and full-history play the same games with the same LLM
(``--llm``, the embedded model by default; there all choose the action among the admissible commands by
log-likelihood, and HiAgent also generates its subgoals and, with the ``llm`` summariser, its
summaries). Context is measured as the prompt tokens of the action call (what the paper's "context
tokens" compares) and of all calls, both estimated as characters / 4 for every call alike. The paper
reports about 35% less context for HiAgent (AgentBoard, GPT-4); that is the hypothesis, and the table
reports what was measured.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from agents.baselines.full_history import FullHistoryConfig, HistoryMemory
from lab.benches import capped_chat_model, markdown_table, write_report
from lab.benches.arigraph import normalised
from lab.core.llm.client import estimate_tokens
from lab.core.records import LLMCall, RunConfig, Step
from lab.core.stats import bootstrap_ci, paired
from lab.runner import execute, prepare
from lab.store import RunStore

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "hiagent": ("hiagent", {}),
    "hiagent-no-example": ("hiagent", {"example": False}),
    "full-history": ("full-history", {}),
}
"""Label -> (agent id, agent config). Only HiAgent carries a one-shot example, as the paper's prompts
do; without it, its action prompt holds what full-history's holds (instructions, goal, memory)."""

GAMES: dict[str, dict[str, Any]] = {
    "tw-cooking": {"recipe": 2, "take": 1, "go": 6, "open": True},
    "tw-hunt": {},
}
"""Options per env: cooking with six rooms and closed doors; the AriGraph paper's Treasure Hunt."""


NAN = float("nan")
MISSING = {key: NAN for key in ("act_tokens", "memory_tokens", "history_tokens_same", "score")}
"""Stands in for a variant that did not run (its cells read ``nan``)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options (``--quick``: one game per env, 12 steps)."""
    parser = argparse.ArgumentParser(prog="memlab bench hiagent", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one game per env, 12 steps")
    parser.add_argument("--seeds", type=int, default=None, help="games (game_seed 1..N) per env (default 2)")
    parser.add_argument("--max-steps", type=int, default=None, help="steps per run (default 30, as HiAgent)")
    parser.add_argument("--llm", default="embedded", help="LLM spec shared by both agents")
    parser.add_argument(
        "--summarizer",
        default="llm",
        choices=["llm", "last_observation", "composite"],
        help="HiAgent's summariser",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=32,
        help="generation cap of the embedded model (subgoals and summaries are one line)",
    )
    parser.add_argument(
        "--reuse", action="store_true",
        help="measure finished runs of the same config from the store instead of playing them again (the "
             "generation cap is not part of a run's config: give the one they were played with)",
    )
    args = parser.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 2)
    args.max_steps = args.max_steps or (12 if args.quick else 30)
    return args


def envs() -> list[str]:
    """The issue's two games: tw-cooking and the AriGraph paper's treasure hunt."""
    return ["tw-cooking", "tw-hunt"]


def prompt_tokens(call: LLMCall) -> int:
    """Estimated input tokens of one call (characters / 4 over its messages)."""
    return estimate_tokens("".join(m.content for m in call.messages))


def mean(values: list[float]) -> float:
    """The mean (0 for no values)."""
    return statistics.fmean(values) if values else 0.0


def measure(store: RunStore, run_id: str, steps: list[Step]) -> dict[str, float]:
    """Per-step context: action-call prompt tokens, all prompt tokens, memory-text tokens, LLM calls."""
    act = [sum(prompt_tokens(c) for c in s.llm_calls if c.purpose == "act") for s in steps]
    every = [sum(prompt_tokens(c) for c in s.llm_calls) for s in steps]
    memory = [estimate_tokens(store.memory_at(run_id, s.index).prompt_text) for s in steps]
    return {
        "act_tokens": mean(act),
        "all_tokens": mean(every),
        "memory_tokens": mean(memory),
        "history_tokens_same": mean(history_tokens(steps)),
        "act_tokens_last": act[-1] if act else 0,
        "calls": mean([len(s.llm_calls) for s in steps]),
    }


def history_tokens(steps: list[Step]) -> list[int]:
    """Full-history's memory text after each step of *this* trajectory (history + newest observation).

    Comparing it with HiAgent's working memory after the same step removes the confound of the two
    agents playing different trajectories (different observation lengths).
    """
    history = HistoryMemory(FullHistoryConfig().max_history_chars)
    sizes = []
    for step in steps:
        history.add(step.index, step.observation.text, step.action)
        sizes.append(estimate_tokens(history.render() + "\n" + step.feedback))
    return sizes


LABEL = "bench-hiagent"


def run_one(
    store: RunStore, model: Any, args: argparse.Namespace, variant: str, env_id: str, seed: int, bar: tqdm,
    done: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run of a variant (or, from ``done``, a finished run of the same config); its measures."""
    agent, agent_config = VARIANTS[variant]
    if agent == "hiagent":
        agent_config = {**agent_config, "summarizer": args.summarizer}
    config = RunConfig(
        env_id=env_id,
        env_options={**GAMES[env_id], "game_seed": seed},
        agent_id=agent,
        llm=args.llm,
        max_steps=args.max_steps,
        agent_config=agent_config,
        probe_every=0,  # the agent's own runs, as measured before memory probes existed
        label=LABEL,
    )
    start = time.perf_counter()
    info = (done or {}).get(prepare(config).config.model_dump_json())
    if info is None:
        info = execute(config, store, chat_model=model, progress=lambda done, total: bar.update(1))
    if info.status != "finished":
        raise RuntimeError(f"run {info.run_id} ended with {info.status}: {info.summary.message}")
    steps = store.steps(info.run_id)
    bar.update(args.max_steps - len(steps))
    summary = info.summary
    subgoals = len({s.thoughts.get("subgoal") for s in steps if s.thoughts.get("subgoal")})
    return {
        "agent": variant,
        "env": env_id,
        "seed": seed,
        "run_id": info.run_id,
        "steps": summary.steps,
        "score": summary.score,
        "max_score": summary.max_score,
        "won": summary.won,
        "subgoals": subgoals,
        "wall_s": summary.wall_s if done else time.perf_counter() - start,
        **measure(store, info.run_id, steps),
    }


def pairs(
    results: list[dict[str, Any]], hiagent: str = "hiagent"
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(HiAgent variant, full-history) results of the same env and game."""
    out = []
    for key in dict.fromkeys((r["env"], r["seed"]) for r in results):
        by = {r["agent"]: r for r in results if (r["env"], r["seed"]) == key}
        if hiagent in by and "full-history" in by:
            out.append((by[hiagent], by["full-history"]))
    return out


def ratio(hi: dict[str, Any], full: dict[str, Any], key: str) -> float:
    """HiAgent's measure as a percentage of full-history's."""
    return 100.0 * hi[key] / full[key] if full[key] else float("nan")


def same_trajectory(hi: dict[str, Any]) -> float:
    """HiAgent's memory as a percentage of full-history's memory on HiAgent's own trajectory."""
    return (
        100.0 * hi["memory_tokens"] / hi["history_tokens_same"] if hi["history_tokens_same"] else NAN
    )


def same_trajectory_prompt(hi: dict[str, Any], full: dict[str, Any]) -> float:
    """HiAgent's action prompt as a percentage of full-history's on HiAgent's own trajectory.

    Full-history's prompt there is its fixed text (its mean action prompt less its mean memory text,
    measured in its own run) plus the history it would hold on HiAgent's trajectory.
    """
    fixed = full["act_tokens"] - full["memory_tokens"]
    if not hi["history_tokens_same"]:
        return NAN
    return 100.0 * hi["act_tokens"] / (fixed + hi["history_tokens_same"])


def triples(results: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(HiAgent, HiAgent without the example, full-history) results of the same env and game."""
    bare = {(r["env"], r["seed"]): r for r in results if r["agent"] == "hiagent-no-example"}
    return [(hi, bare.get((hi["env"], hi["seed"]), MISSING), full) for hi, full in pairs(results)]


def prompt_rows(results: list[dict[str, Any]]) -> list[list[object]]:
    """Action-prompt tokens per step; HiAgent's as a share of full-history's (own runs, same trajectory)."""
    return [
        [
            hi["env"],
            hi["seed"],
            f"{hi['act_tokens']:.0f}",
            f"{bare['act_tokens']:.0f}",
            f"{full['act_tokens']:.0f}",
            f"{ratio(hi, full, 'act_tokens'):.1f}%",
            f"{ratio(bare, full, 'act_tokens'):.1f}%",
            f"{same_trajectory_prompt(hi, full):.1f}%",
            f"{same_trajectory_prompt(bare, full):.1f}%",
        ]
        for hi, bare, full in triples(results)
    ]


def memory_rows(results: list[dict[str, Any]]) -> list[list[object]]:
    """Memory-text tokens per step, all calls' tokens, scores and steps."""
    return [
        [
            hi["env"],
            hi["seed"],
            f"{hi['memory_tokens']:.0f}",
            f"{full['memory_tokens']:.0f}",
            f"{ratio(hi, full, 'memory_tokens'):.1f}%",
            f"{hi['history_tokens_same']:.0f}",
            f"{same_trajectory(hi):.1f}%",
            f"{same_trajectory(bare):.1f}%",
            f"{hi['all_tokens']:.0f}",
            f"{full['all_tokens']:.0f}",
            f"{hi['score']:g}/{hi['max_score']:g}",
            f"{bare['score']:g}",
            f"{full['score']:g}/{full['max_score']:g}",
            hi["steps"],
            full["steps"],
            hi["subgoals"],
        ]
        for hi, bare, full in triples(results)
    ]


def runs_table(results: list[dict[str, Any]]) -> str:
    """Every run with its id, for inspection in the lab."""
    rows = [
        [
            r["agent"],
            r["env"],
            r["seed"],
            r["steps"],
            f"{r['score']:g}",
            r["won"],
            f"{r['act_tokens']:.0f}",
            f"{r['act_tokens_last']:.0f}",
            f"{r['calls']:.2f}",
            f"{r['wall_s']:.0f}",
            r["run_id"],
        ]
        for r in results
    ]
    return markdown_table(
        [
            "agent",
            "env",
            "game_seed",
            "steps",
            "score",
            "won",
            "act prompt tok/step",
            "act prompt tok, last step",
            "LLM calls/step",
            "wall s",
            "run",
        ],
        rows,
    )


PAPER_RATIO = 65.0
"""HiAgent's context tokens as a share of the full-history baseline's in the paper: 64.98% [HP Table 1]."""


def same_length(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two runs played as many steps (per-step means of runs of different lengths do not compare)."""
    return a.get("steps") == b.get("steps")


def ratio_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """Mean HiAgent / full-history ratios over games with their 95% bootstrap intervals, and where each
    interval stands against 100% (no saving) and the paper's 65%. The own-run ratios leave out pairs whose
    runs played different numbers of steps (a run that ends at step 1 has a near-empty history); the
    same-trajectory ratios need no such rule."""
    groups = triples(results)

    def cell(measure: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], float], own: str = "") -> str:
        chosen = [(hi, bare, full) for hi, bare, full in groups
                  if not own or same_length(hi if own == "hi" else bare, full)]
        values = [v for v in (measure(*group) for group in chosen) if not math.isnan(v)]
        iv = bootstrap_ci(values)
        if not iv.n:
            return "–"
        if math.isnan(iv.low):
            return f"{iv.mean:.1f}% (n=1)"
        where = ("below 100%" if iv.high < 100 else "above 100%" if iv.low > 100 else "includes 100%")
        paper = "includes 65%" if iv.low <= PAPER_RATIO <= iv.high else "excludes 65%"
        return f"{iv.mean:.1f}% [{iv.low:.1f}, {iv.high:.1f}] (n={iv.n}; {where}, {paper})"

    return [
        ["action prompt, own runs", cell(lambda hi, bare, full: ratio(hi, full, "act_tokens"), "hi"),
         cell(lambda hi, bare, full: ratio(bare, full, "act_tokens"), "bare")],
        ["action prompt, same trajectory", cell(lambda hi, bare, full: same_trajectory_prompt(hi, full)),
         cell(lambda hi, bare, full: same_trajectory_prompt(bare, full))],
        ["memory text, same trajectory", cell(lambda hi, bare, full: same_trajectory(hi)),
         cell(lambda hi, bare, full: same_trajectory(bare))],
        ["memory text, own runs", cell(lambda hi, bare, full: ratio(hi, full, "memory_tokens"), "hi"), ""],
    ]


def paired_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """Each HiAgent variant minus full-history on the same game: normalised score, action-prompt tokens per
    step and all prompt tokens per step (over the pairs of runs of the same length), with bootstrap
    intervals and the sign test."""
    rows = []
    for variant in ("hiagent", "hiagent-no-example"):
        both = pairs(results, variant)
        if not both:
            continue
        even = [(hi, full) for hi, full in both if same_length(hi, full)]
        rows.append([
            variant,
            paired([normalised(hi["score"], hi["max_score"]) for hi, _ in both],
                   [normalised(full["score"], full["max_score"]) for _, full in both]).format(),
            paired([hi["act_tokens"] for hi, _ in even], [full["act_tokens"] for _, full in even]).format(0),
            paired([hi["all_tokens"] for hi, _ in even], [full["all_tokens"] for _, full in even]).format(0),
        ])
    return rows


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The Markdown body of ``docs/hiagent.md``."""
    command = "memlab bench hiagent " + " ".join(
        ["--quick"] * args.quick
        + [
            f"--seeds {args.seeds}",
            f"--max-steps {args.max_steps}",
            f"--llm {args.llm}",
            f"--summarizer {args.summarizer}",
        ]
    )
    prompts = markdown_table(
        [
            "env",
            "game_seed",
            "HiAgent",
            "HiAgent, no example",
            "full-history",
            "HiAgent / full-history",
            "no example / full-history",
            "HiAgent / full-history, same trajectory",
            "no example / full-history, same trajectory",
        ],
        prompt_rows(results),
    )
    memories = markdown_table(
        [
            "env",
            "game_seed",
            "HiAgent memory tok/step",
            "full-history memory tok/step",
            "memory ratio",
            "full-history memory on HiAgent's trajectory",
            "same-trajectory memory ratio",
            "no example: same-trajectory memory ratio",
            "HiAgent all tok/step",
            "full-history all tok/step",
            "HiAgent score",
            "HiAgent, no example, score",
            "full-history score",
            "HiAgent steps",
            "full-history steps",
            "HiAgent subgoals",
        ],
        memory_rows(results),
    )
    ratios = markdown_table(["measure", "HiAgent", "HiAgent, no example"], ratio_rows(results))
    differences = markdown_table(
        ["variant", "normalised score", "action prompt tok/step", "all prompt tok/step"], paired_rows(results)
    )
    return f"""Command: `{command}` (embedded generation cap {args.max_new_tokens} new tokens).

Setup: HiAgent, HiAgent without its one-shot example ("no example", which makes its prompt hold what
full-history's holds: instructions, goal, memory) and full-history play each game once for at most
{args.max_steps} steps with `{args.llm}`. Envs: {", ".join(f"`{e}` {GAMES[e]}" for e in envs())},
game_seed 1..{args.seeds}. Tokens are characters / 4 for every call alike.

The agents play different trajectories, and the observations of one can be much longer than those
of another, so a ratio between two runs mixes memory management with behaviour. The "same
trajectory" ratios remove that: they compare an agent's prompt or memory after each step with what
full-history's would hold after the same steps of that agent's run (its history rebuilt from the
run's observations and actions; its fixed prompt text as measured in its own run).

## Action prompt, tokens per step

{prompts}

## Memory text, tokens per step; scores

"memory" = the memory text in the action prompt (HiAgent's serialised working memory, full-history's
history); "all tok/step" adds HiAgent's subgoal and summary calls.

{memories}

Ratios over games (one HiAgent / full-history ratio per env and game_seed): mean [95% percentile-bootstrap
interval], and where the interval stands against 100% (no saving) and the paper's 65%. The own-run rows
leave out the pairs whose two runs played different numbers of steps (n counts the pairs kept):

{ratios}

Paired on the same env and game_seed, HiAgent minus full-history: mean difference [95% bootstrap
interval] (n pairs; the token columns over the pairs of runs of the same length), wins-losses-ties
(HiAgent higher), two-sided sign test:

{differences}

The paper reports ~65% context (~35% less) on AgentBoard with GPT-4, where both agents carry a
few-shot example. Here only HiAgent carries one by default; the no-example variant shows the prompt
without it. Both grow with the episode: full-history adds one observation-action pair a step,
HiAgent collapses each finished subgoal to one line, so short episodes with few finished subgoals
show little difference.

## Runs

{runs_table(results)}
"""


def main(argv: list[str]) -> int:
    """Run the benchmark, print the tables and write ``docs/hiagent.md``."""
    args = parse_args(argv)
    model = capped_chat_model(args.llm, args.max_new_tokens)
    store = RunStore()
    plan = [
        (env_id, seed, variant)
        for env_id in envs()
        for seed in range(1, args.seeds + 1)
        for variant in VARIANTS
    ]
    done = ({r.config.model_dump_json(): r for r in store.list_runs(limit=100_000, label=LABEL, status="finished")}
            if args.reuse else None)
    results = []
    with tqdm(total=len(plan) * args.max_steps, desc="hiagent bench (steps, at most)", unit="step") as bar:
        for env_id, seed, variant in plan:
            results.append(run_one(store, model, args, variant, env_id, seed, bar, done))
    body = report(args, results)
    print(body)
    print(f"\nwritten to {write_report('hiagent', 'HiAgent vs full-history: context, score, steps', body)}")
    return 0
