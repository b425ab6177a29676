"""Explore's "Why this action?": which memory items moved the step's choice (``lab.attribution``)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from agents.registry import get_spec
from lab import attribution
from lab.core.errors import LabError
from lab.core.records import Attribution, RunInfo, Step
from lab.store import RunStore

FLIP, KEEP = "#d62728", "#1f77b4"


def attributed_ids(results: list[Attribution], top: int = 5, least: float = 0.01) -> set[str]:
    """Memory ids of the items that moved the choice: the ``top`` ranked ones whose removal changed the
    chosen action's log-probability by at least ``least`` (or flipped it)."""
    return {e.memory_id for r in results for e in r.items if e.memory_id and e.rank <= top
            and (abs(e.delta) >= least or e.choice != r.chosen)}


def attribution_figure(result: Attribution, limit: int = 15, height: int = 60) -> go.Figure:
    """One bar per memory item (most effect on top): the change in the chosen action's log-probability when
    the item is left out; red where the choice flips."""
    effects = sorted(result.items, key=lambda e: e.rank)[:limit][::-1]
    labels = [f"{e.rank}. {e.kind}: {' '.join(e.text.split())[:60]}" for e in effects]
    fig = go.Figure(go.Bar(
        x=[e.delta for e in effects], y=labels, orientation="h",
        marker_color=[FLIP if e.choice != result.chosen else KEEP for e in effects],
        hovertext=[f"without it: {e.choice}" for e in effects], hoverinfo="text+x"))
    fig.update_layout(height=height + 26 * len(effects), margin=dict(l=10, r=10, t=10, b=30),
                      xaxis_title="change in log p(chosen) when left out", yaxis=dict(automargin=True))
    return fig


def item_frame(result: Attribution) -> pd.DataFrame:
    return pd.DataFrame([{"rank": e.rank, "kind": e.kind, "text": e.text, "change": round(e.delta, 4),
                          "choice without it": e.choice, "flips": e.choice != result.chosen,
                          "memory id": e.memory_id or ""} for e in sorted(result.items, key=lambda e: e.rank)])


def why_panel(store: RunStore, info: RunInfo, step: Step, results: list[Attribution], key: str) -> None:
    """The step's stored attributions (``results``), or a button that computes one with the embedded scorer
    and keeps it in the store."""
    if get_spec(info.config.agent_id).prompt_items is None or attribution.decision_call(step) is None:
        st.caption("No decision prompt with memory items at this step: nothing to attribute.")
        return
    if not results:
        st.caption("Leave each memory item out of this step's decision prompt in turn and score every option "
                   "again: which items moved the choice? (`memlab attribute RUN --all` fills a whole run.)")
        if not st.button("Attribute this step", key=f"{key}:attribute"):
            return
        with st.spinner("Scoring every option without each memory item…"):
            try:
                results = [attribution.cached(store, info.run_id, step.index)]
            except LabError as err:
                st.error(str(err))
                return
    for result in results:
        flips = [e for e in result.items if e.choice != result.chosen]
        st.markdown(f"Chose **{result.chosen}** among {len(result.options)} options · scored by `{result.model}` · "
                    f"log p(chosen) {result.full_logprob:.3f} with every item, {result.none_logprob:.3f} with no "
                    f"memory (picks **{result.none_choice}**) · {len(flips)} of {len(result.items)} items flip "
                    "the choice when left out")
        if result.items:
            st.plotly_chart(attribution_figure(result), key=f"{key}:why:{result.model}")
            st.dataframe(item_frame(result), hide_index=True, width="stretch")
