"""Package versions and the git sha, written into every run header."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("memory-agent-lab", "textworld", "minigrid", "gymnasium", "torch", "transformers",
            "langchain-core", "pydantic", "streamlit")


@cache
def git_sha() -> str:
    """The lab checkout's commit, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@cache
def versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on, plus ``git_sha``."""
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["git_sha"] = git_sha()
    return out
