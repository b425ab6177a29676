"""Explore one run step by step: ``?run=ID&step=N``; prev/next with the keyboard (← →)."""

import streamlit as st

from lab.ui import link, no_steps_message, on_demand, page_setup, pick_run
from lab.views import data
from lab.views.attribution import attributed_ids, why_panel
from lab.views.charts import memory_size_figure, score_figure
from lab.views.fork import edited_banner, fork_banner, fork_panel
from lab.views.memory import memory_view
from lab.views.navigator import parse_step, step_navigator
from lab.views.panels import env_panel, llm_panel, thoughts_panel, timings_panel, trials_panel
from lab.views.probes import run_probes, run_probes_panel, step_probes_panel

store = page_setup("Explore")
info = pick_run(store, key="explore")
if info is None:
    st.stop()

c = info.config
summary = info.summary
st.markdown(f"**{c.agent_id}** on **{c.env_id}** · seed {c.seed} · {info.status} · {info.n_steps} steps"
            + (f" · score {summary.score:g}" + (f"/{summary.max_score:g}" if summary.max_score else "")
               if summary else "")
            + (f" · label `{c.label}`" if c.label else "") + f" · `{info.run_id}`")
st.markdown(f"[Compare with runs on the same env and seed]({link('compare', runs=info.run_id)}) · "
            f"[Export]({link('runs', q=info.run_id)})")
if info.message:
    st.caption(info.message)
fork_banner(info)
if info.n_steps == 0:
    kind, text = no_steps_message(info)
    getattr(st, kind)(text)
    st.stop()

requested, problem = parse_step(st.query_params.get("step"), info.n_steps)
if problem:
    st.error(f"{problem}; showing step {info.n_steps - 1} instead.")
    requested = info.n_steps - 1


@st.fragment
def step_view() -> None:
    """The navigator and the panels of the chosen step; a step change reruns only this part."""
    index = step_navigator(info.n_steps, key=f"explore:{info.run_id}", initial=requested)
    step = store.step(info.run_id, index)
    explained = store.attributions(info.run_id, index)  # read once: the memory view marks them, the panel shows them
    left, right = st.columns([5, 6])
    with left:
        st.subheader(f"Step {index}", anchor=False)
        st.caption(f"trial {step.trial}, t = {step.t}" + (" · trial end" if step.trial_end else ""))
        edited_banner(step)
        env_panel(store, info, step)
        st.markdown("##### Thoughts")
        thoughts_panel(step, info.config.agent_id)
        st.markdown("##### Timings")
        timings_panel(step)
    with right:
        st.markdown("##### Memory")
        memory_view(store, info, index, key=f"explore:{info.run_id}", timeline=False,
                    attributed=attributed_ids(explained))
    if info.config.llm != "none":
        with on_demand("Why this action? (each memory item left out of the decision prompt)",
                       key=f"explore:{info.run_id}:why") as shown:
            if shown:
                why_panel(store, info, step, explained, key=f"explore:{info.run_id}:{index}")
    if info.status != "running":
        with on_demand("Fork from here (edit the memory as this step found it, then go on live)",
                       key=f"explore:{info.run_id}:fork") as shown:
            if shown:
                fork_panel(store, info, index, key=f"explore:{info.run_id}:{index}")
    st.markdown("##### Probes: what the memory knows (ground truth)")
    step_probes_panel(step, run_probes(store, str(store.path), info.run_id, info.n_steps))
    st.markdown("##### LLM calls (the context window of each call)")
    llm_panel(step, key=f"explore:{info.run_id}")
    st.caption(f"rendered step {index}")


step_view()
# whole-run curves sit outside the step view: a step change does not redraw them
frame = data.series(store, str(store.path), info.run_id, info.n_steps)
curve_left, curve_right = st.columns(2)
with curve_left:
    st.markdown("##### Score over the run")
    st.plotly_chart(score_figure(frame), key="score")
with curve_right:
    st.markdown("##### Memory size over the run")
    st.plotly_chart(memory_size_figure(frame), key="size")
if c.probe_every:
    with st.expander("Probes over the run", expanded=True):
        run_probes_panel(store, info.run_id, info.n_steps, key=f"explore:{info.run_id}:probes")
if c.trials > 1 or data.trial_ends(frame)[1:]:
    with st.expander("Trials: score per trial and memory changes between trial ends"):
        trials_panel(store, info)
