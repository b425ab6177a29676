"""``memlab bench arigraph``: scores, memory fidelity and retrieval latency of Ariadne and its baselines.

(a) normalised score and agent steps of ``arigraph``, ``arigraph-full-history``, ``summary``, ``rag`` and
    ``reflexion`` (several trials; its last trial's score) with the embedded model on tw-hunt, tw-cooking (the
    paper's settings) and tw-clean, several seeds, mean [95% bootstrap CI]; the same on the paper's game
    files; ``arigraph`` against each baseline paired on the same game and seed.
(b) memory fidelity with a walkthrough policy: recall and precision of the graph built by the
    ``oracle`` (upper bound), ``rules`` and ``llm`` extractors.
(c) semantic-search latency p50/p95 at 1k/5k/20k triplets, cached index vs the reference's
    re-embed-everything search, measured side by side.

``--quick`` shrinks every part (fewer seeds, steps, sizes, repetitions); the report says what ran.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agents.arigraph.config import EMBEDDED_PRESET
from agents.arigraph.extract import (
    LLMExtractor,
    LLMOutdated,
    OracleExtractor,
    RulesExtractor,
    View,
    rules_outdated,
)
from lab.benches.arigraph_latency import run_latency
from lab.core.stats import bootstrap_ci, paired
from agents.arigraph.memory import AriGraphMemory
from agents.arigraph.planact import preprocess
from agents.arigraph.retrieval import HashEncoder
from envs.registry import make_env
from lab.benches import DOCS, markdown_table, write_report
from lab.fidelity import FidelityTracker

PAPER_GAMES = Path(
    os.environ.get(
        "MEMLAB_ARIGRAPH_GAMES", Path(__file__).resolve().parents[2].parent / "shared" / "games" / "arigraph"
    )
)
COOKING = {"recipe": 3, "take": 3, "go": 9, "cook": True, "cut": True}
"""The paper's tw-cooking settings [AP §4.1] (the ``arigraph`` preset of tw-cooking)."""
COOK_NOTE = (
    "Remember the recipe when you find it. Frying is done only with the stove, roasting only with the oven "
    "and grilling only with the BBQ. Prepare the meal in the kitchen once every ingredient is gathered and "
    "processed."
)
"""The cooking task note: which appliance fries, roasts and grills [AP App. F]."""
HUNT_NOTE = (
    "The treasure is in the Golden locker, which the Golden key opens. Every locker is locked and opens with "
    "its own key. The Key 1 in this room unlocks the White locker. Read the notes you find."
)
AGENTS = ("arigraph", "arigraph-full-history", "summary", "rag", "reflexion")


def env_table(seeds: int) -> list[tuple[str, str, dict[str, Any], int, str]]:
    """(row label, env id, options, step limit, task note) of the generated games, one per seed."""
    rows = []
    for seed in range(1, seeds + 1):
        rows += [
            ("tw-hunt", "tw-hunt", {"game_seed": seed}, 150, ""),
            ("tw-cooking (arigraph)", "tw-cooking", {**COOKING, "game_seed": seed}, 60, COOK_NOTE),
            ("tw-clean", "tw-clean", {"game_seed": seed}, 150, ""),
        ]
    return rows


def paper_table(quick: bool) -> list[tuple[str, str, dict[str, Any], int, str]]:
    """The paper's own files that are present (hunt, hunt_hard, cook, cook_hard, clean_3x3)."""
    games = [
        ("hunt.z8", "tw-file", 150, HUNT_NOTE),
        ("cook.z8", "tw-file", 60, COOK_NOTE),
        ("clean_3x3.z8", "tw-clean", 150, ""),
    ]
    if not quick:
        games[1:1] = [("hunt_hard.z8", "tw-file", 150, HUNT_NOTE.replace("White", "Bronze"))]
        games.append(("cook_hard.z8", "tw-file", 60, COOK_NOTE))
    return [
        (f"paper {name}", env, {"path": str(PAPER_GAMES / name)}, steps, note)
        for name, env, steps, note in games
        if (PAPER_GAMES / name).is_file()
    ]


