"""``memlab bench ui``: how fast the lab's pages respond in a real browser, measured with Playwright.

It records a demo run (:mod:`lab.views.demo`: 1,000 MiniGrid steps with a place-graph memory of
about 1,000 edges) in a fresh data dir, serves the app, opens Explore on a deep link and presses
the right arrow key (the step navigator's key listener) repeatedly. Measured:

* **open**: from navigation start to the first step fully rendered (the page's last element,
  ``rendered step N``, shows the linked step); the first open includes the graph layout;
* **step change**: from the key press to the last element showing the next step (the app has
  re-run the page and the browser has received every element of it).

Targets (issue 3): step change ≤ 500 ms median, open ≤ 3 s. The helpers :func:`serve_app` and
:func:`chromium` are shared with the browser tests and ``scripts/screenshots.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


ANNOUNCED = re.compile(r"(?:started on |URL: http://)127\.0\.0\.1:(\d+)")
"""How Streamlit's log names the port it bound (its ``Uvicorn server started on`` and ``URL:`` lines)."""


def _wait_port(log: Path, proc: subprocess.Popen, timeout: float) -> int:
    """The port Streamlit bound, read from its log, once it says so."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = ANNOUNCED.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before it bound a port; "
                               f"its log ({log}) ends:\n{tail}")
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not say which port it bound within {timeout:.0f} s (see {log})")


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")


@contextmanager
def serve_app(home: Path, timeout: float = 90) -> Iterator[str]:
    """Serve ``lab/app.py`` on localhost with ``MEMLAB_HOME=home``; yields the base URL.

    The server is started with ``--server.port 0``: it binds a port the system picks and holds it from
    then on, and its log says which one. (Picking a free port here and passing it would leave a gap in
    which another process can take it.) The log is ``home/streamlit.log``.
    """
    started = time.time()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "lab" / "app.py"), "--server.port", "0",
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--server.runOnSave", "false", "--client.toolbarMode", "minimal"]
    env = {**os.environ, "MEMLAB_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    path = Path(home) / "streamlit.log"
    log = path.open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{_wait_port(path, proc, timeout)}"
        _wait_healthy(url, proc, max(timeout - (time.time() - started), 5))
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def chromium(profile: Path | None = None, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A Playwright browser context on Debian's headless Chromium with a fresh user-data dir."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="memlab-chromium-") as tmp, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile or tmp), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport=viewport or {"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            yield context
        finally:
            context.close()


def wait_rendered(page: Any, step: int, timeout_ms: float = 30_000) -> None:
    """Wait until the step view's last element says ``rendered step <step>``."""
    page.get_by_text(f"rendered step {step}", exact=True).wait_for(timeout=timeout_ms)


PROBE = """
window.__keydown = 0; window.__shown = {};
document.addEventListener("keydown", () => { window.__keydown = performance.now(); }, true);
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    const text = el.textContent;
    if (text.startsWith("rendered step ") && !(text in window.__shown)) {
      window.__shown[text] = performance.now();
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
"""Timestamps taken inside the page: the key press, and when each ``rendered step N`` first appears.
Reading them afterwards keeps Playwright's own DOM polling out of the measured time."""


