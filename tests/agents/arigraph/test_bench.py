"""The tables of ``memlab bench arigraph`` part (a), from hand-made results."""

from __future__ import annotations

from lab.benches.arigraph import agreement_table, paired_table, scores_table, trials_table


def result(agent: str, seed: int, actions: list[str], trials: list[float] | None = None, score: float = 0.0,
           row: str = "tw-hunt") -> dict:
    return {"row": row, "run": f'{{"game_seed": {seed}}}', "agent": agent, "actions": actions,
            "trial_scores": trials or [0.0], "score": score, "steps": 15}


def test_agreement_is_the_share_of_steps_with_ariadnes_action() -> None:
    results = [
        result("arigraph", 1, ["look", "go east", "take key"]),
        result("rag", 1, ["look", "go west", "take key"]),
        result("arigraph", 2, ["look", "look"]),
        result("rag", 2, ["look", "look"]),
        result("summary", 1, ["look"]),  # a shorter run: the missing steps count as different
    ]
    table = agreement_table(results)
    assert "| game | rag | summary |" in table
    # rag: mean of 2/3 and 1, whose bootstrap resamples range from one to the other; summary has one run
    assert "| tw-hunt | 0.83 [0.67, 1.00] | 0.33 |" in table


def test_trials_table_lists_each_trial_of_multi_trial_runs_only() -> None:
    results = [result("arigraph", 1, []), result("reflexion", 1, [], [0.0, 0.5]),
               result("reflexion", 2, [], [0.2, 0.4])]
    table = trials_table(results)
    assert "| game (reflexion) | trial 1 | trial 2 |" in table
    assert "| tw-hunt | 0.10 [0.00, 0.20] | 0.45 [0.40, 0.50] |" in table
    assert trials_table([result("arigraph", 1, [])]) == ""


def test_scores_carry_their_bootstrap_interval_and_run_count() -> None:
    results = [result("arigraph", seed, [], score=score) for seed, score in enumerate([0.2, 0.4, 0.6])]
    assert "| tw-hunt | 0.40 [0.20, 0.60] (15 steps, n=3) |" in scores_table(results)


def test_paired_differences_are_per_game_and_pooled_over_games_and_seeds() -> None:
    results = []
    for row in ("tw-hunt", "tw-clean"):
        for seed in (1, 2, 3):
            results.append(result("arigraph", seed, [], score=0.5, row=row))
            # rag trails by 0.2 on tw-hunt and ties on tw-clean
            results.append(result("rag", seed, [], score=0.3 if row == "tw-hunt" else 0.5, row=row))
    table = paired_table(results)
    assert "| arigraph minus | tw-hunt | tw-clean | all games |" in table
    row = next(line for line in table.splitlines() if line.startswith("| rag |"))
    hunt, clean, pooled = (cell.strip() for cell in row.strip("|").split("|")[1:])
    assert hunt == "+0.20 [0.20, 0.20] (n=3), 3-0-0, sign test p=0.25"
    assert clean == "+0.00 [0.00, 0.00] (n=3), 0-0-3, sign test p=1"
    assert pooled == "+0.10 [0.03, 0.17] (n=6), 3-0-3, sign test p=0.25"  # six units, half of them ties
