"""Step panels shared by the pages: the environment, the agent's thoughts, the LLM calls (a
context-window viewer) and the timings strip. All game and model text is shown as plain text."""

from __future__ import annotations


import pandas as pd
import streamlit as st

from envs.registry import get_spec as env_spec
from lab.core.errors import LabError
from lab.core.records import LLMCall, RunInfo, Step
from lab.store import RunStore
from lab.views import data
from lab.views.charts import timings_strip_html
from lab.ui import on_demand
from lab.views.env import grid_env_frame, rooms_figure
from lab.views.hooks import agent_trial_changes
from lab.views.records import trial_changes

PAGE_TILE = 20
"""Tile size (pixels) of the MiniGrid frames on the pages."""


def env_kind(env_id: str) -> str | None:
    """``grid`` or ``text`` for a registered env id; None for an env this lab does not know."""
    try:
        return env_spec(env_id).kind
    except LabError:
        return None


def env_panel(store: RunStore, info: RunInfo, step: Step, compact: bool = False) -> None:
    """The env at a step: MiniGrid frame, or TextWorld text plus the rooms visited so far."""
    kind = env_kind(info.config.env_id)
    if step.observation.objective:
        st.caption(f"Objective: {step.observation.objective}")
    if kind == "grid":
        grid_frame(store, info, step, compact)
        with st.expander("What the agent read"):
            st.text(step.observation.text)
    else:
        st.text(step.observation.text)
        if kind == "text" and not compact:
            rooms_map(store, info, step)
    played = f" → {', '.join(step.env_actions)}" if step.env_actions else ""
    st.markdown(f"**Action** `{step.action}`" + played
                + f" · reward {step.reward:g} · score {step.score:g}"
                + (f"/{step.max_score:g}" if step.max_score else "") + (" · **won**" if step.won else "")
                + (" · lost" if step.lost else ""))
    if step.forced is not None:
        agreed = step.metrics.get("policy/agree", float(step.agent_action == step.action))
        st.caption(f"played by the {step.forced} policy; " + ("the agent chose the same" if agreed >= 1
                                                             else f"the agent chose `{step.agent_action}`"))
    if step.feedback and not compact:
        with st.expander("Feedback after the action"):
            st.text(step.feedback)


def grid_frame(store: RunStore, info: RunInfo, step: Step, compact: bool) -> None:
    """The grid env's frame after the step, re-rendered from the seed and the trial's actions."""
    frame = data.series(store, str(store.path), info.run_id, info.n_steps)
    try:
        trial, actions = data.trial_env_actions(store, frame, info.run_id, step.index)
        image = grid_env_frame(info.config.env_id, info.config.env_options, info.config.seed, actions,
                               trial_key=f"{store.path}:{info.run_id}:{trial}", tile_size=PAGE_TILE)
    except (LabError, IndexError) as err:
        st.warning(f"cannot re-render the frame: {err}")
        return
    st.image(image, caption=f"after step {step.index} (trial {trial}, t={step.t}), re-rendered from seed "
             f"{info.config.seed} + {len(actions)} actions", width=260 if compact else 420)


def rooms_map(store: RunStore, info: RunInfo, step: Step) -> None:
    """The map of rooms visited so far in this trial (from observations' room names)."""
    moves = data.trial_moves(store, str(store.path), info.run_id, step.trial, info.n_steps)
    figure = rooms_figure(moves, step.index)
    if figure is not None:
        st.caption("Rooms visited so far in this trial (current one in orange)")
        st.plotly_chart(figure, key=f"rooms:{info.run_id}", config={"displaylogo": False})


def thoughts_panel(step: Step, agent_id: str | None = None) -> None:
    """The agent's reasoning at this step (plan, subgoal, rationale, memory changes), readable
    (:mod:`lab.views.thoughts`), with the raw JSON behind an expander."""
    from lab.views.thoughts import thoughts_panel as readable

    readable(step.thoughts, agent_id)


def call_title(i: int, call: LLMCall) -> str:
    """One line per call: purpose, model, tokens, latency."""
    retries = f" · {call.attempts} attempts" if call.attempts > 1 else ""
    return (f"#{i + 1} {call.purpose} · {call.kind} · {call.model} · "
            f"{call.tokens_in}→{call.tokens_out} tokens · {call.latency_s:.2f} s{retries}"
            + (" · ERROR" if call.error else ""))


def llm_panel(step: Step, key: str = "llm") -> None:
    """The exact messages each LLM call saw, its response, tokens and latency. The first call is open; the
    others are drawn once opened (their titles carry the step's tokens, so they close again on a new
    step)."""
    if not step.llm_calls:
        st.caption("No LLM calls at this step.")
        return
    total_in = sum(c.tokens_in for c in step.llm_calls)
    st.caption(f"{len(step.llm_calls)} call(s) · {total_in} prompt tokens · "
               f"{sum(c.latency_s for c in step.llm_calls):.2f} s")
    for i, call in enumerate(step.llm_calls):  # the first is open; the others are drawn once opened
        with on_demand(call_title(i, call), key=f"{key}:call:{i}", expanded=i == 0) as shown:
            if shown:
                call_body(call)


def call_body(call: LLMCall) -> None:
    """The context window of one call, message by message, then the response."""
    chars = sum(len(m.content) for m in call.messages) or 1
    for message in call.messages:
        share = 100 * len(message.content) / chars
        st.markdown(f"**{message.role}** · {len(message.content)} chars ({share:.0f}% of the prompt)")
        st.code(message.content, language=None, wrap_lines=True)
    st.markdown("**response**")
    st.code(call.response or "(empty)", language=None, wrap_lines=True)
    if call.options:
        scores = call.scores or [None] * len(call.options)
        table = pd.DataFrame({"option": call.options, "score": scores})
        st.dataframe(table.sort_values("score", ascending=False), hide_index=True, width="stretch")
    if call.error:
        st.error(call.error)


def timings_panel(step: Step) -> None:
    """The timings strip: env, memory read, memory write, LLM and the rest, for this step."""
    st.html(timings_strip_html(step.timings))


def trials_panel(store: RunStore, info: RunInfo) -> None:
    """Score per trial, and what the memory gained, changed and lost between trial ends."""
    frame = data.series(store, str(store.path), info.run_id, info.n_steps)
    ends = data.trial_ends(frame)
    scores = frame.groupby("trial").agg(steps=("idx", "count"), score=("score", "last"), won=("done", "last"))
    if info.summary and info.summary.trials:
        scores = pd.DataFrame([t.model_dump() for t in info.summary.trials]).set_index("trial")
    st.dataframe(scores, width="stretch")
    before = None
    tabs = st.tabs([f"trial {k} end (step {end})" for k, end in enumerate(ends)])
    for tab, end in zip(tabs, ends):
        after = store.memory_at(info.run_id, end)
        with tab:
            own = agent_trial_changes(info.config.agent_id, before, after)
            if own is None:
                changes = trial_changes(before, after)
            else:
                changes = pd.DataFrame(own, columns=list(own[0]) if own else ["change"])
            counts = changes["change"].value_counts()
            shown = [c for c in counts.index if c != "kept"] or ["added"]
            st.caption(" · ".join(f"{counts.get(c, 0)} {c}" for c in shown) + " since the previous trial end")
            st.dataframe(changes, hide_index=True, width="stretch")
        before = after
