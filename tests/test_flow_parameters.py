"""Typed parameters: every flow takes its settings as the pydantic models of drsynth.synth.settings (one per
section), the same models the CLI's TOML file and the deployments' parameters are read with. The JSON schema
Prefect saves with a deployment (what the UI renders its form from) describes every key and keeps its
default and range; a run's parameters are deep-merged over the deployment's defaults key by key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.utilities.callables import parameter_schema
from pydantic import BaseModel, ValidationError

from drsynth.flows.filter_and_publish import filter_and_publish
from drsynth.flows.graph import build_graph
from drsynth.flows.ingest import ingest
from drsynth.flows.parameters import named_keys, over_defaults
from drsynth.flows.pipeline import pipeline
from drsynth.flows.synthesize_tasks import synthesize_tasks
from drsynth.flows.synthesize_trajectories import synthesize_trajectories
from drsynth.synth.sections import Section
from drsynth.synth.settings import Settings, pipeline_tables
from drsynth.training.config import TrainConfig
from drsynth.training.launch import LaunchSpec

REPO = Path(__file__).resolve().parents[1]
PIPELINE_FLOWS = (pipeline, ingest, build_graph, synthesize_tasks, synthesize_trajectories, filter_and_publish)


def _sections(root: type[Section] = Section) -> list[type[Section]]:
    return [model for sub in root.__subclasses__() for model in (sub, *_sections(sub))]


SECTIONS = sorted(set(_sections()), key=lambda m: m.__name__)


def test_every_settings_model_is_a_section_of_some_flow() -> None:
    reachable: set[type] = set()

    def visit(model: type[Section]) -> None:
        reachable.add(model)
        for field in model.model_fields.values():
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
                visit(field.annotation)

    for root in (Settings, TrainConfig, LaunchSpec):
        visit(root)
    # IngestConfig groups three of Settings' keys for the ingest stage
    assert {m.__name__ for m in SECTIONS} - {m.__name__ for m in reachable} == {"IngestConfig"}


@pytest.mark.parametrize("model", SECTIONS, ids=lambda m: m.__name__)
def test_every_section_describes_each_key_with_its_default(model: type[Section]) -> None:
    """What the UI's form shows: the section's and each key's description, each key's default (that of
    the model), and no room for an unknown key."""
    schema = model.model_json_schema()
    assert len(schema.get("description", "")) > 10
    assert schema.get("additionalProperties") is False
    defaults = model().to_dict()
    for name, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 10, name
        nested = "$ref" in prop or "allOf" in prop  # a nested section: its own keys carry the defaults
        # the extraction workers default to the cores of the machine where the run starts
        if not nested and (model.__name__, name) != ("ExtractConfig", "workers"):
            assert prop["default"] == defaults[name], name


def _leaves(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, property) of every setting in a flow's parameter schema, nested sections followed."""
    definitions = schema.get("definitions", {}) | schema.get("$defs", {})

    def resolve(prop: dict[str, Any]) -> dict[str, Any] | None:
        for option in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
            if "$ref" in option:
                return definitions[option["$ref"].rsplit("/", 1)[-1]]
        return None

    found: list[tuple[str, dict[str, Any]]] = []

    def walk(path: str, model: dict[str, Any]) -> None:
        for name, prop in model.get("properties", {}).items():
            nested = resolve(prop)
            if nested is not None:
                walk(f"{path}.{name}", nested)
            else:
                found.append((f"{path}.{name}", prop))

    walk("config", resolve(schema["properties"]["config"]) or {})
    return found


@pytest.mark.parametrize("flow", PIPELINE_FLOWS, ids=lambda f: f.name)
def test_every_setting_of_a_flow_has_a_description_and_a_default_in_its_schema(flow) -> None:
    leaves = _leaves(parameter_schema(flow).model_dump_for_openapi())
    assert len(leaves) > 100, len(leaves)  # every section, not a free-form table
    undescribed = [path for path, prop in leaves if len(prop.get("description", "")) < 10]
    assert undescribed == []
    # the extraction workers default to this machine's cores: computed where the run starts, not saved
    without_default = [path for path, prop in leaves if "default" not in prop]
    assert without_default == ["config.extract.workers"]


def test_the_schema_carries_ranges_and_choices_the_ui_checks_before_a_run() -> None:
    leaves = dict(_leaves(parameter_schema(pipeline).model_dump_for_openapi()))
    assert leaves["config.commit_rows"]["minimum"] == 1
    assert leaves["config.crawl.max_pages"].get("exclusiveMinimum", leaves["config.crawl.max_pages"].get("minimum")) \
        in (0, 1)
    assert set(leaves["config.tasks.writer"]["enum"]) == {"template", "teacher"}
    assert set(leaves["config.agent.mode"]["enum"]) == {"react", "context", "heavy"}


@pytest.mark.parametrize("bad", [
    {"crawl": {"max_pages": "many"}},      # a string for a count
    {"graph": {"min_alias_chars": True}},  # a bool for a count
    {"tasks": {"writer": "gpt"}},          # not a choice
    {"tasks": {"min_edges": 5, "max_edges": 2}},  # a rule across keys
    {"agent": {"sampels": 3}},             # a typo keeps no default silently
    {"train": {"lr": 1e-5}},               # the training jobs' table, not the pipeline's
])
def test_a_bad_value_is_refused_naming_its_key(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as error:
        Settings.from_dict(bad)
    [(section, table)] = bad.items()
    assert section in str(error.value) and next(iter(table)) in str(error.value)


def test_over_defaults_lays_only_the_named_keys_over_the_deployments() -> None:
    deployment = {"config": {"crawl": {"max_depth": 3, "max_pages": 50000}, "tasks": {"subgraphs": 5000},
                             "extract": {"workers": 8}}}
    # what Prefect hands the flow for `-p config='{"crawl": {"max_pages": 10}}'`: a model of that one key
    run = Settings.model_validate({"crawl": {"max_pages": 10}})
    merged = over_defaults("config", run, Settings, deployment)
    assert (merged.crawl.max_pages, merged.crawl.max_depth) == (10, 3)
    assert (merged.tasks.subgraphs, merged.extract.workers) == (5000, 8)
    assert merged.agent == Settings().agent
    # the merge is validated too, and is a fixed point for the stages the pipeline hands it to
    assert over_defaults("config", merged, Settings, deployment) == merged
    with pytest.raises(ValidationError, match="max_pages"):
        over_defaults("config", {"crawl": {"max_pages": -1}}, Settings, deployment)
    # no deployment, no value: every default
    assert over_defaults("config", None, Settings, {}) == Settings()
    assert named_keys(Settings()) == {}


def test_the_toml_settings_of_the_readme_are_the_flows_model() -> None:
    """The README's settings file, every table of it: the pipeline's part validates as the flows'
    `config`, and its values arrive as written."""
    readme = (REPO / "README.md").read_text()
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[crawl]" in b]
    data = tomllib.loads(block)
    settings = Settings.from_dict(pipeline_tables(data))
    assert settings.crawl.max_pages == data["crawl"]["max_pages"]
    assert settings.to_dict()["tasks"] | data["tasks"] == settings.to_dict()["tasks"]
    assert set(pipeline_tables(data)) <= set(Settings.model_fields)


def test_the_deployments_config_parameters_are_the_flows_model() -> None:
    deployments = yaml.safe_load((REPO / "infra" / "prefect.yaml").read_text())["deployments"]
    configs = [d["parameters"]["config"] for d in deployments if "config" in d.get("parameters", {})]
    assert configs
    for config in configs:
        assert isinstance(Settings.from_dict(config), BaseModel)
