"""Run: launch one run or a batch (agents x seeds) from a form, and watch them live.

Runs execute in background processes (lab.launch), never inside this script, so they survive a
browser reload; the watched runs are in the URL (``?runs=A,B``), and every tab polls the store.
"""

import time
from typing import get_args

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from agents.registry import get_spec as agent_spec
from agents.registry import specs as agent_specs
from envs.registry import get_spec as env_spec
from envs.registry import specs as env_specs
from envs.registry import validation_message
from lab.core.errors import LabError
from lab.core.llm.sampling import parse_options
from lab.launch import launch_batch
from lab.core.records import Policy, RunConfig, RunInfo
from lab.ui import link, model_form, no_steps_message, page_setup, parse_seeds, run_label, runs_frame
from lab.views import data
from lab.views.charts import score_figure
from lab.views.memory import memory_view
from lab.views.navigator import parse_runs
from lab.views.panels import env_panel, thoughts_panel

store = page_setup("Run")

# the launch form folds away while a deep link (?runs=) says which runs to watch
launcher = st.expander("Launch runs", expanded=not st.query_params.get("runs"))
with launcher:
    # env and agents are chosen outside the form, so their option forms follow the choice at once
    pick_env, pick_agents = st.columns(2)
    env_names = [k + ("<ID>" if k.endswith(":") else "") for k in env_specs()]
    env_choice = pick_env.selectbox("env", env_names, key="env")
    agent_ids = pick_agents.multiselect("agents", list(agent_specs()), default=["random"], key="agents",
                                        help="several agents make a batch: every agent runs every seed")
    with st.form("launch"):
        left, right = st.columns(2)
        with left:
            env_id = env_choice.removesuffix("<ID>")
            if env_id.endswith(":"):
                env_id += st.text_input("MiniGrid / BabyAI id", value="MiniGrid-Empty-8x8-v0", key="grid_id")
            env_options = model_form(env_spec(env_id).options, f"env.{env_choice}")
            llm = st.text_input("LLM spec", value="embedded", key="llm",
                                help="embedded, openai:<model>, ollama:<model>")
            llm_options_text = st.text_input(
                "LLM options", value="", key="llm_options",
                help="overrides of the agents' sampling settings (from their papers), comma-separated: "
                     "temperature=0, act.temperature=1, top_p=none (not sent), context=128000 (tokens)")
            seeds_text = st.text_input("seeds", value="0", key="seeds",
                                       help="one seed, a list (0,3) or a range (0-4)")
            steps = st.number_input("max steps per trial", min_value=1, value=30, key="steps")
            trials = st.number_input("trials", min_value=1, value=1, key="trials")
            label = st.text_input("label", value="", key="label",
                                  help="batch name shown in lists (default: batch-<time>)")
            with st.expander("Policy and probes"):
                policy = st.selectbox("policy", list(get_args(Policy)), key="policy",
                                      help="who plays: the agent, or a forced walkthrough (TextWorld) that the "
                                           "agent still observes and acts on, so every memory sees the same game")
                explore = st.number_input("explore", min_value=0.0, max_value=1.0, value=0.3, step=0.05,
                                          key="explore", help="walkthrough+explore: chance of an excursion "
                                                              "before each walkthrough step")
                probe_every = st.number_input("probe every (steps; 0: none)", min_value=0, value=5,
                                              key="probe_every", help="ground-truth questions asked of the "
                                              "memory every K steps and at each trial end")
                per_family = st.number_input("probes per family", min_value=1, value=2, key="per_family")
                probe_llm = st.text_input("probe LLM", value="", key="probe_llm",
                                          help="who answers the probes from the memory's text: empty for the "
                                               "run's LLM, none for evidence only, or an LLM spec")
        with right:
            agent_configs = {}
            tabs = st.tabs([f"{a} config" for a in agent_ids]) if agent_ids else []
            for tab, agent_id in zip(tabs, agent_ids):
                with tab:
                    agent_configs[agent_id] = model_form(agent_spec(agent_id).config, f"agent.{agent_id}")
        submitted = st.form_submit_button("Start", type="primary")


