"""A data dir that cannot be used: one clear line through the CLI and the UI, nothing stored is lost.

Each case is made real rather than mocked. CI runs as root, and root ignores permission bits, so:

* a data dir under a regular file (always);
* a store whose size limit is reached mid-run (``PRAGMA max_page_count``; always);
* a read-only file system: a read-only bind mount (root with ``CAP_SYS_ADMIN``, skipped elsewhere);
* permission denied: the CLI as uid 65534 (root drops its privileges in the subprocess after its imports,
  since the interpreter may sit under a root-only folder such as ``/root/.pyenv``); as a normal user, a
  ``chmod 0555`` folder;
* a real full disk: a 2 MiB tmpfs filled by real runs (root with ``CAP_SYS_ADMIN``, skipped elsewhere).

Every mount is undone in a ``finally``.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from lab.core.errors import DataDirError, StoreError
from lab.core.records import RunConfig
from lab.core.settings import data_dir
from lab.runner import execute
from lab.store import RunStore
from tests.conftest import ROOT, memlab, page

GRID = "minigrid:MiniGrid-Empty-8x8-v0"
RUN = ("run", "--env", GRID, "--agent", "random", "--max-steps", "20")
NOBODY = 65534
PAGES = ("home", "run", "explore", "compare", "runs")


def one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The CLI failed with exactly one ``error: ...`` line on stderr (no traceback) naming ``expected``."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def stored(path: Path) -> dict[str, tuple[str, int, list[int]]]:
    """Per run: status, n_steps and the stored step indices; the file passes ``PRAGMA integrity_check``."""
    with closing(sqlite3.connect(path)) as db:  # closed, so no -shm stays behind to help a later open
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        runs = db.execute("SELECT run_id, status, n_steps FROM runs").fetchall()
        return {run_id: (status, n, [i for (i,) in db.execute(
            "SELECT idx FROM steps WHERE run_id=? ORDER BY idx", (run_id,))]) for run_id, status, n in runs}


def assert_intact(path: Path, before: dict[str, tuple[str, int, list[int]]]) -> None:
    """Every run stored ``before`` is still there, whole."""
    after = stored(path)
    for run_id, (status, n, indices) in before.items():
        assert after[run_id] == (status, n, indices) and indices == list(range(n))


def seed_store(home: Path, n_steps: int = 20) -> str:
    """A finished run in ``home``; the store is closed after it, so no connection stays open."""
    store = RunStore(home / "runs.sqlite")
    run_id = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=n_steps), store).run_id
    store.close()
    return run_id


def ui_error(home: Path, monkeypatch: pytest.MonkeyPatch, name: str = "home") -> list[str]:
    """The error lines a page shows with ``MEMLAB_HOME=home``; it must not raise."""
    monkeypatch.setenv("MEMLAB_HOME", str(home))
    at = page(name)
    assert not at.exception, (name, at.exception)
    return [e.value for e in at.error]


def release_ui_stores() -> None:
    """Drop the UI's cached store handles (their connections), so a mount can be undone."""
    from lab.ui import _store

    _store.clear()
    gc.collect()


@contextmanager
def mounted(*args: str, target: Path, reason: str) -> Iterator[None]:
    """``mount ARGS TARGET`` for the block (skipped with ``reason`` when refused); always unmounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip(f"{reason}: needs root and the mount command")
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{reason}: mount refused ({done.stderr.strip()}); needs CAP_SYS_ADMIN")
    try:
        yield
    finally:
        release_ui_stores()
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=True)


# -- a data dir under a regular file ---------------------------------------------------------------
@pytest.mark.parametrize("args", [("runs",), RUN, ("show", "some-run"), ("export", "some-run"),
                                  ("import", "trace.jsonl")], ids=lambda a: a[0])
def test_a_data_dir_under_a_regular_file_gives_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    one_line_error(memlab(*args, home=blocker / "home"), "cannot use the data dir", str(blocker),
                   "is a file, not a directory", "MEMLAB_HOME")
    if args != RUN:  # the same path for every command; `run` alone pays for importing torch
        one_line_error(memlab(*args, home=blocker), f"{blocker}: it is a file, not a directory")
    assert blocker.read_text() == "not a folder"


def test_the_library_raises_a_data_dir_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("MEMLAB_HOME", str(blocker / "home"))
    with pytest.raises(DataDirError, match="is a file, not a directory") as caught:
        data_dir()
    assert isinstance(caught.value, StoreError) and caught.value.path == blocker / "home"
    with pytest.raises(DataDirError, match="cannot open the run store"):
        RunStore(blocker / "runs.sqlite")


def test_every_page_and_the_app_show_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for name in PAGES:
        errors = ui_error(blocker / "home", monkeypatch, name)
        assert len(errors) == 1 and errors[0].startswith("cannot use the data dir"), (name, errors)
        assert "is a file, not a directory" in errors[0] and "MEMLAB_HOME" in errors[0]
    at = AppTest.from_file(str(ROOT / "lab" / "app.py")).run(timeout=60)
    assert not at.exception and [e.value for e in at.error] == errors


# -- a full store, mid-run ---------------------------------------------------------------------------
def test_a_store_full_mid_run_keeps_committed_steps_and_ends_the_run_as_error(store: RunStore) -> None:
    kept = execute(RunConfig(env_id=GRID, agent_id="random", max_steps=30), store)
    before = stored(store.path)
    pages = store._db().execute("PRAGMA page_count").fetchone()[0]
    store._db().execute(f"PRAGMA max_page_count={pages + 12}")  # room for some steps, not for 3,000
    with pytest.raises(StoreError, match="the disk is full") as caught:  # each 20-step trial is one commit
        execute(RunConfig(env_id=GRID, agent_id="random", max_steps=20, trials=150), store)
    assert "\n" not in str(caught.value) and str(store.path) in str(caught.value)
    store.close()
    assert_intact(store.path, before)
    (failed,) = [r for r in RunStore(store.path).list_runs() if r.run_id != kept.run_id]
    status, n, indices = stored(store.path)[failed.run_id]
    assert status == "error" and "full" in failed.message
    assert 0 < n < 3000 and indices == list(range(n)), "the steps committed before the disk filled stay"


# -- a read-only file system -------------------------------------------------------------------------
def test_a_read_only_file_system_gives_one_line_and_keeps_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = tmp_path / "source", tmp_path / "ro"
    target.mkdir()
    run_id = seed_store(source)
    before = stored(source / "runs.sqlite")
    with mounted("--bind", str(source), target=target, reason="read-only bind mount"):
        refused = subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], capture_output=True,
                                 text=True)
        if refused.returncode != 0:
            pytest.skip(f"read-only bind mount: remount refused ({refused.stderr.strip()})")
        for args in (("runs",), RUN, ("show", run_id), ("export", run_id, "-o", str(tmp_path / "out.jsonl"))):
            one_line_error(memlab(*args, home=target), str(target / "runs.sqlite"), "read-only file system",
                           "MEMLAB_HOME")
        one_line_error(memlab("runs", home=target / "new"), "cannot use the data dir",
                       "read-only file system")
        errors = ui_error(target, monkeypatch)
        assert len(errors) == 1 and "read-only file system" in errors[0]
    assert_intact(source / "runs.sqlite", before)


# -- permission denied ---------------------------------------------------------------------------------
AS_NOBODY = f"""
import os, sys, tempfile
from lab.cli import main
home, args = sys.argv[1], sys.argv[2:]
def cli(args):
    sys.argv = ["memlab", *args]
    try:
        main()
    except SystemExit as end:
        return end.code or 0
    return 0
