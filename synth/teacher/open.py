"""A teacher client for a stage over a store: the store's response cache and the stage's `requests` log.

Every stage that asks a teacher (the agent policy, the LLM judge, the CPT writer) opens it the same way,
so a rerun of any of them is answered from the same cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drsynth.synth.teacher.cache import ResponseCache, default_cache

if TYPE_CHECKING:
    from drsynth.storage.store import Store
    from drsynth.synth.teacher.client import TeacherClient
    from drsynth.synth.teacher.config import TeacherConfig
    from drsynth.synth.teacher.requests_log import RequestLog


def required(config: TeacherConfig | None, needed_by: str) -> TeacherConfig:
    """`config`, or a ValueError naming the setting (`needed_by`, e.g. "[filter] judge = 'llm'") that asked
    for a teacher where the [teacher] settings are missing."""
    if config is None:
        raise ValueError(f"{needed_by} needs [teacher] settings")
    return config


def store_cache(store: Store, config: TeacherConfig) -> ResponseCache | None:
    """The store's response cache, or None where the settings turn caching off (no file is opened then)."""
    return default_cache(store) if config.cache else None


def open_client(store: Store, config: TeacherConfig | None, log: RequestLog, *, needed_by: str) -> TeacherClient:
    """A client over `config` that caches in the store and logs to `log`; the caller closes it (`async with`).
    `needed_by` names the setting that asked for it, for the error when `config` is None."""
    from drsynth.synth.teacher.client import (
        TeacherClient,  # looked up per call: a substituted class is the one used
    )

    config = required(config, needed_by)
    return TeacherClient(config, cache=store_cache(store, config), log=log)
