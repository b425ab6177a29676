"""ATIF v1.4 (Agent Trajectory Interchange Format, Harbor RFC 0001) export of a stored run.

Mapping (``trace-formats.md`` §2): the run id is ``session_id``; each trial opens with a
``user`` step carrying the objective and the first observation; each env action is one ``agent``
step whose ``tool_calls`` hold one ``env.step`` call (the command and the env-level commands it
expanded to), whose ``observation.results`` hold the env's reply, whose ``message`` is the last
LLM response of the step (or the command, for agents without an LLM) and whose
``reasoning_content`` is the agent's thoughts. Token counts go to ``metrics``; reward, score,
timings, the step's metrics, the exact LLM calls and the memory change of the step go to ``extra``
(ATIF has no memory field).

Ground-truth probes of the memory (``Step.probes``) are not the agent's doing: their LLM calls
(purpose ``probe``) are kept out of the step's ``message``, ``model_name``, ``metrics`` and
``extra.llm_calls``, and go with the probes to ``extra.probes`` (each probe's question, true answers,
evidence, stale answers, LLM answer and correctness, the memory texts they were read from, the
per-family means and the probe calls). Under a forced policy the ``env.step`` call holds the played
command, its arguments and ``extra.policy`` say who chose it and what the agent chose instead, and
``message`` is the agent's own choice.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from lab.core.llm.replay import PROBE_PURPOSE
from lab.core.records import LLMCall, RunInfo, Step
from lab.store import RunStore

SCHEMA = "ATIF-v1.4"


def _reasoning(step: Step) -> str | None:
    if not step.thoughts:
        return None
    text = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in step.thoughts.items()}
    return "\n".join(f"{k}: {v}" for k, v in text.items())


def _memory_extra(step: Step) -> dict[str, Any]:
    diff = step.memory_diff
    out: dict[str, Any] = {"size": step.memory_size}
    if diff is not None:
        out["diff"] = diff.model_dump(mode="json", exclude_defaults=True)
    return out


def agent_calls(step: Step) -> list[LLMCall]:
    """The LLM calls the agent made at this step (probe calls excluded)."""
    return [c for c in step.llm_calls if c.purpose != PROBE_PURPOSE]


def _family_metrics(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """``probe/<family>/<name>`` metrics of a step as ``{family: {name: value}}``."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "probe":
            out.setdefault(parts[1], {})[parts[2]] = value
    return out


def probes_extra(step: Step) -> dict[str, Any] | None:
    """The probes asked after the step, with their answers, the texts they were read from and their calls."""
    report = step.probes
    if report is None:
        return None
    calls = [c for c in step.llm_calls if c.purpose == PROBE_PURPOSE]
    return {"count": len(report.results), "metrics": _family_metrics(step.metrics),
            "results": [r.model_dump(mode="json") for r in report.results], "texts": report.texts,
            "llm_calls": [c.model_dump(mode="json") for c in calls],
            "prompt_tokens": sum(c.tokens_in for c in calls),
            "completion_tokens": sum(c.tokens_out for c in calls)}


def policy_extra(step: Step) -> dict[str, Any] | None:
    """Under a forced policy: who chose the played command, and what the agent chose."""
    if step.forced is None and step.agent_action is None:
        return None
    return {"forced": step.forced, "played": step.action, "agent_action": step.agent_action,
            "agree": step.metrics.get("policy/agree")}


def agent_step(step: Step, step_id: int) -> dict[str, Any]:
    """One env action as an ATIF agent step."""
    call_id = f"step-{step.index}"
    own = agent_calls(step)
    chosen = step.agent_action if step.agent_action is not None else step.action
    last_response = next((c.response for c in reversed(own) if c.response), None)
    arguments: dict[str, Any] = {"command": step.action, "env_commands": step.env_actions or [step.action]}
    if step.forced is not None:
        arguments.update(forced=step.forced, agent_command=step.agent_action)
    out: dict[str, Any] = {
        "step_id": step_id, "source": "agent",
        "message": last_response if last_response is not None else chosen,
        "tool_calls": [{"tool_call_id": call_id, "function_name": "env.step", "arguments": arguments}],
        "observation": {"results": [{"source_call_id": call_id, "content": step.feedback}]},
        "extra": {"index": step.index, "trial": step.trial, "t": step.t, "reward": step.reward,
                  "score": step.score,
                  "max_score": step.max_score, "done": step.done, "won": step.won, "lost": step.lost,
                  "timings": step.timings.model_dump(), "memory": _memory_extra(step),
                  "metrics": step.metrics, "llm_calls": [c.model_dump(mode="json") for c in own]},
    }
    for name, value in (("policy", policy_extra(step)), ("probes", probes_extra(step))):
        if value is not None:
            out["extra"][name] = value
    reasoning = _reasoning(step)
    if reasoning:
        out["reasoning_content"] = reasoning
    if own:
        out["model_name"] = own[-1].model
        out["metrics"] = {"prompt_tokens": sum(c.tokens_in for c in own),
                          "completion_tokens": sum(c.tokens_out for c in own),
                          "extra": {"llm_calls": len(own), "latency_s": sum(c.latency_s for c in own)}}
    return out


