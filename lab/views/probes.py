"""The ground-truth probes on the pages: a step's questions with the evidence read from the memory's text,
the per-family curves of a run (or of several, overlaid), and the per-family summary of a run.

Text probes (``lab.probing``) store each question in ``Step.probes``; grid probes (``lab.grid_probes``)
only their metrics. Both put ``probe/<family>/<measure>`` into the probed steps' ``metrics``, which is all
the curves read (``RunStore.metrics``: no record is parsed).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lab import probing
from lab.core.records import ProbeResult, Step
from lab.evidence import excerpts
from lab.store import RunStore

PREFIX = "probe/"
RATES = ("evidence", "answer", "stale", "abstain", "accuracy", "cooccurrence", "optimal")
"""Measures that are shares (0..1); the others (``count``, plan ``excess``) are shown on their own scale."""
MARKS = ("«", "»")
"""Around the part of the memory's text an answer is read from, in the excerpts."""


def probe_frame(rows: list[tuple[int, dict[str, float]]]) -> pd.DataFrame:
    """``RunStore.metrics(run_id, "probe/")`` as a long frame: idx, family, measure, value.

    >>> probe_frame([(4, {"probe/location/evidence": 0.5, "probe/plan/excess": 2.0})]).values.tolist()
    [[4, 'location', 'evidence', 0.5], [4, 'plan', 'excess', 2.0]]
    """
    out = []
    for idx, metrics in rows:
        for key, value in metrics.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] + "/" == PREFIX:
                out.append((idx, parts[1], parts[2], float(value)))
    return pd.DataFrame(out, columns=["idx", "family", "measure", "value"])


@st.cache_data(show_spinner=False, max_entries=64)
def run_probes(_store: RunStore, path: str, run_id: str, n_steps: int) -> pd.DataFrame:
    """The run's probe metrics (cached per committed step count, as ``data.series``)."""
    return probe_frame(_store.metrics(run_id, PREFIX))


def measures(frame: pd.DataFrame) -> list[str]:
    """The measures a frame has, the shares first (evidence, answer, ...)."""
    present = list(dict.fromkeys(frame["measure"])) if len(frame) else []
    return [m for m in RATES if m in present] + [m for m in present if m not in RATES]


def curve_figure(frame: pd.DataFrame, measure: str, step: int | None = None, height: int = 240) -> go.Figure:
    """One line per family of ``measure`` over the probed steps, the shown step marked."""
    fig = go.Figure()
    for family, part in frame[frame["measure"] == measure].groupby("family", sort=False):
        fig.add_trace(go.Scatter(x=part["idx"], y=part["value"], mode="lines+markers", name=str(family),
                                 marker=dict(size=5)))
    return _layout(fig, measure, step, height)


def overlay_figure(frames: dict[str, pd.DataFrame], measure: str, family: str, height: int = 260) -> go.Figure:
    """One line per run of ``family``'s ``measure`` (``all``: the mean over the families probed at a step,
    ``unseen`` left out)."""
    fig = go.Figure()
    for name, frame in frames.items():
        part = frame[frame["measure"] == measure]
        if family == "all":
            part = part[part["family"] != "unseen"].groupby("idx", as_index=False)["value"].mean()
        else:
            part = part[part["family"] == family]
        if len(part):
            fig.add_trace(go.Scatter(x=part["idx"], y=part["value"], mode="lines+markers", name=name,
                                     marker=dict(size=5)))
    return _layout(fig, measure, None, height)


def _layout(fig: go.Figure, measure: str, step: int | None, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step",
                      yaxis_title=measure, legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                      uirevision="keep")
    if measure in RATES:
        fig.update_yaxes(range=[-0.05, 1.05])
    if step is not None:
        fig.add_vline(x=step, line_width=1, line_dash="dot", line_color="#888888")
    return fig


