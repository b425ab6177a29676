"""The run store: one SQLite file (WAL) holding runs, steps, memory keyframes and agents' cross-run memory.

It is the single source of truth: the run loop writes steps as they happen and pages,
exports and the CLI only read. WAL lets a running job write while other processes read;
a process killed mid-run leaves every committed step readable, and the next open marks
its run ``interrupted``.

Every SQLite or OS error is raised as :class:`~lab.core.errors.StoreError` (``DataDirError`` for the
folder itself): one line naming the file, the cause (read-only, permission denied, disk full, locked,
damaged) and the fix. A failed write rolls back whole, so what was committed before stays intact.
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
from lab.core.errors import DataDirError, RunNotFoundError, SchemaVersionError, StoreError
from lab.core.protocols import canonical
from lab.core.records import (
    SCHEMA_VERSION, Attribution, CrossRunEntry, MemorySnapshot, ProbeReport, RunConfig, RunInfo, RunStatus,
    RunSummary, Step,
)
from lab.core.settings import FIX, store_path, why_unusable

HOST = socket.gethostname()

# Connection settings, set on every connection (each thread of each process has its own).
JOURNAL_MODE = "wal"
"""Write-ahead log: readers never block the one writer and the writer never blocks readers, so pages
read a run while its process appends steps; a crash loses no committed transaction."""
BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's write lock before giving up with "database is locked".
Writes are short (one batch of steps, about every 0.1 s per run), so 30 s only runs out when a process
holds the lock hung. A write of several statements starts with ``BEGIN IMMEDIATE`` (one statement is
its own transaction): taking the write lock up front is what lets the busy handler wait; a read
transaction that later writes would get "database is locked" at once, whatever the timeout."""
SYNCHRONOUS = "NORMAL"
"""In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may drop the last
commits, never corrupt the file; a process crash loses nothing committed."""
PRAGMAS = {"busy_timeout": BUSY_TIMEOUT_MS, "journal_mode": JOURNAL_MODE, "synchronous": SYNCHRONOUS,
           "foreign_keys": "ON"}
"""Applied in this order at connect (the timeout first: switching a new file to WAL takes a lock);
:meth:`RunStore.settings` reads back the effective values."""

# primary SQLite result codes (https://sqlite.org/rescode.html) that name a cause a person can fix
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26


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


def m002_cross_run_memory(db: sqlite3.Connection) -> None:
    """Agents' memory across runs (CLIN's meta-memory): entries owned by the run that recorded them."""
    db.execute(
        "CREATE TABLE cross_run_memory ("
        " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, key TEXT NOT NULL,"
        " provenance TEXT NOT NULL, data TEXT NOT NULL, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (run_id, key))"
    )
    db.execute("CREATE INDEX cross_run_memory_provenance ON cross_run_memory(provenance)")


def m003_attributions(db: sqlite3.Connection) -> None:
    """Memory-to-action attributions of recorded steps (``lab.attribution``), one per step and scoring model."""
    db.execute(
        "CREATE TABLE attributions ("
        " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, idx INTEGER NOT NULL,"
        " model TEXT NOT NULL, record TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (run_id, idx, model))"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial, m002_cross_run_memory,
                                                          m003_attributions]
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


