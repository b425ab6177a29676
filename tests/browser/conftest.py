"""One Streamlit server (``streamlit run lab/app.py``) on a port the system picks, with a tmp MEMLAB_HOME
holding two recorded demo runs, and one headless Chromium (Debian's ``/usr/bin/chromium``, fresh profile)
for the session. A missing Chromium fails the browser tests (``make test`` installs it): it never skips
them."""

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
def chromium_binary() -> str:
    """Debian's Chromium; its absence fails every browser test with what to do (it does not skip them)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing, and the browser tests need it: install it with `make browser` "
                    "(apt-get install -y chromium); `make test` does this first", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def app(chromium_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The lab served on localhost (only once Chromium is known to be there)."""
    home = tmp_path_factory.mktemp("browser-home")
    store = RunStore(home / "runs.sqlite")
    demo = record_demo(store, n_steps=120, episode_every=2, label="browser")
    demo2 = record_demo(store, n_steps=80, episode_every=3, label="browser")
    store.close()
    with serve_app(home) as url:
        yield App(url=url, home=home, demo=demo, demo2=demo2)


@pytest.fixture(scope="session")
def context(chromium_binary: str) -> Iterator[Any]:
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
