"""The software stack as command-line input: every command that costs a layout (predict, plan,
compare-sp, estimate) takes every stack flag, its JSON carries the stack, its table says which
stack was assumed, and plan --emit writes it into plan.yaml."""

from __future__ import annotations

import json

import pytest
import yaml

from parplan.cli import main
from parplan.commands.strategy_flags import STACK_OPTIONS
from parplan.specs import StackSpec

STACK_ARGS = ["--attention", "cudnn", "--elementwise", "fused", "--tp-comm-overlap",
              "--text-encoder-precision", "fp32", "--zero-impl", "fsdp"]  # fmt: skip
EXPECTED = {"attention": "cudnn", "elementwise": "fused", "tp_comm_overlap": True,
            "text_encoder_precision": "fp32", "zero_impl": "fsdp", "attention_dropout": False}  # fmt: skip
SMALL = ["--model", "dit-s-2", "--workload", "imagenet-256", "--cluster", "h100-dgx-ndr400"]
COMMANDS = {
    "predict": ["predict", *SMALL, "--gpus", "8"],
    "plan": ["plan", *SMALL, "--gpus", "8", "--top", "1", "--orders", "standard"],
    "compare-sp": ["compare-sp", *SMALL, "--sp-degrees", "2", "--gpus", "8", "--zero", "1"],
    "estimate": ["estimate", *SMALL, "--train-samples", "1e6", "--deadline-days", "1"],
}


def test_every_stack_field_has_a_flag():
    assert set(STACK_OPTIONS) == set(StackSpec.model_fields)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json_carries_the_stack(command, capsys):
    assert main([*COMMANDS[command], *STACK_ARGS, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"] == EXPECTED


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_table_names_the_stack(command, capsys):
    assert main([*COMMANDS[command], "--elementwise", "fused", "--zero-impl", "deepspeed"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "stack: attention flash2, elementwise fused" in out
    assert "ZeRO/DP calls as deepspeed" in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_stack_value_is_one_line_exit_2(command, capsys):
    assert main([*COMMANDS[command], "--elementwise", "fuse"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "elementwise='fuse' must be 'eager' or 'fused'" in err


def test_predict_stack_changes_the_cost(capsys):
    """--elementwise and --zero-impl reach the cost model (not just the JSON)."""
    argv = ["predict", *SMALL, "--gpus", "64", "--dp", "64", "--zero", "3", "--json"]
    times = {}
    for impl in ("fsdp", "deepspeed"):
        assert main([*argv, "--zero-impl", impl]) == 0
        times[impl] = json.loads(capsys.readouterr().out)["breakdown"]["comm_s"]["dp"]
    assert times["deepspeed"] > times["fsdp"]


def test_plan_yaml_carries_the_stack(tmp_path, capsys):
    assert main([*COMMANDS["plan"], *STACK_ARGS, "--emit", str(tmp_path)]) == 0
    capsys.readouterr()
    assert yaml.safe_load((tmp_path / "plan.yaml").read_text())["stack"] == EXPECTED


@pytest.mark.parametrize("mode", [["--factorial-funds"], ["--no-plan", *SMALL[:6],
                                  "--train-samples", "1e6", "--deadline-days", "1"]])  # fmt: skip
def test_estimate_rejects_stack_where_nothing_is_costed(mode, capsys):
    assert main(["estimate", *mode, "--zero-impl", "fsdp"]) == 2
    assert "--zero-impl does not apply" in capsys.readouterr().err


def test_compare_sp_unfused_stack_rules_out_ring(capsys):
    """The stack reaches every row: ring attention is blockwise flash, so `unfused` makes the
    ring rows infeasible with the reason, instead of pricing a kernel that cannot run."""
    argv = COMMANDS["compare-sp"]
    assert main([*argv, "--attention", "unfused", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    ring = next(r for r in rows if r["method"] == "ring")
    assert not ring["feasible"] and "blockwise (flash) attention" in ring["reason"]
