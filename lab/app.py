"""The Streamlit entry point: a router over ``pages/`` (started by ``memlab app``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(page_title="Memory Agent Lab", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "home.py", title="Home", default=True),
    st.Page(PAGES / "run.py", title="Run", url_path="run"),
])
navigation.run()
