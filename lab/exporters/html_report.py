"""A self-contained HTML replay report of a run: one file that opens offline (plotly.js inlined),
with a step navigator (slider, buttons, keyboard ← →), the score and memory-size plots, the memory
graph at each step, the records table, the agent's thoughts, the LLM calls, the ground-truth probes
(a per-family table over the run, and each probed step's questions and answers), the agent's own choice
next to the played action under a forced policy and, for MiniGrid runs up to ``FRAMES_UP_TO`` steps, the
re-rendered frames.

Memory is stored once per item as versions with step intervals (``from``/``to``), the bi-temporal
idea of ``trace-formats.md`` §1, so a 1,000-step run with a 1,000-edge graph stays a few MB.
All text from games and models travels as JSON inside a ``<script type="application/json">``
block with ``<``, ``>`` and ``&`` escaped, and the page writes it with ``textContent`` (never as
HTML); plotly labels get it HTML-escaped. The one table written into the page itself (the probe
summary) holds only escaped family names and numbers.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

from lab import probing
from lab.core import memory as memlib
from lab.core.errors import LabError
from lab.core.records import MemoryDiff, ProbeReport, ProbeResult, RunInfo, Step
from lab.evidence import excerpts
from lab.store import RunStore
from lab.views.layout import force_layout

TEMPLATE = Path(__file__).with_name("report.html")
FRAMES_UP_TO = 500
MAX_MESSAGE_CHARS = 8000
"""LLM messages longer than this are cut in the report (the JSONL export keeps them whole)."""


def _cut(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters in the JSONL export)"


def _item(item: Any) -> dict[str, Any]:
    data = item.model_dump(mode="json", exclude_defaults=True)
    if "attrs" in data:
        data["attrs"] = _cut(json.dumps(data["attrs"], ensure_ascii=False, default=str), 2000)
    return data


class MemoryHistory:
    """Every node, edge and record with its versions ``{"f": from step, "t": to step or None, "d": data}``."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, list[dict[str, Any]]]] = {"nodes": {}, "edges": {}, "records": {}}

    def apply(self, index: int, change: MemoryDiff) -> None:
        """Record what step ``index`` added, changed and removed."""
        for what, table in self.items.items():
            for item in [*getattr(change, f"{what}_added"), *getattr(change, f"{what}_changed")]:
                self._close(table.get(item.id), index)
                table.setdefault(item.id, []).append({"f": index, "t": None, "d": _item(item)})
            for item_id in getattr(change, f"{what}_removed"):
                self._close(table.get(item_id), index)

    @staticmethod
    def _close(versions: list[dict[str, Any]] | None, index: int) -> None:
        if versions and versions[-1]["t"] is None:
            versions[-1]["t"] = index

    def layout(self) -> dict[str, list[float]]:
        """Positions over every node ever present (stable across the whole report)."""
        ids = list(self.items["nodes"])
        edges = [(v[-1]["d"]["source"], v[-1]["d"]["target"]) for v in self.items["edges"].values()]
        return {k: [round(x, 4), round(y, 4)] for k, (x, y) in force_layout(ids, edges).items()}


def probe_record(report: ProbeReport) -> dict[str, Any]:
    """What the report shows of a step's probes: each question and its answers, and the memory texts."""
    results = []
    for r in report.results:
        text = report.texts[r.text] if 0 <= r.text < len(report.texts) else ""
        results.append({"family": r.family, "key": r.key, "question": r.question, "true_answer": r.true_answer,
                        "true_answers": r.true_answers, "stale_answers": r.stale_answers,
                        "last_seen": r.last_seen, "evidence": r.evidence,
                        "evidence_at": excerpts(text, r.evidence_spans), "stale": r.stale,
                        "stale_at": excerpts(text, r.stale_spans), "answer": r.answer,
                        "answer_raw": _cut(r.answer_raw, 2000), "correct": r.correct, "error": r.error,
                        "text": r.text})
    return {"texts": [_cut(t) for t in report.texts], "results": results}


def _overruled(step: Step) -> bool:
    """Under a forced policy: the agent chose another action than the one played."""
    if step.agent_action is None:
        return False
    agree = step.metrics.get("policy/agree")
    if agree is not None:
        return agree < 1.0
    return step.agent_action.strip().lower() != step.action.strip().lower()


def step_record(step: Step, change: MemoryDiff | None) -> dict[str, Any]:
    """What the report shows of one step."""
    calls = [{"purpose": c.purpose, "kind": c.kind, "model": c.model, "tokens_in": c.tokens_in,
              "tokens_out": c.tokens_out, "latency_s": round(c.latency_s, 4), "error": c.error,
              "messages": [{"role": m.role, "content": _cut(m.content)} for m in c.messages],
              "response": _cut(c.response), "options": c.options, "scores": c.scores} for c in step.llm_calls]
    return {"i": step.index, "trial": step.trial, "t": step.t, "action": step.action,
            "env_actions": step.env_actions,
            "obs": step.observation.text, "objective": step.observation.objective, "feedback": step.feedback,
            "reward": step.reward, "score": step.score, "max_score": step.max_score, "won": step.won,
            "lost": step.lost, "done": step.done, "thoughts": step.thoughts, "calls": calls,
            "timings": step.timings.model_dump(), "size": step.memory_size,
            "retrieved": change.retrieved if change is not None else None,
            "prompt": change.prompt_text if change is not None else None,
            "agent_action": step.agent_action, "forced": step.forced, "overruled": _overruled(step),
            "probes": probe_record(step.probes) if step.probes is not None else None}