def agent_config(agent: str, note: str, encoder: str, section_chars: int) -> dict[str, Any]:
    """The embedded-model settings of each agent (Ariadne: :data:`EMBEDDED_PRESET`; all: static planner)."""
    config: dict[str, Any] = {"planner": "static", "task_note": note, "max_section_chars": section_chars}
    if agent == "arigraph":
        config.update(EMBEDDED_PRESET, explore_gate="always", encoder=encoder)
    if agent == "rag":
        config["encoder"] = encoder
    return config


def run_scores(
    rows: list, agents: tuple[str, ...], step_cap: int | None, llm: str, encoder: str, section_chars: int,
    reflexion_trials: int = 3,
) -> list[dict]:
    """Run every agent on every row through the lab's run loop; one result dict per run (``reflexion``
    plays ``reflexion_trials`` trials: its score is the last trial's, its steps the mean per trial)."""
    from lab.core.records import RunConfig
    from lab.runner import execute, prepare
    from lab.store import RunStore

    store, results = RunStore(), []
    done = {_key(r.config): r for r in store.list_runs(limit=100_000, label=LABEL, status="finished")}
    jobs = [(row, agent) for row in rows for agent in agents]
    for (label, env, options, steps, note), agent in tqdm(jobs, desc="(a) scores", unit="run"):
        limit = min(steps, step_cap) if step_cap else steps
        config = RunConfig(
            env_id=env,
            env_options=options,
            agent_id=agent,
            llm=llm,
            max_steps=limit,
            seed=1,
            trials=reflexion_trials if agent == "reflexion" else 1,
            agent_config=agent_config(agent, note, encoder, section_chars),
            label=LABEL,
            probe_every=0,  # the agent's own runs, as measured before memory probes existed
        )
        info = done.get(_key(prepare(config).config)) or execute(config, store)  # the same command resumes
        summary = info.summary
        results.append(
            {
                "row": label,
                "run": json.dumps(options, sort_keys=True),
                "agent": agent,
                "status": info.status,
                "message": summary.message,
                "score": summary.normalized_score or 0.0,
                "trial_scores": [normalised(t.score, t.max_score) for t in summary.trials],
                "steps": summary.steps / max(len(summary.trials), 1),
                "won": summary.won,
                "env_steps": summary.env_steps,
                "limit": limit,
                "wall_s": summary.wall_s,
                "actions": [step.action for step in store.steps(info.run_id) if step.trial == 0],
            }
        )
    return results


LABEL = "bench arigraph"
"""The run label of part (a); a finished run with the same config is reused, not run again."""


def _key(config: Any) -> str:
    """What makes two part-(a) runs the same: their whole config, defaults filled in (as stored)."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True)


def agreement_table(results: list[dict], reference: str = "arigraph") -> str:
    """Rows: game family; columns: the other agents; cells: the share of trial-0 steps whose action equals
    ``reference``'s at the same step (mean [95% bootstrap CI] over seeds). 1.00 means the memory changed
    nothing."""
    others = [a for a in dict.fromkeys(r["agent"] for r in results) if a != reference]
    base = {(r["row"], r["run"]): r["actions"] for r in results if r["agent"] == reference}
    rows = []
    for label in dict.fromkeys(r["row"] for r in results):
        cells = []
        for agent in others:
            shares = [
                sum(a == b for a, b in zip(r["actions"], base[(label, r["run"])], strict=False))
                / max(len(r["actions"]), len(base[(label, r["run"])]), 1)
                for r in results
                if r["row"] == label and r["agent"] == agent and (label, r["run"]) in base
            ]
            cells.append(interval(shares))
        rows.append([label, *cells])
    return markdown_table(["game", *others], rows)


def normalised(score: float, max_score: float | None) -> float:
    """Score over max score (0 when the game has none)."""
    return score / max_score if max_score else 0.0


def trials_table(results: list[dict]) -> str:
    """Rows: game family; columns: trial 1..N of the multi-trial runs (``reflexion``), mean [95% CI]."""
    multi = [r for r in results if len(r["trial_scores"]) > 1]
    if not multi:
        return ""
    labels = list(dict.fromkeys(r["row"] for r in multi))
    n = max(len(r["trial_scores"]) for r in multi)
    rows = [
        [label, *(interval([r["trial_scores"][i] for r in multi if r["row"] == label
                            and len(r["trial_scores"]) > i]) for i in range(n))]
        for label in labels
    ]
    return markdown_table(["game (reflexion)", *(f"trial {i + 1}" for i in range(n))], rows)


def interval(values: list[float], digits: int = 2) -> str:
    """``mean [low, high]``: the 95% percentile-bootstrap interval over seeds (the mean alone for one value,
    ``–`` for none); n is in the table's caption or cell."""
    return bootstrap_ci(values).format(digits, count=False)


