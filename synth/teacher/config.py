"""The `[teacher]` TOML section: where the teacher model is served and how hard to try.

The API key never lives here, only the name of the environment variable that holds it.
"""

from __future__ import annotations

from typing import Any, Literal, Self, get_args

from pydantic import ConfigDict, Field, field_validator, model_validator

from drsynth.synth.sections import EnvName, Section, Strings

Backend = Literal["openai", "vllm"]
StructuredOutput = Literal["auto", "json_schema", "json_object", "off"]

BACKENDS: tuple[str, ...] = get_args(Backend)
STRUCTURED_OUTPUT: tuple[str, ...] = get_args(StructuredOutput)


class TeacherConfig(Section):
    """The `[teacher]` section: how one `TeacherClient` reaches its endpoints.

    `max_concurrency` caps one client, that is one batch task (every batch task builds its own client). In
    the flows it also sizes each endpoint's shared limit (flows/limits.py: a Prefect global concurrency limit
    per base_url and model, created with this size where missing), which every batch task of every flow run
    takes a slot of per request: the endpoint never has more in flight. Set it to vLLM's --max-num-seqs.
    """

    # a refused value is never repeated in the error: a base_url may carry a key (the checks below name
    # what is wrong with it through `_shown`, which drops the query, fragment and user:password@)
    model_config = ConfigDict(hide_input_in_errors=True)

    base_urls: Strings = ("http://127.0.0.1:8000/v1",)
    """The OpenAI-compatible endpoints (http(s) URLs such as http://host:8000/v1), one or more replicas of
    one model; requests spread over the healthy ones. No key, query string or user:password@ in them: the key is read
    from the variable api_key_env names. Unused by backend vllm."""
    model: str = Field("teacher", min_length=1)
    """The model name the endpoints serve (vLLM's --served-model-name); with backend vllm, the model to
    load (a Hugging Face id or a local directory)."""
    api_key_env: EnvName = "DRSYNTH_TEACHER_API_KEY"
    """The name of the environment variable that holds the API key (letters, digits and _); the key itself
    never goes into settings. An unset or empty variable sends the placeholder key "EMPTY"."""
    backend: Backend = "openai"
    """openai: any OpenAI-compatible HTTP server (vLLM, SGLang, a hosted API); vllm: an in-process vllm.LLM
    on this machine's GPU (needs drsynth[vllm])."""
    max_concurrency: int = Field(64, ge=1, le=65536)
    """Requests in flight at once per client; in the flows, per endpoint over all runs too (see above)."""
    timeout_s: float = Field(120.0, gt=0)
    """Seconds one attempt of one request may take."""
    max_retries: int = Field(4, ge=0)
    """Retries of a failed request after the first attempt (0: one attempt only)."""
    backoff_base_s: float = Field(0.5, gt=0)
    """Backoff scale in seconds: the wait before retry r is random in 0..backoff_base_s * 2^r (full jitter),
    at most backoff_max_s; a server's Retry-After is honoured."""
    backoff_max_s: float = Field(30.0, gt=0)
    """The cap of one backoff wait, in seconds (at least backoff_base_s)."""
    retry_budget_s: float = Field(600.0, gt=0)
    """Seconds one call may take in all, every attempt and wait included."""
    cooldown_s: float = Field(30.0, ge=0)
    """Seconds an endpoint that timed out, failed to connect or answered 5xx is passed over while others are
    healthy (0: never passed over)."""
    cache: bool = True
    """Keep replies in the store's response cache, so a rerun asks the model nothing it has answered
    before."""
    structured_output: StructuredOutput = "auto"
    """How a JSON reply is asked for: json_schema, json_object or off (the prompt only); auto: json_schema,
    falling back when an endpoint rejects it."""
    extra_body: dict[str, Any] = Field({})
    """Extra request fields for the server, sent with every request (vLLM's top_k, guided_*, ...)."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """Sampling temperature where the caller sets none (0: greedy)."""
    max_tokens: int = Field(4096, ge=1)
    """The most tokens one reply may have where the caller sets none."""

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        """A single URL stands for a list of one (`base_urls = "http://..."`)."""
        return (value,) if isinstance(value, str) else value

    @field_validator("base_urls")
    @classmethod
    def _safe_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if "?" in url or "#" in url:  # where API keys like to hide: never echoed, never sent
                raise ValueError(f"[teacher] base_urls must not carry a query string or fragment (got "
                                 f"{_shown(url)!r} with one); put the key in the variable api_key_env names")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"[teacher] base_urls must be http(s) URLs, got {_shown(url)!r}")
            if "@" in url.split("://", 1)[1].split("/", 1)[0]:
                raise ValueError("[teacher] base_urls must not carry credentials; use api_key_env")
        return urls

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.backend == "openai" and not self.base_urls:
            raise ValueError("[teacher] base_urls must name at least one endpoint")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("[teacher] backoff_max_s must be >= backoff_base_s")
        return self


def _shown(url: str) -> str:
    """`url` as safe to put in a message: no query string, no fragment, no user:password@."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = url.rpartition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"
