"""Shared helpers of the Streamlit pages: the store handle, forms generated from typed
configs, tables and figures. Pages call these and ``lab`` functions; nothing else."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pydantic import BaseModel

from lab.records import RunInfo
from lab.settings import store_path
from lab.store import RunStore


@st.cache_resource
def _store(path: str) -> RunStore:
    return RunStore(path)


def get_store() -> RunStore:
    """One store handle per data dir and server (connections are per thread inside it)."""
    return _store(str(store_path()))


def page_setup(title: str) -> RunStore:
    """Common start of every page."""
    st.title(title)
    return get_store()


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` → ``(int, True)``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return annotation, False


def model_form(model: type[BaseModel], key: str) -> dict[str, Any]:
    """Widgets for each field of a typed config; returns the raw values (validated by the caller)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        base, optional = _base_type(field.annotation)
        default = field.default if field.default is not None else None
        label, help_text, wkey = name, field.description or (field.json_schema_extra or None), f"{key}.{name}"
        help_text = help_text if isinstance(help_text, str) else None
        if typing.get_origin(base) is Literal:
            choices = list(typing.get_args(base))
            values[name] = st.selectbox(label, choices, index=choices.index(default) if default in choices else 0,
                                        key=wkey, help=help_text)
        elif base is bool:
            values[name] = st.checkbox(label, value=bool(default), key=wkey, help=help_text)
        elif base in (int, float) and not optional:
            values[name] = st.number_input(label, value=default if default is not None else 0, key=wkey,
                                           help=help_text, step=1 if base is int else None)
        else:
            raw = st.text_input(label, value="" if default is None else str(default), key=wkey, help=help_text)
            if raw.strip() or not optional:
                values[name] = raw.strip()
    return values


def runs_frame(infos: list[RunInfo]) -> pd.DataFrame:
    """One row per run, for run lists."""
    rows = []
    for info in infos:
        s = info.summary
        rows.append({"run": info.run_id, "status": info.status, "agent": info.config.agent_id,
                     "env": info.config.env_id, "seed": info.config.seed, "steps": info.n_steps,
                     "score": s.score if s else None, "max": s.max_score if s else None,
                     "won": s.won if s else None, "created": info.created_at, "label": info.config.label})
    return pd.DataFrame(rows)


def steps_frame(store: RunStore, run_id: str) -> pd.DataFrame:
    """The cheap per-step columns of a run (no step records are parsed)."""
    series = store.series(run_id)
    return pd.DataFrame({"step": series["idx"], "trial": series["trial"], "t": series["t"],
                         "action": series["action"], "reward": series["reward"], "score": series["score"],
                         "tokens in": series["tokens_in"], "llm s": series["llm_s"]})


def score_figure(frame: pd.DataFrame) -> go.Figure:
    """Score over steps, one line per trial."""
    fig = go.Figure()
    for trial, part in frame.groupby("trial"):
        fig.add_trace(go.Scatter(x=part["step"], y=part["score"], mode="lines+markers", name=f"trial {trial}"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step", yaxis_title="score")
    return fig
