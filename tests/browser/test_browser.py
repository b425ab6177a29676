"""The lab in a real browser: live runs, keyboard stepping through a deep link (presses made while the page
reruns included), Compare, the HTML report (offline, and hostile text kept as text)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab.core import memory as memlib
from lab.core.records import (
    LLMCall, MemNode, MemorySnapshot, MemRecord, Message, ObservationRecord, RunConfig, Step,
)
from lab.store import RunStore
from tests.browser.conftest import App

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=2">'
ALERT = "<svg onload=alert(3)>"
HOSTILE = f"{SCRIPT} {IMAGE} {ALERT}"

pytestmark = pytest.mark.browser


IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
KEYS_READY = '[data-step-keys="ready"]'
"""The navigator's key listener is on the page (lab/views/navigator.py: KEYS_JS)."""


def rendered(page: Any, step: int) -> None:
    """Wait until the step view's last element shows ``step``, the page script has finished and the
    navigator listens for the arrow keys."""
    page.get_by_text(f"rendered step {step}", exact=True).wait_for()
    page.locator(IDLE).wait_for(state="attached")
    page.locator(KEYS_READY).wait_for(state="attached")


def press(page: Any, key: str, expected: int) -> None:
    """Press ``key`` once and wait until the page shows step ``expected`` (and nothing is left running)."""
    page.keyboard.press(key)
    rendered(page, expected)


