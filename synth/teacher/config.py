"""The `[teacher]` TOML section: where the teacher model is served and how hard to try.

The API key never lives here, only the name of the environment variable that holds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from drsynth.synth.sections import section_items

BACKENDS = ("openai", "vllm")
STRUCTURED_OUTPUT = ("auto", "json_schema", "json_object", "off")


@dataclass(frozen=True)
class TeacherConfig:
    """How one `TeacherClient` reaches its endpoints.

    `max_concurrency` caps one client, that is one batch task (every batch task builds its own client). In
    the flows it also sizes each endpoint's shared limit (flows/limits.py: a Prefect global concurrency limit
    per base_url and model, created with this size where missing), which every batch task of every flow run
    takes a slot of per request: the endpoint never has more in flight. Set it to vLLM's --max-num-seqs.
    """

    base_urls: tuple[str, ...] = ("http://127.0.0.1:8000/v1",)  # one or more replicas of one model
    model: str = "teacher"
    api_key_env: str = "DRSYNTH_TEACHER_API_KEY"
    backend: str = "openai"  # openai: any OpenAI-compatible HTTP server; vllm: in-process vllm.LLM
    max_concurrency: int = 64  # requests in flight per client; in the flows, per endpoint over all runs too
    timeout_s: float = 120.0  # one attempt
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_budget_s: float = 600.0  # one call, all attempts and waits included
    cooldown_s: float = 30.0  # how long a failing endpoint is passed over while others are healthy
    cache: bool = True
    structured_output: str = "auto"  # auto: json_schema, falling back when an endpoint rejects it
    extra_body: dict[str, Any] = field(default_factory=dict)  # vLLM extras (top_k, guided_*, ...)
    temperature: float = 0.7
    max_tokens: int = 4096

    def __post_init__(self) -> None:
        urls = (self.base_urls,) if isinstance(self.base_urls, str) else tuple(self.base_urls)
        object.__setattr__(self, "base_urls", urls)
        object.__setattr__(self, "extra_body", dict(self.extra_body or {}))
        if self.backend not in BACKENDS:
            raise ValueError(f"[teacher] backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "openai" and not urls:
            raise ValueError("[teacher] base_urls must name at least one endpoint")
        for url in urls:
            if not isinstance(url, str):
                raise ValueError(f"[teacher] base_urls must be strings, got {type(url).__name__}")
            if "?" in url or "#" in url:  # where API keys like to hide: never echoed, never sent
                raise ValueError(f"[teacher] base_urls must not carry a query string or fragment (got "
                                 f"{_shown(url)!r} with one); put the key in the variable api_key_env names")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"[teacher] base_urls must be http(s) URLs, got {_shown(url)!r}")
            if "@" in url.split("://", 1)[1].split("/", 1)[0]:
                raise ValueError("[teacher] base_urls must not carry credentials; use api_key_env")
        if not self.model:
            raise ValueError("[teacher] model must not be empty")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"[teacher] api_key_env must name an environment variable, got {self.api_key_env!r}")
        if not 1 <= self.max_concurrency <= 65536:
            raise ValueError(f"[teacher] max_concurrency must be within 1..65536, got {self.max_concurrency!r}")
        if self.max_retries < 0:
            raise ValueError(f"[teacher] max_retries must be >= 0, got {self.max_retries!r}")
        for name in ("timeout_s", "backoff_base_s", "backoff_max_s", "retry_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"[teacher] {name} must be > 0, got {getattr(self, name)!r}")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("[teacher] backoff_max_s must be >= backoff_base_s")
        if self.cooldown_s < 0:
            raise ValueError(f"[teacher] cooldown_s must be >= 0, got {self.cooldown_s!r}")
        if self.structured_output not in STRUCTURED_OUTPUT:
            raise ValueError(f"[teacher] structured_output must be one of {STRUCTURED_OUTPUT}, "
                             f"got {self.structured_output!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"[teacher] temperature must be within 0..2, got {self.temperature!r}")
        if self.max_tokens < 1:
            raise ValueError(f"[teacher] max_tokens must be >= 1, got {self.max_tokens!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TeacherConfig:
        data = section_items(cls, data, "teacher")
        if isinstance(data.get("base_urls"), list):
            data["base_urls"] = tuple(data["base_urls"])
        if "extra_body" in data and not isinstance(data["extra_body"], dict):
            raise ValueError(f"[teacher] extra_body must be a table, got {data['extra_body']!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["base_urls"] = list(self.base_urls)
        return data


def _shown(url: str) -> str:
    """`url` as safe to put in a message: no query string, no fragment, no user:password@."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = url.rpartition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"
