"""Trajectory checks (format, tool calls, bounds, consistency) and the token counters their length bound
uses."""

from drsynth.filters.checks.tokens import APPROX, TemplateTokenCounter, load_counter
from drsynth.filters.checks.trajectory import (
    CHECKS,
    CheckConfig,
    CheckFailure,
    check_trajectory,
    toolbox_schemas,
    tools_in_system_prompt,
)

__all__ = ["APPROX", "CHECKS", "CheckConfig", "CheckFailure", "TemplateTokenCounter", "check_trajectory",
           "load_counter", "toolbox_schemas", "tools_in_system_prompt"]