def scores_table(results: list[dict]) -> str:
    """Rows: game family; columns: agents; cells: normalised score (mean [95% bootstrap CI] over seeds) and
    mean agent steps."""
    labels = list(dict.fromkeys(r["row"] for r in results))
    agents = list(dict.fromkeys(r["agent"] for r in results))
    rows = []
    for label in labels:
        cells = []
        for agent in agents:
            runs = [r for r in results if r["row"] == label and r["agent"] == agent]
            steps = sum(r["steps"] for r in runs) / len(runs) if runs else 0.0
            cells.append(f"{interval([r['score'] for r in runs])} ({steps:.0f} steps, n={len(runs)})")
        rows.append([label, *cells])
    return markdown_table(["game", *agents], rows)


def paired_table(results: list[dict], reference: str = "arigraph") -> str:
    """Rows: the other agents; columns: each game family and all of them pooled; cells: ``reference``'s
    normalised score minus the agent's on the same game and seed (mean [95% bootstrap CI], wins-losses-ties
    of ``reference``, two-sided sign-test p)."""
    scores = {(r["agent"], r["row"], r["run"]): r["score"] for r in results}
    labels = list(dict.fromkeys(r["row"] for r in results))
    others = [a for a in dict.fromkeys(r["agent"] for r in results) if a != reference]
    rows = []
    for agent in others:
        cells = []
        for chosen in [[label] for label in labels] + [labels]:
            units = [(row, run) for (a, row, run) in scores if a == reference and row in chosen
                     and (agent, row, run) in scores]
            cells.append(paired([scores[(reference, *u)] for u in units],
                                [scores[(agent, *u)] for u in units]).format() if units else "–")
        rows.append([agent, *cells])
    return markdown_table([f"{reference} minus", *labels, "all games"], rows)


# --- (b) fidelity ----------------------------------------------------------------------------


def fidelity_run(env_id: str, options: dict, extractor: str, llm: Any, cap: int | None) -> dict[str, Any]:
    """Follow the game's walkthrough, updating a graph each step; score it against the facts in view."""
    env = make_env(env_id, options)
    obs = env.reset(seed=1)
    memory, tracker = AriGraphMemory(HashEncoder()), FidelityTracker()
    extract = {"oracle": OracleExtractor, "rules": lambda: RulesExtractor(True),
               "llm": lambda: LLMExtractor(llm, True)}[extractor]()
    rules = lambda c, n: rules_outdated(c, n, full_inventory=True)  # noqa: E731
    detector = LLMOutdated(llm) if extractor == "llm" else rules
    walkthrough = list(obs.privileged.get("walkthrough") or [])[: cap or None]
    previous, action, curve, parsed, rejected = None, "start", [], 0, 0
    for step, command in enumerate([*walkthrough, None]):
        room = (obs.room or "").lower()
        memory.locations.add(room)
        view = View(text=preprocess(obs.text, step, ""), room=room, inventory=obs.inventory,
                    admissible=obs.admissible, facts=obs.privileged["facts"])
        out = extract(view)
        parsed, rejected = parsed + len(out.triplets), rejected + len(out.rejected)
        memory.update(out.triplets, step, detector, (previous, room, action))
        tracker.see(obs.privileged["facts"])
        curve.append(tracker.score(memory.triplets(), obs.privileged["facts"]))
        if command is None or obs.done:
            break
        previous, action, obs = room, command, env.step(command)
    env.close()
    final = curve[-1]
    return {"steps": len(curve), "recall": final["fidelity/recall"], "precision": final["fidelity/precision"],
            "recall_location": final.get("fidelity/recall_location", 1.0),
            "mean_recall": statistics.mean(c["fidelity/recall"] for c in curve),
            "mean_precision": statistics.mean(c["fidelity/precision"] for c in curve),
            "parsed": parsed, "rejected": rejected}