# warm up as root into a scratch dir, so every module the command needs is imported before the drop
os.environ["MEMLAB_HOME"] = tempfile.mkdtemp()
devnull = open(os.devnull, "w")
sys.stdout, sys.stderr = devnull, devnull
cli(args)
sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
os.environ["MEMLAB_HOME"] = home
os.setgroups([])
os.setgid({NOBODY})
os.setuid({NOBODY})
sys.exit(cli(args))
"""


def as_unprivileged(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user who cannot write ``home``: uid 65534 when root, else this user."""
    if os.geteuid() != 0:
        return memlab(*args, home=home)
    env = {**os.environ, "HOME": tempfile.gettempdir(), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", AS_NOBODY, str(home), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=240)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder every user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="memlab-perm-"))
    path.chmod(0o755)
    if any(not p.stat().st_mode & 0o001 for p in path.parents):
        pytest.skip(f"permission denied as uid {NOBODY}: a parent of {path} is closed to other users")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_permission_denied_gives_one_line_and_keeps_the_store(shared_tmp: Path) -> None:
    home = shared_tmp / "home"
    run_id = seed_store(home)
    before = stored(home / "runs.sqlite")
    scratch = shared_tmp / "scratch"
    scratch.mkdir(mode=0o777)
    scratch.chmod(0o777)
    control = as_unprivileged(scratch, "runs")
    if control.returncode != 0:
        pytest.skip(f"permission denied as uid {NOBODY}: the CLI does not run as that user here "
                    f"({control.stderr.strip().splitlines()[-1:]})")
    if os.geteuid() != 0:
        home.chmod(0o555)
    try:
        for args in (("runs",), RUN, ("show", run_id)):
            one_line_error(as_unprivileged(home, *args), str(home / "runs.sqlite"), "permission denied",
                           "MEMLAB_HOME")
        one_line_error(as_unprivileged(home / "new", "runs"), "cannot use the data dir", "permission denied")
    finally:
        home.chmod(0o755)
    assert_intact(home / "runs.sqlite", before)


# -- a real, small, full file system ----------------------------------------------------------------
def test_a_full_tmpfs_gives_one_line_and_keeps_earlier_runs(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "small"
    small.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", target=small, reason="a 2 MiB tmpfs"):
        kept = [seed_store(small), seed_store(small, 40)]
        before = stored(small / "runs.sqlite")
        big = ("run", "--env", GRID, "--agent", "random", "--max-steps", "1000", "--trials", "50")
        one_line_error(memlab(*big, home=small), str(small / "runs.sqlite"), "the disk is full",
                       "MEMLAB_HOME")
        assert shutil.disk_usage(small).free < 64 * 1024, "the file system did not fill up"
        listing = memlab("runs", home=small)  # reading still works on a full disk (or says why not)
        if listing.returncode == 0:
            assert all(run_id in listing.stdout for run_id in kept)
        else:
            one_line_error(listing, "full")
        errors = ui_error(small, monkeypatch)
        assert len(errors) <= 1
        assert_intact(small / "runs.sqlite", before)
        after = stored(small / "runs.sqlite")
        for run_id, (status, n, indices) in after.items():
            assert indices == list(range(n)), f"run {run_id} lost steps"
            if run_id not in before:  # "error" when the status could still be written, else the next open
                assert status in ("error", "interrupted") and n > 0  # finds its process gone: "interrupted"
