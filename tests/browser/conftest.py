"""One Streamlit server (``streamlit run lab/app.py``) on a free port with a tmp MEMLAB_HOME holding two
recorded demo runs, and one headless Chromium (Debian's ``/usr/bin/chromium``, fresh profile) for the
session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from lab.benches.ui import CHROMIUM, chromium, serve_app
from lab.store import RunStore
from lab.views.demo import record_demo

pytestmark = pytest.mark.browser


@dataclass
class App:
    """The served app and the runs in its store."""

    url: str
    home: Path
    demo: str
    demo2: str


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The lab served on localhost; skipped when Chromium is not installed (``make browser`` installs it)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (apt package chromium)")
    home = tmp_path_factory.mktemp("browser-home")
    store = RunStore(home / "runs.sqlite")
    demo = record_demo(store, n_steps=120, episode_every=2, label="browser")
    demo2 = record_demo(store, n_steps=80, episode_every=3, label="browser")
    store.close()
    with serve_app(home) as url:
        yield App(url=url, home=home, demo=demo, demo2=demo2)


@pytest.fixture(scope="session")
def context(app: App) -> Iterator[Any]:
    """One browser context (fresh user-data dir) for all browser tests."""
    with chromium() as ctx:
        ctx.set_default_timeout(45_000)
        yield ctx


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A new tab, in front (keyboard shortcuts go to the focused tab), closed after the test."""
    tab = context.new_page()
    tab.bring_to_front()
    yield tab
    tab.close()
