"""The tables of ``memlab bench arigraph`` part (a), from hand-made results."""

from __future__ import annotations

from lab.benches.arigraph import agreement_table, trials_table


def result(agent: str, seed: int, actions: list[str], trials: list[float] | None = None) -> dict:
    return {"row": "tw-hunt", "run": f'{{"game_seed": {seed}}}', "agent": agent, "actions": actions,
            "trial_scores": trials or [0.0]}


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
    assert "| tw-hunt | 0.83 ± 0.24 | 0.33 ± 0.00 |" in table  # rag: mean of 2/3 and 1


def test_trials_table_lists_each_trial_of_multi_trial_runs_only() -> None:
    results = [result("arigraph", 1, []), result("reflexion", 1, [], [0.0, 0.5]),
               result("reflexion", 2, [], [0.2, 0.4])]
    table = trials_table(results)
    assert "| game (reflexion) | trial 1 | trial 2 |" in table
    assert "| tw-hunt | 0.10 ± 0.14 | 0.45 ± 0.07 |" in table
    assert trials_table([result("arigraph", 1, [])]) == ""
