"""The HiAgent bench's tables: ratios per game, the no-example variant beside the other two."""

from __future__ import annotations

from lab.benches.hiagent import memory_rows, paired_rows, parse_args, prompt_rows, ratio_rows, report


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
    cooking, hunt = prompt_rows(RESULTS)
    assert cooking[:7] == ["tw-cooking", 1, "1000", "450", "600", "166.7%", "75.0%"]
    # same trajectory: full-history's fixed text (600 - 400) plus its history on that trajectory
    assert cooking[7:] == [f"{100 * 1000 / (200 + 400):.1f}%", f"{100 * 450 / (200 + 500):.1f}%"]
    assert hunt[3] == "nan" and hunt[6] == "nan%"  # the no-example variant did not run there
    memory = memory_rows(RESULTS)[0]
    assert memory[5:8] == ["400", "75.0%", "50.0%"] and memory[10:13] == ["0/3", "1", "0/3"]


def test_the_report_gives_the_means_over_games_with_their_intervals() -> None:
    text = " ".join(report(parse_args(["--seeds", "1"]), RESULTS).split())  # one line: the report wraps
    # (166.7 + 300) / 2; two games resample to either one or their mean; no example ran on one game only
    assert ("| action prompt, own runs | 233.3% [166.7, 300.0] (n=2; above 100%, excludes 65%) "
            "| 75.0% (n=1) |") in text
    assert ("| memory text, same trajectory | 62.5% [50.0, 75.0] (n=2; below 100%, includes 65%) "
            "| 50.0% (n=1) |") in text
    assert text.count("| hiagent-no-example | tw-cooking |") == 1


def test_the_paired_rows_set_each_variant_against_full_history_on_the_same_games() -> None:
    (hiagent, score, act, every), (bare, bare_score, *_) = paired_rows(RESULTS)
    assert hiagent == "hiagent" and bare == "hiagent-no-example"
    assert score == "+0.00 [0.00, 0.00] (n=2), 0-0-2, sign test p=1"
    assert act == every == "+500 [400, 600] (n=2), 2-0-0, sign test p=0.5"  # +400 on cooking, +600 on hunt
    assert bare_score == "+0.33 (n=1), 1-0-0, sign test p=1"  # one of three points on its one game


def test_own_run_ratios_leave_out_pairs_of_runs_that_played_different_lengths() -> None:
    short = [dict(r, steps=1) if r["agent"] == "full-history" and r["env"] == "tw-hunt" else r for r in RESULTS]
    rows = {row[0]: row for row in ratio_rows(short)}
    assert rows["action prompt, own runs"][1] == "166.7% (n=1)"  # tw-hunt's full-history ended at step 1
    assert rows["action prompt, same trajectory"][1].endswith("(n=2; above 100%, excludes 65%)")  # kept
