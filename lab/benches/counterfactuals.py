"""Counterfactuals on real runs: an AriGraph decision explained by attribution, a fork without the item that
mattered most, and a paired comparison of two memories over seeds.

1. **Attribution.** AriGraph plays a generated TextWorld game on the embedded model; every decision is
   attributed (``memlab attribute --all``): each memory item of the act prompt left out in turn, every
   admissible command scored again. Then AriGraph with the rules extractor, whose graph fills, at the steps that
   retrieved stored items: the step shown is the one whose most effective removable item (held before the
   step, so that a fork can remove it) moved the chosen command's log-probability most.
2. **Fork.** The run is forked at that step with that item removed (``memlab fork --edit-file``), and goes on
   live on the same model: what it did instead, where the actions and the memories part, how it ended.
3. **Paired comparison.** ``arigraph`` (rules extractor) against ``rag`` on the same forced trajectories
   (``walkthrough+explore``, so both memories see the same observations) over 5 seeds of ``tw-hunt``: per run,
   the share of probes whose true answer the memory's text holds (and, with ``--answer``, the embedded
   model's answer accuracy); each agent's mean with its 95% bootstrap interval, and the paired difference
   with its bootstrap interval and the sign test.

Runs are stored (labels ``bench counterfactuals`` and ``bench probes``); the same command reuses them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from tqdm import tqdm

from lab import attribution
from lab.benches import markdown_table, write_report
from lab.benches import probes as probe_bench
from lab.core.records import Attribution, MemoryEdit, RunConfig, RunInfo
from lab.core.stats import bootstrap_ci, paired
from lab.fork import fork, retrieved_items
from lab.memdiff import compare, divergence, items
from lab.examples import RULES
from lab.runner import execute, prepare
from lab.store import RunStore

LABEL = "bench counterfactuals"
GAME = ("tw-coin", {"level": 205})
"""Four rooms on a 2x2 grid (plus the start), the coin in the last: the walkthrough takes 11 steps."""


def stored(store: RunStore, config: RunConfig, label: str) -> RunInfo:
    """The finished run of ``config`` in the store, or a new one."""
    want = prepare(config, store).config.model_dump_json()
    for info in store.list_runs(limit=10_000, label=label, status="finished"):
        if info.config.model_dump_json() == want:
            return info
    return execute(config, store)


def best_removable(store: RunStore, run_id: str, found: list[Attribution]) -> tuple[Attribution, Any] | None:
    """The decision and item with the largest effect among items a fork at that step can remove."""
    best = None
    for result in found:
        removable = set(retrieved_items(store, run_id, result.step)) | held_ids(store, run_id, result.step)
        for effect in result.items:
            if effect.memory_id in removable and (best is None or abs(effect.delta) > abs(best[1].delta)):
                best = (result, effect)
    return best


def held_ids(store: RunStore, run_id: str, step: int) -> set[str]:
    """Ids of the live items of the memory as step ``step`` found it."""
    if step == 0:
        return set()
    snap = store.memory_at(run_id, step - 1)
    return {i.id for i in [*snap.nodes, *snap.edges, *snap.records] if i.removed_step is None}


def top_effect(found: list[Attribution]) -> tuple[Attribution, Any] | None:
    """The decision and item with the largest effect, whatever the item."""
    pairs = [(r, e) for r in found for e in r.items]
    return max(pairs, key=lambda p: abs(p[1].delta), default=None)


def attribution_section(store: RunStore, parent: RunInfo, found: list[Attribution],
                        pick: tuple[Attribution, Any] | None, removable: bool = True) -> str:
    flips = sum(any(e.choice != a.chosen for e in a.items) for a in found)
    lines = [f"Run `{parent.run_id}`: `{parent.config.agent_id}` on {GAME[0]} level {GAME[1]['level']} with "
             f"the embedded model, {parent.n_steps} steps, score {parent.summary.score:g}"
             f"{'/' + format(parent.summary.max_score, 'g') if parent.summary.max_score else ''}. "
             f"{len(found)} decisions attributed; in {flips} of them leaving one item out flips the choice.", ""]
    if pick is None:
        return "\n".join(lines + ["No decision had an item that a fork could remove before the step."])
    kinds = sorted({e.kind for a in found for e in a.items})
    in_memory = sum(e.memory_id is not None for a in found for e in a.items)
    result, effect = pick
    lines += [f"Step {result.step}: the agent chose `{result.chosen}` among {len(result.options)} commands "
              f"(log p = {result.full_logprob:.3f} over the commands; with no memory at all: "
              f"{result.none_logprob:.3f}, the pick `{result.none_choice}`).", "",
              markdown_table(["rank", "item", "text", "change in log p(chosen)", "choice without it"],
                             [[e.rank, e.memory_id or e.key, " ".join(e.text.split())[:70], f"{e.delta:+.3f}",
                               e.choice] for e in sorted(result.items, key=lambda e: e.rank)[:8]]), "",
              (f"The item with the largest effect that the memory held before the step: `{effect.memory_id}` "
               f"({' '.join(effect.text.split())[:80]}), change {effect.delta:+.3f}; without it the scorer "
               f"picks `{effect.choice}`." if removable else
               f"The prompt items were of the kinds {', '.join(kinds)}; {in_memory} of them are items of the "
               "memory graph (the rest, the recent history pairs and the unexplored-exits list, are built into "
               "the prompt each step and are not stored, so no fork can remove them). The embedded model's "
               "extractor wrote few triplets here, and semantic search retrieved none that entered a decision; "
               "the rules extractor below fills the graph.")]
    return "\n".join(lines)


def fork_section(store: RunStore, parent: RunInfo, child: RunInfo, at: int, item: str, predicted: str) -> str:
    split = divergence(store, parent.run_id, child.run_id)
    a, b = store.steps(parent.run_id), store.steps(child.run_id)
    rows = [[k, a[k].action if k < len(a) else "", b[k].action if k < len(b) else "",
             "differs" if k < min(len(a), len(b)) and a[k].action != b[k].action else ""]
            for k in range(at, max(len(a), len(b)))]
    end = min(len(a), len(b)) - 1
    diff = compare(store.memory_at(parent.run_id, end), store.memory_at(child.run_id, end))
    s, p = child.summary, parent.summary
    held = {i.id: i for i in items(store.memory_at(parent.run_id, at - 1))} if at else {}
    back = item in held and any(i.key == held[item].key for i in items(store.memory_at(child.run_id, end)))

    def first(what: str, k: int | None) -> str:
        return (f"{what} first differ at step {k}" if k is not None
                else f"{what} never differ over the {split.shared} steps both have")

    def n(count: int) -> str:
        return f"{count} item{'' if count == 1 else 's'}"

    return "\n".join([
        f"Fork `{child.run_id}` of the parent at step {at}, `{item}` removed, then live on the same model: "
        f"{child.n_steps} steps, score {s.score:g} (parent {p.score:g}), {'won' if s.won else 'not won'} "
        f"(parent {'won' if p.won else 'not won'}).", "",
        f"Attribution predicted `{predicted}` at step {at} without the item; the fork chose "
        f"`{b[at].action}`. {first('Actions', split.actions)}; {first('memories', split.memory)}. At step "
        f"{end}, the parent's memory holds {n(len(diff.only_a))} the fork's does not, the fork's "
        f"{n(len(diff.only_b))} the parent's does not, and they share {len(diff.both)}"
        + (f"; the fork's memory holds `{held[item].text}` again, written back from what the agent observed."
           if back else "."), "",
        markdown_table(["step", "parent", "fork", ""], rows)])


def paired_section(store: RunStore, seeds: int, steps: int, probe_every: int, answered: bool) -> str:
    args = probe_bench.parse(["--seeds", str(seeds), "--answer-seeds", str(seeds if answered else 0),
                              "--games", "tw-hunt", "--answer-games", "tw-hunt", "--probe-every", str(probe_every),
                              "--variants", "arigraph (rules),rag"])
    variants = {v.label: v for v in probe_bench.VARIANTS}
    game = probe_bench.Game("tw-hunt", "tw-hunt", {}, steps)
    acc: dict[str, dict[int, float]] = {"arigraph (rules)": {}, "rag": {}}
    evidence: dict[str, dict[int, float]] = {"arigraph (rules)": {}, "rag": {}}
    jobs = [(label, seed) for seed in range(1, seeds + 1) for label in acc]
    for label, seed in tqdm(jobs, desc="paired probes", unit="run"):
        g = probe_bench.Game(game.label, game.env, {"game_seed": seed}, steps)
        info = stored(store, probe_bench.config(variants[label], g, seed, args), probe_bench.LABEL)
        run = probe_bench.collect(variants[label], g, seed, info, store.steps(info.run_id))
        results = [r for _, r in run.results if r.family != "unseen"]
        if answered:
            acc[label][seed] = probe_bench.rate(results, "answer") or 0.0
        evidence[label][seed] = probe_bench.rate(results, "evidence") or 0.0
    rows = []
    for what, table in (("answer accuracy", acc), ("evidence rate", evidence))[0 if answered else 1:]:
        a, r = table["arigraph (rules)"], table["rag"]
        units = sorted(a.keys() & r.keys())
        rows.append([what, str(bootstrap_ci([a[u] for u in units])), str(bootstrap_ci([r[u] for u in units])),
                     str(paired([a[u] for u in units], [r[u] for u in units]))])
    columns = [("arigraph accuracy", acc["arigraph (rules)"]), ("rag accuracy", acc["rag"])] if answered else []
    columns += [("arigraph evidence", evidence["arigraph (rules)"]), ("rag evidence", evidence["rag"])]
    per_seed = markdown_table(["seed", *(name for name, _ in columns)],
                              [[s, *(f"{values[s]:.3f}" for _, values in columns)] for s in sorted(evidence["rag"])])
    reader = ("the embedded model answers each probe from the memory's text (answer accuracy: its pick among the "
              "game's candidates is true); " if answered else
              "no model answers them here (`--answer` has the embedded model answer each from the memory's text: "
              "about 10 s a probe on 2 cores with the memory's 24,000 characters, and near chance, 8-13%, in "
              "[probes.md](probes.md)), so the measure is the evidence rate: a true answer can be read from "
              "the memory's text; ")
    return "\n".join([
        f"`arigraph` (rules extractor) and `rag` on the same forced `walkthrough+explore` trajectory of "
        f"`tw-hunt` (a game per seed, {steps} steps), probed every {probe_every} steps and at the end, "
        f"{args.per_family} probes per family; {reader}the `unseen` family, whose answer is `unknown`, is "
        "left out. A run's value is its share over its probes. Cells: mean [95% percentile bootstrap "
        "interval] (n = seeds); the paired cell is arigraph minus rag on the same seed, then wins-losses-ties "
        "and the two-sided sign test.", "",
        markdown_table(["per run", "arigraph", "rag", "arigraph − rag (paired)"], rows), "", per_seed])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memlab bench counterfactuals", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="parts 1-2: steps of the AriGraph run")
    parser.add_argument("--seeds", type=int, default=5, help="part 3: seeds")
    parser.add_argument("--probe-steps", type=int, default=100, help="part 3: steps of each forced run")
    parser.add_argument("--probe-every", type=int, default=10, help="part 3: probes every K steps")
    parser.add_argument("--answer", action="store_true", help="part 3: the embedded model answers the probes")
    parser.add_argument("--quick", action="store_true", help="6 AriGraph steps; 2 seeds of 30 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.probe_steps, args.probe_every = 6, 2, 30, 10
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    start = time.perf_counter()
    store = RunStore()
    config = RunConfig(env_id=GAME[0], env_options=GAME[1], agent_id="arigraph", llm="embedded",
                       max_steps=args.steps, probe_every=0, label=LABEL)
    parent = stored(store, config, LABEL)
    with tqdm(total=len(attribution.attributable_steps(store, parent.run_id)), desc="attribution") as bar:
        found = attribution.attribute_all(store, parent.run_id, "embedded",
                                          progress=lambda done, total: bar.update(done - bar.n))
    sections = ["## 1. An AriGraph step explained by attribution", "",
                "### The default AriGraph (the embedded model extracts the triplets)", "",
                attribution_section(store, parent, found, top_effect(found), removable=False), ""]
    rules = stored(store, config.model_copy(update={"agent_config": RULES}), LABEL)
    steps = [k for k in attribution.attributable_steps(store, rules.run_id) if retrieved_items(store, rules.run_id, k)]
    with tqdm(total=len(steps), desc="attribution (rules)") as bar:
        found_rules = []
        for k in steps:
            found_rules.append(attribution.cached(store, rules.run_id, k))
            bar.update(1)
    pick = best_removable(store, rules.run_id, found_rules)
    sections += ["### AriGraph with the rules extractor (its graph fills), at the steps that retrieved stored "
                 "items", "", attribution_section(store, rules, found_rules, pick), ""]
    if pick is not None:
        result, effect = pick
        edits = [MemoryEdit(op="remove", id=effect.memory_id)]
        forks = [i for i in store.list_runs(limit=10_000, status="finished")
                 if i.config.fork and i.config.fork.parent == rules.run_id and i.config.fork.step == result.step
                 and i.config.fork.edits == edits]
        child = forks[0] if forks else fork(rules.run_id, result.step, edits, store)
        sections += ["## 2. A fork without that item, and what happened next", "",
                     fork_section(store, rules, child, result.step, effect.memory_id, effect.choice), ""]
    sections += ["## 3. Paired comparison over seeds: arigraph against rag on the probes", "",
                 paired_section(store, args.seeds, args.probe_steps, args.probe_every, args.answer)]
    command = " ".join(["memlab bench counterfactuals", *argv])
    text = (f"Run: `{command}` ({(time.perf_counter() - start) / 60:.0f} min, reusing stored runs).\n\n"
            "Offline, the deciding model is the embedded 135M one: it reads memory weakly, so part 1's effects "
            "are small and part 2's fork may act as its parent did. The instruments are what this page shows: "
            "with a strong model (`--llm`), the same commands answer the same questions.\n\n"
            + "\n".join(sections))
    print(text)
    print(f"\nwrote {write_report('counterfactuals', 'Counterfactuals: attribution, forks, paired comparisons', text)}")
    return 0
