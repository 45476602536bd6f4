"""The ingest, graph and task settings sections as pydantic models: `[crawl]`, `[extract]` (with
`commit_rows`: IngestConfig), `[graph]`, `[tasks]` and `[tasks.teacher]`.

What the Prefect UI form is rendered from (a description for every field, defaults, ranges and choices in
the JSON schema), strictness (no silent conversion), frozenness, and that values persisted ids derive from
(`GraphConfig.version_settings`, `TaskConfig.to_dict`) come out as they did from the dataclasses.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from drsynth.synth.corpus.config import ExtractConfig, IngestConfig
from drsynth.synth.corpus.crawler import CrawlConfig
from drsynth.synth.graph.config import MENTION_LINKING, GraphConfig
from drsynth.synth.tasks.config import WRITERS, TaskConfig, TeacherSettings

MODELS: list[type[BaseModel]] = [CrawlConfig, ExtractConfig, IngestConfig, GraphConfig, TaskConfig, TeacherSettings]


def _properties(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    return model.model_json_schema()["properties"]


def test_ranges_and_choices_are_in_the_schema() -> None:
    crawl = _properties(CrawlConfig)
    assert crawl["max_pages"]["minimum"] == 1 and crawl["max_depth"]["minimum"] == 0
    assert crawl["rate_per_host"]["exclusiveMinimum"] == 0 and crawl["timeout_s"]["exclusiveMinimum"] == 0
    assert crawl["allowed_content_types"]["minItems"] == 1
    assert crawl["resolve"]["type"] == "object"
    extract = _properties(ExtractConfig)
    assert all(extract[name]["minimum"] == 1 for name in ("workers", "max_bytes", "pages_per_task",
                                                          "pages_per_chunk", "chunk_bytes", "max_title_chars",
                                                          "max_text_chars", "max_field_chars", "max_record_bytes"))
    assert extract["timeout_s"]["exclusiveMinimum"] == 0
    assert _properties(IngestConfig)["commit_rows"]["minimum"] == 1
    graph = _properties(GraphConfig)
    assert graph["mention_linking"]["enum"] == list(MENTION_LINKING) == ["auto", "always", "never"]
    assert (graph["min_alias_chars"]["minimum"], graph["min_alias_chars"]["maximum"]) == (1, 100)
    assert (graph["max_alias_words"]["minimum"], graph["max_alias_words"]["maximum"]) == (1, 50)
    assert (graph["docs_per_task"]["minimum"], graph["docs_per_task"]["maximum"]) == (1, 10_000_000)
    tasks = _properties(TaskConfig)
    assert tasks["writer"]["enum"] == list(WRITERS) == ["template", "teacher"]
    assert (tasks["jump_back"]["minimum"], tasks["jump_back"]["exclusiveMaximum"]) == (0, 1)
    assert (tasks["max_edges"]["minimum"], tasks["max_edges"]["maximum"]) == (1, 32)
    assert (tasks["max_relation_share"]["exclusiveMinimum"], tasks["max_relation_share"]["maximum"]) == (0, 1)
    assert tasks["level3_search_k"]["minimum"] == 0
    teacher = _properties(TeacherSettings)
    assert (teacher["temperature"]["minimum"], teacher["temperature"]["maximum"]) == (0, 2)
    assert teacher["concurrency"]["minimum"] == 1 and teacher["model"]["minLength"] == 1


def test_nested_sections_are_models_in_the_schema() -> None:
    assert set(IngestConfig.model_json_schema()["$defs"]) == {"CrawlConfig", "ExtractConfig"}
    assert set(TaskConfig.model_json_schema()["$defs"]) == {"TeacherSettings"}
    config = IngestConfig.from_dict({"crawl": {"max_pages": 5}, "extract": {"workers": 2}, "commit_rows": 9})
    assert (config.crawl.max_pages, config.extract.workers, config.commit_rows) == (5, 2, 9)
    assert IngestConfig.from_dict({"crawl": CrawlConfig(max_pages=5)}).crawl.max_pages == 5
    assert TaskConfig.from_dict({"teacher": TeacherSettings(model="m")}).teacher.model == "m"
    for bad in ({"crawl": 5}, {"extract": "x"}, {"graph": {}}, {"extract": {"worker": 1}}):
        with pytest.raises(ValueError):
            IngestConfig.from_dict(bad)


def test_types_are_strict() -> None:
    # int fields take no bools, floats or numeric strings; float fields take ints (as floats)
    for model, key in ((CrawlConfig, "max_pages"), (ExtractConfig, "workers"), (GraphConfig, "docs_per_task"),
                       (TaskConfig, "seed"), (TeacherSettings, "max_retries"), (IngestConfig, "commit_rows")):
        for bad in (True, 2.0, "2"):
            with pytest.raises(ValidationError, match=key):
                model.from_dict({key: bad})  # type: ignore[attr-defined]
    assert CrawlConfig.from_dict({"rate_per_host": 2}).rate_per_host == 2.0
    assert isinstance(TaskConfig.from_dict({"jump_back": 0}).jump_back, float)
    assert isinstance(ExtractConfig.from_dict({"timeout_s": 5}).timeout_s, float)
    with pytest.raises(ValidationError, match="allowed_hosts"):
        CrawlConfig.from_dict({"allowed_hosts": "wiki.test"})  # a string is not a list of hosts
    with pytest.raises(ValidationError, match="resolve"):
        CrawlConfig.from_dict({"resolve": {"a.test": 8080}})


def test_sections_are_frozen_and_derive_by_copy() -> None:
    crawl = CrawlConfig()
    with pytest.raises(ValidationError):
        crawl.max_pages = 1  # type: ignore[misc]
    one_page = crawl.model_copy(update={"max_depth": 0, "max_pages": 1})  # as synth.tools.visit derives it
    assert (one_page.max_depth, one_page.max_pages, crawl.max_pages) == (0, 1, 1000)
    with pytest.raises(ValidationError):
        TaskConfig().teacher.model = "x"  # type: ignore[misc]


def test_cross_field_and_policy_checks() -> None:
    with pytest.raises(ValueError, match=r"\[tasks\] max_edges \(3\) must be >= min_edges \(4\)"):
        TaskConfig.from_dict({"min_edges": 4, "max_edges": 3})
    with pytest.raises(ValueError, match=r"\[tasks.teacher\] base_url must be an http\(s\) URL"):
        TeacherSettings(base_url="ftp://teacher.test/v1")
    with pytest.raises(ValueError, match=r"api_key_env\s+String should match pattern"):
        TeacherSettings(api_key_env="sk-not-a-name")
    with pytest.raises(ValueError, match="api_key_env"):
        TeacherSettings(api_key_env="")
    with pytest.raises(ValueError, match=r"\[crawl\] resolve: bad resolve target"):
        CrawlConfig(resolve={"a.test": "127.0.0.1:99999"})
    with pytest.raises(ValueError, match=r"\[crawl\] private_hosts:"):
        CrawlConfig(private_hosts=(":8080",))
    assert CrawlConfig(private_hosts=("wiki.intranet:8080", "[fd00::5]:8080")).private_hosts[1] == "[fd00::5]:8080"


def test_extract_defaults_and_limits() -> None:
    assert ExtractConfig().workers == max(1, os.cpu_count() or 1)
    limits = ExtractConfig(max_title_chars=50, max_record_bytes=1024).limits
    assert (limits.max_title_chars, limits.max_record_bytes, limits.max_text_chars) == (50, 1024, 2_000_000)


def test_version_settings_and_dumps_are_unchanged() -> None:
    # the JSON the dataclasses gave for these values: graph versions and other ids hash it
    assert json.dumps(GraphConfig().version_settings()) == \
        '{"mention_linking": "auto", "min_alias_chars": 4, "max_alias_words": 8}'
    assert json.dumps(GraphConfig(mention_linking="never", min_alias_chars=3, docs_per_task=10).version_settings()) == \
        '{"mention_linking": "never", "min_alias_chars": 3, "max_alias_words": 8}'
    assert TaskConfig.from_dict({"subgraphs": 10, "jump_back": 0, "teacher": {"timeout_s": 5}}).to_dict() == {
        "subgraphs": 10, "min_edges": 2, "max_edges": 6, "jump_back": 0.0, "low_degree_bias": 1.0,
        "max_per_shape": 3, "seed": 0, "subgraphs_per_task": 64, "writer": "template", "max_per_answer": 2,
        "max_per_entity": 2, "max_relation_share": 0.25, "min_per_relation": 10, "near_duplicate_threshold": 0.8,
        "level3_search_k": 0, "hub_share": 0.02,
        "teacher": {"base_url": "http://127.0.0.1:8000/v1", "model": "teacher", "api_key_env": "DRSYNTH_TEACHER_API_KEY",
                    "timeout_s": 5.0, "temperature": 0.3, "max_retries": 2, "concurrency": 4}}
    assert CrawlConfig.from_dict({"allowed_hosts": ["Wiki.Test"]}).to_dict()["allowed_hosts"] == ["wiki.test"]
    # a dump read back is the same section (a deployment saves parameters as JSON)
    for model in MODELS:
        value = model()
        assert model.from_dict(json.loads(json.dumps(value.to_dict()))) == value  # type: ignore[attr-defined]
