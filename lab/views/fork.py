"""Explore's "Fork from here": a form that forks the run at this step with edited memory (``lab.fork``), and
the banners that mark a fork and its edited step."""

from __future__ import annotations

import streamlit as st

from lab.core.errors import LabError
from lab.core.records import MemoryEdit, RunInfo, Step
from lab.fork import item_text, memory_before
from lab.launch import launch_fork
from lab.store import RunStore
from lab.ui import link


def fork_banner(info: RunInfo) -> None:
    """Where a forked run came from, with links to its parent and to Compare at the fork's step."""
    origin = info.config.fork
    if origin is None:
        return
    edits = "; ".join(e.describe() for e in origin.edits) or "no edits"
    st.info(f"Fork of [{origin.parent}]({link('explore', run=origin.parent, step=origin.step)}) at step "
            f"{origin.step} ({edits}) · [compare with the parent]"
            f"({link('compare', runs=f'{origin.parent},{info.run_id}', step=origin.step)})")


def edited_banner(step: Step) -> None:
    """A step before which a fork edited the memory."""
    if step.edits:
        st.warning("Memory edited before this step: " + "; ".join(e.describe() for e in step.edits))


def fork_panel(store: RunStore, info: RunInfo, index: int, key: str) -> None:
    """Remove or add memory items, change the model or the length, and fork at step ``index``."""
    before = memory_before(store, info.run_id, index)
    held = {i.id: item_text(before, i.id) for i in [*before.edges, *before.records, *before.nodes]
            if i.removed_step is None}
    st.caption(f"The fork replays this run's first {index} steps exactly, applies the edits to the memory as "
               f"step {index} found it, then goes on live. It starts in the background like any run.")
    with st.form(f"{key}:fork"):
        removed = st.multiselect("remove these items", list(held), key=f"{key}:remove",
                                 format_func=lambda i: f"{i}: {' '.join(held[i].split())[:70]}")
        added = st.text_area("add these items (one per line, as the memory writes them: a triplet "
                             "'kitchen, has, fridge', a record's text, a learning)", key=f"{key}:add")
        model = st.text_input("model from this step on", value=info.config.llm, key=f"{key}:llm",
                              disabled=info.config.llm == "none")
        steps = st.number_input("max steps", min_value=1, value=info.config.max_steps, key=f"{key}:steps")
        go = st.form_submit_button("Fork from here")
    if not go:
        return
    edits = [MemoryEdit(op="remove", id=i) for i in removed]
    edits += [MemoryEdit(op="add", text=line.strip()) for line in added.splitlines() if line.strip()]
    llm = model.strip() if model.strip() and model.strip() != info.config.llm else None
    with st.spinner(f"Replaying the first {index} steps and applying {len(edits)} edits…"):
        try:
            run_id = launch_fork(info.run_id, index, edits, store, llm=llm, max_steps=int(steps))
        except LabError as err:
            st.error(str(err))
            return
    st.success(f"Fork {run_id} is running · [explore it]({link('explore', run=run_id, step=index)}) · "
               f"[compare with this run]({link('compare', runs=f'{info.run_id},{run_id}', step=index)})")
