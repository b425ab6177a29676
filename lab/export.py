"""Exports are pure functions of stored runs. JSONL is the canonical, lossless format:
a header line (the run: config, versions with git sha, summary), then one line per step
(keyframe snapshots inline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from lab.errors import ConfigError
from lab.records import SCHEMA_VERSION
from lab.store import RunStore

FORMATS = ("jsonl",)


def jsonl_lines(store: RunStore, run_id: str, batch: int = 500) -> Iterator[str]:
    """The header line, then each step, reading the store in batches."""
    info = store.get_run(run_id)
    header = {"type": "header", "schema_version": SCHEMA_VERSION, "run": info.model_dump(mode="json")}
    yield json.dumps(header)
    for start in range(0, info.n_steps, batch):
        for step in store.steps(run_id, start, start + batch, with_snapshots=True):
            yield json.dumps({"type": "step", **step.model_dump(mode="json", exclude_defaults=True),
                              "schema_version": step.schema_version})


def export_run(store: RunStore, run_id: str, fmt: str, path: Path) -> int:
    """Write one run in ``fmt`` to ``path``; returns the number of lines or items written."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    store.get_run(run_id)
    count = 0
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for line in jsonl_lines(store, run_id):
                out.write(line + "\n")
                count += 1
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from None
    return count
