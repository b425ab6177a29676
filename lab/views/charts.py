"""Plotly charts over a run's cheap per-step columns (``RunStore.series``): no step record is parsed.

Memory size over steps, score and the other curves (one run or several overlaid), the timings
strip of one step (a small HTML bar), and the aggregate over seeds (mean ± std per agent with
per-seed points).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lab.core.records import Timings

CURVES = {"score": "score", "memory size": "memory", "prompt tokens": "tokens_in", "latency (s)": "total_s"}
"""Curves the Compare page overlays: title -> column of :func:`series_frame`."""
TIMING_PARTS = (("env", "env_s", "#4C78A8"), ("memory read", "memory_read_s", "#54A24B"),
                ("memory write", "memory_write_s", "#B279A2"), ("LLM", "llm_s", "#F58518"))


def series_frame(series: dict[str, list[Any]]) -> pd.DataFrame:
    """``RunStore.series`` as a frame, with ``memory`` = nodes + edges + records."""
    frame = pd.DataFrame(series)
    if frame.empty:
        frame = pd.DataFrame(columns=[*series.keys(), "memory"])
    frame["memory"] = frame.get("n_nodes", 0) + frame.get("n_edges", 0) + frame.get("n_records", 0)
    return frame


def _compact(fig: go.Figure, height: int, y_title: str) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step",
                      yaxis_title=y_title, legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                      uirevision="keep")
    return fig


def _marker(fig: go.Figure, step: int | None) -> go.Figure:
    if step is not None:
        fig.add_vline(x=step, line_width=1, line_dash="dot", line_color="#888888")
    return fig


def memory_size_figure(frame: pd.DataFrame, step: int | None = None, height: int = 200) -> go.Figure:
    """Nodes, edges and records over steps, with the shown step marked."""
    fig = go.Figure()
    for column, name in (("n_nodes", "nodes"), ("n_edges", "edges"), ("n_records", "records")):
        if len(frame) and frame[column].any():
            fig.add_trace(go.Scatter(x=frame["idx"], y=frame[column], mode="lines", name=name))
    return _marker(_compact(fig, height, "items"), step)


def score_figure(frame: pd.DataFrame, step: int | None = None, height: int = 220) -> go.Figure:
    """Score over steps, one line per trial, with the shown step marked."""
    fig = go.Figure()
    for trial, part in frame.groupby("trial"):
        fig.add_trace(go.Scatter(x=part["idx"], y=part["score"], mode="lines+markers", name=f"trial {trial}",
                                 marker=dict(size=4)))
    return _marker(_compact(fig, height, "score"), step)


def overlay_figure(frames: dict[str, pd.DataFrame], column: str, step: int | None = None,
                   height: int = 220, y_title: str = "") -> go.Figure:
    """One curve per run (``frames``: label -> series frame) of ``column`` over steps."""
    fig = go.Figure()
    for label, frame in frames.items():
        if len(frame):
            fig.add_trace(go.Scatter(x=frame["idx"], y=frame[column], mode="lines", name=label))
    return _marker(_compact(fig, height, y_title or column), step)


def timings_strip_html(timings: Timings) -> str:
    """The timings strip as a small HTML bar (cheaper to redraw on every step than a plotly chart).

    Only numbers of the lab's own record go into it, never text from games or models.
    """
    parts = [(name, getattr(timings, attr), color) for name, attr, color in TIMING_PARTS]
    other = max(timings.total_s - sum(p[1] for p in parts), 0.0)
    parts.append(("other", other, "#BBBBBB"))
    total = sum(p[1] for p in parts) or 1.0
    bars = "".join(f'<div title="{name}: {seconds * 1000:.2f} ms" style="width:{100 * seconds / total:.2f}%;'
                   f'background:{color}"></div>' for name, seconds, color in parts if seconds > 0)
    legend = " · ".join(f'<span style="color:{color}">■</span> {name} {seconds * 1000:.1f} ms'
                        for name, seconds, color in parts)
    strip = "display:flex;height:14px;border-radius:3px;overflow:hidden;background:#eee"
    total = f"total {timings.total_s * 1000:.1f} ms"
    return (f'<div style="{strip}">{bars}</div>'
            f'<div style="font-size:0.8rem;color:#555;margin-top:2px">{legend} · {total}</div>')


def aggregate_figure(rows: list[dict[str, Any]], height: int = 320) -> go.Figure:
    """Per agent (x) and env (colour): mean ± std bars of the normalised score, per-seed points on top."""
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    if frame.empty:
        return fig
    frame = frame.assign(value=frame["normalized"].fillna(frame["score"]),
                         x=frame["agent"] + " · " + frame["group"].astype(str))
    for env, part in frame.groupby("env"):
        stats = part.groupby("x")["value"].agg(["mean", "std"]).fillna(0.0)
        fig.add_trace(go.Bar(x=stats.index, y=stats["mean"], error_y=dict(type="data", array=stats["std"]),
                             name=f"{env} mean ± std", opacity=0.6))
        fig.add_trace(go.Scatter(x=part["x"], y=part["value"], mode="markers", name=f"{env} per seed",
                                 text=[f"seed {s} · {r}" for s, r in zip(part["seed"], part["run"])],
                                 hoverinfo="text+y", marker=dict(size=9, line=dict(width=1, color="#333"))))
    fig.update_layout(height=height, barmode="group", margin=dict(l=10, r=10, t=10, b=10),
                      yaxis_title="final score (normalised when the env has a max)")
    return fig
