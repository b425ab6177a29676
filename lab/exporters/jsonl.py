"""The canonical JSONL trace: export (a header line, then one line per step, keyframes inline, then one
line per cross-run memory entry the run recorded, then one per stored attribution) and import back into
the store. Traces written before
cross-run memory lines existed import as they are (with no entries).

Import validates the whole file before writing anything, then writes the run in one transaction
(:meth:`RunStore.add_run`), so a malformed or foreign file imports nothing and the error names
its line. Validation also refuses what the records' schemas allow but the lab cannot use: a run id
that could not name an export file, lone surrogates (``"\\ud800"``), integers past SQLite's 64 bits
and NaN in the step columns, numbers past Python's 4300 digits, JSON nested past its recursion
limit. An import of an export equals the original run: same id, creation time, config, versions,
summary, steps, keyframes, cross-run memory entries and attributions (only ``updated_at``, the time of
the last write, is new).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, ValidationError

from lab.core.errors import ConfigError
from lab.core.records import SCHEMA_VERSION, Attribution, CrossRunEntry, RunInfo, RunSummary, Step
from lab.store import RunStore


ENTRY = "cross_run_memory"
"""The ``type`` of a cross-run memory entry's line."""
ATTRIBUTION = "attribution"
"""The ``type`` of a stored attribution's line (``lab.attribution``)."""


def jsonl_lines(store: RunStore, run_id: str, batch: int = 500) -> Iterator[str]:
    """The header line, then each step (reading the store in batches), then each cross-run memory entry."""
    info = store.get_run(run_id)
    header = {"type": "header", "schema_version": SCHEMA_VERSION, "run": info.model_dump(mode="json")}
    yield json.dumps(header)
    for start in range(0, info.n_steps, batch):
        for step in store.steps(run_id, start, start + batch, with_snapshots=True):
            yield json.dumps({"type": "step", **step.model_dump(mode="json", exclude_defaults=True),
                              "schema_version": step.schema_version})
    for entry in store.cross_run_entries(run_id):
        yield json.dumps({"type": ENTRY, **entry.model_dump(mode="json")})
    for found in store.attributions(run_id):
        yield json.dumps({"type": ATTRIBUTION, **found.model_dump(mode="json")})


def _problem(err: ValidationError, what: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    return f"{what}: field {where!r}: {first['msg']}"


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""What an imported run id may be (the lab makes ``20261125-203000-1a2b3c``): it names export files."""
SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")
"""A surrogate, raw or as a JSON escape: maybe a lone one (an escaped pair decodes to one character)."""
INT64 = (-(2**63), 2**63 - 1)
"""SQLite's INTEGER range, for the numbers the store writes as columns."""


def _validate(model: type[BaseModel], data: Any, line: int, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"line {line}: {_problem(err, what)}") from None


def _unicode(data: Any, text: str, line: int) -> None:
    """Refuse lone surrogates (``"\\ud800"``): not Unicode text (RFC 7493); the store cannot write them."""
    if not SURROGATE.search(text):
        return
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        lone = err.object[err.start]
        raise ConfigError(f"line {line}: a string holds a lone surrogate {lone!r}, which is not Unicode "
                          "text; the file is damaged") from None


def _record(text: str, line: int) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"line {line}: not valid JSON ({err.msg} at column {err.colno})") from None
    except ValueError:  # a number of more than 4300 digits (Python's int conversion limit)
        raise ConfigError(f"line {line}: a number has too many digits to be a memlab record") from None
    except RecursionError:
        raise ConfigError(f"line {line}: nested too deeply to be a memlab record") from None
    if not isinstance(data, dict):
        raise ConfigError(f"line {line}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"line {line}: schema version {version!r} is not a whole number")
    if version > SCHEMA_VERSION:
        raise ConfigError(f"line {line}: schema version {version!r} is newer than this lab's "
                          f"{SCHEMA_VERSION}; upgrade the lab to import it")
    _unicode(data, text, line)
    return data


def _fits(value: int, line: int, what: str) -> None:
    if not INT64[0] <= value <= INT64[1]:
        shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:8]}... ({len(str(value))} digits)"
        raise ConfigError(f"line {line}: {what} {shown} does not fit in 64 bits")


