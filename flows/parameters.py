"""A deployment run's settings parameters, deep-merged over the deployment's defaults.

Prefect replaces a parameter given at run time whole: `prefect deployment run 'pipeline/nightly'
-p config='{"crawl": {"max_pages": 10}}'` would drop every other setting of the nightly config. A flow
calls `over_defaults` on each of its settings parameters at its boundary: only the keys the run named
(pydantic keeps them as the model's set fields) are laid over the deployment's default for the parameter
(tables merge key by key, any other value, lists too, replaces), and the result is validated once more as
the parameter's model. Outside a deployment run the value is used as given.

Those flows turn Prefect's own parameter check off (`validate_parameters=False`): it would check the run's
table alone, before the merge, and refuse a run whose keys agree only with the deployment's (`min_lr` below
the deployment's `lr` but above the default's). The server still checks every value against the JSON
schema (types, ranges, choices) when the run is asked for; the rules across keys are checked here, once,
before the flow does anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from prefect.client.orchestration import get_client
from prefect.runtime import deployment
from prefect.utilities.collections import deep_merge
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def deployment_defaults() -> dict[str, Any]:
    """The parameters of the deployment the current flow run belongs to ({} when none)."""
    deployment_id = deployment.id
    if not deployment_id:
        return {}
    with get_client(sync_client=True) as client:
        return dict(client.read_deployment(deployment_id).parameters or {})


def over_defaults(name: str, value: BaseModel | Mapping[str, Any] | None, model: type[M],
                  defaults: dict[str, Any] | None = None) -> M:
    """`value` of the settings parameter `name` (a `model`, its dict, or None) deep-merged over the
    deployment's default for it, as a `model`."""
    given = named_keys(value)
    default = (deployment_defaults() if defaults is None else defaults).get(name)
    if isinstance(default, BaseModel | Mapping):
        given = deep_merge(named_keys(default), given)
    return model.model_validate(given)


def named_keys(value: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys `value` names, nested tables included: a model's set fields, not its defaults."""
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return dict(value)