def run_fidelity(quick: bool, llm_spec: str, llm_steps: int | None = None) -> list[list[Any]]:
    """(b): oracle, rules and llm extractors on each generated game's walkthrough."""
    games = [
        ("tw-hunt", {"game_seed": 1}),
        ("tw-clean", {"game_seed": 1}),
        ("tw-cooking", {**COOKING, "game_seed": 1}),
    ]
    llm = None
    if llm_spec:
        from lab.core.llm import LLM, build

        llm = LLM(build(llm_spec), llm_spec)
    rows = []
    jobs = [
        (g, e)
        for g in games
        for e in ("oracle", "rules", "llm")
        if e != "llm" or (llm and (g == games[0] or not quick))
    ]
    for (env_id, options), extractor in tqdm(jobs, desc="(b) fidelity", unit="run"):
        cap = (llm_steps or (6 if quick else 30)) if extractor == "llm" else None
        r = fidelity_run(env_id, options, extractor, llm, cap)
        label = "oracle (ground truth, upper bound)" if extractor == "oracle" else extractor
        rows.append([env_id, label, r["steps"], f"{r['parsed']} / {r['rejected']}"]
                    + [f"{r[k]:.3f}" for k in ("recall", "recall_location", "precision", "mean_recall",
                                               "mean_precision")])
    return rows


# --- main ------------------------------------------------------------------------------------

LATENCY_NOTE = (
    "Synthetic game-like triplets, all-MiniLM-L6-v2 on the CPU, width 6, threshold 0.4; each query is a new "
    "entity string (embedded inside the timed call). The re-embed search is the reference's behaviour: "
    "every BFS expansion embeds the query and the whole triplet list (no cache); it is timed at depth 1 "
    "(one expansion), so the depth-2 speed-up is larger still. n = repetitions."
)
FIDELITY_NOTE = (
    "A policy plays the game's walkthrough; each step the extractor's triplets update the graph (outdated "
    "detection: rules, or llm with the llm extractor) and the graph is scored against the facts in view "
    "so far (lab/fidelity.py). The oracle is TextWorld's ground truth: an upper bound that "
    "measures the update rule, not an extractor. The llm extractor uses the run's LLM and follows only the "
    "first steps of the walkthrough (`--llm-steps`; two generations per step), so its row covers fewer steps."
)


def report(body: list[str]) -> None:
    """Print the report so far and (re)write docs/arigraph.md, keeping the parts this run did not redo (the
    header's date is this run's; each part's ``Run:`` line has its own)."""
    text = "\n\n".join(body)
    print(text, flush=True)
    parts = {**sections(DOCS / "arigraph.md"), **sections_of(text)}  # this run's parts replace older ones
    path = write_report("arigraph", "AriGraph benchmark", "\n".join(parts[key] for key in sorted(parts)))
    print(f"\nwrote {path}", flush=True)


def sections(path: Path) -> dict[str, str]:
    """The ``## (a)``, ``## (b)``, ``## (c)`` sections of an earlier report, by their ``(x)`` key."""
    return sections_of(path.read_text(encoding="utf-8")) if path.is_file() else {}