def _header(text: str) -> RunInfo:
    data = _record(text, 1)
    if data.get("type") != "header" or "run" not in data:
        raise ConfigError('line 1: not a memlab trace header (expected {"type": "header", "run": {...}}); '
                          "is this a JSONL export of memlab?")
    info = _validate(RunInfo, data["run"], 1, "run header")
    if not RUN_ID.fullmatch(info.run_id):
        raise ConfigError(f"line 1: run header: field 'run_id': {info.run_id[:120]!r} is not a run id "
                          "(1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit)")
    return info  # the seed's 64-bit bound is RunConfig's own


def _step(data: dict[str, Any], line: int, expected: int) -> Step:
    if data.pop("type", None) != "step":
        raise ConfigError(f"line {line}: expected a step record (\"type\": \"step\")")
    step = _validate(Step, data, line, "step")
    if step.index != expected:
        raise ConfigError(f"line {line}: step index {step.index}, expected {expected} "
                          "(steps must be in order, without gaps)")
    _storable(step, line)
    return step


def _storable(step: Step, line: int) -> None:
    """The numbers the store writes as columns (``RunStore._insert_step``) fit them: SQLite's 64-bit INTEGER,
    and REAL NOT NULL (which stores NaN as NULL)."""
    counts = {"trial": step.trial, "t": step.t, "tokens_in": sum(c.tokens_in for c in step.llm_calls),
              "tokens_out": sum(c.tokens_out for c in step.llm_calls), **step.memory_size}
    for what, value in counts.items():
        _fits(value, line, f"step: {what}")
    reals = {"reward": step.reward, "score": step.score, "timings.llm_s": step.timings.llm_s,
             "timings.total_s": step.timings.total_s}
    for what, value in reals.items():
        if math.isnan(value):
            raise ConfigError(f"line {line}: step: field {what!r} is NaN (not a number)")


def _entry(data: dict[str, Any], line: int, run_id: str) -> CrossRunEntry:
    data.pop("type")
    entry = _validate(CrossRunEntry, data, line, "cross-run memory entry")
    if entry.run_id != run_id:
        raise ConfigError(f"line {line}: cross-run memory entry of run {entry.run_id[:120]!r} in the trace "
                          f"of run {run_id}: a run carries only the entries it recorded")
    return entry


def _attribution(data: dict[str, Any], line: int, run_id: str) -> Attribution:
    data.pop("type")
    found = _validate(Attribution, data, line, "attribution")
    if found.run_id != run_id:
        raise ConfigError(f"line {line}: attribution of run {found.run_id[:120]!r} in the trace of run {run_id}")
    return found


def parse_jsonl(lines: Iterable[str]) -> tuple[RunInfo, list[Step], list[CrossRunEntry], list[Attribution]]:
    """Validate a whole trace (run, steps, cross-run memory entries, attributions); the first problem raises
    a ``ConfigError`` naming its line."""
    info: RunInfo | None = None
    steps: list[Step] = []
    entries: list[CrossRunEntry] = []
    attributions: list[Attribution] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if info is None:
            if number != 1:
                raise ConfigError(f"line {number}: the header must be the first line")
            info = _header(text)
        else:
            data = _record(text, number)
            if data.get("type") == ENTRY:
                entries.append(_entry(data, number, info.run_id))
            elif data.get("type") == ATTRIBUTION:
                attributions.append(_attribution(data, number, info.run_id))
            else:
                steps.append(_step(data, number, len(steps)))
    if info is None:
        raise ConfigError("the file is empty: expected a memlab trace (a header line, then one line per "
                          "step)")
    if info.n_steps != len(steps):
        raise ConfigError(f"the header says {info.n_steps} steps but the file has {len(steps)}: it is "
                          "truncated or was edited")
    for found in attributions:
        if not 0 <= found.step < len(steps):
            raise ConfigError(f"an attribution of step {found.step}: the run has steps 0-{len(steps) - 1}")
    return info, steps, entries, attributions


def import_jsonl(store: RunStore, lines: Iterable[str]) -> str:
    """Import a JSONL trace as a new run with its original id; all of it or nothing. Returns the run id."""
    info, steps, entries, attributions = parse_jsonl(lines)
    if store.has_run(info.run_id):
        raise ConfigError(f"run {info.run_id} is already in the store; delete it first to import this file "
                          "again")
    summary = info.summary
    if summary is None:  # exported while running or after an interruption: no summary was written
        status = "interrupted" if info.status == "running" else info.status
        summary = RunSummary(status=status, steps=len(steps),
                             message=info.message or "imported without a summary")
    return store.add_run(info.config, info.versions, steps, summary, run_id=info.run_id,
                         created_at=info.created_at, cross_run=entries, attributions=attributions)
