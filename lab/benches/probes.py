"""``memlab bench probes``: what each memory knows of the game, asked with ground-truth probes.

Every agent follows the same forced ``walkthrough+explore`` trajectory (the same game, seed and excursions),
so their memories see the same observations; every ``--probe-every`` steps and at the trial's end the lab
asks each memory its probes (``lab/probes.py``: location, contents, state, map, inventory, recipe, changed,
unseen) and stores two answers: **evidence** (a true answer can be read from the memory's text; with
**stale**, the text also holds an answer that no longer holds) and the embedded model's **answer** (a choice
among the game's candidates, given only that text).

Two parts, because the agents' own LLM calls cost very differently:

1. Memories that no LLM writes (``arigraph`` with the rules and oracle extractors, ``arigraph-full-history``,
   ``full-history``, ``rag``, ``reflexion``) run the whole trajectory. Their acting calls go to a scripted
   stand-in model (the forced policy discards their choices; ``rag``'s importance ratings are then
   constant): only the probes' answers use the embedded model, on the first ``--answer-seeds`` seeds.
2. Memories an LLM writes (``arigraph`` with the llm extractor, ``summary``, ``hiagent``, ``clin``) run on the
   embedded model itself, which writes their memory, for the first ``--writer-steps`` steps of the
   trajectory on ``--writer-seeds`` seeds (a generation takes seconds on 2 cores).

Runs are stored (label ``bench probes``); the same command resumes. ``--quick`` runs one seed of tw-hunt;
``--answer-games`` and ``--writer-games`` narrow the costly parts to some games (a model reading a long memory
text scores every candidate answer over all of it: minutes per run on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from agents.arigraph.config import EMBEDDED_PRESET
from lab.benches import markdown_table, write_report
from lab.benches.arigraph import COOK_NOTE, COOKING, PAPER_GAMES, paper_table
from lab.core.records import ProbeResult, RunConfig, Step
from lab.core.stats import bootstrap_ci, paired
from lab.probes import FAMILIES, UNKNOWN

LABEL = "bench probes"
MIN_PAIRS = 5
"""Pairs a verdict needs: below it a percentile-bootstrap interval runs far too narrow (two pairs that agree
give a zero-width interval) and the sign test cannot reach p < 0.05."""
STAND_IN = "fake:5"
"""The scripted model of part 1's acting calls: every reply is ``5`` (an importance rating for ``rag``)."""


@dataclass(frozen=True)
class Variant:
    """One row of the report: an agent with its config, and whether an LLM writes its memory (part 2)."""

    label: str
    agent: str
    config: dict[str, Any]
    written: bool = False


PLANNED = {"planner": "static"}
"""Every planning agent plans with the static plan: the forced policy plays the actions anyway."""
VARIANTS = (
    Variant("arigraph (rules)", "arigraph", {**EMBEDDED_PRESET}),
    Variant("arigraph (oracle)", "arigraph", {**EMBEDDED_PRESET, "extractor": "oracle"}),
    Variant("arigraph-full-history", "arigraph-full-history", PLANNED),
    Variant("full-history", "full-history", {}),
    Variant("rag", "rag", PLANNED),
    Variant("reflexion", "reflexion", PLANNED),
    Variant("arigraph (llm)", "arigraph", {**EMBEDDED_PRESET, "extractor": "llm", "outdated": "llm"}, True),
    Variant("summary", "summary", PLANNED, True),
    Variant("hiagent", "hiagent", {}, True),
    Variant("clin", "clin", {"record_meta_memory": False}, True),
)
HYPOTHESIS = ("arigraph (rules)", ("arigraph-full-history", "full-history", "rag", "summary"))
"""The paper's claim, tested: AriGraph's graph against full history, summary and RAG (paired by game, seed)."""
BINS = ((0, 0), (1, 2), (3, 5), (6, 10), (11, 20), (21, 40), (41, 10_000))
"""Steps since the asked fact was last in view."""


@dataclass(frozen=True)
class Game:
    label: str
    env: str
    options: dict[str, Any]
    steps: int
    note: str = ""


def games(seeds: int, quick: bool) -> list[tuple[Game, int]]:
    """(game, seed) pairs: the generated games (a game per seed) and the paper's files (a trajectory per
    seed: the excursions and the probes drawn differ)."""
    out = []
    for seed in range(1, seeds + 1):
        out += [(Game("tw-hunt", "tw-hunt", {"game_seed": seed}, 150), seed)]
        if not quick:
            out += [(Game("tw-cooking (arigraph)", "tw-cooking", {**COOKING, "game_seed": seed}, 100, COOK_NOTE),
                     seed),
                    (Game("tw-clean", "tw-clean", {"game_seed": seed}, 200), seed)]
    if not quick:
        paper = [Game(label, env, options, 150 if "clean" not in label else 200, note)
                 for label, env, options, _, note in paper_table(quick=True)]
        out += [(game, seed) for seed in range(1, seeds + 1) for game in paper]
    return out


