"""Errors the lab shows to people: one line each, saying what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path


class LabError(Exception):
    """Base class: the CLI and the UI print ``str(err)`` as one line, never a traceback."""


class ConfigError(LabError, ValueError):
    """A user-supplied option, id or file is invalid."""


class UnknownIdError(ConfigError):
    """An env, agent or LLM provider id that is not registered."""

    def __init__(self, kind: str, given: str, valid: list[str]) -> None:
        super().__init__(f"unknown {kind} {given!r}; valid: {', '.join(sorted(valid))}")
        self.kind, self.given, self.valid = kind, given, valid


class MissingDependencyError(LabError, ImportError):
    """An optional integration package is not installed."""

    def __init__(self, feature: str, package: str) -> None:
        super().__init__(f"{feature} needs the package {package!r}: pip install {package}")
        self.feature, self.package = feature, package


class RunNotFoundError(LabError, KeyError):
    """A run id that the store does not hold."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r} in the store (list them with: memlab runs)")
        self.run_id = run_id

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class SchemaVersionError(LabError):
    """A record written by a newer version of the lab."""


class StoreError(LabError):
    """The run store cannot be opened, read or written (read-only, full, locked, corrupt)."""


class DataDirError(StoreError):
    """A data dir or cache folder that cannot be used (under a regular file, read-only, unwritable, full)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class LLMError(LabError):
    """An LLM call failed after its retries."""


class StopRequested(LabError):
    """A stop was asked for while an LLM call waited to retry: the run ends now, without the step in
    progress (its committed steps stay, and ``memlab resume`` can go on from them)."""


class EditError(LabError):
    """A memory edit the memory does not support, or that names an item it does not hold."""
