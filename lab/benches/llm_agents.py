"""The LLM agents over a real OpenAI-compatible HTTP endpoint: parsing of strong-model replies, wall time.

``memlab bench llm-agents`` writes ``docs/llm-agents.md``. Every run goes through langchain-openai's own
client to the loopback server (``lab.core.llm.serve``) with ``--llm openai:<name>``, as a user's endpoint
would be reached.

(a) The scripted strong model (``lab.benches.strong_model``) behind the server, on three generated
    games: wins, steps against the walkthrough's length, LLM calls per step (by purpose), and the calls
    whose reply the agent could not use. The model reads only the prompt, writes replies in strong-model
    styles, and decides by a fixed rule (take the goal object when offered; else an exit that the prompt's
    memory does not mark explored; never straight back), so this measures whether each agent's full LLM
    path reads such replies and passes on what its memory holds, not how well a real model plays.
(b) The embedded model behind the server: one run per LLM agent with the paper's sampling settings and
    reply budgets, wall time per step and where it goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from envs.registry import make_env
from lab.benches import markdown_table, write_report
from lab.core.llm.serve import OpenAIServer
from lab.core.records import RunConfig, Step
from lab.runner import execute
from lab.store import RunStore

AGENTS: dict[str, dict[str, Any]] = {
    "arigraph": {"encoder": "hash"},
    "arigraph-full-history": {},
    "summary": {},
    "rag": {"encoder": "hash"},
    "reflexion": {},
    "full-history": {},
    "hiagent": {},
    "clin": {"record_meta_memory": False},
}
"""Every registered LLM agent, with the paper's LLM calls (hashed encoders keep the embedded sentence
encoder out of the timings; the calls are the same)."""
GAMES: list[tuple[str, dict[str, Any], str]] = [
    ("tw-coin", {"level": 5}, "5 rooms in a line, the coin in the last"),
    ("tw-treasure", {"level": 10}, "find an object in a house of 5 rooms (the hardest of the 5-room levels)"),
    ("tw-coin", {"level": 205}, "a 5-room chain to the coin with distractor rooms along it, 15 rooms in all"),
]
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memlab bench llm-agents", description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=30, help="step cap of each strong-model run")
    parser.add_argument("--embedded-steps", type=int, default=3, help="steps of each embedded-model run")
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agent ids")
    parser.add_argument("--skip-embedded", action="store_true", help="part (a) only")
    args = parser.parse_args(argv)
    args.agents = [a for a in args.agents.split(",") if a]
    unknown = set(args.agents) - set(AGENTS)
    if unknown:
        parser.error(f"unknown agent(s) {sorted(unknown)}; choose from {', '.join(AGENTS)}")
    return args


@contextmanager
def endpoint(model: Any, name: str) -> Iterator[OpenAIServer]:
    """``model`` served on a loopback port, with the OpenAI client's environment pointing at it."""
    keys = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "NO_PROXY")
    before = {key: os.environ.get(key) for key in keys}
    with OpenAIServer(model, model_name=name) as server:
        os.environ.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-loopback-bench",
                          NO_PROXY="127.0.0.1,localhost")
        try:
            yield server
        finally:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def walkthrough_length(env_id: str, options: dict[str, Any]) -> int | None:
    env = make_env(env_id, options)
    try:
        walkthrough = env.reset(seed=0).privileged.get("walkthrough")
        return len(walkthrough) if walkthrough else None
    finally:
        env.close()