def config(variant: Variant, game: Game, seed: int, args: argparse.Namespace) -> RunConfig:
    """The run of one variant on one game and seed."""
    agent_config = dict(variant.config)
    if game.note and variant.agent not in ("hiagent", "clin", "full-history"):
        agent_config["task_note"] = game.note
    answered = seed <= (args.writer_seeds if variant.written else args.answer_seeds) and (
        variant.written or game.label in args.answer_games)
    return RunConfig(
        env_id=game.env, env_options=game.options, agent_id=variant.agent, agent_config=agent_config,
        llm=args.llm if variant.written else STAND_IN, seed=seed,
        max_steps=min(game.steps, args.writer_steps) if variant.written else game.steps,
        policy="walkthrough+explore", explore=args.explore, probe_every=args.probe_every,
        probes_per_family=args.per_family, probe_llm=args.llm if answered else "none", label=LABEL,
    )


@dataclass
class RunProbes:
    """One run's probes, as the report reads them."""

    variant: str
    game: str
    seed: int
    answered: bool
    results: list[tuple[int, ProbeResult]] = field(default_factory=list)
    """(the step's t, the probe) of every probe."""
    probe_s: float = 0.0
    fidelity: dict[str, float] = field(default_factory=dict)
    agree: float | None = None
    steps: int = 0
    status: str = ""
    message: str = ""
    wall_s: float = 0.0


def collect(variant: Variant, game: Game, seed: int, info: Any, steps: list[Step]) -> RunProbes:
    run = RunProbes(variant.label, game.label, seed, info.config.probe_llm != "none", steps=len(steps),
                    status=info.status, message=info.message,
                    wall_s=info.summary.wall_s if info.summary else 0.0)
    for step in steps:
        run.probe_s += step.timings.probe_s
        for result in step.probes.results if step.probes else []:
            run.results.append((step.t, result))
    if steps and "fidelity/recall" in steps[-1].metrics:
        run.fidelity = {k: v for k, v in steps[-1].metrics.items() if k.startswith("fidelity/")}
    agree = [s.metrics["policy/agree"] for s in steps if "policy/agree" in s.metrics]
    run.agree = statistics.mean(agree) if agree else None
    return run


def execute_all(args: argparse.Namespace) -> list[RunProbes]:
    """Run (or resume) every variant on every game and seed; one :class:`RunProbes` each."""
    from lab.runner import execute, prepare
    from lab.store import RunStore

    store = RunStore()
    done = {r.config.model_dump_json(): r for r in store.list_runs(limit=100_000, label=LABEL, status="finished")}
    variants = [v for v in VARIANTS if v.label in args.variants]
    jobs = [(v, g, s) for g, s in games(args.seeds, args.quick) for v in variants
            if g.label in args.games and (not v.written or s <= args.writer_seeds and g.label in args.writer_games)]
    out = []
    for variant, game, seed in tqdm(jobs, desc="probes", unit="run"):
        run_config = config(variant, game, seed, args)
        info = done.get(prepare(run_config).config.model_dump_json()) or execute(run_config, store)
        out.append(collect(variant, game, seed, info, store.steps(info.run_id)))
    return out


# --- aggregation ---------------------------------------------------------------------------------------------
def rate(results: list[ProbeResult], what: str) -> float | None:
    """A share over probes: ``evidence``, ``stale``, ``answer`` (correct among answered), ``abstain``."""
    if what == "answer" or what == "abstain":
        results = [r for r in results if r.answer is not None]
    if not results:
        return None
    if what == "evidence":
        return sum(r.evidence for r in results) / len(results)
    if what == "stale":
        return sum(r.stale for r in results) / len(results)
    if what == "answer":
        return sum(bool(r.correct) for r in results) / len(results)
    return sum(r.answer == UNKNOWN for r in results) / len(results)


def per_run(runs: list[RunProbes], what: str, keep: Any = lambda t, r: True) -> dict[str, list[float]]:
    """Each variant's per-run rates (runs without a kept probe are left out)."""
    out: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        value = rate([r for t, r in run.results if keep(t, r)], what)
        if value is not None:
            out[run.variant].append(value)
    return out


