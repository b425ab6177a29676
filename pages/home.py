"""Home: what the lab is, how to start, recent runs."""

import streamlit as st

from lab.ui import link, page_setup, runs_frame
from lab.views.examples import examples_panel

store = page_setup("Memory Agent Lab")
st.markdown(
    "Run memory agents in **TextWorld** and **MiniGrid**, watch their memory as they act, and keep "
    "every step in a local run store. Everything works offline with the embedded SmolLM2-135M model; "
    "any LangChain chat model plugs in through an LLM spec (`openai:<model>`, `ollama:<model>`)."
)
st.subheader("Quick start")
st.markdown(
    "1. **Run**: pick an env, one or more agents and seeds, press *Start*; watch the steps and the memory "
    "arrive live, stop a run whenever you like.\n"
    "2. **Explore** a run step by step (← → on the keyboard): the env, the agent's thoughts, the exact LLM "
    "context, the timings and the memory graph and records at that step.\n"
    "3. **Compare** 2 to 4 runs on the same task under one step slider, and batches aggregated over seeds.\n"
    "4. **Runs and export**: search, delete, export (JSONL, Minari, ATIF, an offline HTML report) and "
    "import.\n"
    "5. From a terminal: `memlab run --env tw-cooking --agent random --seed 1 --max-steps 30`, "
    "then `memlab export RUN_ID --format html`."
)
st.subheader("Examples")
examples_panel(store)
st.subheader("Recent runs")
runs = store.list_runs(limit=20)
if runs:
    frame = runs_frame(runs)
    frame.insert(1, "open", [link("explore", run=r) for r in frame["run"]])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"open": st.column_config.LinkColumn("open", display_text="explore")})
else:
    st.info("No runs yet: start one on the Run page.")
