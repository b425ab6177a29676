"""Memory Agent Lab core: records, run loop, run store, LLM layer, torch policy core."""

from lab.errors import ConfigError, LabError
from lab.records import SCHEMA_VERSION, MemorySnapshot, RunConfig, RunInfo, RunSummary, Step
from lab.store import RunStore

__all__ = [
    "SCHEMA_VERSION", "ConfigError", "LabError", "MemorySnapshot", "RunConfig", "RunInfo", "RunStore",
    "RunSummary", "Step",
]
