"""Run: launch runs from a form, watch them live, stop them."""

import streamlit as st

from agents.registry import get_spec as agent_spec
from agents.registry import specs as agent_specs
from envs.registry import get_spec as env_spec
from envs.registry import specs as env_specs
from lab.errors import LabError
from lab.launch import launch_batch
from lab.records import RunConfig
from lab.ui import model_form, page_setup, score_figure, steps_frame

store = page_setup("Run")


def parse_seeds(text: str) -> list[int]:
    """``"0"``, ``"0,3"`` or ``"0-4"``."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    return seeds


# env and agent are chosen outside the form, so their option forms follow the choice at once
pick_env, pick_agent = st.columns(2)
env_choice = pick_env.selectbox("env", [k + ("<ID>" if k.endswith(":") else "") for k in env_specs()])
agent_id = pick_agent.selectbox("agent", list(agent_specs()))
with st.form("launch"):
    left, right = st.columns(2)
    with left:
        env_id = env_choice.removesuffix("<ID>")
        if env_id.endswith(":"):
            env_id += st.text_input("MiniGrid / BabyAI id", value="MiniGrid-Empty-8x8-v0")
        env_options = model_form(env_spec(env_id).options, f"env.{env_choice}")
    with right:
        agent_config = model_form(agent_spec(agent_id).config, f"agent.{agent_id}")
        llm = st.text_input("LLM spec", value="embedded", help="embedded, openai:<model>, ollama:<model>")
    seeds_text = st.text_input("seeds", value="0", help="one seed, a list (0,3) or a range (0-4)")
    steps = st.number_input("max steps per trial", min_value=1, value=30)
    trials = st.number_input("trials", min_value=1, value=1)
    submitted = st.form_submit_button("Start")

if submitted:
    try:
        seeds = parse_seeds(seeds_text)
    except ValueError:
        st.error(f"seeds: {seeds_text!r} is not a seed, a list (0,3) or a range (0-4)")
        seeds = []
    if seeds:
        try:
            configs = [RunConfig(env_id=env_id, env_options=env_options, agent_id=agent_id,
                                 agent_config=agent_config, llm=llm, seed=s, max_steps=int(steps),
                                 trials=int(trials)) for s in seeds]
            run_ids = launch_batch(configs, store)
            st.session_state["live_run"] = run_ids[0]
            st.success(f"started {len(run_ids)} run(s): {', '.join(run_ids)}")
        except LabError as err:
            st.error(str(err))

active = [r for r in store.list_runs(limit=50)]
ids = [r.run_id for r in active]
if ids:
    current = st.session_state.get("live_run") or st.query_params.get("run") or ids[0]
    chosen = st.selectbox("watch run", ids, index=ids.index(current) if current in ids else 0)
    st.session_state["live_run"] = chosen

    @st.fragment(run_every=1.0)
    def live(run_id: str) -> None:
        """Re-read the store every second: status, latest step, score curve, steps."""
        info = store.get_run(run_id)
        cols = st.columns(4)
        cols[0].metric("status", info.status)
        cols[1].metric("steps", info.n_steps)
        cols[2].metric("score", f"{info.summary.score:g}" if info.summary else "-")
        if info.status == "running" and cols[3].button("Stop", key=f"stop-{run_id}"):
            store.request_stop(run_id)
        if info.message:
            st.caption(info.message)
        if info.n_steps:
            last = store.step(run_id, info.n_steps - 1)
            st.markdown(f"**Step {last.index}** (trial {last.trial}, t={last.t}) — action: `{last.action}`")
            st.text(last.observation.text[:2000])
            if last.thoughts:
                st.json(last.thoughts, expanded=False)
            frame = steps_frame(store, run_id)
            st.plotly_chart(score_figure(frame), width="stretch")
            st.dataframe(frame.tail(200), hide_index=True, width="stretch")

    live(chosen)
else:
    st.info("No runs yet.")
