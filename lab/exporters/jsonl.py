"""The canonical JSONL trace: export (a header line, then one line per step, keyframes inline) and
import back into the store.

Import validates the whole file before writing anything, then writes the run in one transaction
(:meth:`RunStore.add_run`), so a malformed or foreign file imports nothing and the error names
its line. An import of an export equals the original run: same id, creation time, config,
versions, summary, steps and keyframes (only ``updated_at``, the time of the last write, is new).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, ValidationError

from lab.core.errors import ConfigError
from lab.core.records import SCHEMA_VERSION, RunInfo, RunSummary, Step
from lab.store import RunStore


def jsonl_lines(store: RunStore, run_id: str, batch: int = 500) -> Iterator[str]:
    """The header line, then each step, reading the store in batches."""
    info = store.get_run(run_id)
    header = {"type": "header", "schema_version": SCHEMA_VERSION, "run": info.model_dump(mode="json")}
    yield json.dumps(header)
    for start in range(0, info.n_steps, batch):
        for step in store.steps(run_id, start, start + batch, with_snapshots=True):
            yield json.dumps({"type": "step", **step.model_dump(mode="json", exclude_defaults=True),
                              "schema_version": step.schema_version})


def _problem(err: ValidationError, what: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    return f"{what}: field {where!r}: {first['msg']}"


def _validate(model: type[BaseModel], data: Any, line: int, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"line {line}: {_problem(err, what)}") from None


def _record(text: str, line: int) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"line {line}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"line {line}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ConfigError(f"line {line}: schema version {version!r} is newer than this lab's "
                          f"{SCHEMA_VERSION}; upgrade the lab to import it")
    return data


def _header(text: str) -> RunInfo:
    data = _record(text, 1)
    if data.get("type") != "header" or "run" not in data:
        raise ConfigError('line 1: not a memlab trace header (expected {"type": "header", "run": {...}}); '
                          "is this a JSONL export of memlab?")
    return _validate(RunInfo, data["run"], 1, "run header")


def _step(text: str, line: int, expected: int) -> Step:
    data = _record(text, line)
    if data.pop("type", None) != "step":
        raise ConfigError(f"line {line}: expected a step record (\"type\": \"step\")")
    step = _validate(Step, data, line, "step")
    if step.index != expected:
        raise ConfigError(f"line {line}: step index {step.index}, expected {expected} "
                          "(steps must be in order, without gaps)")
    return step


def parse_jsonl(lines: Iterable[str]) -> tuple[RunInfo, list[Step]]:
    """Validate a whole trace; the first problem raises a ``ConfigError`` naming its line."""
    info: RunInfo | None = None
    steps: list[Step] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if info is None:
            if number != 1:
                raise ConfigError(f"line {number}: the header must be the first line")
            info = _header(text)
        else:
            steps.append(_step(text, number, len(steps)))
    if info is None:
        raise ConfigError("the file is empty: expected a memlab trace (a header line, then one line per "
                          "step)")
    if info.n_steps != len(steps):
        raise ConfigError(f"the header says {info.n_steps} steps but the file has {len(steps)}: it is "
                          "truncated or was edited")
    return info, steps


def import_jsonl(store: RunStore, lines: Iterable[str]) -> str:
    """Import a JSONL trace as a new run with its original id; all of it or nothing. Returns the run id."""
    info, steps = parse_jsonl(lines)
    if store.has_run(info.run_id):
        raise ConfigError(f"run {info.run_id} is already in the store; delete it first to import this file "
                          "again")
    summary = info.summary
    if summary is None:  # exported while running or after an interruption: no summary was written
        status = "interrupted" if info.status == "running" else info.status
        summary = RunSummary(status=status, steps=len(steps),
                             message=info.message or "imported without a summary")
    store.add_run(info.config, info.versions, steps, summary, run_id=info.run_id, created_at=info.created_at)
    return info.run_id
