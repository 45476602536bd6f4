"""The `[agent]`, `[teacher]` and `[filter]` sections as pydantic models: the ids and fingerprints computed
from them are those the dataclasses gave (recorded before the change), the JSON schema the Prefect UI
renders carries every description, default and range, and every check of the dataclasses still holds."""

from __future__ import annotations

import pydantic
import pytest

from drsynth.filters.config import CPT_KINDS, JUDGES, SFT_MODES, FilterConfig
from drsynth.synth.agent.synthesize import MODES, POLICIES, AgentConfig, sample_ids
from drsynth.synth.teacher.config import BACKENDS, STRUCTURED_OUTPUT, TeacherConfig

# a FilterConfig with every decisive setting off its default (the publishing-only ones too)
NON_DEFAULT_FILTER = dict(judge="llm", f1_threshold=0.7, number_tolerance=0.05, min_tool_calls=1, max_tool_calls=20,
                          max_tokens=16000, tokenizer="approx", require_answer=False, budget_per_level=50,
                          rl_min_pass_rate=0.1, rl_max_pass_rate=0.9, dedup=False, near_duplicate_threshold=0.7,
                          num_perm=64, decontaminate=False, benchmarks=["a/b.jsonl", "c"], ngram=6,
                          sft_modes=["react"], cpt_kinds=["planning"], cpt_writer="teacher")


# --- what persisted ids are computed from: unchanged ---------------------------------------------------------


def test_filter_fingerprints_are_those_of_the_dataclass() -> None:
    # recorded with the @dataclass FilterConfig (dataclasses.asdict) before it became a model
    assert FilterConfig().fingerprint() == "edd5717ac2937f90"
    assert FilterConfig(**NON_DEFAULT_FILTER).fingerprint() == "278b7e5d3338c071"
    assert FilterConfig(**NON_DEFAULT_FILTER).fingerprint("x", 3) == "2eaf94bb945214f4"
    # the same values from TOML / a flow parameter (lists, ints for floats) name the same setting
    loaded = FilterConfig.from_dict({**NON_DEFAULT_FILTER, "rl_max_pass_rate": 0.9, "near_duplicate_threshold": 0.7})
    assert loaded.fingerprint() == "278b7e5d3338c071"
    assert FilterConfig.from_dict({"rl_max_pass_rate": 1}).fingerprint() == "edd5717ac2937f90"


def test_publishing_settings_stay_out_of_the_fingerprint() -> None:
    base = FilterConfig()
    for update in ({"sft_modes": ["context"]}, {"cpt_kinds": []}, {"cpt_writer": "teacher"},
                   {"cpt_short_max_tokens": 10}, {"trajectories_per_batch": 1}, {"concurrency": 2}):
        assert FilterConfig(**update).fingerprint() == base.fingerprint(), update
    assert FilterConfig(dedup=False).fingerprint() != base.fingerprint()


def test_trajectory_ids_are_those_of_the_dataclass() -> None:
    # recorded with the @dataclass AgentConfig before it became a model
    assert sample_ids("task-1", AgentConfig(), "scripted", "scripted-v1") == [
        "513853b9727d6b224a92245a0c9629ae", "9a67ba5eb50e603e8ce1851d1d3c7738"]
    heavy = AgentConfig(mode="heavy", samples=3, heavy_n=2, heavy_inner="react", max_wall_s=100.0)
    assert sample_ids("task-1", heavy, "teacher", "m") == [
        "4d65ecde39eefc1e17472b4d09fe78bd", "39160bd0aa9cc489861fc55795a0dc24", "7a1062336a1915c5fd5bb238dd365c24"]
    # an int from TOML is the float it stands for, as the dataclass's from_dict made it
    toml = AgentConfig.from_dict({"mode": "heavy", "samples": 3, "heavy_n": 2, "heavy_inner": "react",
                                  "max_wall_s": 100})
    assert toml == heavy and sample_ids("task-1", toml, "teacher", "m") == sample_ids("task-1", heavy, "teacher", "m")


# --- the JSON schema the UI renders ---------------------------------------------------------------------------


def test_the_schema_carries_choices_and_ranges() -> None:
    agent = AgentConfig.model_json_schema()["properties"]
    assert tuple(agent["mode"]["enum"]) == MODES and tuple(agent["policy"]["enum"]) == POLICIES
    assert agent["heavy_inner"]["enum"] == ["context", "react"]
    assert agent["samples"]["minimum"] == 1 and agent["tasks_per_level"]["minimum"] == 0
    assert agent["max_wall_s"]["exclusiveMinimum"] == 0
    teacher = TeacherConfig.model_json_schema()["properties"]
    assert tuple(teacher["backend"]["enum"]) == BACKENDS
    assert tuple(teacher["structured_output"]["enum"]) == STRUCTURED_OUTPUT
    assert (teacher["max_concurrency"]["minimum"], teacher["max_concurrency"]["maximum"]) == (1, 65536)
    assert (teacher["temperature"]["minimum"], teacher["temperature"]["maximum"]) == (0, 2)
    assert teacher["base_urls"]["type"] == "array" and teacher["base_urls"]["items"] == {"type": "string"}
    filt = FilterConfig.model_json_schema()["properties"]
    assert tuple(filt["judge"]["enum"]) == JUDGES
    assert tuple(filt["sft_modes"]["items"]["enum"]) == SFT_MODES
    assert tuple(filt["cpt_kinds"]["items"]["enum"]) == CPT_KINDS
    assert filt["near_duplicate_threshold"]["exclusiveMinimum"] == 0
    assert filt["near_duplicate_threshold"]["exclusiveMaximum"] == 1


