"""The HiAgent bench's tables: ratios per game, the no-example variant beside the other two."""

from __future__ import annotations

from agents.hiagent.bench import pair_rows, parse_args, report


def result(agent: str, env: str, act: float, memory: float, same: float, score: float = 0.0) -> dict:
    return {
        "agent": agent, "env": env, "seed": 1, "run_id": f"{agent}-{env}", "steps": 30, "score": score,
        "max_score": 3.0, "won": False, "subgoals": 4, "wall_s": 1.0, "act_tokens": act, "all_tokens": act,
        "memory_tokens": memory, "history_tokens_same": same, "act_tokens_last": act, "calls": 1.0,
    }


RESULTS = [
    result("hiagent", "tw-cooking", act=1000, memory=300, same=400),
    result("hiagent-no-example", "tw-cooking", act=450, memory=250, same=500, score=1),
    result("full-history", "tw-cooking", act=600, memory=400, same=0),
    result("hiagent", "tw-hunt", act=900, memory=200, same=400),
    result("full-history", "tw-hunt", act=300, memory=300, same=0),
]


def test_rows_put_each_variant_beside_full_history_of_the_same_game() -> None:
    cooking, hunt = pair_rows(RESULTS)
    assert cooking[:7] == ["tw-cooking", 1, "1000", "600", "166.7%", "450", "75.0%"]
    assert "1" in cooking and "0/3" in cooking  # the no-example score beside HiAgent's
    assert hunt[:5] == ["tw-hunt", 1, "900", "300", "300.0%"] and hunt[5:7] == ["nan", "nan%"]  # not run


def test_the_report_gives_both_means() -> None:
    text = " ".join(report(parse_args(["--seeds", "1"]), RESULTS).split())  # one line: the report wraps
    assert "action prompt 233.3%" in text  # (166.7 + 300) / 2
    assert "memory text on the same trajectory 62.5%" in text  # (75 + 50) / 2
    assert "Without the example: action prompt 75.0%, memory text on its own trajectory 50.0%" in text
    assert text.count("| hiagent-no-example | tw-cooking |") == 1