def family_table(runs: list[RunProbes], what: str, families: tuple[str, ...]) -> str:
    """Rows: variants; columns: families and all; cells: mean [95% bootstrap CI] over runs."""
    labels = list(dict.fromkeys(r.variant for r in runs))
    columns = [per_run(runs, what, lambda t, r, f=f: r.family == f) for f in families]
    overall = per_run(runs, what, lambda t, r: r.family != "unseen")
    rows = [[v, *(bootstrap_ci(c.get(v, [])).format() for c in columns),
             bootstrap_ci(overall.get(v, [])).format()] for v in labels]
    return markdown_table(["memory", *families, "all but unseen"], rows)


def since_table(runs: list[RunProbes]) -> str:
    """Evidence rate against steps since the fact was last in view (mean [CI] over runs with such probes)."""
    labels = list(dict.fromkeys(r.variant for r in runs))
    heads = [f"{lo}" if lo == hi else f"{lo}–{hi}" if hi < 10_000 else f"{lo}+" for lo, hi in BINS]
    cells = []
    for lo, hi in BINS:
        cells.append(per_run(runs, "evidence", lambda t, r, lo=lo, hi=hi: r.family != "unseen"
                             and r.last_seen is not None and lo <= t - r.last_seen <= hi))
    rows = [[v, *(bootstrap_ci(c.get(v, [])).format() for c in cells)] for v in labels]
    return markdown_table(["memory", *(f"{h} steps" for h in heads)], rows)


def reader_table(runs: list[RunProbes]) -> str:
    """The embedded model's answers next to the evidence, on the answered runs (probes pooled per run)."""
    answered = [r for r in runs if r.answered]
    labels = list(dict.fromkeys(r.variant for r in answered))
    seen = lambda t, r: r.family != "unseen"  # noqa: E731
    evidence, answer = per_run(answered, "evidence", seen), per_run(answered, "answer", seen)
    given = per_run(answered, "answer", lambda t, r: seen(t, r) and r.evidence)
    without = per_run(answered, "answer", lambda t, r: seen(t, r) and not r.evidence)
    abstain = per_run(answered, "abstain", lambda t, r: r.family == "unseen")
    rows = []
    for v in labels:
        e, a = bootstrap_ci(evidence.get(v, [])), bootstrap_ci(answer.get(v, []))
        gap = paired(*_paired(answered, v, "evidence", "answer")).format() if a.n == e.n and e.n else "–"
        rows.append([v, e.format(), a.format(), gap, bootstrap_ci(given.get(v, [])).format(),
                     bootstrap_ci(without.get(v, [])).format(), bootstrap_ci(abstain.get(v, [])).format()])
    return markdown_table(["memory", "evidence rate", "answer accuracy", "evidence − accuracy (paired)",
                           "accuracy, given evidence", "accuracy, no evidence", "unseen: abstains"], rows)