RUN_STATES = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__runStates = [[performance.now(), app.dataset.testScriptState]];
  new MutationObserver(() => window.__runStates.push([performance.now(), app.dataset.testScriptState]))
    .observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
  window.__presses = [];
  document.addEventListener("keydown", () => window.__presses.push(performance.now()), true);
}"""
"""Record, inside the page, when the page script runs and when each key is pressed."""

PRESSES_WHILE_RUNNING = """() => window.__presses.filter(t => {
  const before = window.__runStates.filter(([at]) => at <= t);
  return before.length && before[before.length - 1][1] === "running";
}).length"""


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
    press(page, "ArrowRight", 51)
    press(page, "ArrowRight", 52)
    press(page, "ArrowLeft", 51)
    assert "step=51" in page.url
    assert page.locator(".js-plotly-plot").count() >= 2  # the curves are drawn (the graph: a component)
    graph_frame(page)  # and the memory graph
    assert page.get_by_role("button", name="Deploy").count() == 0  # a local tool (client.toolbarMode minimal)


def test_key_presses_made_while_the_page_reruns_are_all_applied(app: App, page: Any) -> None:
    presses = 9
    page.goto(f"{app.url}/explore?run={app.demo}&step=0")
    page.locator(KEYS_READY).wait_for(state="attached")  # the page's first run may still go on
    page.evaluate(RUN_STATES)
    for k in range(presses):  # quicker than a rerun: each press lands while the one before is applied
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout((0, 40, 120)[k % 3])
    rendered(page, presses)
    page.wait_for_timeout(1000)  # nothing more arrives: no press was applied twice
    shown = page.get_by_text(re.compile(r"^rendered step \d+$")).all_inner_texts()
    assert shown == [f"rendered step {presses}"] and f"step={presses}" in page.url
    assert page.get_by_role("slider").input_value() == str(presses)  # the slider agrees
    assert page.evaluate(PRESSES_WHILE_RUNNING) >= 1  # the test did press while the page was rerunning


def test_compare_shows_two_runs_under_one_slider(app: App, page: Any) -> None:
    page.goto(f"{app.url}/compare?runs={app.demo},{app.demo2}&step=3")
    rendered(page, 3)
    for run_id in (app.demo, app.demo2):  # the column headers (markdown, not the actions table's canvas)
        page.locator('[data-testid="stMarkdownContainer"] strong',
                     has_text=f"demo-graph · {run_id[-6:]}").first.wait_for()  # the memory diff names them too
    page.get_by_role("button", name=re.compile(r"^next")).first.click()
    rendered(page, 4)
    assert page.get_by_text("Actions first differ at step").count() == 1
    assert page.get_by_text(re.compile(r"memories first differ: step \d+")).count() == 1  # a link to that step


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


INJECTED = """() => ({
  pwned: typeof window.__pwned,
  images: document.querySelectorAll("img:not(#frame)").length,
  svgs: [...document.querySelectorAll("svg")].filter(e => e.hasAttribute("onload")).length,
  scripts: [...document.scripts].filter(s => s.type !== "application/json" && /__pwned/.test(s.text)).length,
})"""
"""What hostile text would have left in the report page had it been parsed as HTML."""


def hostile_run(store: RunStore) -> str:
    """Two text-game steps whose observation, LLM call (prompt and reply), thoughts and memory hold HTML."""
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="full-history", llm="fake:x", max_steps=2))
    steps, before = [], None
    for i in range(2):
        node = MemNode(id="n0", kind="room", label=f"Hall {HOSTILE}")
        note = MemRecord(id="r0", kind="note", text=f"note {HOSTILE}")
        memory = MemorySnapshot(nodes=[node], records=[note])
        prompt = Message(role="user", content=f"prompt {HOSTILE}")
        call = LLMCall(purpose="act", model="fake", messages=[prompt], response=f"reply {i} {HOSTILE}",
                       tokens_in=5, tokens_out=2, latency_s=0.01)
        steps.append(Step(index=i, t=i, observation=ObservationRecord(text=f"obs {i} {HOSTILE}", room="Hall"),
                          action="look", feedback=f"feedback {HOSTILE}", thoughts={"plan": f"plan {HOSTILE}"},
                          llm_calls=[call], memory_diff=memlib.diff(before, memory), memory_snapshot=memory,
                          memory_size=memlib.size(memory)))
        before = memory
    store.append_steps(run_id, steps)
    return run_id


def test_the_html_report_shows_hostile_text_as_text_at_runtime(page: Any, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = hostile_run(store)
    store.close()
    path = tmp_path / "hostile.html"
    subprocess.run([sys.executable, "-m", "lab.cli", "export", run_id, "--format", "html", "-o", str(path)],
                   cwd=ROOT, env={**os.environ, "MEMLAB_HOME": str(tmp_path)}, check=True, timeout=120)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    for i in range(2):
        if i:
            page.keyboard.press("ArrowRight")
        page.locator("#stepLabel").get_by_text(f"step {i} (trial 0, t={i})").wait_for()
        page.wait_for_timeout(300)  # time for an injected image to fail and fire its onerror
        assert page.evaluate(INJECTED) == {"pwned": "undefined", "images": 0, "svgs": 0, "scripts": 0}
        assert dialogs == []
        assert page.locator("#obs").inner_text() == f"obs {i} {HOSTILE}"  # the text itself, shown as text
        assert page.locator("#feedback").text_content() == f"feedback {HOSTILE}"
        assert page.locator("#calls pre").first.inner_text() == f"prompt {HOSTILE}"
        assert page.locator("#calls pre").nth(1).inner_text() == f"reply {i} {HOSTILE}"
        assert page.locator("#thoughts pre").inner_text() == f"plan {HOSTILE}"
        assert page.locator("#records td").last.inner_text() == f"note {HOSTILE}"


def test_fork_from_here_with_one_removal_then_compare_marks_where_the_fork_parts(app: App, page: Any) -> None:
    from lab.core.records import RunConfig
    from lab.runner import execute

    store = RunStore(app.home / "runs.sqlite")
    config = RunConfig(env_id="minigrid:MiniGrid-Empty-5x5-v0", agent_id="full-history", llm="fake:forward|left",
                       max_steps=6, probe_every=0, label="browser-fork")
    parent = execute(config, store).run_id
    page.goto(f"{app.url}/explore?run={parent}&step=3")
    rendered(page, 3)
    page.get_by_text(re.compile(r"^Fork from here \(edit the memory")).click()  # drawn once opened
    page.get_by_role("combobox", name=re.compile("remove these items")).wait_for()
    page.locator(IDLE).wait_for(state="attached")
    page.get_by_role("combobox", name=re.compile("remove these items")).click()
    page.get_by_role("option", name=re.compile(r"^h1: ")).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Fork from here").click()
    page.get_by_text(re.compile(r"^Fork [\w-]+ is running")).wait_for(timeout=120_000)
    child = [i for i in store.list_runs() if i.config.fork and i.config.fork.parent == parent]
    assert len(child) == 1 and [e.id for e in child[0].config.fork.edits] == ["h1"]
    href = page.get_by_role("link", name="compare with this run").get_attribute("href")
    assert f"runs={parent}%2C{child[0].run_id}" in href
    page.goto(f"{app.url}/{href.removeprefix('/')}")
    rendered(page, 3)
    # the parent's fake model answered "left" at step 3; the fork's live one starts over with "forward"
    page.get_by_text("Actions first differ at step 3").wait_for()
    assert page.get_by_text("action differs").count() == 2


def graph_frame(page: Any) -> Any:
    """The memory graph component's frame (cytoscape), once it has drawn a step."""
    page.frame_locator('iframe[title*="memgraph"]').locator("#graph canvas").first.wait_for()
    frame = next(f for f in page.frames if "memgraph" in f.url)
    frame.wait_for_function("Object.keys(window.__applied).length > 0")
    return frame


