"""The lab in a real browser: live runs, keyboard stepping through a deep link, Compare, the HTML report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from lab.store import RunStore
from tests.browser.conftest import App

pytestmark = pytest.mark.browser


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def rendered(page: Any, step: int) -> None:
    """Wait until the step view's last element shows ``step`` and the page script has finished (Streamlit
    drops a shortcut key pressed while the page's first full run still goes on)."""
    page.get_by_text(f"rendered step {step}", exact=True).wait_for()
    page.locator(IDLE).wait_for(state="attached")


def press(page: Any, key: str, shown: int, expected: int) -> None:
    """Press ``key`` on a page that shows step ``shown`` and wait until it shows ``expected``.

    A press just after the page's first run was lost once in a full-suite run (the cause, somewhere in
    Streamlit's shortcut binding, was not pinned down). The key is pressed again, at most twice more,
    only when the page is idle and still shows ``shown``, so a press that was received is never doubled.
    """
    for _ in range(3):
        page.keyboard.press(key)
        try:
            page.get_by_text(f"rendered step {expected}", exact=True).wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            idle = page.locator(IDLE).count() == 1
            if not (idle and page.get_by_text(f"rendered step {shown}", exact=True).is_visible()):
                break  # received and still running: wait for it below
    rendered(page, expected)


def focus(page: Any, title: str) -> None:
    """Give the tab keyboard focus by clicking the page title (a new tab may not have it yet)."""
    page.get_by_role("heading", name=title, exact=True).click()


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_minigrid_run_launched_from_the_run_page_shows_its_steps_live(app: App, page: Any) -> None:
    page.goto(f"{app.url}/run")
    choose(page, "env", "minigrid:<ID>")
    page.get_by_label("max steps per trial").fill("40")
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"started 1 run\(s\)")).wait_for()
    run_id = re.search(r"runs=([\w-]+)", page.url).group(1)
    status = page.locator('[data-testid="stMetric"]').filter(has_text="status")
    seen = set()
    for _ in range(120):  # the fragment re-reads the store every second: no reload, no click
        # a rerun can briefly show the old and the new metric together: read every copy
        seen.update(text.split()[-1] for text in status.all_inner_texts() if text.split())
        if "finished" in seen:
            break
        page.wait_for_timeout(250)
    assert "running" in seen and "finished" in seen, seen
    page.get_by_text(re.compile(r"Latest step \d+")).wait_for()
    steps = page.locator('[data-testid="stMetric"]').filter(has_text="steps").first.inner_text().split()[-1]
    assert int(steps) == RunStore(app.home / "runs.sqlite").get_run(run_id).n_steps > 0


def test_explore_opens_from_a_deep_link_and_steps_with_the_keyboard(app: App, page: Any) -> None:
    page.goto(f"{app.url}/explore?run={app.demo}&step=50")
    rendered(page, 50)
    focus(page, "Explore")
    press(page, "ArrowRight", 50, 51)
    press(page, "ArrowRight", 51, 52)
    press(page, "ArrowLeft", 52, 51)
    assert "step=51" in page.url
    assert page.locator(".js-plotly-plot").count() >= 2  # the memory graph and the curves are drawn


def test_compare_shows_two_runs_under_one_slider(app: App, page: Any) -> None:
    page.goto(f"{app.url}/compare?runs={app.demo},{app.demo2}&step=3")
    rendered(page, 3)
    for run_id in (app.demo, app.demo2):  # the column headers (markdown, not the actions table's canvas)
        page.locator('[data-testid="stMarkdownContainer"] strong', has_text=f"demo-graph · {run_id[-6:]}").wait_for()
    page.get_by_role("button", name=re.compile(r"^next")).first.click()
    rendered(page, 4)
    assert page.get_by_text("Actions first differ at step").count() == 1


def test_an_html_report_downloads_and_opens_offline(app: App, page: Any, tmp_path: Path) -> None:
    page.goto(f"{app.url}/runs?q={app.demo2}")
    choose(page, "export format", "html")
    page.get_by_role("button", name="Prepare export of 1 run(s)").click()
    with page.expect_download(timeout=90_000) as download:
        page.get_by_role("button", name=re.compile(r"Download .*\.html")).click()
    path = tmp_path / "report.html"
    download.value.save_as(path)
    report = page.context.new_page()
    blocked = []
    report.route(re.compile(r"^https?://"), lambda route: (blocked.append(route.request.url), route.abort()))
    report.goto(path.as_uri())
    report.locator("#stepLabel").get_by_text("step 0 (trial 0, t=0)").wait_for()
    report.keyboard.press("ArrowRight")
    report.locator("#stepLabel").get_by_text("step 1 (trial 0, t=1)").wait_for()
    assert report.locator("#graph .main-svg").count() >= 1 and report.locator("#records tr").count() > 1
    assert app.demo2 in report.locator("#title").inner_text()
    assert blocked == []  # opened offline: nothing was fetched from the network
    report.close()