def _paired(runs: list[RunProbes], variant: str, a: str, b: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for run in runs:
        kept = [r for _, r in run.results if r.family != "unseen"]
        x, y = rate(kept, a), rate(kept, b)
        if run.variant == variant and x is not None and y is not None:
            xs.append(x), ys.append(y)
    return xs, ys


def hypothesis_table(runs: list[RunProbes]) -> tuple[str, list[str]]:
    """Paired differences, AriGraph minus each baseline, on the same game and seed; and the verdicts."""
    ours, baselines = HYPOTHESIS
    late = lambda t, r: r.family != "unseen" and r.last_seen is not None and t - r.last_seen > 10  # noqa: E731
    measures = [("evidence, all but unseen", "evidence", lambda t, r: r.family != "unseen"),
                ("evidence, changed", "evidence", lambda t, r: r.family == "changed"),
                ("stale, changed", "stale", lambda t, r: r.family == "changed"),
                ("evidence, facts seen > 10 steps ago", "evidence", late)]
    rows, verdicts = [], []
    for other in baselines:
        row = [other]
        for name, what, keep in measures:
            a, b = _by_unit(runs, ours, what, keep), _by_unit(runs, other, what, keep)
            units = sorted(a.keys() & b.keys())
            comparison = paired([a[u] for u in units], [b[u] for u in units])
            diff = comparison.difference
            row.append(comparison.format() if diff.n else "–")
            if diff.n:
                better = diff.excludes(0) and (diff.mean > 0) == (what == "evidence")
                word = ("too few pairs for a verdict" if diff.n < MIN_PAIRS else "better" if better
                        else "worse" if diff.excludes(0) else "no difference shown")
                verdicts.append(f"{name}, {ours} − {other}: {comparison.format()} → {word}")
        rows.append(row)
    return markdown_table([f"{ours} − …", *(m[0] for m in measures)], rows), verdicts


def _by_unit(runs: list[RunProbes], variant: str, what: str, keep: Any) -> dict[tuple[str, int], float]:
    out = {}
    for run in runs:
        value = rate([r for t, r in run.results if keep(t, r)], what)
        if run.variant == variant and value is not None:
            out[(run.game, run.seed)] = value
    return out


def game_table(runs: list[RunProbes]) -> str:
    """Evidence rate (all but unseen) per game and variant, mean [95% bootstrap CI] over seeds."""
    labels = list(dict.fromkeys(r.variant for r in runs))
    names = list(dict.fromkeys(r.game for r in runs))
    rows = []
    for name in names:
        values = per_run([r for r in runs if r.game == name], "evidence", lambda t, r: r.family != "unseen")
        rows.append([name, *(bootstrap_ci(values.get(v, [])).format() for v in labels)])
    return markdown_table(["game", *labels], rows)


def cost_table(runs: list[RunProbes]) -> str:
    """Wall time per probe (memory query, evidence and, on answered runs, the model's answer)."""
    rows = []
    for answered in (False, True):
        chosen = [r for r in runs if r.answered == answered and r.results]
        per = [r.probe_s / len(r.results) for r in chosen]
        if per:
            rows.append(["embedded model answers" if answered else "evidence only", f"{len(chosen)}",
                         f"{sum(len(r.results) for r in chosen)}", f"{1000 * statistics.median(per):.1f}",
                         f"{1000 * max(per):.1f}"])
    return markdown_table(["probes", "runs", "probes asked", "median ms / probe (per run)", "max ms / probe"], rows)


def fidelity_table(runs: list[RunProbes]) -> str:
    """The final graph's precision and recall of the memories that declare their facts."""
    rows = []
    for v in dict.fromkeys(r.variant for r in runs if r.fidelity):
        chosen = [r for r in runs if r.variant == v and r.fidelity]
        rows.append([v, bootstrap_ci([r.fidelity["fidelity/recall"] for r in chosen]).format(),
                     bootstrap_ci([r.fidelity["fidelity/precision"] for r in chosen]).format()])
    return markdown_table(["memory", "recall (final)", "precision (final)"], rows)


def report(runs: list[RunProbes], args: argparse.Namespace, command: str, wall_s: float) -> str:
    """The whole report (Markdown)."""
    part1 = [r for r in runs if not _written(r.variant)]
    part2 = [r for r in runs if _written(r.variant)]
    counts = defaultdict(int)
    for run in runs:
        counts[run.variant] += run.status == "finished"
    why: dict[tuple[str, str], list[RunProbes]] = defaultdict(list)
    for r in runs:
        if r.status != "finished":
            why[(r.game, f"{r.status}: {r.message}")].append(r)
    failed = [f"{game}, {len(rs)} run(s) ({message})" for (game, message), rs in why.items()]
    body = [
        f"Run: `{command}` ({wall_s / 60:.0f} min this invocation, which reuses finished runs from the store; "
        f"the runs took {sum(r.wall_s for r in runs) / 60:.0f} min). {__doc__.split(chr(10) + chr(10))[1]}",
        "Probes every %d steps and at the trial's end, %d per family; memories keep their default prompt "
        "budgets (AriGraph's family: 6,000 characters per section; full-history: 24,000); the embedded model "
        "answers from the memory text's last 24,000 characters. Cells: mean [95%% percentile-bootstrap "
        "interval] over runs (one run per game and seed; the mean alone for one run), n = runs with such "
        "probes; a run's value is its share over its probes. Paired cells add wins-losses-ties and the "
        "two-sided sign test." % (args.probe_every, args.per_family),
        scope(args),
        "Finished runs per memory: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + ". Runs that did not finish: "
        + ("; ".join(failed) if failed else "none") + ".",
        "## Part 1: memories no LLM writes, the whole trajectory",
        "### Evidence rate: a true answer can be read from the memory's text", family_table(part1, "evidence", FAMILIES),
        "For `unseen` the true answer is `unknown`: evidence means the text names no place for the thing.",
        "### Stale rate: the text also holds an answer that no longer holds",
        family_table(part1, "stale", ("location", "changed", "state", "inventory")),
        "### Evidence rate against steps since the fact was last in view", since_table(part1),
        "### Answer accuracy per family (answered runs: the embedded model, given only the memory's text)",
        family_table([r for r in part1 if r.answered], "answer", FAMILIES),
        "### The embedded model reading the memory (answered runs)",
        "What the reader loses: the evidence rate against the embedded model's answer accuracy, on the same "
        "probes; accuracy given evidence is the reader's own ceiling.", reader_table(part1),
        "### Per game (evidence rate, all but unseen)", game_table(part1),
        "### The paper's hypothesis, as measured",
        "AriGraph's claim [AP §4] is that its structured memory keeps more correct and fewer stale facts than "
        "full history, summary and RAG as episodes grow. Differences are paired by game and seed (the "
        "trajectory is the same): mean [95% bootstrap CI], wins-losses-ties, sign test; a verdict needs the "
        f"interval to exclude 0 over at least {MIN_PAIRS} pairs. Summary is part 2's (fewer, shorter runs), so "
        "its pairs are fewer.",
    ]
    table, verdicts = hypothesis_table(runs)
    body += [table, "\n".join(f"- {v}" for v in verdicts) or "- no pairs measured"]
    body += [
        "## Part 2: memories an LLM writes (the embedded model), the first %d steps" % args.writer_steps,
        "### Evidence rate", family_table(part2, "evidence", FAMILIES) if part2 else "not run",
        "### The embedded model reading the memory", reader_table(part2) if part2 else "not run",
        "## Memory fidelity of the graphs (lab/fidelity.py), at the run's end", fidelity_table(runs),
        "## Cost of a probe", cost_table(runs),
    ]
    if not PAPER_GAMES.is_dir():
        body.append(f"The paper's game files were not found ({PAPER_GAMES}): their rows are missing.")
    return "\n\n".join(body)


def scope(args: argparse.Namespace) -> str:
    """What this run covered, next to the full benchmark (5 seeds of every game, every memory)."""
    every = {g.label for g, _ in games(1, False)}
    def named(chosen: set[str]) -> str:
        return "every game" if chosen >= every else ", ".join(sorted(chosen))
    return (f"Scope: {args.seeds} seed(s) of {named(args.games)} (the full benchmark: 5 seeds of every game); the "
            f"embedded model answers probes on the first {args.answer_seeds} seed(s) of {named(args.answer_games)}; "
            f"part 2 runs {args.writer_seeds} seed(s) of {named(args.writer_games & args.games)}, "
            f"{args.writer_steps} steps each.")


def _written(label: str) -> bool:
    return next(v.written for v in VARIANTS if v.label == label)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memlab bench probes", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed of tw-hunt")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--answer-seeds", type=int, default=1,
                        help="part 1: seeds whose probes the embedded model answers (others: evidence only)")
    parser.add_argument("--writer-seeds", type=int, default=1, help="part 2: seeds run")
    parser.add_argument("--writer-steps", type=int, default=15, help="part 2: steps of the trajectory")
    parser.add_argument("--probe-every", type=int, default=5)
    parser.add_argument("--per-family", type=int, default=2)
    parser.add_argument("--explore", type=float, default=0.3)
    parser.add_argument("--llm", default="embedded", help="the model that answers probes and writes part 2")
    parser.add_argument("--games", default="", help="comma-separated game labels (default: all)")
    parser.add_argument("--answer-games", default="", help="part 1: games whose probes the embedded model "
                        "answers on the answer seeds (default: all)")
    parser.add_argument("--writer-games", default="", help="part 2: games run (default: all)")
    parser.add_argument("--variants", default="", help="comma-separated memory labels (default: all)")
    args = parser.parse_args(argv)
    all_games = {g.label for g, _ in games(1, False)} | {"tw-hunt"}
    for name in ("games", "answer_games", "writer_games"):
        setattr(args, name, set(filter(None, getattr(args, name).split(","))) or all_games)
    args.variants = set(filter(None, args.variants.split(","))) or {v.label for v in VARIANTS}
    unknown = (args.games | args.answer_games | args.writer_games) - all_games
    unknown |= args.variants - {v.label for v in VARIANTS}
    if unknown:
        parser.error(f"unknown game or memory: {', '.join(sorted(unknown))}")
    if args.quick:
        args.seeds, args.answer_seeds, args.writer_seeds = 1, 1, 1
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    start = time.perf_counter()
    runs = execute_all(args)
    text = report(runs, args, "memlab bench probes " + " ".join(argv), time.perf_counter() - start)
    print(text)
    print(f"\nwrote {write_report('probes', 'Memory probes benchmark', text)}")
    return 0
