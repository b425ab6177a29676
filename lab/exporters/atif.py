"""ATIF v1.4 (Agent Trajectory Interchange Format, Harbor RFC 0001) export of a stored run.

Mapping (``trace-formats.md`` §2): the run id is ``session_id``; each trial opens with a
``user`` step carrying the objective and the first observation; each env action is one ``agent``
step whose ``tool_calls`` hold one ``env.step`` call (the command and the env-level commands it
expanded to), whose ``observation.results`` hold the env's reply, whose ``message`` is the last
LLM response of the step (or the command, for agents without an LLM) and whose
``reasoning_content`` is the agent's thoughts. Token counts go to ``metrics``; reward, score,
timings, the exact LLM calls and the memory change of the step go to ``extra`` (ATIF has no
memory field).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from lab.core.records import RunInfo, Step
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


def agent_step(step: Step, step_id: int) -> dict[str, Any]:
    """One env action as an ATIF agent step."""
    call_id = f"step-{step.index}"
    last_response = next((c.response for c in reversed(step.llm_calls) if c.response), None)
    out: dict[str, Any] = {
        "step_id": step_id, "source": "agent",
        "message": last_response if last_response is not None else step.action,
        "tool_calls": [{"tool_call_id": call_id, "function_name": "env.step",
                        "arguments": {"command": step.action,
                                      "env_commands": step.env_actions or [step.action]}}],
        "observation": {"results": [{"source_call_id": call_id, "content": step.feedback}]},
        "extra": {"index": step.index, "trial": step.trial, "t": step.t, "reward": step.reward,
                  "score": step.score,
                  "max_score": step.max_score, "done": step.done, "won": step.won, "lost": step.lost,
                  "timings": step.timings.model_dump(), "memory": _memory_extra(step),
                  "llm_calls": [c.model_dump(mode="json") for c in step.llm_calls]},
    }
    reasoning = _reasoning(step)
    if reasoning:
        out["reasoning_content"] = reasoning
    if step.llm_calls:
        out["model_name"] = step.llm_calls[-1].model
        out["metrics"] = {"prompt_tokens": sum(c.tokens_in for c in step.llm_calls),
                          "completion_tokens": sum(c.tokens_out for c in step.llm_calls),
                          "extra": {"llm_calls": len(step.llm_calls),
                                    "latency_s": sum(c.latency_s for c in step.llm_calls)}}
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
        "notes": "Exported by memlab: one agent step per env action; reward, score, timings, LLM calls and "
                 "memory changes are in each step's extra.",
        "final_metrics": {
            "total_prompt_tokens": _total(agent_steps, "prompt_tokens"),
            "total_completion_tokens": _total(agent_steps, "completion_tokens"),
            "total_steps": len(steps),
            "extra": {"status": info.status, **_outcome(info)},
        },
        "extra": {"env": {"id": info.config.env_id, "options": info.config.env_options,
                          "seed": info.config.seed},
                  "run_config": info.config.model_dump(mode="json"), "versions": info.versions,
                  "created_at": info.created_at},
    }
