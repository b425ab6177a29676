"""Compare's memory diff: what each run's memory holds at the shared step that the first run's does not,
matched by content (``lab.memdiff``), and where the runs first part, in actions and in memory."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lab.core.records import RunInfo
from lab.memdiff import Comparison, Divergence, Item, compare, divergence
from lab.store import RunStore
from lab.ui import link


@st.cache_data(show_spinner=False, max_entries=32)
def cached_divergence(_store: RunStore, path: str, run_a: str, run_b: str, n_a: int, n_b: int) -> Divergence:
    """:func:`lab.memdiff.divergence`, read once per pair of step counts (committed steps never change)."""
    return divergence(_store, run_a, run_b)


def item_frame(found: list[Item]) -> pd.DataFrame:
    return pd.DataFrame([{"kind": i.kind, "text": i.text, "id": i.id} for i in found],
                        columns=["kind", "text", "id"])


def divergence_line(found: Divergence, runs: list[str]) -> str:
    """``Actions first differ at step 3 · memories first differ at step 0``, each a link to that step."""
    def at(step: int | None) -> str:
        if step is None:
            return f"never in the {found.shared} shared steps"
        return f"[step {step}]({link('compare', runs=','.join(runs), step=step)})"
    return f"Actions first differ: {at(found.actions)} · memories first differ: {at(found.memory)}"


def memory_diff_panel(store: RunStore, infos: list[RunInfo], names: dict[str, str], index: int) -> None:
    """The first run against each other run at step ``index``: items only in either, and those in both."""
    base = infos[0]
    runs = [i.run_id for i in infos]
    for other in infos[1:]:
        st.markdown(f"**{names[base.run_id]}** against **{names[other.run_id]}**")
        found = cached_divergence(store, str(store.path), base.run_id, other.run_id, base.n_steps, other.n_steps)
        st.caption(divergence_line(found, runs))
        if index >= min(base.n_steps, other.n_steps):
            st.info(f"Step {index} is past the end of one of these runs; pick a step both have.")
            continue
        diff: Comparison = compare(store.memory_at(base.run_id, index), store.memory_at(other.run_id, index))
        only_a, only_b, both = st.columns(3)
        with only_a:
            st.markdown(f"only in {names[base.run_id]}: **{len(diff.only_a)}**")
            st.dataframe(item_frame(diff.only_a), hide_index=True, width="stretch", height=220)
        with only_b:
            st.markdown(f"only in {names[other.run_id]}: **{len(diff.only_b)}**")
            st.dataframe(item_frame(diff.only_b), hide_index=True, width="stretch", height=220)
        with both:
            st.markdown(f"in both: **{len(diff.both)}**")
            st.dataframe(item_frame([a for a, _ in diff.both]), hide_index=True, width="stretch", height=220)
