"""Where the lab keeps its data: one directory, ``~/.memlab`` unless ``MEMLAB_HOME`` says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The data dir (created on first use): the run store, cached games and converted models."""
    root = Path(os.environ.get("MEMLAB_HOME") or Path.home() / ".memlab").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def store_path() -> Path:
    """The SQLite file of the run store."""
    return data_dir() / "runs.sqlite"


def cache_dir(name: str) -> Path:
    """A named cache folder in the data dir (``games``, ``models``, ...)."""
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
