"""Home: what the lab is, how to start, recent runs."""

import streamlit as st

from lab.ui import page_setup, runs_frame

store = page_setup("Memory Agent Lab")
st.markdown(
    "Run memory agents in **TextWorld** and **MiniGrid**, watch their memory as they act, and keep "
    "every step in a local run store. Everything works offline with the embedded SmolLM2-135M model; "
    "any LangChain chat model plugs in through an LLM spec (`openai:<model>`, `ollama:<model>`)."
)
st.subheader("Quick start")
st.markdown(
    "1. Open **Run**, pick an env and an agent, press *Start*.\n"
    "2. Watch the steps arrive live; stop the run whenever you like.\n"
    "3. From a terminal: `memlab run --env tw-cooking --agent random --seed 1 --max-steps 30`, "
    "then `memlab export RUN_ID --format jsonl -o run.jsonl`."
)
st.subheader("Recent runs")
runs = store.list_runs(limit=20)
if runs:
    st.dataframe(runs_frame(runs), hide_index=True, width="stretch")
else:
    st.info("No runs yet: start one on the Run page.")
