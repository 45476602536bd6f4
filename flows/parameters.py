"""A deployment run's table parameters, deep-merged over the deployment's defaults.

Prefect replaces a parameter given at run time whole: `prefect deployment run 'pipeline/nightly'
-p config='{"crawl": {"max_pages": 10}}'` would drop every other setting of the nightly config. A flow
calls `over_defaults` on each of its table parameters at its boundary, so that a run's value overrides
only the keys it names (tables merge key by key, any other value, lists too, replaces). Outside a
deployment run the value is used as given.
"""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.runtime import deployment
from prefect.utilities.collections import deep_merge


def deployment_defaults() -> dict[str, Any]:
    """The parameters of the deployment the current flow run belongs to ({} when none)."""
    deployment_id = deployment.id
    if not deployment_id:
        return {}
    with get_client(sync_client=True) as client:
        return dict(client.read_deployment(deployment_id).parameters or {})


def over_defaults(name: str, value: dict | None, defaults: dict[str, Any] | None = None) -> dict:
    """`value` of the table parameter `name` deep-merged over the deployment's default for it."""
    default = (deployment_defaults() if defaults is None else defaults).get(name)
    if isinstance(default, dict) and isinstance(value, dict):
        return deep_merge(default, value)
    return dict(value) if value is not None else dict(default or {})