def sections_of(text: str) -> dict[str, str]:
    """The ``## (x)`` sections of a report text, by their ``(x)`` key."""
    parts = ("\n" + text).split("\n## (")[1:]
    return {f"({part[0]})": f"\n## ({part.rstrip()}\n" for part in parts}


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="memlab bench arigraph", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 15 steps, fewer games, sizes and repetitions"
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per generated game (default 5; quick 1)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="cap on agent steps per run (default: the paper's)"
    )
    parser.add_argument("--llm", default="embedded", help="LLM spec of the agents and of the llm extractor")
    parser.add_argument(
        "--llm-steps", type=int, default=None,
        help="walkthrough steps of the llm extractor in (b) (default 30; quick 6)",
    )
    parser.add_argument("--parts", default="abc", help="which parts to run: any of a, b, c")
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agent ids for part (a)")
    parser.add_argument("--trials", type=int, default=3, help="trials of each reflexion run (default 3)")
    parser.add_argument("--games", default="", help="comma-separated row labels for part (a) (default: all)")
    parser.add_argument(
        "--section-chars",
        type=int,
        default=None,
        help="characters kept per prompt section (default 6000; quick 1500, for the embedded model's speed)",
    )
    return parser.parse_args(argv)


LATENCY_HEADER = ["triplets", "build s (embed all once)", "cached, depth 1", "cached, depth 2",
                  "re-embed, depth 1", "speed-up p50 (depth 1)"]
FIDELITY_HEADER = ["game", "extractor", "steps", "triplets read / chunks rejected", "recall (final)",
                   "recall, location facts", "precision (final)", "mean recall", "mean precision"]


def main(argv: list[str]) -> int:
    """Run the selected parts, print the tables and write docs/arigraph.md."""
    args = parse(argv)
    seeds, cap = args.seeds or (1 if args.quick else 5), args.steps or (15 if args.quick else None)
    # each part says when it ran: a later run that redoes some parts keeps the others as they were
    ran = f"Run: `memlab bench arigraph {' '.join(argv)}` (LLM `{args.llm}`) on {datetime.date.today()}."
    body: list[str] = []
    if "c" in args.parts:
        reps = {1000: 3, 5000: 2} if args.quick else {1000: 5, 5000: 3, 20000: 1}
        sizes = [1000, 5000, 20000]
        rows = run_latency(sizes, 20 if args.quick else 50, reps)
        body += ["## (c) Semantic-search latency (ms, p50 / p95)", ran, LATENCY_NOTE,
                 markdown_table(LATENCY_HEADER, rows)]
        report(body)
    if "b" in args.parts:
        rows = run_fidelity(args.quick, args.llm, args.llm_steps)
        body += ["## (b) Memory fidelity along the walkthrough", ran, FIDELITY_NOTE,
                 markdown_table(FIDELITY_HEADER, rows)]
        report(body)
    if "a" in args.parts:
        agents = tuple(a for a in args.agents.split(",") if a)
        games = args.games.split(",") if args.games else []
        rows = [r for r in env_table(seeds) + paper_table(args.quick) if not games or r[0] in games]
        chars = args.section_chars or (1500 if args.quick else 6000)
        results = run_scores(rows, agents, cap, args.llm, "minilm", chars, args.trials)
        failed = [(r["row"], r["agent"], r["message"]) for r in results if r["status"] != "finished"]
        limits = cap or "the paper (150; cooking 60)"
        body += ["## (a) Normalised score and agent steps", ran,
                 f"{seeds} seed(s) per generated game; step cap {limits}; {chars} characters per prompt "
                 "section; the paper's files are played once (greedy scoring is deterministic). Cells: "
                 "mean normalised score [95% percentile-bootstrap interval over seeds; the mean alone for "
                 "one run] (mean agent steps, n runs).",
                 scores_table(results),
                 "`arigraph` minus each baseline on the same game and seed (the pooled column counts every "
                 "game and seed as one unit): mean difference [95% bootstrap CI], wins-losses-ties, "
                 "two-sided sign test:",
                 paired_table(results),
                 "Reflexion's cell is its last trial; steps are per trial. Its score per trial:",
                 trials_table(results) or "(no multi-trial runs)",
                 "Share of trial-0 steps on which each agent chose the same action as `arigraph` at the same "
                 "step (1.00: its memory changed no choice of the actor), mean [95% bootstrap CI] over "
                 "seeds:",
                 agreement_table(results),
                 f"Runs that did not finish cleanly: {failed or 'none'}."]
        report(body)
    return 0
