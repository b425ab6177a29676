"""Launch runs in background processes, so they never run inside a Streamlit script run and
survive a browser reload. The run row exists as soon as ``launch`` returns."""

from __future__ import annotations

import os
import subprocess
import sys

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
    log = (cache_dir("logs") / f"{run_id}.log").open("ab")
    cmd = [sys.executable, "-m", "lab.cli", "run", "--config-json", prepared.config.model_dump_json(),
           "--run-id", run_id]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MEMLAB_HOME": str(store.path.parent)}
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    store.claim_run(run_id, proc.pid)
    return run_id


def launch_batch(configs: list[RunConfig], store: RunStore | None = None) -> list[str]:
    """Validate every config first, then launch each (agents x seeds from the Run page)."""
    for config in configs:
        prepare(config)
    return [launch(config, store) for config in configs]
