"""The agent registry: one table, read by ``memlab agents``, the run loop and the UI forms."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import ValidationError

from lab.core.errors import ConfigError, UnknownIdError
from lab.core.modules import collect_specs
from lab.core.protocols import AgentConfig, AgentSpec


AGENT_PACKAGES = (
    "agents.baselines", "agents.arigraph", "agents.hiagent", "agents.clin", "agents.graph_schemas", "agents.sat",
)
"""Packages that export ``SPECS``."""


@cache
def specs() -> dict[str, AgentSpec]:
    """All registered agents, by id."""
    return collect_specs(AGENT_PACKAGES)


def get_spec(agent_id: str) -> AgentSpec:
    """The spec of ``agent_id``; an unknown id lists the valid ones."""
    table = specs()
    if agent_id not in table:
        raise UnknownIdError("agent", agent_id, list(table))
    return table[agent_id]


def parse_config(spec: AgentSpec, options: dict[str, Any]) -> AgentConfig:
    """Validate an agent config (CLI strings are coerced); errors name the field and what is allowed."""
    from envs.registry import validation_message

    try:
        return spec.config.model_validate(options)
    except ValidationError as err:
        raise ConfigError(f"agent {spec.id}: {validation_message(err, spec.config)}") from None
