"""Launch runs in background processes, so they never run inside a Streamlit script run and
survive a browser reload. The run row exists as soon as ``launch`` returns.

Each run's stdout and stderr go to ``logs/<run_id>.log`` in the data dir. The child is ``memlab run``,
which writes both through :class:`lab.cli.RedactingStream`, so API keys (the environment's ``*_API_KEY``
values, bearer tokens, ``sk-...`` keys) echoed in provider errors or tracebacks never reach the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.core.errors import LabError
from lab.core.records import MemoryEdit, RunConfig
from lab.fork import fork_config
from lab.runner import prepare
from lab.core.settings import cache_dir
from lab.store import RunStore, new_run_id
from lab.core.versions import versions


def spawn(cmd: list[str], run_id: str, store: RunStore) -> subprocess.Popen:
    """``memlab <cmd>`` in a new session, its output in the run's log."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEMLAB_HOME": str(store.path.parent)}
    with (cache_dir("logs") / f"{run_id}.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen([sys.executable, "-m", "lab.cli", *cmd], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def launch(config: RunConfig, store: RunStore | None = None) -> str:
    """Validate ``config`` (a bad one raises and stores nothing), then start it in a new process."""
    store = store or RunStore()
    prepared = prepare(config)
    run_id = store.create_run(prepared.config, versions(), run_id=new_run_id())
    try:
        proc = spawn(["run", "--config-json", prepared.config.model_dump_json(), "--run-id", run_id], run_id, store)
    except OSError as err:  # the row would otherwise stay "running", owned by this (live) process
        store.set_status(run_id, "error", f"could not start the run process: {err}")
        raise LabError(f"could not start run {run_id}: {err}") from None
    store.claim_run(run_id, proc.pid)
    return run_id


def launch_fork(parent_id: str, step: int, edits: list[MemoryEdit], store: RunStore | None = None, *,
                llm: str | None = None, max_steps: int | None = None, wait_s: float = 300.0) -> str:
    """Fork ``parent_id`` at ``step`` in a new process (``memlab fork``) and wait until the fork is stored,
    which it is once its prefix replayed and its edits applied; a bad request raises with the fork's
    one-line error, and nothing is stored."""
    store = store or RunStore()
    prepare(fork_config(store.get_run(parent_id), step, edits, llm=llm, max_steps=max_steps), store)
    run_id = new_run_id()
    edit_file = cache_dir("forks") / f"{run_id}.json"
    edit_file.write_text(json.dumps([e.model_dump(mode="json") for e in edits]))
    cmd = ["fork", parent_id, "--step", str(step), "--edit-file", str(edit_file), "--run-id", run_id]
    cmd += (["--llm", llm] if llm else []) + (["--max-steps", str(max_steps)] if max_steps else [])
    try:
        proc = spawn(cmd, run_id, store)
    except OSError as err:
        raise LabError(f"could not start the fork: {err}") from None
    deadline = time.monotonic() + wait_s
    while not store.has_run(run_id):
        if proc.poll() is not None:
            raise LabError(last_error(cache_dir("logs") / f"{run_id}.log")
                           or f"the fork process ended (exit {proc.returncode}) before storing the fork")
        if time.monotonic() > deadline:
            raise LabError(f"fork {run_id} is still replaying its parent's first {step} steps after {wait_s:.0f} s;"
                           " it appears on the Runs page once stored")
        time.sleep(0.2)
    return run_id


def last_error(log: Path) -> str:
    """The one-line error a ``memlab`` process printed last (``error: ...``), without its prefix."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return next((line.removeprefix("error: ") for line in reversed(lines) if line.startswith("error: ")), "")


def launch_batch(configs: list[RunConfig], store: RunStore | None = None) -> list[str]:
    """Validate every config first, then launch each (agents x seeds from the Run page)."""
    for config in configs:
        prepare(config)
    return [launch(config, store) for config in configs]