def shown_ids(frame: Any) -> set[str]:
    return set(frame.evaluate("cy.nodes().map(n => n.data('key'))"))


def test_the_memory_graph_stays_mounted_and_applies_each_step_in_place(app: App, page: Any) -> None:
    store = RunStore(app.home / "runs.sqlite")
    page.goto(f"{app.url}/explore?run={app.demo}&step=40")
    rendered(page, 40)
    frame = graph_frame(page)
    assert shown_ids(frame) == {n.id for n in store.memory_at(app.demo, 40).nodes}
    frame.evaluate("window.__kept = 'the same page'")
    kept = frame.evaluate("(() => { const n = cy.nodes()[0]; return [n.data('key'), n.position()]; })()")
    renders = frame.evaluate("window.__renders")
    focus(page, "Explore")
    press(page, "ArrowRight", 41)
    frame.wait_for_function("window.__applied[41] !== undefined")
    assert frame.evaluate("window.__kept") == "the same page"  # not remounted: the same document
    assert frame.evaluate("window.__renders") > renders
    before, after = store.memory_at(app.demo, 40), store.memory_at(app.demo, 41)
    dropped = {n.id for n in before.nodes} - {n.id for n in after.nodes}
    assert shown_ids(frame) == {n.id for n in after.nodes} | dropped  # what step 41 removed is shown faded
    assert frame.evaluate(f"cy.getElementById('n:' + {kept[0]!r}).position()") == kept[1]  # it stayed put
    legend = frame.inner_text("#legend")  # node kinds, edge kinds, the highlight colours and the faded ones
    for name in ("place", "transition edge", "added now", "retrieved now", "moved the choice", "faded: removed"):
        assert name in legend, (name, legend)
    added = [n.id for n in after.nodes if n.added_step == 41]
    for node in added:  # outlined as added now
        assert frame.evaluate(f"cy.getElementById('n:' + {node!r}).data('stroke')") == "#2CA02C"


def test_clicking_a_graph_node_shows_its_details_and_the_step_that_made_it(app: App, page: Any) -> None:
    page.goto(f"{app.url}/explore?run={app.demo}&step=30")
    rendered(page, 30)
    frame = graph_frame(page)
    key, x, y = frame.evaluate(
        "(() => { const n = cy.nodes().filter(n => !n.hasClass('removed'))[0]; const p = n.renderedPosition();"
        " return [n.data('key'), p.x, p.y]; })()")
    box = page.locator('iframe[title*="memgraph"]').bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.get_by_text(re.compile(r"^Created at step \d+")).wait_for()
    assert page.locator('[data-testid="stMarkdownContainer"]', has_text=f"Node {key}").count() >= 1
    frame.wait_for_function(f"cy.getElementById('n:' + {key!r}).hasClass('picked')")  # drawn as chosen


def test_the_memory_filter_narrows_the_graph_and_stays_across_steps(app: App, page: Any) -> None:
    page.goto(f"{app.url}/explore?run={app.demo}&step=60")
    rendered(page, 60)
    frame = graph_frame(page)
    everything = len(shown_ids(frame))
    box = page.get_by_label("filter the memory (nodes, edges and records holding every word)")
    box.fill("ep")
    box.press("Enter")
    page.get_by_text(re.compile(r"^filter 'ep': \d+ of \d+ nodes")).wait_for()
    frame.wait_for_function(f"cy.nodes().length < {everything}")
    assert all("ep" in key for key in shown_ids(frame))
    focus(page, "Explore")
    press(page, "ArrowRight", 61)
    page.get_by_text(re.compile(r"^filter 'ep': \d+ of \d+ nodes")).wait_for()  # still filtered at step 61
    assert box.input_value() == "ep"
    frame.wait_for_function("window.__applied[61] !== undefined")
    assert all("ep" in key for key in shown_ids(frame))


