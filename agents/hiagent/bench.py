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
import statistics
import time
from typing import Any

from tqdm import tqdm

from agents.baselines.full_history import FullHistoryConfig, HistoryMemory
from lab.bench import capped_chat_model, markdown_table, write_report
from lab.llm.client import estimate_tokens
from lab.records import LLMCall, RunConfig, Step
from lab.runner import execute
from lab.store import RunStore

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "hiagent": ("hiagent", {}),
    "hiagent-no-example": ("hiagent", {"example": False}),
    "full-history": ("full-history", {}),
}
"""Label -> (agent id, agent config). Only HiAgent carries a one-shot example, as the paper's prompts
do; without it, its action prompt holds what full-history's holds, so the ratio isolates the memory."""
GAMES: dict[str, dict[str, Any]] = {
    "tw-cooking": {"recipe": 2, "take": 1, "go": 6, "open": True},
    "tw-hunt": {},
}
"""Options per env: cooking with six rooms and closed doors; the AriGraph paper's Treasure Hunt."""


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


def run_one(
    store: RunStore, model: Any, args: argparse.Namespace, variant: str, env_id: str, seed: int, bar: tqdm
) -> dict[str, Any]:
    """One run of a variant; its measures."""
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
        label="bench-hiagent",
    )
    start = time.perf_counter()
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
        "wall_s": time.perf_counter() - start,
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
        100.0 * hi["memory_tokens"] / hi["history_tokens_same"] if hi["history_tokens_same"] else float("nan")
    )


def pair_rows(results: list[dict[str, Any]]) -> list[list[object]]:
    """One row per env and game: the agents, and HiAgent's context as a share of full-history's."""
    bare = {(r["env"], r["seed"]): r for r in results if r["agent"] == "hiagent-no-example"}
    blank = {"act_tokens": float("nan"), "score": float("nan"), "max_score": float("nan")}
    return [
        [
            hi["env"],
            hi["seed"],
            f"{hi['act_tokens']:.0f}",
            f"{full['act_tokens']:.0f}",
            f"{ratio(hi, full, 'act_tokens'):.1f}%",
            f"{bare.get((hi['env'], hi['seed']), blank)['act_tokens']:.0f}",
            f"{ratio(bare.get((hi['env'], hi['seed']), blank), full, 'act_tokens'):.1f}%",
            f"{hi['memory_tokens']:.0f}",
            f"{full['memory_tokens']:.0f}",
            f"{ratio(hi, full, 'memory_tokens'):.1f}%",
            f"{hi['history_tokens_same']:.0f}",
            f"{same_trajectory(hi):.1f}%",
            f"{hi['all_tokens']:.0f}",
            f"{full['all_tokens']:.0f}",
            f"{hi['score']:g}/{hi['max_score']:g}",
            f"{bare.get((hi['env'], hi['seed']), blank)['score']:g}",
            f"{full['score']:g}/{full['max_score']:g}",
            hi["steps"],
            full["steps"],
            hi["subgoals"],
        ]
        for hi, full in pairs(results)
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


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The Markdown body of ``docs/hiagent.md``."""
    rows = pair_rows(results)
    mean_share = mean([ratio(hi, full, "act_tokens") for hi, full in pairs(results)])
    memory_share = mean([ratio(hi, full, "memory_tokens") for hi, full in pairs(results)])
    same_share = mean([same_trajectory(hi) for hi, _ in pairs(results)])
    bare_share = mean([ratio(hi, full, "act_tokens") for hi, full in pairs(results, "hiagent-no-example")])
    bare_same = mean([same_trajectory(hi) for hi, _ in pairs(results, "hiagent-no-example")])
    command = "memlab bench hiagent " + " ".join(
        ["--quick"] * args.quick
        + [
            f"--seeds {args.seeds}",
            f"--max-steps {args.max_steps}",
            f"--llm {args.llm}",
            f"--summarizer {args.summarizer}",
        ]
    )
    table = markdown_table(
        [
            "env",
            "game_seed",
            "HiAgent act tok/step",
            "full-history act tok/step",
            "HiAgent / full-history",
            "HiAgent, no example, act tok/step",
            "no example / full-history",
            "HiAgent memory tok/step",
            "full-history memory tok/step",
            "memory ratio",
            "full-history memory on HiAgent's trajectory",
            "same-trajectory memory ratio",
            "HiAgent all tok/step",
            "full-history all tok/step",
            "HiAgent score",
            "HiAgent, no example, score",
            "full-history score",
            "HiAgent steps",
            "full-history steps",
            "HiAgent subgoals",
        ],
        rows,
    )
    return f"""Command: `{command}` (embedded generation cap {args.max_new_tokens} new tokens).

Setup: the agents play each game once for at most {args.max_steps} steps with `{args.llm}`. Envs:
{", ".join(f"`{e}` {GAMES[e]}" for e in envs())}, game_seed 1..{args.seeds}. "act tok/step" = mean prompt
tokens of the action call per step ("no example": HiAgent without its one-shot example, as
full-history has none); "memory tok/step" = the memory text in that prompt (HiAgent's
serialised working memory, full-history's history); "all tok/step" adds HiAgent's subgoal and summary
calls; tokens are characters / 4 for every call.

## Context per step

{table}

Mean HiAgent / full-history ratio: action prompt {mean_share:.1f}%, memory text {memory_share:.1f}%,
memory text on the same trajectory {same_share:.1f}%. Without the example: action prompt
{bare_share:.1f}%, memory text on its own trajectory {bare_same:.1f}%. The paper reports ~65% context
(~35% less) on AgentBoard with GPT-4, where both agents carry a few-shot example; here only HiAgent
does, which is most of the action-prompt difference (the no-example variant measures it). The agents
play different trajectories (their observations differ in length), so the memory ratio between runs
mixes memory management with behaviour; the same-trajectory ratio compares HiAgent's working memory
after each step with what full-history's history would hold after the same steps of HiAgent's run. Both
grow with the episode: full-history adds one observation-action pair a step, HiAgent collapses each
finished subgoal to one line, so short episodes with few finished subgoals show little difference.

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
    results = []
    with tqdm(total=len(plan) * args.max_steps, desc="hiagent bench (steps, at most)", unit="step") as bar:
        for env_id, seed, variant in plan:
            results.append(run_one(store, model, args, variant, env_id, seed, bar))
    body = report(args, results)
    print(body)
    print(f"\nwritten to {write_report('hiagent', 'HiAgent vs full-history: context, score, steps', body)}")
    return 0
