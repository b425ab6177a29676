"""Home's "Try the examples": record the example runs (``lab.examples``) with a progress bar, then link each
to Explore at its step worth seeing, and the AriGraph-RAG pair to Compare."""

from __future__ import annotations

import streamlit as st

from lab.core.errors import LabError
from lab.examples import LABEL, Recorded, record_examples, recorded_examples
from lab.store import RunStore
from lab.ui import link


def example_links(found: list[Recorded]) -> None:
    """One line per example, opening it in Explore; the cooking pair also in Compare."""
    lines = [f"- [{r.title}]({link('explore', run=r.run_id, step=r.step)})" for r in found]
    pair = [r.run_id for r in found if r.title.startswith(("AriGraph", "RAG"))][:2]
    if len(pair) == 2:
        lines.append(f"- [AriGraph and RAG side by side]({link('compare', runs=','.join(pair))})")
    st.markdown("\n".join(lines))


def examples_panel(store: RunStore) -> None:
    """The examples already recorded, or the button that records them."""
    found = recorded_examples(store)
    if found:
        st.markdown(f"Example runs (label `{LABEL}`; delete them on the Runs page like any run):")
        example_links(found)
        return
    st.markdown("An empty store? Record six small example runs (about a minute on 2 cores) that show what each "
                "memory looks like: AriGraph and RAG on one cooking game, CLIN over 3 trials, HiAgent, graph "
                "schemas in a recoloured room and SAT. The LLM agents act with the lab's scripted model, which "
                "reads only its prompt: the examples show the memories, not a model's skill.")
    if not st.button("Try the examples", key="examples"):
        return
    bar = st.progress(0.0, text="Recording the examples…")
    try:
        found = record_examples(store, progress=lambda done, total, title: bar.progress(
            done / total, text=f"{done}/{total}: {title}" if done < total else "done"))
    except LabError as err:
        st.error(str(err))
        return
    st.success(f"Recorded {len(found)} example runs.")
    example_links(found)
