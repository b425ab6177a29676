"""The tables of ``memlab bench probes``, from hand-made probe results: rates per run, intervals over runs,
paired differences and their verdicts, the bins of steps since a fact was seen."""

from __future__ import annotations

from lab.benches.probes import RunProbes, family_table, hypothesis_table, rate, reader_table, since_table
from lab.core.records import ProbeResult


def probe(family: str = "location", evidence: bool = False, stale: bool = False, answer: str | None = None,
          last_seen: int | None = 0) -> ProbeResult:
    truth = "unknown" if family == "unseen" else "kitchen"
    return ProbeResult(family=family, key=f"{family}:x", subject="x", question="Where is x?", true_answer=truth,
                       true_answers=[truth], candidates=["kitchen", "hall", "unknown"], last_seen=last_seen,
                       evidence=evidence, stale=stale, answer=answer,
                       correct=None if answer is None else answer == truth)


def run(variant: str, seed: int, results: list[tuple[int, ProbeResult]], answered: bool = False) -> RunProbes:
    return RunProbes(variant, "tw-hunt", seed, answered, results=results)


def test_rates_are_shares_over_a_runs_probes_and_answers_count_only_answered_ones() -> None:
    results = [probe(evidence=True, answer="kitchen"), probe(answer="hall"), probe(evidence=True)]
    assert rate(results, "evidence") == 2 / 3
    assert rate(results, "answer") == 1 / 2  # the unanswered probe is left out
    assert rate([probe("unseen", answer="unknown"), probe("unseen", answer="hall")], "abstain") == 1 / 2
    assert rate([probe()], "answer") is None


def test_family_cells_are_means_with_bootstrap_intervals_over_runs() -> None:
    runs = [run("a", 1, [(4, probe(evidence=True)), (4, probe())]),  # 0.5
            run("a", 2, [(4, probe(evidence=True))]),  # 1.0
            run("a", 3, [(4, probe())])]  # 0.0
    table = family_table(runs, "evidence", ("location", "map"))
    # resampled means run from 0.0 (the empty run three times) to 1.0 (the full run three times)
    assert "| a | 0.50 [0.00, 1.00] (n=3) | – | 0.50 [0.00, 1.00] (n=3) |" in table


def test_the_hypothesis_pairs_runs_by_game_and_seed_and_needs_the_interval_to_exclude_zero() -> None:
    runs = []
    for seed, (ours, theirs) in enumerate([(1.0, 0.0), (0.5, 1.0), (0.5, 0.0), (0.0, 0.5), (1.0, 0.5)], start=1):
        runs += [run("arigraph (rules)", seed, evidence_run(ours)),
                 run("full-history", seed, evidence_run(theirs))]
    table, verdicts = hypothesis_table(runs)
    assert "| full-history | +0.20 [-0.30, 0.70] (n=5), 3-2-0, sign test p=1 |" in table
    first = next(v for v in verdicts if v.startswith("evidence, all but unseen") and "full-history" in v)
    assert first.endswith("→ no difference shown")  # two pairs of five go the other way
    for seed in (6, 7, 8):
        runs += [run("arigraph (rules)", seed, evidence_run(1.0)),
                 run("full-history", seed, evidence_run(0.0))]
    _, verdicts = hypothesis_table(runs)
    first = next(v for v in verdicts if v.startswith("evidence, all but unseen") and "full-history" in v)
    assert "+0.50 [0.06, 0.88] (n=8), 6-2-0" in first and first.endswith("→ better")
    assert not any("rag" in v for v in verdicts)  # no rag runs: no pairs, no verdict
    few = [r for r in runs if r.seed in (6, 7)]  # two pairs that agree: a zero-width interval, no verdict
    _, verdicts = hypothesis_table(few)
    first = next(v for v in verdicts if v.startswith("evidence, all but unseen") and "full-history" in v)
    assert "+1.00 [1.00, 1.00] (n=2)" in first and first.endswith("→ too few pairs for a verdict")


def evidence_run(share: float) -> list:
    """Two probes at step 20, ``share`` of them with evidence."""
    return [(20, probe(evidence=True))] * int(share * 2) + [(20, probe())] * (2 - int(share * 2))


def test_steps_since_seen_are_binned_and_unseen_probes_left_out() -> None:
    runs = [run("a", 1, [(10, probe(evidence=True, last_seen=10)), (10, probe(last_seen=5)),
                         (10, probe("unseen", evidence=True, last_seen=None))])]
    table = since_table(runs)
    header, _, row = table.splitlines()[:3]
    cells = [c.strip() for c in row.strip("|").split("|")]
    heads = [c.strip() for c in header.strip("|").split("|")]
    assert cells[heads.index("0 steps")] == "1.00 (n=1)" and cells[heads.index("3–5 steps")] == "0.00 (n=1)"
    assert cells[heads.index("6–10 steps")] == "–"


def test_the_reader_table_sets_accuracy_beside_the_evidence_it_had() -> None:
    runs = [run("a", s, [(5, probe(evidence=True, answer="kitchen")), (5, probe(answer="kitchen")),
                         (5, probe(evidence=True, answer="hall")), (5, probe("unseen", answer="unknown"))],
                answered=True) for s in (1, 2)]
    row = next(line for line in reader_table(runs).splitlines() if line.startswith("| a |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:] == ["0.67 [0.67, 0.67] (n=2)", "0.67 [0.67, 0.67] (n=2)",
                         "+0.00 [0.00, 0.00] (n=2), 0-0-2, sign test p=1", "0.50 [0.50, 0.50] (n=2)",
                         "1.00 [1.00, 1.00] (n=2)", "1.00 [1.00, 1.00] (n=2)"]
