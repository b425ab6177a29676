"""The run store: one SQLite file (WAL) holding runs, steps and memory keyframes.

It is the single source of truth: the run loop writes steps as they happen and pages,
exports and the CLI only read. WAL lets a running job write while other processes read;
a process killed mid-run leaves every committed step readable, and the next open marks
its run ``interrupted``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from lab.core import memory as memlib
from lab.core.errors import RunNotFoundError, SchemaVersionError, StoreError
from lab.core.records import SCHEMA_VERSION, MemorySnapshot, RunConfig, RunInfo, RunStatus, RunSummary, Step
from lab.core.settings import store_path

HOST = socket.gethostname()


def m001_initial(db: sqlite3.Connection) -> None:
    """Runs, steps (record JSON + the columns pages chart and filter on) and keyframes."""
    script = (
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            status TEXT NOT NULL, env_id TEXT NOT NULL, agent_id TEXT NOT NULL, seed INTEGER,
            label TEXT NOT NULL DEFAULT '', config TEXT NOT NULL, summary TEXT,
            versions TEXT NOT NULL DEFAULT '{}', message TEXT NOT NULL DEFAULT '',
            pid INTEGER, host TEXT, stop_requested INTEGER NOT NULL DEFAULT 0,
            n_steps INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX runs_created ON runs(created_at);
        CREATE TABLE steps (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            idx INTEGER NOT NULL, trial INTEGER NOT NULL, t INTEGER NOT NULL,
            action TEXT NOT NULL, reward REAL NOT NULL, score REAL NOT NULL, done INTEGER NOT NULL,
            tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, llm_s REAL NOT NULL,
            total_s REAL NOT NULL, n_nodes INTEGER NOT NULL, n_edges INTEGER NOT NULL,
            n_records INTEGER NOT NULL, record TEXT NOT NULL,
            PRIMARY KEY (run_id, idx));
        CREATE TABLE snapshots (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            idx INTEGER NOT NULL, snapshot TEXT NOT NULL, PRIMARY KEY (run_id, idx));
        """
    )
    for statement in script.split(";"):  # one by one: executescript would commit the migration's transaction
        if statement.strip():
            db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial]
"""Ordered, named schema migrations; each runs once and is recorded in ``migrations``."""

SERIES_COLUMNS = (
    "idx", "trial", "t", "action", "reward", "score", "done", "tokens_in", "tokens_out",
    "llm_s", "total_s", "n_nodes", "n_edges", "n_records",
)


def now() -> str:
    """UTC timestamp, ISO 8601, second precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable, unique: ``20261125-203000-1a2b3c``."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid runs on this host."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_version(data: dict[str, Any], what: str) -> None:
    """Refuse records written by a newer lab."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{what} has schema version {version}, newer than this lab's {SCHEMA_VERSION}; upgrade the lab"
        )