def _shown_after_key(page: Any, step: int, timeout_s: float = 60) -> float:
    """Seconds from the last key press until ``rendered step <step>`` appeared (polled every 0.2 s)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = page.evaluate(f"[window.__keydown, window.__shown['rendered step {step}']]")
        if got[1] is not None:
            return (got[1] - got[0]) / 1000
        time.sleep(0.2)
    raise TimeoutError(f"step {step} was not rendered within {timeout_s:.0f} s")


def measure(url: str, run_id: str, start: int, presses: int) -> tuple[float, float, list[float]]:
    """Seconds to open Explore on a cold and on a warm server, and per step change (``presses`` times)."""
    with chromium() as context:
        context.add_init_script(PROBE)
        page = context.new_page()
        began = time.perf_counter()
        page.goto(f"{url}/explore?run={run_id}&step={start}")  # the server's first page: imports, layout
        wait_rendered(page, start, 120_000)
        cold = time.perf_counter() - began
        began = time.perf_counter()
        page.goto(f"{url}/explore?run={run_id}&step={start}")  # a new session on the warm server
        wait_rendered(page, start, 60_000)
        warm = time.perf_counter() - began
        page.locator('[data-step-keys="ready"]').wait_for(state="attached")  # the navigator hears the keys
        page.wait_for_timeout(1500)  # let the first render settle (plots drawn)
        changes = []
        for k in range(1, presses + 1):
            page.keyboard.press("ArrowRight")
            changes.append(_shown_after_key(page, start + k))
            page.wait_for_timeout(300)
        return cold, warm, changes


def server_times(home: Path, run_id: str, start: int, presses: int) -> list[float]:
    """Seconds per step change spent in the page script alone (Streamlit's AppTest, no browser).

    AppTest reruns the whole Explore page, where the browser reruns only the step view, so this is an
    upper bound of the server's share of a step change.
    """
    from streamlit.testing.v1 import AppTest

    os.environ["MEMLAB_HOME"] = str(home)
    page = AppTest.from_file(str(ROOT / "pages" / "explore.py"))
    page.query_params["run"], page.query_params["step"] = run_id, str(start)
    page.run(timeout=120)
    times = []
    for _ in range(presses):
        began = time.perf_counter()
        page.button(key=f"explore:{run_id}:next").click().run(timeout=60)
        times.append(time.perf_counter() - began)
    return times


def main(argv: list[str] | None = None) -> int:
    """Record the demo run, serve the app, measure, print and write docs/ui.md."""
    from tqdm import tqdm

    from lab.benches import markdown_table, write_report
    from lab.store import RunStore
    from lab.views.demo import record_demo

    parser = argparse.ArgumentParser(prog="memlab bench ui", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="memlab-bench-ui-") as tmp:
        home = Path(tmp)
        with tqdm(total=4, desc="bench ui", unit="phase", file=sys.stderr) as bar:
            store = RunStore(home / "runs.sqlite")
            run_id = record_demo(store, n_steps=args.steps, episode_every=2)
            memory = store.memory_at(run_id, args.steps - 1)
            bar.update()
            with serve_app(home) as url:
                bar.update()
                cold, warm, changes = measure(url, run_id, args.steps // 2, args.presses)
            bar.update()
            server = server_times(home, run_id, args.steps // 2, args.presses)
            bar.update()
    script = f"{statistics.median(server) * 1000:.0f} ms"
    rows = result_rows(cold, warm, changes) + [["… of which the page script (whole page, AppTest), median",
                                                script, "", ""]]
    table = markdown_table(["what", "measured", "target", "met"], rows)
    size = (f"{len(memory.nodes)} nodes, {len(memory.edges)} edges, {len(memory.records)} records at the "
            "last step")
    load = "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(table)
    print(load)
    body = report_text(table, args, size) + f"\n{load} on {os.cpu_count()} cores.\n"
    write_report("ui", "UI responsiveness", body)
    return 0 if all(r[3] == "yes" for r in rows if r[3]) else 1


def result_rows(cold: float, warm: float, changes: list[float]) -> list[list[str]]:
    """The table rows: open times, and median / p90 / max of the step changes."""
    ordered = sorted(changes)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return [["Explore opens, first page of a fresh server (imports, graph layout)", f"{cold:.2f} s", "", ""],
            ["Explore opens (deep link, server running)", f"{warm:.2f} s", "≤ 3 s",
             "yes" if warm <= 3 else "no"],
            ["step change, median", f"{median * 1000:.0f} ms", "≤ 500 ms", "yes" if median <= 0.5 else "no"],
            ["step change, p90", f"{p90 * 1000:.0f} ms", "", ""],
            ["step change, max", f"{max(ordered) * 1000:.0f} ms", "", ""]]


def report_text(table: str, args: argparse.Namespace, size: str) -> str:
    """The body of docs/ui.md."""
    return (
        "Measured by `memlab bench ui` (`lab.benches.ui`) with Playwright driving Debian's headless Chromium "
        f"against `streamlit run lab/app.py` on this machine. The run: {args.steps} MiniGrid steps recorded "
        f"by `lab.views.demo` (DoorKey-16x16, random moves) with a place-graph memory of {size}; keyframes "
        f"every 10 steps. Explore opens at step {args.steps // 2} through a deep link; then the right-arrow "
        f"key (heard by the navigator's key listener) is pressed {args.presses} times. A step change counts "
        "from the key press until the step view's last element shows the new step, both timestamps taken "
        "inside the page: the step view (a fragment) has re-run on the server (one step record, one "
        "keyframe plus diffs, the MiniGrid frame re-rendered from a cached checkpoint) and the browser has "
        "drawn every element before it, the memory graph included. Opening counts from navigation to the "
        "same last element.\n\n"
        + table + "\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