def trial_start(step: Step, step_id: int) -> dict[str, Any]:
    """The user step that opens a trial: the objective and the first observation."""
    obs = step.observation
    message = (f"Objective: {obs.objective}\n\n" if obs.objective else "") + obs.text
    return {"step_id": step_id, "source": "user", "message": message,
            "extra": {"trial": step.trial, "admissible": obs.admissible, "room": obs.room}}


def atif_steps(store: RunStore, run_id: str, n_steps: int, batch: int = 500) -> Iterator[dict[str, Any]]:
    """ATIF steps, numbered from 1, reading the store in batches."""
    step_id = 0
    for start in range(0, n_steps, batch):
        for step in store.steps(run_id, start, start + batch):
            if step.t == 0:
                step_id += 1
                yield trial_start(step, step_id)
            step_id += 1
            yield agent_step(step, step_id)


def _total(steps: list[dict[str, Any]], metric: str) -> int:
    return sum(step.get("metrics", {}).get(metric, 0) for step in steps)


def _probe_totals(steps: list[dict[str, Any]]) -> dict[str, int]:
    probes = [s["extra"]["probes"] for s in steps if "probes" in s.get("extra", {})]
    return {"probed_steps": len(probes), "probes": sum(p["count"] for p in probes),
            "probe_llm_calls": sum(len(p["llm_calls"]) for p in probes),
            "probe_prompt_tokens": sum(p["prompt_tokens"] for p in probes),
            "probe_completion_tokens": sum(p["completion_tokens"] for p in probes)}


def _outcome(info: RunInfo) -> dict[str, Any]:
    s = info.summary
    fields = ("score", "max_score", "normalized_score", "won", "wall_s")
    return {name: getattr(s, name) if s else None for name in fields}


def atif_document(store: RunStore, run_id: str) -> dict[str, Any]:
    """The whole run as one ATIF v1.4 trajectory (a JSON-ready dict)."""
    info: RunInfo = store.get_run(run_id)
    steps = list(atif_steps(store, run_id, info.n_steps))
    agent_steps = [s for s in steps if s["source"] == "agent"]
    agent: dict[str, Any] = {"name": info.config.agent_id,
                             "version": info.versions.get("memory-agent-lab", "unknown"),
                             "extra": {"config": info.config.agent_config}}
    if info.config.llm not in ("", "none"):
        agent["model_name"] = info.config.llm
    return {
        "schema_version": SCHEMA, "session_id": info.run_id, "agent": agent, "steps": steps,
        "notes": "Exported by memlab: one agent step per env action; reward, score, timings, metrics, the "
                 "agent's LLM calls and memory changes are in each step's extra; ground-truth probes of the "
                 "memory asked after a step (not the agent's doing, their LLM calls included) are in its "
                 "extra.probes, and under a forced policy the agent's own choice is in its extra.policy.",
        "final_metrics": {
            "total_prompt_tokens": _total(agent_steps, "prompt_tokens"),
            "total_completion_tokens": _total(agent_steps, "completion_tokens"),
            "total_steps": len(steps),
            "extra": {"status": info.status, **_outcome(info), **_probe_totals(agent_steps)},
        },
        "extra": {"env": {"id": info.config.env_id, "options": info.config.env_options,
                          "seed": info.config.seed},
                  "run_config": info.config.model_dump(mode="json"), "versions": info.versions,
                  "created_at": info.created_at},
    }
