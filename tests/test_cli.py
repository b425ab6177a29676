"""The ``memlab`` CLI through subprocesses, as a person or a script uses it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import memlab


def run_count(home: Path) -> int:
    db = home / "runs.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def store_rows(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "runs.sqlite") as conn:
        return conn.execute("SELECT r.run_id, r.status, r.n_steps, r.summary, count(s.idx) FROM runs r "
                            "LEFT JOIN steps s ON s.run_id = r.run_id GROUP BY r.run_id").fetchall()


def test_lists_envs_and_agents(home: Path) -> None:
    envs = memlab("envs", home=home)
    assert envs.returncode == 0
    for env_id in ("tw-treasure", "tw-cooking", "tw-coin", "tw-file", "minigrid:<ID>"):
        assert env_id in envs.stdout
    agents = memlab("agents", home=home)
    assert "random" in agents.stdout and "full-history" in agents.stdout


def test_minigrid_run_then_jsonl_export(home: Path, tmp_path: Path) -> None:
    out = memlab("run", "--env", "minigrid:MiniGrid-FourRooms-v0", "--agent", "random", "--seed", "1",
                 "--max-steps", "200", home=home)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    assert "finished: random on minigrid:MiniGrid-FourRooms-v0" in out.stderr
    target = tmp_path / "run.jsonl"
    exported = memlab("export", run_id, "--format", "jsonl", "-o", str(target), home=home)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    header, steps = lines[0], lines[1:]
    assert header["type"] == "header" and header["run"]["run_id"] == run_id
    assert header["run"]["config"]["seed"] == 1 and "git_sha" in header["run"]["versions"]
    assert len(steps) == header["run"]["n_steps"] > 0
    assert [s["index"] for s in steps] == list(range(len(steps)))
    shown = memlab("show", run_id, "--step", "0", home=home)
    assert json.loads(shown.stdout)["index"] == 0
    for fmt, name in (("atif", f"{run_id}.atif.json"), ("html", f"{run_id}.html")):  # no -o: named by format
        assert memlab("export", run_id, "--format", fmt, home=home, cwd=tmp_path).returncode == 0
        assert (tmp_path / name).stat().st_size > 0


def test_textworld_cooking_run_exports_one_line_per_step(home: Path, tmp_path: Path) -> None:
    out = memlab("run", "--env", "tw-cooking", "--agent", "random", "--seed", "1", "--max-steps", "30", home=home)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    target = tmp_path / "cook.jsonl"
    assert memlab("export", run_id, "-o", str(target), home=home).returncode == 0
    lines = target.read_text().splitlines()
    steps = [json.loads(line) for line in lines[1:]]
    assert len(lines) == 1 + len(steps) and 0 < len(steps) <= 30
    assert steps[0]["facts"], "ground truth goes into the trace"
    listed = memlab("runs", home=home)
    assert run_id in listed.stdout


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding one run, shared by the bad-input cases (none of which may touch it)."""
    home = tmp_path_factory.mktemp("bad-input")
    out = memlab("run", "--env", "minigrid:MiniGrid-Empty-5x5-v0", "--agent", "random", "--max-steps", "3",
                 home=home)
    assert out.returncode == 0, out.stderr
    return home


@pytest.mark.parametrize("args,message", [
    (["run", "--env", "tw-nope", "--agent", "random"], "unknown env 'tw-nope'; valid: "),
    (["run", "--env", "tw-coin", "--agent", "nobody"], "unknown agent 'nobody'; valid: "),
    (["run", "--env", "tw-coin", "--agent", "random", "--env-opt", "level=0"], "option 'level'"),
    (["run", "--env", "tw-coin", "--agent", "random", "--env-opt", "colour=red"], "unknown option 'colour'"),
    (["run", "--env", "tw-coin", "--agent", "random", "--env-opt", "level"], "--env-opt takes key=value"),
    (["run", "--env", "tw-coin", "--agent", "full-history", "--agent-opt", "max_history_chars=x"],
     "option 'max_history_chars'"),
    (["run", "--env", "tw-file", "--agent", "random", "--env-opt", "path=/no/such/game.z8"], "does not exist"),
    (["run", "--env", "tw-file", "--agent", "random", "--env-opt", f"path={__file__}"], "is not a TextWorld"),
    (["run", "--env", "tw-coin", "--agent", "full-history", "--llm", "gpt:4"], "unknown LLM provider 'gpt'"),
    (["run", "--env", "tw-coin", "--agent", "full-history", "--llm-opt", "temperature=hot"], "not a number"),
    (["run", "--env", "tw-coin", "--agent", "arigraph", "--llm", "openai:o3-mini"],
     "openai:o3-mini refuses temperature"),
    (["show", "no-such-run"], "no run with id 'no-such-run'"),
    (["resume", "no-such-run"], "no run with id 'no-such-run'"),
    (["export", "no-such-run", "-o", "{home}/x.jsonl"], "no run with id 'no-such-run'"),
])
def test_bad_input_gives_one_line_and_touches_nothing(seeded_home: Path, args: list[str], message: str) -> None:
    before = store_rows(seeded_home)
    args = [arg.replace("{home}", str(seeded_home)) for arg in args]
    out = memlab(*args, home=seeded_home)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr
    assert run_count(seeded_home) == 1 and store_rows(seeded_home) == before
    assert not (seeded_home / "x.jsonl").exists()


def test_resume_continues_an_interrupted_run_and_refuses_a_finished_one(home: Path) -> None:
    out = memlab("run", "--env", "minigrid:MiniGrid-Empty-5x5-v0", "--agent", "random", "--max-steps", "8",
                 home=home)
    run_id = out.stdout.strip()
    with sqlite3.connect(home / "runs.sqlite") as conn:  # as a killed process leaves it: 5 steps committed
        conn.execute("DELETE FROM steps WHERE run_id=? AND idx>=5", (run_id,))
        conn.execute("UPDATE runs SET status='interrupted', n_steps=5 WHERE run_id=?", (run_id,))
    out = memlab("resume", run_id, home=home)
    assert out.returncode == 0, out.stderr
    assert "finished: resumed at step 5, 8 steps" in out.stderr and out.stdout.strip() == run_id
    again = memlab("resume", run_id, home=home)
    assert again.returncode != 0 and again.stderr.strip().splitlines() == [
        f"error: run {run_id} is finished: only an errored, stopped or interrupted run can be resumed"]


def test_sweep_prints_each_agent_over_seeds_with_its_interval_and_the_pair_by_seed(tmp_path: Path) -> None:
    grid = "minigrid:MiniGrid-Empty-5x5-v0"
    done = memlab("sweep", "--agents", "random,full-history", "--envs", grid, "--seeds", "0-2", "--llm",
                  "fake:forward", "--max-steps", "4", "--workers", "1", "--name", "pairs", home=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert f"{grid} · sweep:pairs · random: 0.00 [0.00, 0.00] (n=3), won 0%" in lines
    assert f"{grid} · sweep:pairs · full-history: 0.00 [0.00, 0.00] (n=3), won 0%" in lines
    assert f"{grid} · sweep:pairs · full-history − random: +0.00 [0.00, 0.00] (n=3), 0-0-3, sign test p=1" in lines
    assert done.stdout.strip().splitlines()[-1] == "sweep:pairs"  # the label stays the last line
