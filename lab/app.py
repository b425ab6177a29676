"""The Streamlit entry point: a router over ``pages/`` (started by ``memlab app``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lab.core.errors import LabError
from lab.ui import show_error

PAGES = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(page_title="Memory Agent Lab", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(PAGES / "run.py", title="Run", icon=":material/play_arrow:", url_path="run"),
    st.Page(PAGES / "explore.py", title="Explore", icon=":material/search:", url_path="explore"),
    st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page(PAGES / "runs.py", title="Runs and export", icon=":material/list:", url_path="runs"),
])
try:
    navigation.run()
except LabError as err:  # e.g. the store turned read-only or full while the page ran: one line, no traceback
    show_error(err)