def unread(thoughts: dict[str, Any]) -> list[str]:
    """Where an agent recorded a reply it could not use: ``*_parse_failure`` (plan, act, summary,
    importance), HiAgent's ``parse_failures``, CLIN's malformed tries, a ``fallback`` action, and AriGraph's
    rejected chunks that hold a comma (a triplet or a replacement it could not read; the preamble, heading
    and fence lines that the parsers also reject, and rightly, are not counted).

    >>> unread({"plan_parse_failure": "...", "memory": {"parse_rejected": ["```", "Here you go:"]},
    ...         "tries": [{"error": "malformed"}]})
    ['plan_parse_failure', 'tries']
    >>> unread({"memory": {"parse_rejected": ["key, is in"]}})
    ['memory.parse_rejected']
    """
    memory = thoughts.get("memory") if isinstance(thoughts.get("memory"), dict) else {}
    marks = [key for key, value in thoughts.items()
             if (key.endswith("_parse_failure") or key in ("parse_failures", "fallback")) and value]
    marks += ["memory.parse_rejected"] if any("," in chunk for chunk in memory.get("parse_rejected", [])) else []
    tries = thoughts.get("tries") if isinstance(thoughts.get("tries"), list) else []
    return marks + (["tries"] if any(isinstance(t, dict) and t.get("error") for t in tries) else [])


def play(store: RunStore, spec: str, agent: str, env_id: str, options: dict[str, Any], max_steps: int,
         bar: tqdm) -> dict[str, Any]:
    config = RunConfig(env_id=env_id, env_options=options, agent_id=agent, agent_config=AGENTS[agent],
                       llm=spec, max_steps=max_steps, probe_every=0, label="bench llm-agents")
    info = execute(config, store, progress=lambda done, total: bar.update(1))
    steps = store.steps(info.run_id)
    purposes = Counter(call.purpose for step in steps for call in step.llm_calls)
    ended = ("won" if info.summary.won else steps[-1].thoughts.get("end_trial") if steps else None) or (
        f"step cap {max_steps}" if len(steps) >= max_steps else info.summary.status)
    return {"agent": agent, "env": f"{env_id} {options}", "run": info.run_id, "won": info.summary.won,
            "ended": ended,
            "status": info.summary.status, "steps": len(steps), "calls": sum(purposes.values()),
            "purposes": purposes, "unused": sum(bool(unread(step.thoughts)) for step in steps),
            "step_s": [step.timings.total_s for step in steps], "llm_s": [step.timings.llm_s for step in steps],
            "tokens_out": info.summary.tokens_out}


def per_step(purposes: Counter[str], steps: int) -> str:
    return ", ".join(f"{p} {n / steps:.2f}" for p, n in sorted(purposes.items())) if steps else "-"


def strong_table(results: list[dict[str, Any]], optimal: dict[str, int | None]) -> str:
    rows = [[r["agent"], r["env"], r["ended"], f"{r['steps']} / {optimal[r['env']]}",
             f"{r['calls'] / max(r['steps'], 1):.2f}", per_step(r["purposes"], r["steps"]), r["unused"]]
            for r in results]
    return markdown_table(["agent", "game", "how it ended", "steps / walkthrough", "calls per step",
                           "calls per step by purpose", "steps with an unread reply"], rows)


def embedded_table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        wall = r["step_s"]
        rows.append([r["agent"], r["steps"], f"{statistics.median(wall):.1f}" if wall else "-",
                     f"{max(wall):.1f}" if wall else "-",
                     f"{sum(r['llm_s']) / max(sum(wall), 1e-9):.1%}", f"{r['calls'] / max(r['steps'], 1):.1f}",
                     f"{r['tokens_out'] / max(r['calls'], 1):.0f}", r["ended"]])
    return markdown_table(["agent", "steps", "median s per step", "slowest step s", "share in LLM calls",
                           "calls per step", "reply tokens per call", "how it ended"], rows)