def collect(store: RunStore, info: RunInfo, batch: int = 250
            ) -> tuple[list[dict[str, Any]], MemoryHistory, list[ProbeResult]]:
    """Walk the run once in batches: step records, the memory history and every probe asked."""
    history, steps, previous, probes = MemoryHistory(), [], None, []
    for start in range(0, info.n_steps, batch):
        for step in store.steps(info.run_id, start, start + batch, with_snapshots=True):
            change = step.memory_diff
            if change is None and step.memory_snapshot is not None:
                change = memlib.diff(previous, step.memory_snapshot)
            if change is not None:
                history.apply(step.index, change)
                previous = step.memory_snapshot or memlib.apply(previous, change)
            steps.append(step_record(step, change))
            probes += step.probes.results if step.probes is not None else []
    return steps, history, probes


def frames(info: RunInfo, steps: list[dict[str, Any]]) -> list[str] | None:
    """PNG data URIs of the grid env's frame after each step (None for envs without frames, or long runs)."""
    from envs.registry import get_spec

    try:
        grid = get_spec(info.config.env_id).kind == "grid"
    except LabError:  # an env this lab does not know: no frames, the rest of the report stands
        grid = False
    if not grid or len(steps) > FRAMES_UP_TO:
        return None
    from envs.minigrid_env import frame_png

    frames = get_spec(info.config.env_id).frames
    if frames is None:
        return None
    out: list[str] = []
    for trial in sorted({s["trial"] for s in steps}):
        part = [s for s in steps if s["trial"] == trial]
        actions = [a for s in part for a in (s["env_actions"] or [s["action"]])]
        rendered = frames(info.config.env_id, info.config.env_options, info.config.seed, actions)
        done = 0
        for s in part:
            done += len(s["env_actions"] or [s["action"]])
            png = frame_png(rendered[done][::2, ::2])  # half size: 16-pixel tiles
            out.append("data:image/png;base64," + base64.b64encode(png).decode())
    return out


SUMMARY_COLUMNS = (("family", "family"), ("count", "probes"), ("evidence", "evidence rate"),
                   ("answered", "answered"), ("answer", "answer accuracy"), ("stale", "stale rate"),
                   ("abstain", "abstention"))


def _escape(text: str) -> str:
    """HTML-escaped text that encodes as UTF-8 (a lone surrogate becomes U+FFFD)."""
    return SURROGATE.sub("\ufffd", html.escape(text))


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return _escape(str(value))


def summary_table(rows: list[dict[str, Any]], probed_steps: int) -> str:
    """The per-family probe table as static HTML (every cell escaped)."""
    if not rows:
        return '<div class="muted" id="probeSummary">No probes in this run.</div>'
    head = "".join(f"<th>{_escape(label)}</th>" for _, label in SUMMARY_COLUMNS)
    body = "".join(
        f'<tr data-family="{_escape(row["family"])}">'
        + "".join(f'<td data-col="{key}">{_cell(row[key])}</td>' for key, _ in SUMMARY_COLUMNS) + "</tr>"
        for row in rows)
    caption = (f"{rows[-1]['count']} probes at {probed_steps} probed steps · evidence: a true answer can be "
               "read from the memory's text · accuracy and abstention (answered unknown) over answered probes")
    return (f'<table id="probeSummary"><caption class="muted">{_escape(caption)}</caption>'
            f"<tr>{head}</tr>{body}</table>")


def report_data(store: RunStore, run_id: str) -> dict[str, Any]:
    """Everything the report page needs, as one JSON-ready dict."""
    info = store.get_run(run_id)
    steps, history, probes = collect(store, info)
    return {"run": info.model_dump(mode="json"), "steps": steps, "memory": history.items,
            "pos": history.layout(), "frames": frames(info, steps), "probe_summary": probing.summary(probes)}


SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate (a model's reply cut inside an emoji, from JSON escapes): UTF-8 cannot encode it."""


def safe_json(data: Any) -> str:
    """JSON that cannot close the ``<script>`` element it sits in, and that encodes as UTF-8."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)  # JSON.parse gives the same string


def render_report(store: RunStore, run_id: str) -> str:
    """The report as one HTML string."""
    from plotly.offline import get_plotlyjs

    data = report_data(store, run_id)
    c = data["run"]["config"]
    title = f"memlab run {run_id}: {c['agent_id']} on {c['env_id']} (seed {c['seed']})"
    probed = sum(s["probes"] is not None for s in data["steps"])
    parts = {"TITLE": _escape(title), "PLOTLY": get_plotlyjs(), "DATA": safe_json(data),
             "PROBES": summary_table(data["probe_summary"], probed)}
    template = TEMPLATE.read_text(encoding="utf-8")
    return re.sub(r"\{\{(TITLE|PLOTLY|DATA|PROBES)\}\}", lambda m: parts[m.group(1)], template)