def means_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows: runs; columns: ``family/measure``; cells: the mean over the run's probed steps (a step's value is
    its own mean over its probes). Counts are summed instead."""
    rows = []
    for name, frame in frames.items():
        row: dict[str, Any] = {"run": name, "probed steps": int(frame["idx"].nunique()) if len(frame) else 0}
        for (family, measure), part in frame.groupby(["family", "measure"], sort=False):
            column = f"{family}/{measure}"
            row[column] = part["value"].sum() if measure == "count" else round(part["value"].mean(), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_frame(results: list[ProbeResult]) -> pd.DataFrame:
    """:func:`lab.probing.summary` as a frame, shares rounded."""
    rows = probing.summary(results)
    frame = pd.DataFrame(rows, columns=["family", *probing.SUMMARY])
    return frame.round(3)


def result_rows(step: Step) -> pd.DataFrame:
    """A step's text probes: question, truth, whether the memory's text shows it (and where), the answer."""
    report = step.probes
    rows = []
    for r in report.results if report else []:
        text = report.texts[r.text] if 0 <= r.text < len(report.texts) else ""
        rows.append({
            "family": r.family, "question": r.question, "true answer": r.true_answer,
            "evidence": "yes" if r.evidence else "no", "read at": " | ".join(excerpts(text, r.evidence_spans,
                                                                                         marks=MARKS)),
            "answer": r.answer if r.answer is not None else (f"error: {r.error}" if r.error else "—"),
            "correct": "—" if r.correct is None else "yes" if r.correct else "no",
            "stale in text": " | ".join(excerpts(text, r.stale_spans, marks=MARKS)) if r.stale else "",
            "last seen (t)": r.last_seen,
        })
    return pd.DataFrame(rows)


def step_probes_panel(step: Step, frame: pd.DataFrame) -> None:
    """The probes asked after ``step``: its questions (text probes) or its probe metrics (grid probes)."""
    if step.probes is not None:
        rows = result_rows(step)
        st.caption(f"{len(rows)} questions with known answers, asked of the memory after this step (the agent "
                   f"never sees them). «…» marks where the memory's text shows the true answer.")
        st.dataframe(rows, hide_index=True, width="stretch")
        for k, text in enumerate(step.probes.texts):
            with st.expander("Memory text the probes were read from"
                             + (f" (#{k})" if len(step.probes.texts) > 1 else "")):
                st.text(text or "(empty)")
        return
    here = frame[frame["idx"] == step.index]
    if len(here):
        st.caption("Probe metrics at this step (the memory's belief against the env's ground truth)")
        st.dataframe(here[["family", "measure", "value"]], hide_index=True, width="stretch")
    elif len(frame):
        probed = sorted(set(frame["idx"]))
        after = [i for i in probed if i > step.index]
        st.caption("No probes after this step" + (f"; the next at step {after[0]}." if after else "."))
    else:
        st.caption("This run has no probes (probe every 0, or an env without ground truth to ask).")


@st.cache_data(show_spinner=False, max_entries=32)
def run_results(_store: RunStore, path: str, run_id: str, n_steps: int) -> list[ProbeResult]:
    """Every text probe of the run, in order (cached per committed step count)."""
    return [r for _, report in _store.probes(run_id) for r in report.results]


def run_probes_panel(store: RunStore, run_id: str, n_steps: int, key: str) -> None:
    """A run's probe curves per family (a measure chosen) and, for text probes, the per-family summary."""
    frame = run_probes(store, str(store.path), run_id, n_steps)
    if not len(frame):
        st.caption("This run has no probes (probe every 0, or an env without ground truth to ask).")
        return
    options = measures(frame)
    measure = st.selectbox("measure", options, key=f"{key}:measure",
                           help="evidence: the memory's text shows a true answer; answer: the probe LLM answered "
                                "right from that text; stale: the text also holds an answer that no longer holds")
    st.plotly_chart(curve_figure(frame, measure), key=f"{key}:curve")
    results = run_results(store, str(store.path), run_id, n_steps)
    if results:
        st.caption("Over the run, per family: evidence and stale are shares of the probes asked; answer accuracy "
                   "and abstention (answered unknown) are shares of the answered ones")
        st.dataframe(summary_frame(results), hide_index=True, width="stretch")


def compare_probes_panel(store: RunStore, names: dict[str, str], n_steps: dict[str, int]) -> None:
    """Several runs' probe curves overlaid (one measure, one family or all) and their means side by side."""
    frames = {names[r]: run_probes(store, str(store.path), r, n) for r, n in n_steps.items()}
    probed = {name: f for name, f in frames.items() if len(f)}
    if not probed:
        st.caption("None of these runs has probes (probe every 0, or an env without ground truth to ask).")
        return
    if len(probed) < len(frames):
        st.caption("Without probes: " + ", ".join(n for n in frames if n not in probed))
    pooled = pd.concat(probed.values())
    left, right = st.columns(2)
    measure = left.selectbox("measure", measures(pooled), key="compare:probe-measure")
    families = list(dict.fromkeys(pooled.loc[pooled["measure"] == measure, "family"]))
    family = right.selectbox("family", ["all", *families] if len(families) > 1 else families,
                             key="compare:probe-family",
                             help="all: at each probed step, the mean over the families asked (unseen left out)")
    st.plotly_chart(overlay_figure(probed, measure, family), key="compare:probe-curve")
    st.caption("Mean over each run's probed steps (a step's value is its mean over its probes; counts summed). "
               "Runs on the same game, seed and forced trajectory are paired: compare them here, or over seeds "
               "with `memlab bench probes`.")
    st.dataframe(means_table(probed), hide_index=True, width="stretch")


def step_line(step: Step) -> str:
    """One line on a step's probes for a compare column: per share measure, the mean over the families
    asked (``unseen`` left out); '' when the step was not probed.

    >>> metrics = {"probe/map/evidence": 0.5, "probe/state/evidence": 1.0, "probe/map/count": 2.0}
    >>> step_line(Step(index=3, t=3, observation={"text": ""}, action="look", metrics=metrics))
    'probes after this step: evidence 0.75 (2 families)'
    """
    by_measure: dict[str, list[float]] = {}
    for key, value in step.metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] + "/" == PREFIX and parts[2] in RATES and parts[1] != "unseen":
            by_measure.setdefault(parts[2], []).append(value)
    cells = [f"{m} {sum(v) / len(v):.2f}" + (f" ({len(v)} families)" if len(v) > 1 else "")
             for m, v in sorted(by_measure.items(), key=lambda kv: RATES.index(kv[0]))]
    return "probes after this step: " + " · ".join(cells) if cells else ""
