"""The shape of one settings section: a pydantic model per TOML `[section]`, which is also that section of
a flow's `config` parameter. One model serves the TOML file the CLI reads, the parameters a deployment
saves and the form the Prefect UI renders from its JSON schema (each field's docstring is its description
there), so the three cannot disagree.

A section is strict: a value of the wrong type is an error, never converted (`true` is no count, "8" is
no number), except that a list stands for a tuple (`Strings`: TOML and JSON have no tuples). An unknown
key is an error, not a typo that silently keeps a default. A section is frozen: the settings a run
started with are the ones it ends with (`model_copy(update=…)` derives another).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# a list of strings in TOML and JSON, kept as a tuple
Strings = Annotated[tuple[str, ...], Field(strict=False)]
# the name of the environment variable that holds a secret, never the secret itself: a value with other
# characters is likely a pasted key (the pattern is in the schema, so the UI's form refuses it too)
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Self | None) -> Self:
        """The section from its TOML table or parameter value (None: every default); raises
        pydantic.ValidationError, a ValueError, naming each bad key."""
        if isinstance(data, cls):
            return data
        return cls.model_validate(dict(data or {}))

    def to_dict(self) -> dict[str, Any]:
        """The section as TOML and JSON write it (tuples as lists)."""
        return self.model_dump(mode="json")


def one_line(exc: Exception, section: str = "") -> str:
    """A settings mistake as one line for a CLI (pydantic writes each bad key on lines of its own): each
    error as `section key.path: message`."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    where = f"{section} " if section else ""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}{'.'.join(map(str, error['loc']))}: {message}" if error["loc"] else message)
    return "; ".join(lines)