def rollback(db: sqlite3.Connection) -> None:
    """End a failed transaction; the commits before it stay (a rollback that fails leaves the same state)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


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
        except OSError as err:
            why = why_unusable(self.path.parent, err) or err.strerror
            message = f"cannot open the run store {self.path}: {why}; {FIX}"
            raise DataDirError(self.path.parent, message) from None
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as err:
            raise self._error(err, "open") from None
        try:
            for name, value in PRAGMAS.items():
                db.execute(f"PRAGMA {name}={value}")
        except sqlite3.Error as err:
            db.close()
            raise self._error(err, "open") from None
        return db

    def settings(self) -> dict[str, Any]:
        """The effective connection settings of this thread's connection (see ``PRAGMAS``)."""
        db = self._db()
        values = {name: db.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}
        values["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[values["synchronous"]]
        values["foreign_keys"] = "ON" if values["foreign_keys"] else "OFF"
        return values

    def _error(self, err: sqlite3.Error, doing: str) -> StoreError:
        """One line: the store, what failed, why in words and what to do (SQLite's own text in brackets)."""
        code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF
        folder = self.path.parent
        if code == SQLITE_FULL:
            cause = ("the disk is full or the store hit its size limit, and what was stored before is kept; "
                     "free some space or set MEMLAB_HOME to a directory on another disk")
        elif code in (SQLITE_BUSY, SQLITE_LOCKED):
            cause = (f"another process held its write lock for over {BUSY_TIMEOUT_MS // 1000} s; "
                     "retry when that process is done")
        elif code in (SQLITE_CORRUPT, SQLITE_NOTADB):
            cause = ("the file is damaged or not a run store; move it aside (the lab starts a new one) "
                     "or set MEMLAB_HOME to another directory")
        elif code in (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_PERM):
            cause = f"{self._why_unusable(folder)}; {FIX}"
        else:
            return StoreError(f"cannot {doing} the run store {self.path}: {err}")
        return StoreError(f"cannot {doing} the run store {self.path}: {cause} (SQLite: {err})")

    def _why_unusable(self, folder: Path) -> str:
        why = why_unusable(folder)
        if why:
            return why
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return "the file is read-only"
        return f"check the permissions of {self.path.name} and its -wal and -shm files"

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """All rows of a read; SQLite errors become a ``StoreError``."""
        try:
            return self._db().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as err:
            raise self._error(err, "read") from None

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db().execute(sql, tuple(params))
        except sqlite3.Error as err:
            raise self._error(err, "write") from None

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
            rollback(db)
            raise self._error(err, "open") from None

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- runs -------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Mark runs whose process died as ``interrupted``; their committed steps stay."""
        rows = self._query("SELECT run_id, pid, host FROM runs WHERE status='running'")
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
                run_id: str | None = None, created_at: str | None = None,
                cross_run: Iterable[CrossRunEntry] = (), attributions: Iterable[Attribution] = ()) -> str:
        """Write a whole run (a sweep worker's, an import) in one transaction: all of it or nothing.

        ``cross_run``: the run's cross-run memory entries, stored under the new run's id; ``attributions``
        likewise (an import's)."""
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
            for entry in cross_run:
                self._put_entry(db, entry.model_copy(update={"run_id": run_id}))
            for found in attributions:
                db.execute("INSERT OR REPLACE INTO attributions VALUES (?, ?, ?, ?, ?)",
                           (run_id, found.step, found.model,
                            found.model_copy(update={"run_id": run_id}).model_dump_json(), stamp))
            db.execute("COMMIT")
        except sqlite3.Error as err:
            rollback(db)
            raise self._error(err, f"write run {run_id} to") from None
        except BaseException:  # a record that fails to serialise must not leave the transaction open
            rollback(db)
            raise
        return run_id

    def claim_run(self, run_id: str, pid: int | None = None) -> None:
        """Make process ``pid`` (default: this one) the owner of a run created by a launcher."""
        self._write("UPDATE runs SET pid=?, host=?, updated_at=? WHERE run_id=?",
                    (pid or os.getpid(), HOST, now(), run_id))

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds ``run_id``."""
        return bool(self._query("SELECT 1 FROM runs WHERE run_id=?", (run_id,)))

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
        rows = self._query("SELECT stop_requested FROM runs WHERE run_id=?", (run_id,))
        return bool(rows and rows[0][0])

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps, snapshots, attributions and cross-run memory entries."""
        self.get_run(run_id)
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            for table in ("attributions", "cross_run_memory", "snapshots", "steps", "runs"):
                db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            db.execute("COMMIT")
        except sqlite3.Error as err:
            rollback(db)
            raise self._error(err, f"delete run {run_id} from") from None

    def drop_steps(self, run_id: str, start: int, summary: RunSummary) -> None:
        """Delete the steps from ``start`` on (with their keyframes) and record ``summary``, in one transaction:
        a resumed run plays them again (``lab.resume``; the summary keeps the failed step)."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            for table in ("attributions", "snapshots", "steps"):
                db.execute(f"DELETE FROM {table} WHERE run_id=? AND idx>=?", (run_id, start))
            db.execute("UPDATE runs SET n_steps=?, summary=?, updated_at=? WHERE run_id=?",
                       (start, summary.model_dump_json(), now(), run_id))
            db.execute("COMMIT")
        except sqlite3.Error as err:
            rollback(db)
            raise self._error(err, f"rewind run {run_id} in") from None

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
        rows = self._query(f"SELECT {self._INFO_COLS} FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            raise RunNotFoundError(run_id)
        return self._info(rows[0])

    def list_runs(self, limit: int = 200, env_id: str | None = None, agent_id: str | None = None,
                  status: str | None = None, label: str | None = None) -> list[RunInfo]:
        """Newest first (runs created in the same second: the later created first), optionally filtered; reads
        the runs table only."""
        where, params = [], []
        for column, value in (("env_id", env_id), ("agent_id", agent_id), ("status", status), ("label", label)):
            if value:
                where.append(f"{column}=?")
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {self._INFO_COLS} FROM runs {clause} ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (*params, limit),
        )
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
            rollback(db)
            failure = self._error(err, f"write steps of run {run_id} to")
            self._mark_failed(run_id, str(failure))
            raise failure from None
        except BaseException:  # a record that fails to serialise must not leave the transaction open
            rollback(db)
            raise

    def _mark_failed(self, run_id: str, message: str) -> None:
        """Best effort after a failed write: end the run as ``error`` so it does not stay ``running``.

        On a disk that is truly full this can fail too; the run then stays ``running`` until its
        process ends, and the next open marks it ``interrupted``. Its committed steps stay either way.
        """
        try:
            self._db().execute("UPDATE runs SET status='error', message=?, updated_at=? WHERE run_id=? "
                               "AND status='running'", (message, now(), run_id))
        except sqlite3.Error:
            pass

    def _insert_step(self, db: sqlite3.Connection, run_id: str, step: Step) -> None:
        snapshot = step.memory_snapshot
        data = step.model_dump(mode="json", exclude_defaults=True, exclude={"memory_snapshot"})
        data["schema_version"] = step.schema_version  # always written, so readers can check it
        record = json.dumps(data)
        agent_calls = [c for c in step.llm_calls if c.purpose != "probe"]  # probes are off the agent's budget
        tokens_in = sum(c.tokens_in for c in agent_calls)
        tokens_out = sum(c.tokens_out for c in agent_calls)
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
        rows = self._query(
            "SELECT idx, record FROM steps WHERE run_id=? AND idx>=? AND idx<? ORDER BY idx",
            (run_id, start, stop if stop is not None else 2**62),
        )
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
        rows = self._query("SELECT snapshot FROM snapshots WHERE run_id=? AND idx=?", (run_id, index))
        return MemorySnapshot.model_validate_json(rows[0][0]) if rows else None

    def memory_at(self, run_id: str, index: int) -> MemorySnapshot:
        """The memory after step ``index``: the nearest keyframe at or before it, plus diffs."""
        rows = self._query(
            "SELECT idx, snapshot FROM snapshots WHERE run_id=? AND idx<=? ORDER BY idx DESC LIMIT 1",
            (run_id, index),
        )
        row = rows[0] if rows else None
        base, start = (MemorySnapshot.model_validate_json(row[1]), row[0] + 1) if row else (None, 0)
        snapshot = base or MemorySnapshot()
        for step in self.steps(run_id, start, index + 1):
            if step.memory_diff is not None:
                snapshot = memlib.apply(snapshot, step.memory_diff)
        return snapshot

    def put_attribution(self, found: Attribution) -> None:
        """Keep an attribution (``lab.attribution``), keyed by its run, step and scoring model."""
        run_id = found.run_id
        self.step(run_id, found.step)
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO attributions VALUES (?, ?, ?, ?, ?)",
                       (run_id, found.step, found.model, found.model_dump_json(), now()))
            db.execute("COMMIT")
        except sqlite3.Error as err:
            rollback(db)
            raise self._error(err, f"store an attribution of run {run_id} in") from None

    def attributions(self, run_id: str, index: int | None = None, model: str | None = None) -> list[Attribution]:
        """A run's stored attributions by step and model (of one step, one model, when given)."""
        self.get_run(run_id)
        rows = self._query("SELECT record FROM attributions WHERE run_id=? AND (? IS NULL OR idx=?)"
                           " AND (? IS NULL OR model=?) ORDER BY idx, model", (run_id, index, index, model, model))
        return [Attribution.model_validate_json(record) for (record,) in rows]

    def metrics(self, run_id: str, prefix: str = "") -> list[tuple[int, dict[str, float]]]:
        """(index, metrics) of each step with metrics named ``prefix...``, read without parsing records."""
        self.get_run(run_id)
        rows = self._query("SELECT idx, json_extract(record, '$.metrics') FROM steps WHERE run_id=? ORDER BY idx",
                           (run_id,))
        out = [(idx, {k: v for k, v in json.loads(m).items() if k.startswith(prefix)}) for idx, m in rows if m]
        return [(idx, m) for idx, m in out if m]

    def probes(self, run_id: str) -> list[tuple[int, ProbeReport]]:
        """(index, probes) of each probed step, without parsing the rest of the records."""
        self.get_run(run_id)
        rows = self._query("SELECT idx, json_extract(record, '$.probes') FROM steps WHERE run_id=? ORDER BY idx",
                           (run_id,))
        return [(idx, ProbeReport.model_validate_json(report)) for idx, report in rows if report]

    def series(self, run_id: str) -> dict[str, list[Any]]:
        """Per-step columns for curves (score, memory size, tokens, latency) without loading records."""
        self.get_run(run_id)
        columns = ", ".join(SERIES_COLUMNS)
        rows = self._query(f"SELECT {columns} FROM steps WHERE run_id=? ORDER BY idx", (run_id,))
        return {name: [row[i] for row in rows] for i, name in enumerate(SERIES_COLUMNS)}

    def llm_usage(self, run_id: str) -> list[tuple[str, bool, int, int, int]]:
        """``(model, probe, calls, tokens_in, tokens_out)`` per model over a run's LLM calls, the probes'
        (purpose ``probe``) apart from the agent's; summed by SQLite's JSON functions (records are not parsed
        into steps). Ordered by model, agent's calls first."""
        self.get_run(run_id)
        rows = self._query(
            "SELECT json_extract(c.value, '$.model') AS model,"
            " json_extract(c.value, '$.purpose') = 'probe' AS probe,"
            " count(*), sum(coalesce(json_extract(c.value, '$.tokens_in'), 0)),"
            " sum(coalesce(json_extract(c.value, '$.tokens_out'), 0))"
            " FROM steps s, json_each(s.record, '$.llm_calls') c WHERE s.run_id=?"
            " GROUP BY model, probe ORDER BY model, probe", (run_id,))
        return [(str(model), bool(probe), int(n), int(t_in), int(t_out))
                for model, probe, n, t_in, t_out in rows]

    # -- cross-run memory -------------------------------------------------------------------
    @staticmethod
    def _put_entry(db: sqlite3.Connection, entry: CrossRunEntry) -> None:
        db.execute(
            "INSERT INTO cross_run_memory VALUES (?,?,?,?,?) ON CONFLICT(run_id, key) DO UPDATE SET"
            " provenance=excluded.provenance, data=excluded.data, updated_at=excluded.updated_at",
            (entry.run_id, entry.key, canonical(entry.provenance), json.dumps(entry.data),
             entry.updated_at or now()),
        )

    def put_entry(self, entry: CrossRunEntry) -> None:
        """Store a cross-run memory entry of ``entry.run_id`` (replacing the run's entry of the same key)."""
        try:
            self._put_entry(self._db(), entry)
        except sqlite3.Error as err:
            raise self._error(err, f"write the cross-run memory of run {entry.run_id} to") from None

    def _entries(self, where: str, params: Iterable[Any]) -> list[CrossRunEntry]:
        rows = self._query(
            "SELECT m.run_id, m.key, m.provenance, m.data, m.updated_at FROM cross_run_memory m"
            f" JOIN runs r ON r.run_id = m.run_id WHERE {where} ORDER BY r.created_at, m.run_id, m.key",
            params,
        )
        return [CrossRunEntry(run_id=run_id, key=key, provenance=json.loads(provenance),
                              data=json.loads(data), updated_at=updated)
                for run_id, key, provenance, data, updated in rows]

    def cross_run_entries(self, run_id: str) -> list[CrossRunEntry]:
        """The cross-run memory entries recorded by one run."""
        self.get_run(run_id)
        return self._entries("m.run_id=?", (run_id,))

    def find_entries(self, agent_id: str, provenance: dict[str, Any], exclude_run: str = "",
                     before: str = "") -> list[CrossRunEntry]:
        """Entries recorded by runs of ``agent_id`` under exactly ``provenance`` (but ``exclude_run``'s, and
        only runs created before ``before`` when given), oldest run first."""
        where = "r.agent_id=? AND m.provenance=? AND m.run_id<>?" + (" AND r.created_at<?" if before else "")
        return self._entries(where, (agent_id, canonical(provenance), exclude_run, *([before] if before else [])))

    def cross_run_memory(self, run_id: str, agent_id: str | None = None,
                         before: str = "") -> StoreCrossRunMemory:
        """The :class:`~lab.core.protocols.CrossRunMemory` the run loop hands ``run_id``'s agent (``agent_id``:
        the run's agent, read from the run when not given); ``before``: it reads only runs created earlier
        (a fork sees what its parent saw)."""
        return StoreCrossRunMemory(self, run_id, agent_id or self.get_run(run_id).config.agent_id, before)


class StoreCrossRunMemory:
    """A run's :class:`~lab.core.protocols.CrossRunMemory` over the store: it records under the run and
    reads the other runs of its agent."""

    readable = True

    def __init__(self, store: RunStore, run_id: str, agent_id: str, before: str = "") -> None:
        self.store, self.run_id, self.agent_id, self.before = store, run_id, agent_id, before
        self.pending: list[CrossRunEntry] | None = None
        """While not None, entries are kept here instead of written (a fork not yet stored)."""

    def record(self, key: str, provenance: dict[str, Any], data: dict[str, Any]) -> None:
        entry = CrossRunEntry(run_id=self.run_id, key=key, provenance=provenance, data=data)
        if self.pending is None:
            self.store.put_entry(entry)
        else:
            self.pending = [e for e in self.pending if e.key != key] + [entry]

    def entries(self, provenance: dict[str, Any]) -> list[CrossRunEntry]:
        return self.store.find_entries(self.agent_id, provenance, exclude_run=self.run_id, before=self.before)