class RunStore:
    """Runs and steps in one SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else store_path()
        self._local = threading.local()
        db = self._db()
        self._migrate(db)
        self.recover()

    # -- connection -------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as err:
            raise StoreError(f"cannot open the run store {self.path}: {err}") from None
        return db

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db().execute(sql, tuple(params))
        except sqlite3.OperationalError as err:
            raise StoreError(f"cannot write the run store {self.path}: {err}") from None

    def _migrate(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
            for migration in MIGRATIONS:
                db.execute("BEGIN IMMEDIATE")  # re-checked under the write lock: another process may migrate too
                done = db.execute("SELECT 1 FROM migrations WHERE name=?", (migration.__name__,)).fetchone()
                if not done:
                    migration(db)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (migration.__name__, now()))
                db.execute("COMMIT")
        except sqlite3.Error as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot use the run store {self.path}: {err}") from None

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- runs -------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Mark runs whose process died as ``interrupted``; their committed steps stay."""
        rows = self._db().execute("SELECT run_id, pid, host FROM runs WHERE status='running'").fetchall()
        dead = [run_id for run_id, pid, host in rows if host == HOST and not pid_alive(pid)]
        for run_id in dead:
            self._write(
                "UPDATE runs SET status='interrupted', message=?, updated_at=? WHERE run_id=?",
                ("the process running it ended before it finished", now(), run_id),
            )
        return dead

    def create_run(self, config: RunConfig, versions: dict[str, str] | None = None,
                   run_id: str | None = None) -> str:
        """Register a new running run owned by this process; returns its id."""
        run_id = run_id or new_run_id()
        stamp = now()
        self._write(
            "INSERT INTO runs (run_id, created_at, updated_at, status, env_id, agent_id, seed, label,"
            " config, versions, pid, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, stamp, stamp, "running", config.env_id, config.agent_id, config.seed, config.label,
             config.model_dump_json(), json.dumps(versions or {}), os.getpid(), HOST),
        )
        return run_id

    def add_run(self, config: RunConfig, versions: dict[str, str], steps: list[Step], summary: RunSummary,
                run_id: str | None = None, created_at: str | None = None) -> str:
        """Write a whole run (a sweep worker's, an import) in one transaction: all of it or nothing."""
        run_id = run_id or new_run_id()
        stamp = now()
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO runs (run_id, created_at, updated_at, status, env_id, agent_id, seed, label, config,"
                " summary, versions, message, n_steps) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, created_at or stamp, stamp, summary.status, config.env_id, config.agent_id, config.seed,
                 config.label, config.model_dump_json(), summary.model_dump_json(), json.dumps(versions),
                 summary.message, len(steps)),
            )
            for step in steps:
                self._insert_step(db, run_id, step)
            db.execute("COMMIT")
        except sqlite3.Error as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write run {run_id} to {self.path}: {err}") from None
        return run_id

    def claim_run(self, run_id: str, pid: int | None = None) -> None:
        """Make process ``pid`` (default: this one) the owner of a run created by a launcher."""
        self._write("UPDATE runs SET pid=?, host=?, updated_at=? WHERE run_id=?",
                    (pid or os.getpid(), HOST, now(), run_id))

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds ``run_id``."""
        return self._db().execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is not None

    def finish_run(self, run_id: str, summary: RunSummary) -> None:
        """Record the summary and final status."""
        self._write(
            "UPDATE runs SET status=?, summary=?, message=?, updated_at=? WHERE run_id=?",
            (summary.status, summary.model_dump_json(), summary.message, now(), run_id),
        )

    def set_status(self, run_id: str, status: RunStatus, message: str = "") -> None:
        """Change a run's status (and message)."""
        self._write("UPDATE runs SET status=?, message=?, updated_at=? WHERE run_id=?",
                    (status, message, now(), run_id))

    def request_stop(self, run_id: str) -> None:
        """Ask the process running ``run_id`` to stop after its current step."""
        self.get_run(run_id)
        self._write("UPDATE runs SET stop_requested=1 WHERE run_id=?", (run_id,))

    def stop_requested(self, run_id: str) -> bool:
        """Whether a stop was asked for."""
        row = self._db().execute("SELECT stop_requested FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps and snapshots."""
        self.get_run(run_id)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        for table in ("snapshots", "steps", "runs"):
            db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
        db.execute("COMMIT")

    def _info(self, row: sqlite3.Row | tuple) -> RunInfo:
        (run_id, created, updated, status, config, summary, versions, message, n_steps) = row
        check_version(json.loads(config), f"run {run_id}")
        return RunInfo(
            run_id=run_id, created_at=created, updated_at=updated, status=status,
            config=RunConfig.model_validate_json(config),
            summary=RunSummary.model_validate_json(summary) if summary else None,
            versions=json.loads(versions), message=message, n_steps=n_steps,
        )

    _INFO_COLS = "run_id, created_at, updated_at, status, config, summary, versions, message, n_steps"

    def get_run(self, run_id: str) -> RunInfo:
        """One run's header; ``RunNotFoundError`` when absent."""
        row = self._db().execute(f"SELECT {self._INFO_COLS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return self._info(row)

    def list_runs(self, limit: int = 200, env_id: str | None = None, agent_id: str | None = None,
                  status: str | None = None, label: str | None = None) -> list[RunInfo]:
        """Newest first, optionally filtered; reads the runs table only."""
        where, params = [], []
        for column, value in (("env_id", env_id), ("agent_id", agent_id), ("status", status), ("label", label)):
            if value:
                where.append(f"{column}=?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db().execute(
            f"SELECT {self._INFO_COLS} FROM runs {clause} ORDER BY created_at DESC, run_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [self._info(row) for row in rows]

    # -- steps ------------------------------------------------------------------------------
    def append_steps(self, run_id: str, steps: list[Step]) -> None:
        """Write steps (and their keyframes) in one transaction; readers see them at commit."""
        if not steps:
            return
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            for step in steps:
                self._insert_step(db, run_id, step)
            db.execute("UPDATE runs SET n_steps=?, updated_at=? WHERE run_id=?",
                       (steps[-1].index + 1, now(), run_id))
            db.execute("COMMIT")
        except sqlite3.Error as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write steps to {self.path}: {err}") from None
        except BaseException:  # a record that fails to serialise must not leave the transaction open
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _insert_step(self, db: sqlite3.Connection, run_id: str, step: Step) -> None:
        snapshot = step.memory_snapshot
        data = step.model_dump(mode="json", exclude_defaults=True, exclude={"memory_snapshot"})
        data["schema_version"] = step.schema_version  # always written, so readers can check it
        record = json.dumps(data)
        tokens_in = sum(c.tokens_in for c in step.llm_calls)
        tokens_out = sum(c.tokens_out for c in step.llm_calls)
        size = step.memory_size
        db.execute(
            "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, step.index, step.trial, step.t, step.action, step.reward, step.score, int(step.done),
             tokens_in, tokens_out, step.timings.llm_s, step.timings.total_s, size.get("nodes", 0),
             size.get("edges", 0), size.get("records", 0), record),
        )
        if snapshot is not None:
            db.execute("INSERT INTO snapshots VALUES (?,?,?)",
                       (run_id, step.index, snapshot.model_dump_json(exclude_defaults=True)))

    def n_steps(self, run_id: str) -> int:
        """Committed steps of a run."""
        return self.get_run(run_id).n_steps

    def steps(self, run_id: str, start: int = 0, stop: int | None = None,
              with_snapshots: bool = False) -> list[Step]:
        """Steps ``start <= index < stop`` in order (keyframe snapshots attached if asked)."""
        self.get_run(run_id)
        rows = self._db().execute(
            "SELECT idx, record FROM steps WHERE run_id=? AND idx>=? AND idx<? ORDER BY idx",
            (run_id, start, stop if stop is not None else 2**62),
        ).fetchall()
        steps = [self._load_step(record, run_id) for _, record in rows]
        if with_snapshots:
            for step in steps:
                step.memory_snapshot = self._keyframe(run_id, step.index)
        return steps

    def step(self, run_id: str, index: int) -> Step:
        """One step; an index out of range raises ``IndexError`` with the valid range."""
        found = self.steps(run_id, index, index + 1)
        if not found:
            raise IndexError(f"run {run_id} has no step {index} (it has {self.n_steps(run_id)} steps)")
        return found[0]

    @staticmethod
    def _load_step(record: str, run_id: str) -> Step:
        data = json.loads(record)
        check_version(data, f"a step of run {run_id}")
        return Step.model_validate(data)

    def _keyframe(self, run_id: str, index: int) -> MemorySnapshot | None:
        row = self._db().execute("SELECT snapshot FROM snapshots WHERE run_id=? AND idx=?",
                                 (run_id, index)).fetchone()
        return MemorySnapshot.model_validate_json(row[0]) if row else None

    def memory_at(self, run_id: str, index: int) -> MemorySnapshot:
        """The memory after step ``index``: the nearest keyframe at or before it, plus diffs."""
        row = self._db().execute(
            "SELECT idx, snapshot FROM snapshots WHERE run_id=? AND idx<=? ORDER BY idx DESC LIMIT 1",
            (run_id, index),
        ).fetchone()
        base, start = (MemorySnapshot.model_validate_json(row[1]), row[0] + 1) if row else (None, 0)
        snapshot = base or MemorySnapshot()
        for step in self.steps(run_id, start, index + 1):
            if step.memory_diff is not None:
                snapshot = memlib.apply(snapshot, step.memory_diff)
        return snapshot

    def series(self, run_id: str) -> dict[str, list[Any]]:
        """Per-step columns for curves (score, memory size, tokens, latency) without loading records."""
        self.get_run(run_id)
        rows = self._db().execute(
            f"SELECT {', '.join(SERIES_COLUMNS)} FROM steps WHERE run_id=? ORDER BY idx", (run_id,)
        ).fetchall()
        return {name: [row[i] for row in rows] for i, name in enumerate(SERIES_COLUMNS)}
