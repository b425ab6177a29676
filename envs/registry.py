"""The env registry: one table of env families, read by one loop.

Each adapter module exports ``SPECS``; ids ending in ``:`` are prefixes (``minigrid:`` takes
any registered MiniGrid/BabyAI id after the colon).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import ValidationError

from lab.core.env import Env, EnvOptions, EnvSpec
from lab.core.errors import ConfigError, UnknownIdError
from lab.core.modules import collect_specs


ENV_MODULES = ("envs.textworld_env", "envs.tw_paper", "envs.minigrid_env", "envs.aliased_room", "envs.room_recall")
"""Modules that export ``SPECS``."""


@cache
def specs() -> dict[str, EnvSpec]:
    """All registered env families, by id."""
    return collect_specs(ENV_MODULES)


def get_spec(env_id: str) -> EnvSpec:
    """The family of ``env_id``; an unknown id raises a one-line error listing the valid ones."""
    table = specs()
    if env_id in table:
        return table[env_id]
    if ":" in env_id:
        prefix = env_id.split(":", 1)[0] + ":"
        if prefix in table:
            spec = table[prefix]
            if spec.check_id is not None:
                spec.check_id(env_id)
            return spec
    raise UnknownIdError("env", env_id, [k + ("<ID>" if k.endswith(":") else "") for k in table])


def parse_options(spec: EnvSpec, options: dict[str, Any]) -> EnvOptions:
    """Validate options (strings from the CLI are coerced); errors name the field and what is allowed."""
    try:
        return spec.options.model_validate(options)
    except ValidationError as err:
        raise ConfigError(f"env {spec.id}: {validation_message(err, spec.options)}") from None


def validation_message(err: ValidationError, model: type) -> str:
    """One line for the first problem of a pydantic validation error."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(options)"
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(getattr(model, "model_fields", {})) or "none"
        return f"unknown option {field!r}; allowed: {allowed}"
    message = first["msg"].removeprefix("Value error, ")
    return f"option {field!r}: {message} (got {first.get('input')!r})"


def make_env(env_id: str, options: dict[str, Any] | None = None) -> Env:
    """Build an env from its id and options."""
    spec = get_spec(env_id)
    return spec.factory(env_id, parse_options(spec, options or {}))