def build_configs() -> list[RunConfig]:
    """Every (agent, seed) config of the form; a bad field raises a one-line error naming it."""
    if not agent_ids:
        raise LabError("agents: pick at least one agent")
    seeds = parse_seeds(seeds_text)
    llm_options = parse_options(filter(None, (item.strip() for item in llm_options_text.split(","))))
    batch = label or (f"batch-{time.strftime('%Y%m%d-%H%M%S')}" if len(agent_ids) * len(seeds) > 1 else "")
    try:
        return [RunConfig(env_id=env_id, env_options=env_options, agent_id=a, agent_config=agent_configs[a],
                          llm=llm, llm_options=llm_options, seed=s, max_steps=int(steps), trials=int(trials), label=batch,
                          policy=policy, explore=float(explore), probe_every=int(probe_every),
                          probes_per_family=int(per_family), probe_llm=probe_llm.strip())
                for a in agent_ids for s in seeds]
    except ValidationError as err:
        raise LabError(validation_message(err, RunConfig)) from None


if submitted:
    try:
        configs = build_configs()
        with st.spinner(f"validating and starting {len(configs)} run(s)…"):
            run_ids = launch_batch(configs, store)
        st.query_params["runs"] = ",".join(run_ids)
        st.success(f"started {len(run_ids)} run(s): {', '.join(run_ids)}")
    except LabError as err:
        st.error(str(err))

watched = [r for r in parse_runs(st.query_params.get("runs")) if store.has_run(r)]
if not watched:
    watched = [r.run_id for r in store.list_runs(limit=8)]
if st.query_params.get("run") in watched:
    watched.remove(st.query_params["run"])
    watched.insert(0, st.query_params["run"])


def live(run_ids: list[str]) -> None:
    """The watched runs and the chosen one's latest step, memory and score curve, re-read from the store."""
    infos = [store.get_run(r) for r in run_ids if store.has_run(r)]
    if not infos:
        st.info("No runs yet: start one above.")
        return
    table = runs_frame(infos)[["run", "agent", "env", "seed", "status", "steps", "score"]]
    st.dataframe(table, hide_index=True, width="stretch")
    running = [i.run_id for i in infos if i.status == "running"]
    if len(running) > 1 and st.button("Stop all running", key="stop-all"):
        for run_id in running:
            store.request_stop(run_id)
    labels = {i.run_id: run_label(i) for i in infos}
    chosen = st.selectbox("watch", list(labels), format_func=labels.get, key="watch")
    watch(store.get_run(chosen))
    if not running and st.session_state.get("was_running"):
        st.session_state["was_running"] = False
        st.rerun()  # everything finished: a full rerun stops the polling
    st.session_state["was_running"] = bool(running)


def watch(info: RunInfo) -> None:
    """One run, live: status, stop button, latest step, score curve, memory view, recent steps."""
    cols = st.columns([1, 1, 1, 1, 2])
    cols[0].metric("status", info.status)
    cols[1].metric("steps", info.n_steps)
    cols[2].metric("score", f"{info.summary.score:g}" if info.summary else "-")
    if info.status == "running" and cols[3].button("Stop", key=f"stop-{info.run_id}"):
        store.request_stop(info.run_id)
        st.toast(f"asked {info.run_id} to stop after its current step")
    cols[4].markdown(f"[Explore this run]({link('explore', run=info.run_id)})")
    if info.message:
        st.caption(info.message)
    if not info.n_steps:
        if info.status == "running":
            st.caption("waiting for the first step…")
        else:
            kind, text = no_steps_message(info)
            getattr(st, kind)(text)
        return
    last = store.step(info.run_id, info.n_steps - 1)
    frame = data.series(store, str(store.path), info.run_id, info.n_steps)
    left, right = st.columns([5, 6])
    with left:
        st.markdown(f"**Latest step {last.index}** (trial {last.trial}, t={last.t})")
        env_panel(store, info, last, compact=True)
        thoughts_panel(last, info.config.agent_id)
        st.plotly_chart(score_figure(frame, last.index), key="live-score")
    with right:
        memory_view(store, info, last.index, key=f"live:{info.run_id}", compact=True)
    columns = ["idx", "trial", "t", "action", "reward", "score", "memory", "tokens_in", "total_s"]
    recent = frame.tail(200)[columns]
    st.dataframe(pd.DataFrame(recent), hide_index=True, width="stretch", height=220)


st.subheader("Runs")
any_running = any(store.get_run(r).status == "running" for r in watched)
st.fragment(run_every=1.0 if any_running else None)(live)(watched)
