"""Launch runs in background processes, so they never run inside a Streamlit script run and
survive a browser reload. The run row exists as soon as ``launch`` returns.

Each run's stdout and stderr go to ``logs/<run_id>.log`` in the data dir. The child is ``memlab run``,
which writes both through :class:`lab.cli.RedactingStream`, so API keys (the environment's ``*_API_KEY``
values, bearer tokens, ``sk-...`` keys) echoed in provider errors or tracebacks never reach the log.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lab.core.errors import LabError
from lab.core.records import RunConfig
from lab.runner import prepare
from lab.core.settings import cache_dir
from lab.store import RunStore, new_run_id
from lab.core.versions import versions


def launch(config: RunConfig, store: RunStore | None = None) -> str:
    """Validate ``config`` (a bad one raises and stores nothing), then start it in a new process."""
    store = store or RunStore()
    prepared = prepare(config)
    run_id = store.create_run(prepared.config, versions(), run_id=new_run_id())
    cmd = [sys.executable, "-m", "lab.cli", "run", "--config-json", prepared.config.model_dump_json(),
           "--run-id", run_id]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEMLAB_HOME": str(store.path.parent)}
    try:
        with (cache_dir("logs") / f"{run_id}.log").open("ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
    except OSError as err:  # the row would otherwise stay "running", owned by this (live) process
        store.set_status(run_id, "error", f"could not start the run process: {err}")
        raise LabError(f"could not start run {run_id}: {err}") from None
    store.claim_run(run_id, proc.pid)
    return run_id


def launch_batch(configs: list[RunConfig], store: RunStore | None = None) -> list[str]:
    """Validate every config first, then launch each (agents x seeds from the Run page)."""
    for config in configs:
        prepare(config)
    return [launch(config, store) for config in configs]