# --- the checks ----------------------------------------------------------------------------------------------


def test_agent_config_checks() -> None:
    assert AgentConfig(today="2025-03-01").day() == "2025-03-01"
    for bad in ({"mode": "solo"}, {"policy": "human"}, {"heavy_inner": "heavy"}, {"samples": 0}, {"heavy_n": 0},
                {"concurrency": 0}, {"tasks_per_batch": 0}, {"tasks_per_level": -1}, {"max_tool_calls": 0},
                {"max_context_tokens": 0}, {"max_wall_s": 0}, {"max_turns": 0}, {"max_format_errors": -1},
                {"max_observation_chars": 0}, {"samples": True}, {"samples": 2.0}, {"samples": "2"}, {"nope": 1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AgentConfig.from_dict(bad)
    with pytest.raises(ValueError, match=r"\[agent\] today must be empty or a date"):
        AgentConfig(today="March")
    config = AgentConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.samples = 3  # type: ignore[misc]
    assert config.model_copy(update={"samples": 3}).samples == 3 and config.samples == 2


def test_teacher_config_takes_one_url_and_writes_a_list() -> None:
    assert TeacherConfig.from_dict({"base_urls": "http://a/v1"}).base_urls == ("http://a/v1",)
    config = TeacherConfig(base_urls=["http://a/v1", "http://b/v1"], extra_body={"top_k": 2})
    assert config.to_dict()["base_urls"] == ["http://a/v1", "http://b/v1"]
    assert TeacherConfig.from_dict(config.to_dict()) == config
    assert TeacherConfig(backend="vllm", base_urls=()).base_urls == ()  # in-process: no endpoint needed
    assert TeacherConfig(timeout_s=10).timeout_s == 10.0


@pytest.mark.parametrize("urls", [["http://a/v1?key=sk-planted-in-the-url"], "https://a/v1#sk-planted-in-the-url",
                                  ["http://user:sk-planted-in-the-url@a/v1"], ["ftp://a/v1?sk-planted-in-the-url"],
                                  ["http://a/v1", 3, "http://a/v1?sk-planted-in-the-url"]])
def test_no_teacher_error_repeats_a_key(urls: object) -> None:
    with pytest.raises(ValueError, match="base_urls") as refused:
        TeacherConfig.from_dict({"base_urls": urls})
    assert "sk-planted" not in str(refused.value)
    with pytest.raises(ValueError) as refused:  # another key's error does not show the URLs either
        TeacherConfig.from_dict({"base_urls": ["http://a/v1?sk-planted-in-the-url"], "max_retries": -1})
    assert "sk-planted" not in str(refused.value)


def test_filter_config_checks() -> None:
    assert FilterConfig.from_dict({"benchmarks": ["x.jsonl"]}).benchmarks == ["x.jsonl"]
    for bad in ({"judge": "oracle"}, {"cpt_writer": "human"}, {"sft_modes": ["heavy"]}, {"cpt_kinds": ["poem"]},
                {"benchmarks": "x.jsonl"}, {"benchmarks": [1]}, {"rl_min_pass_rate": -0.1},
                {"rl_max_pass_rate": 1.5}, {"near_duplicate_threshold": 1.0}, {"max_tool_calls": 0},
                {"num_perm": 0}, {"ngram": 0}, {"trajectories_per_batch": 0}, {"concurrency": 0},
                {"cpt_short_max_tokens": 0}, {"max_tokens": 0}, {"min_tool_calls": -1}, {"budget_per_level": -1},
                {"f1_threshold": 0}, {"number_tolerance": 1.0}, {"dedup": 1}, {"ngram": 8.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FilterConfig.from_dict(bad)
    with pytest.raises(ValueError, match=r"\[filter\] needs 0 <= rl_min_pass_rate < rl_max_pass_rate"):
        FilterConfig(rl_min_pass_rate=0.5, rl_max_pass_rate=0.5)
    with pytest.raises(ValueError, match=r"\[filter\] min_tool_calls is above max_tool_calls"):
        FilterConfig(min_tool_calls=5, max_tool_calls=2)
    assert FilterConfig().sft_modes is not FilterConfig().sft_modes  # a default list is no shared state