def main(argv: list[str]) -> int:
    """Run both parts, print the tables and write ``docs/llm-agents.md``."""
    from lab.benches.strong_model import ScriptedStrongModel

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memlab-bench-llm-") as home:
        previous, os.environ["MEMLAB_HOME"] = os.environ.get("MEMLAB_HOME"), home
        try:
            store = RunStore()
            optimal = {f"{env_id} {options}": walkthrough_length(env_id, options) for env_id, options, _ in GAMES}
            strong: list[dict[str, Any]] = []
            with endpoint(ScriptedStrongModel(), "scripted-strong"), \
                    tqdm(desc="(a) scripted strong model (steps, at most)", unit="step",
                         total=len(GAMES) * len(args.agents) * args.max_steps) as bar:
                for env_id, options, _ in GAMES:
                    for agent in args.agents:
                        strong.append(play(store, "openai:scripted-strong", agent, env_id, options,
                                           args.max_steps, bar))
            embedded: list[dict[str, Any]] = []
            if not args.skip_embedded:
                from lab.core.llm.embedded import EmbeddedChatModel

                env_id, options, _ = GAMES[0]
                with endpoint(EmbeddedChatModel(), "smollm2-135m"), \
                        tqdm(desc="(b) embedded model over HTTP (steps)", unit="step",
                             total=len(args.agents) * args.embedded_steps) as bar:
                    for agent in args.agents:
                        embedded.append(play(store, "openai:smollm2-135m", agent, env_id, options,
                                             args.embedded_steps, bar))
            store.close()
        finally:
            if previous is None:
                os.environ.pop("MEMLAB_HOME", None)
            else:
                os.environ["MEMLAB_HOME"] = previous
    body = report(args, strong, optimal, embedded)
    print(body)
    print(f"\nwritten to {write_report('llm-agents', 'LLM agents over an OpenAI-compatible endpoint', body)}")
    return 0


def report(args: argparse.Namespace, strong: list[dict[str, Any]], optimal: dict[str, int | None],
           embedded: list[dict[str, Any]]) -> str:
    games = "\n".join(f"- `{env_id} {options}`: {note}" for env_id, options, note in GAMES)
    wins = Counter(r["agent"] for r in strong if r["won"])
    won_all = [a for a in args.agents if wins[a] == len(GAMES)]
    body = f"""Command: `memlab bench llm-agents --max-steps {args.max_steps} --embedded-steps {args.embedded_steps}`.

Every run below went over HTTP: langchain-openai's client (`--llm openai:<name>`, `OPENAI_BASE_URL`) to the
lab's loopback OpenAI-compatible server, with each agent's paper sampling settings in the request bodies.

## (a) The scripted strong model: do the agents read strong-model replies?

The scripted model reads only the prompt it is sent and replies as strong chat models write: preambles,
markdown, code fences, echoed headings, ratings written with their scale ("6/10", "6 out of 10"), "Task
complete? Not yet." inside a CLIN rationale, JSON with trailing commas, one style after another. It decides
by a fixed rule: take the goal object when a take command is offered; else an exit that the prompt's memory
does not mark explored; never straight back the way it came. It does not follow the directions that the
goal sentence gives. These rows therefore say whether each agent's whole LLM path reads such replies and
hands the rule what its memory holds; they say nothing of how a real model would play.

Games (step cap {args.max_steps}):
{games}

{strong_table(strong, optimal)}

Won on all {len(GAMES)} games: {", ".join(won_all) or "none"}. "Steps with an unread reply" counts steps
where the agent recorded a reply it could not use (a triplet or replacement chunk it could not read, a parse
failure, a fallback action). Calls per step by purpose are the papers' loops: AriGraph's refinement is
skipped on the first step (nothing stored yet to refine); HiAgent's extra act call on the first step is
its pseudo-command for the valid actions, and it summarises each subgoal it closes; CLIN writes its
learnings once, when the trial ends.

Where a game's directions are not followed, what the rule can act on is what a prompt states outright:
only AriGraph's prompt lists which exits are unexplored, so only it gets out of the distractor rooms; the
other memories hold the same history, but the rule does not work out visited rooms from a history, and it
walks in circles until the step cap (CLIN's own early stop ends its trial sooner). That is the limit of the
rule, not a finding about the memories: a strong model reading those histories would do better.
"""
    if embedded:
        env_id, options, _ = GAMES[0]
        body += f"""
## (b) The embedded model over HTTP: wall time per step

One run per LLM agent, {args.embedded_steps} steps of `{env_id} {options}`, the embedded model
(SmolLM2-135M-Instruct, torch, greedy) behind the loopback server, each call with the paper's reply budget
(the request's `max_completion_tokens`, where the paper sets one) and the server's own cap otherwise. Wall time
is the step's total (env, memory, LLM calls, HTTP); the LLM share is the time spent inside calls.

{embedded_table(embedded)}
"""
    return body
