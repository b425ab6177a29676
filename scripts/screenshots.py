"""Make the README screenshots of every page (``assets/screenshots/*.png``) with Playwright.

It records runs in a fresh data dir (the embedded model's converted weights come from the shared
model cache, which the data dir does not hide), serves the app on a free localhost port, drives Debian's headless
Chromium (``make browser`` installs it) and captures each page:

* ``home.png``, ``runs.png``: the run lists;
* ``run.png``: the Run page watching a full-history run (embedded LLM) while it runs;
* ``explore.png``: a MiniGrid run with a graph memory (``lab.views.demo``: frame, graph, records);
* ``explore-llm.png``: a full-history run in TextWorld (rooms map, thoughts, the LLM's context window);
* ``compare.png``: full-history (embedded LLM) vs random on the same MiniGrid layout and seed;
* ``probes.png``: the probes panel of an AriGraph run (embedded LLM) on the forced walkthrough of a
  tw-cooking game: the step's questions, where the memory's text shows each answer, the model's answers;
* ``example-arigraph.png``, ``example-schemas.png``: two of the first-run examples (Home's "Try the
  examples", ``memlab examples``) in Explore at the step each opens at: AriGraph's memory graph and
  readable thoughts, the graph-schemas agent's latent graph and room map.

Usage: ``.venv/bin/python scripts/screenshots.py [--out assets/screenshots] [--llm-steps 6]``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.benches.ui import chromium, serve_app  # noqa: E402

VIEWPORT = {"width": 1440, "height": 1300}
TALL = {"width": 1440, "height": 1800}


def record(home: Path, llm_steps: int) -> dict[str, str]:
    """The runs the screenshots show."""
    os.environ["MEMLAB_HOME"] = str(home)
    from agents.arigraph.config import EMBEDDED_PRESET
    from lab.core.records import RunConfig
    from lab.runner import execute
    from lab.store import RunStore
    from lab.views.demo import record_demo

    store = RunStore()
    runs = {"demo": record_demo(store, n_steps=300, episode_every=2, label="demo")}
    text = RunConfig(env_id="tw-coin", agent_id="full-history", llm="embedded", seed=0, max_steps=llm_steps,
                     label="screenshots")
    runs["llm"] = execute(text, store).run_id
    grid = RunConfig(env_id="minigrid:MiniGrid-Empty-8x8-v0", agent_id="full-history", llm="embedded", seed=0,
                     max_steps=llm_steps, label="screenshots")
    runs["grid-llm"] = execute(grid, store).run_id
    runs["random"] = execute(grid.model_copy(update={"agent_id": "random", "llm": "none"}), store).run_id
    probed = RunConfig(env_id="tw-cooking", env_options={"recipe": 2, "take": 2, "go": 6, "open": True},
                       agent_id="arigraph", agent_config={**EMBEDDED_PRESET}, llm="embedded", seed=1,
                       max_steps=10, policy="walkthrough+explore", probe_every=5, probes_per_family=1,
                       label="screenshots")
    runs["probed"] = execute(probed, store).run_id
    for seed in (1, 2):
        execute(RunConfig(env_id="minigrid:MiniGrid-DoorKey-8x8-v0", agent_id="random", seed=seed,
                          max_steps=60, label="screenshots"), store)
    from lab.examples import record_examples

    for example in record_examples(store):
        agent = store.get_run(example.run_id).config.agent_id
        if agent in ("arigraph", "graph-schemas") and f"example-{agent}" not in runs:
            runs[f"example-{agent}"] = f"{example.run_id}:{example.step}"
    return runs


def live_run() -> str:
    """A full-history MiniGrid run launched in the background (the Run page watches it)."""
    from lab.launch import launch
    from lab.core.records import RunConfig

    return launch(RunConfig(env_id="minigrid:MiniGrid-Empty-8x8-v0", agent_id="full-history", llm="embedded",
                            max_steps=40, label="live"))


def settle(page: Any, text: str | re.Pattern, timeout: float = 120_000) -> None:
    """Wait for ``text``, then for the plots to finish drawing.

    A failure leaves ``/tmp/memlab-shot-failed.png`` to look at.
    """
    try:
        found = page.get_by_text(text, exact=True) if isinstance(text, str) else page.get_by_text(text)
        found.first.wait_for(timeout=timeout)
    except Exception:
        page.screenshot(path="/tmp/memlab-shot-failed.png")
        raise
    page.wait_for_timeout(2500)


def shoot(url: str, runs: dict[str, str], out: Path) -> None:
    """Open each page and save its screenshot."""
    from lab.store import RunStore

    with chromium(viewport=VIEWPORT) as context:
        page = context.new_page()
        page.goto(f"{url}/")
        settle(page, "Recent runs")
        page.screenshot(path=out / "home.png")
        page.set_viewport_size(TALL)
        page.goto(f"{url}/explore?run={runs['demo']}&step=150")
        settle(page, "rendered step 150")
        page.screenshot(path=out / "explore.png")
        last = RunStore().get_run(runs["llm"]).n_steps - 1
        page.goto(f"{url}/explore?run={runs['llm']}&step={last}")
        settle(page, f"rendered step {last}")
        page.get_by_text("Thoughts", exact=True).first.scroll_into_view_if_needed()
        page.screenshot(path=out / "explore-llm.png")
        at = max(s.index for s in RunStore().steps(runs["probed"]) if s.probes)
        page.goto(f"{url}/explore?run={runs['probed']}&step={at}")
        settle(page, f"rendered step {at}")
        page.get_by_text("Probes: what the memory knows (ground truth)", exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        page.screenshot(path=out / "probes.png")
        for agent, name in (("arigraph", "example-arigraph"), ("graph-schemas", "example-schemas")):
            run_id, step = runs[f"example-{agent}"].split(":")
            page.goto(f"{url}/explore?run={run_id}&step={step}")
            settle(page, f"rendered step {step}")
            page.screenshot(path=out / f"{name}.png")
        page.goto(f"{url}/compare?runs={runs['grid-llm']},{runs['random']}&step=2")
        settle(page, "rendered step 2")
        page.screenshot(path=out / "compare.png")
        page.set_viewport_size(VIEWPORT)
        page.goto(f"{url}/runs")
        settle(page, "Runs and export")
        page.screenshot(path=out / "runs.png")
        live = live_run()
        page.goto(f"{url}/run?runs={live}")
        deadline = time.time() + 600
        while RunStore().get_run(live).n_steps < 3 and time.time() < deadline:
            time.sleep(2)
        settle(page, re.compile(r"^Latest step [3-9]"), timeout=60_000)
        page.screenshot(path=out / "run.png")
        RunStore().request_stop(live)
        while RunStore().get_run(live).status == "running" and time.time() < deadline:
            time.sleep(1)  # let it stop before its data dir goes away


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    parser.add_argument("--llm-steps", type=int, default=6, help="steps of the embedded-LLM TextWorld run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="memlab-screenshots-") as tmp:
        home = Path(tmp)
        print("recording runs…", file=sys.stderr)
        runs = record(home, args.llm_steps)
        with serve_app(home) as url:
            print(f"capturing pages from {url}…", file=sys.stderr)
            shoot(url, runs, args.out)
    for png in sorted(args.out.glob("*.png")):
        print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