def test_agent_thoughts_read_as_tables_lists_and_collapsed_replies_with_the_raw_json_aside(
        app: App, page: Any) -> None:
    store = RunStore(app.home / "runs.sqlite")
    run_id = store.create_run(RunConfig(env_id="tw-coin", agent_id="arigraph", llm="fake:x", max_steps=1,
                                        label="browser-thoughts"))
    long_reply = "I cannot answer that in triplets " * 30
    thoughts = {"memory": {"new": ["kitchen, has, fridge", "player, in, kitchen"], "outdated": ["player, in, hall"],
                           "deleted": [], "extractor": "rules", "rejected": [long_reply]},
                "plan": {"main_goal": "find the coin", "plan_steps": [{"sub_goal_1": "open the fridge"},
                                                                       {"sub_goal_2": "take the coin"}]}}
    store.append_steps(run_id, [Step(index=0, t=0, observation=ObservationRecord(text="-= Kitchen =-"),
                                     action="open fridge", thoughts=thoughts)])
    page.goto(f"{app.url}/explore?run={run_id}&step=0")
    rendered(page, 0)
    page.get_by_text(re.compile(r"^memory changes \(2 added, 0 added \(spatial\), 1 outdated")).wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the triplets as a table
    page.locator(IDLE).wait_for(state="attached")
    plan = page.locator('[data-testid="stMarkdownContainer"] ol li')
    assert plan.all_inner_texts()[:2] == ["open the fridge", "take the coin"]
    replies = page.get_by_text("replies the parser could not read (1)")
    assert replies.count() == 1 and not page.get_by_text(re.compile("I cannot answer that")).first.is_visible()
    replies.click()
    reply = page.get_by_text(re.compile(r"^I cannot answer that"))
    reply.first.wait_for()
    assert len(reply.first.inner_text()) <= 240 < len(long_reply)  # trimmed
    assert page.get_by_text("raw JSON").count() == 1


def test_home_links_each_recorded_example_to_explore_at_its_step_worth_seeing(
        app: App, page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import examples as gallery

    few = [e for e in gallery.examples() if e.config.agent_id in ("hiagent", "sat")]  # the quick two
    monkeypatch.setattr(gallery, "examples", lambda: few)
    store = RunStore(app.home / "runs.sqlite")
    recorded = {r.title: r for r in gallery.record_examples(store)}
    page.goto(app.url)
    page.get_by_text(re.compile(r"^Example runs \(label")).wait_for()
    assert page.get_by_role("button", name="Try the examples").count() == 0  # recorded: links, not the button
    sat = next(r for title, r in recorded.items() if title.startswith("SAT"))
    href = page.get_by_role("link", name=sat.title).get_attribute("href")  # markdown links open a new tab
    page.goto(f"{app.url}/{href.removeprefix('/')}")
    rendered(page, sat.step)
    assert f"run={sat.run_id}" in page.url
    page.locator('[data-testid="stImage"] img').first.wait_for()  # its room, replayed through its env spec


def test_an_errored_run_says_why_and_what_to_do_on_explore_and_the_run_page(app: App, page: Any) -> None:
    from lab.core.records import RunSummary

    store = RunStore(app.home / "runs.sqlite")
    run_id = store.create_run(RunConfig(env_id="minigrid-aliased-room", agent_id="graph-schemas",
                                        label="browser-error"), {})
    store.finish_run(run_id, RunSummary(status="error", message="the env could not be built"))
    page.goto(f"{app.url}/explore?run={run_id}")
    page.get_by_text(re.compile(r"ended in error before its first step: the env could not be built")).wait_for()
    assert page.get_by_text(f"memlab resume {run_id}", exact=False).count() >= 1
    assert page.get_by_text(re.compile("no steps yet")).count() == 0
    page.goto(f"{app.url}/run?runs={run_id}")
    page.get_by_text(re.compile(r"ended in error before its first step")).first.wait_for()
    assert page.get_by_text(re.compile("waiting for the first step")).count() == 0


def test_graph_schemas_runs_on_its_own_env_from_the_run_page_on_first_use(app: App, page: Any) -> None:
    page.goto(f"{app.url}/run")
    choose(page, "env", "minigrid-aliased-room")
    page.locator(IDLE).wait_for(state="attached")
    page.get_by_role("combobox", name="agents", exact=True).click()  # beside the default random agent
    page.get_by_role("option", name="graph-schemas", exact=True).click()
    page.keyboard.press("Escape")
    page.locator(IDLE).wait_for(state="attached")
    page.get_by_label("max steps per trial").fill("20")
    page.get_by_label("max steps per trial").press("Tab")
    page.locator(IDLE).wait_for(state="attached")
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"started 2 run\(s\)")).wait_for()
    store = RunStore(app.home / "runs.sqlite")
    started = re.search(r"runs=([\w,%-]+)", page.url).group(1).replace("%2C", ",").split(",")
    run_id = next(r for r in started if store.get_run(r).config.agent_id == "graph-schemas")
    for _ in range(240):  # the shipped schema: no training first
        if store.get_run(run_id).status not in ("running", "created"):
            break
        page.wait_for_timeout(250)
    info = store.get_run(run_id)
    assert info.status == "finished" and info.n_steps > 0, (info.status, info.message)
    page.get_by_text(re.compile(r"Latest step \d+")).wait_for()
