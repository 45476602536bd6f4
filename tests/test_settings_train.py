"""The training settings as typed sections: `[train]` (TrainConfig), `[train.rl]` (RLConfig) and the
launcher's `launch` (LaunchSpec). Their JSON schema is the Prefect UI's form for the training flows, their
JSON the record of a run: defaults, descriptions and ranges are checked here, and every rejection. Needs no
torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from drsynth.training.config import TrainConfig, load_config, write_config
from drsynth.training.launch import LaunchSpec, write_hostfile
from drsynth.training.rl.config import RLConfig

REPO = Path(__file__).resolve().parents[1]

# what `[train]` with no keys meant before the sections became pydantic models: its JSON (what
# train_config.json and the `runs` table record) must not change
DEFAULT_TRAIN = {
    "zero_stage": 2, "offload": False, "bf16": True, "micro_batch_size": 1, "grad_accum": 1, "lr": 1e-5,
    "min_lr": 1e-6, "warmup_steps": 10, "weight_decay": 0.0, "betas": [0.9, 0.95], "grad_clip": 1.0,
    "max_steps": 0, "epochs": 1, "seq_len": 4096, "pack": True, "packed_mask": "position_ids", "save_every": 0,
    "keep_checkpoints": 2, "seed": 0, "log_every": 1, "gradient_checkpointing": False,
    "attn_implementation": "sdpa", "sft_modes": ["react", "context"], "cpt_stages": ["short", "long"],
    "cpt_mix": {"short": {"short": 1.0}, "long": {"long": 1.0}}, "cpt_seq_len": {},
    "rl": {"group_size": 4, "tasks_per_step": 8, "eps_low": 0.2, "eps_high": 0.28, "kl_coef": 0.0,
           "on_policy": True, "ppo_epochs": 1, "minibatches": 1, "old_logprobs": "recompute",
           "max_new_tokens": 512, "temperature": 1.0, "top_p": 1.0, "rollout": "hf", "base_url": "",
           "model": "", "api_key_env": "DRSYNTH_POLICY_API_KEY", "generation_batch": 64, "concurrency": 64,
           "judge": "match", "max_tool_calls": 8, "max_turns": 16, "max_format_errors": 2,
           "max_context_tokens": 0, "max_observation_chars": 4000, "max_wall_s": 600.0, "today": ""},
}
DEFAULT_LAUNCH = {"num_gpus": 1, "num_nodes": 1, "hostfile": None, "master_addr": None, "master_port": None,
                  "launcher": "pdsh", "bind_cores": False}


def test_the_defaults_and_their_json_are_what_they_were(tmp_path: Path) -> None:
    assert TrainConfig().to_dict() == DEFAULT_TRAIN
    assert TrainConfig.from_dict(None) == TrainConfig() == TrainConfig.from_dict(DEFAULT_TRAIN)
    assert LaunchSpec().to_dict() == DEFAULT_LAUNCH
    # what a launched job reads back, tuples as lists, byte for byte as before
    path = write_config(TrainConfig(), tmp_path / "train_config.json")
    assert Path(path).read_text() == json.dumps({"train": DEFAULT_TRAIN}, indent=1, sort_keys=True) + "\n"
    assert load_config(path) == TrainConfig()
    # an int where a float is meant is that float, in the record too
    assert TrainConfig.from_dict({"lr": 1, "cpt_mix": {"short": {"short": 1}}, "cpt_stages": ["short"]}).to_dict()[
        "cpt_mix"] == {"short": {"short": 1.0}}


def test_the_schema_carries_the_ranges_and_choices() -> None:
    train = TrainConfig.model_json_schema()
    props, rl = train["properties"], train["$defs"]["RLConfig"]["properties"]
    assert (props["zero_stage"]["minimum"], props["zero_stage"]["maximum"]) == (0, 3)
    assert props["lr"]["exclusiveMinimum"] == 0 and props["min_lr"]["minimum"] == 0
    for name in ("micro_batch_size", "grad_accum", "epochs", "seq_len", "log_every", "keep_checkpoints"):
        assert props[name]["minimum"] == 1, name
    for name in ("max_steps", "warmup_steps", "save_every", "seed", "grad_clip", "weight_decay"):
        assert props[name]["minimum"] == 0, name
    assert props["packed_mask"]["enum"] == ["position_ids", "4d"]
    assert props["sft_modes"]["items"]["enum"] == ["react", "context"] and props["sft_modes"]["minItems"] == 1
    assert props["cpt_stages"]["items"]["enum"] == ["short", "long"]
    assert [(b["minimum"], b["exclusiveMaximum"]) for b in props["betas"]["prefixItems"]] == [(0, 1), (0, 1)]
    assert props["cpt_seq_len"]["propertyNames"]["enum"] == ["short", "long"]
    assert props["cpt_seq_len"]["additionalProperties"]["minimum"] == 1
    assert props["cpt_mix"]["additionalProperties"]["additionalProperties"]["minimum"] == 0
    assert rl["group_size"]["minimum"] == 2 and (rl["eps_low"]["minimum"], rl["eps_low"]["exclusiveMaximum"]) == (0, 1)
    assert (rl["top_p"]["exclusiveMinimum"], rl["top_p"]["maximum"]) == (0, 1)
    assert rl["rollout"]["enum"] == ["hf", "openai"] and rl["old_logprobs"]["enum"] == ["recompute", "rollout"]
    assert rl["judge"].get("enum", [rl["judge"].get("const")]) == ["match"] and rl["max_wall_s"]["exclusiveMinimum"] == 0
    launch = LaunchSpec.model_json_schema()["properties"]
    assert launch["launcher"]["enum"] == ["pdsh", "openmpi", "mvapich", "slurm", "mpich", "impi"]
    assert launch["num_gpus"]["minimum"] == 1 and launch["num_nodes"]["minimum"] == 1


# every check [train] made before, each still a rejection; the message names the key
BAD_TRAIN = [
    ({"learning_rate": 1e-5}, "learning_rate"),
    ({"micro_batch_size": 0}, "micro_batch_size"), ({"grad_accum": 0}, "grad_accum"), ({"epochs": 0}, "epochs"),
    ({"seq_len": 0}, "seq_len"), ({"log_every": 0}, "log_every"), ({"keep_checkpoints": 0}, "keep_checkpoints"),
    ({"max_steps": -1}, "max_steps"), ({"warmup_steps": -1}, "warmup_steps"), ({"save_every": -1}, "save_every"),
    ({"seed": -1}, "seed"), ({"zero_stage": 4}, "zero_stage"), ({"zero_stage": True}, "zero_stage"),
    ({"lr": 0.0}, "lr"), ({"min_lr": -1e-6}, "min_lr"), ({"lr": 1e-6, "min_lr": 1e-5}, "min_lr <= lr"),
    ({"grad_clip": -1.0}, "grad_clip"), ({"weight_decay": -0.1}, "weight_decay"), ({"lr": float("nan")}, "lr"),
    ({"betas": [0.9]}, "betas"), ({"betas": [0.9, 1.0]}, "betas"), ({"betas": [0.9, 0.95, 0.99]}, "betas"),
    ({"packed_mask": "2d"}, "packed_mask"), ({"sft_modes": []}, "sft_modes"), ({"sft_modes": ["heavy"]}, "sft_modes"),
    ({"cpt_stages": []}, "cpt_stages"), ({"cpt_stages": ["medium"]}, "cpt_stages"),
    ({"cpt_mix": {"short": {"short": 1.0}}}, "no ratios for stage 'long'"),
    ({"cpt_mix": {"short": {"short": 0.5}, "long": {"long": 1.0}}}, "sum to 1"),
    ({"cpt_mix": {"short": {"medium": 1.0}, "long": {"long": 1.0}}}, "cpt_mix"),
    ({"cpt_mix": {"short": {"short": 1.5, "long": -0.5}, "long": {"long": 1.0}}}, "cpt_mix"),
    ({"cpt_seq_len": {"long": 0}}, "cpt_seq_len"), ({"cpt_seq_len": {"medium": 512}}, "cpt_seq_len"),
    ({"cpt_seq_len": {"long": 512.0}}, "cpt_seq_len"),
    ({"rl": 3}, "rl"), ({"rl": {"groups": 2}}, "rl.groups"), ({"rl": {"group_size": 1}}, "rl.group_size"),
    # strict: no count from a bool or a float, no number from a string, no flag from a number
    ({"epochs": 2.0}, "epochs"), ({"seq_len": "4096"}, "seq_len"), ({"lr": "1e-5"}, "lr"), ({"pack": 1}, "pack"),
]


@pytest.mark.parametrize(("table", "message"), BAD_TRAIN)
def test_a_bad_train_table_is_refused_naming_the_key(table: dict, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TrainConfig.from_dict(table)
    assert message in str(refused.value)


def test_the_sections_are_frozen_and_derive_by_copy() -> None:
    cfg = TrainConfig.from_dict({"rl": RLConfig(group_size=3), "betas": [0.8, 0.9], "cpt_seq_len": {"long": 64}})
    assert cfg.rl.group_size == 3 and cfg.betas == (0.8, 0.9) and isinstance(cfg.betas, tuple)
    assert (cfg.stage_seq_len("long"), cfg.stage_seq_len("short")) == (64, cfg.seq_len)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.lr = 1.0  # type: ignore[misc]
    four_d = cfg.model_copy(update={"packed_mask": "4d"})  # what training.loop derives
    assert four_d.packed_mask == "4d" and cfg.packed_mask == "position_ids" and four_d.rl == cfg.rl


def test_launch_checks_the_nodes_against_the_hostfile(tmp_path: Path) -> None:
    hostfile = write_hostfile({"node-a": 8, "node-b": 8}, tmp_path / "hostfile")
    spec = LaunchSpec.from_dict({"num_gpus": 8, "num_nodes": 2, "hostfile": hostfile, "launcher": "openmpi"})
    assert spec.hosts() == {"node-a": 8, "node-b": 8}
    bad = [({"num_gpus": 0}, "num_gpus"), ({"num_nodes": 0}, "num_nodes"), ({"launcher": "ssh"}, "launcher"),
           ({"num_nodes": 2}, "need a hostfile"), ({"master_port": 70000}, "master_port"),
           ({"num_gpus": 16, "num_nodes": 2, "hostfile": hostfile}, "fewer than 16 slots"),
           ({"num_nodes": 3, "hostfile": hostfile}, "3 nodes wanted"),
           ({"num_gpus": 4, "num_nodes": 2, "hostfile": hostfile, "launcher": "mpich"}, "every slot"),
           ({"gpus": 1}, "gpus"), ({"bind_cores": "yes"}, "bind_cores")]
    for table, message in bad:
        with pytest.raises(ValidationError) as refused:
            LaunchSpec.from_dict(table)
        assert message in str(refused.value), table


def test_the_training_deployments_parameters_are_valid_settings() -> None:
    spec = yaml.safe_load((REPO / "infra" / "prefect-train.yaml").read_text())
    for deployment in spec["deployments"]:
        parameters = deployment["parameters"]
        config = TrainConfig.from_dict(parameters["config"])
        assert config.to_dict() == {**DEFAULT_TRAIN, **parameters["config"],
                                    "rl": {**DEFAULT_TRAIN["rl"], **parameters["config"].get("rl", {})}}
        LaunchSpec.from_dict(parameters["launch"])


def test_the_server_checks_the_deployments_and_runs_parameters_against_the_flows_schema() -> None:
    """What `prefect deploy` and a run of a deployment meet with enforce_parameter_schema (the default)."""
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import is_valid_schema, validate

    from drsynth.flows import train

    spec = yaml.safe_load((REPO / "infra" / "prefect-train.yaml").read_text())
    for deployment in spec["deployments"]:
        flow = getattr(train, deployment["entrypoint"].split(":")[1])
        schema = parameter_schema(flow.fn).model_dump_for_openapi()
        is_valid_schema(schema)
        assert validate(deployment["parameters"], schema, ignore_required=True) == []
        # a run naming one key passes the form (the merge and its checks come in the flow) ...
        assert validate({"config": {"lr": 2e-5}, "launch": {"num_gpus": 1}}, schema, ignore_required=True) == []
        # ... and what no merge can repair is refused before a run is created
        for bad in ({"zero_stage": 5}, {"packed_mask": "2d"}, {"learning_rate": 1e-5}, {"rl": {"top_p": 0}},
                    {"cpt_seq_len": {"medium": 8}}):
            assert validate({"config": bad}, schema, ignore_required=True), bad
        assert validate({"launch": {"launcher": "ssh"}}, schema, ignore_required=True)


def test_the_train_flows_take_the_sections_and_validate_them_after_the_merge(tmp_path: Path) -> None:
    from prefect.utilities.callables import parameter_schema

    from drsynth.flows import train
    from drsynth.flows.parameters import over_defaults

    for flow in (train.train_cpt, train.train_sft, train.train_rl):
        schema = parameter_schema(flow.fn)
        assert {"TrainConfig", "LaunchSpec", "RLConfig"} <= set(schema.definitions)
        assert schema.definitions["TrainConfig"]["properties"]["lr"]["description"]
        # Prefect would validate a run's partial table alone, before the merge with the deployment's
        assert not flow.should_validate_parameters
    # a run's key that is valid only over the deployment's defaults
    with pytest.raises(ValidationError, match="min_lr <= lr"):
        TrainConfig.from_dict({"min_lr": 5e-5})
    merged = over_defaults("config", {"min_lr": 5e-5}, TrainConfig, {"config": {"lr": 1e-4, "epochs": 3}})
    assert (merged.lr, merged.min_lr, merged.epochs) == (1e-4, 5e-5, 3)
    rl = over_defaults("config", TrainConfig.from_dict({"rl": {"group_size": 8}}), TrainConfig,
                       {"config": {"rl": {"rollout": "openai", "base_url": "http://policy/v1", "model": "p"}}})
    assert (rl.rl.group_size, rl.rl.rollout, rl.rl.model) == (8, "openai", "p")
    hostfile = write_hostfile({"node-a": 4, "node-b": 4}, tmp_path / "hostfile")
    launch = over_defaults("launch", {"num_nodes": 2}, LaunchSpec, {"launch": {"hostfile": hostfile, "num_gpus": 4}})
    assert (launch.num_nodes, launch.num_gpus, launch.hostfile) == (2, 4, hostfile)


def test_a_settings_mistake_is_one_cli_line() -> None:
    from drsynth.synth.sections import one_line

    with pytest.raises(ValidationError) as refused:
        TrainConfig.from_dict({"learning_rate": 1, "rl": {"group_size": 1}})
    line = one_line(refused.value, "[train]")
    assert "\n" not in line
    assert "[train] learning_rate: Extra inputs are not permitted" in line and "[train] rl.group_size" in line
    with pytest.raises(ValidationError) as refused:
        LaunchSpec.from_dict({"num_nodes": 2})
    assert one_line(refused.value, "launch") == "launch: 2 nodes need a hostfile naming them"
    assert one_line(ValueError("plain")) == "plain"
