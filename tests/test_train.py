"""The trainer's setup (no processes): what it builds from a plan, and what it refuses.

The multi-process round trips are in tests/test_train_roundtrip.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parplan.cli import main
from parplan.errors import SpecError
from parplan.train.args import parser
from parplan.train.setup import load_run
from parplan.train.tiny import tiny_blocks

DIT = ["--model", "dit-s-2", "--workload", "imagenet-256", "--cluster", "cpu-local"]


def _emit(tmp_path: Path, *flags: str) -> Path:
    out = tmp_path / "out"
    argv = ["predict", *DIT, "--gpus", "4", *flags, "--emit", str(out), "--json"]
    assert main(argv) == 0
    return out


def _setup(out: Path, *extra: str):
    return load_run(parser().parse_args(
        ["--parplan-strategy", str(out / "plan.yaml"), *DIT, *extra]))  # fmt: skip


def test_full_shape_is_the_plans_model_and_prediction(tmp_path, capsys) -> None:
    out = _emit(tmp_path, "--sp", "2", "--sp-method", "ulysses", "--ckpt", "full")
    predicted = json.loads(capsys.readouterr().out)
    setup = _setup(out)
    cfg = setup.shape
    assert (cfg.hidden, cfg.heads, cfg.tokens, len(cfg.blocks)) == (384, 6, 256, 12)  # DiT-S/2
    assert setup.block_modes == ("full",) * 12 and cfg.precision == "bf16"
    assert setup.prediction.step_time_s == predicted["step_time_s"]
    assert setup.notes == ()  # plan.yaml's recorded prediction is the cost model's now
    assert setup.accumulation == 256 // (2 * 1)


def test_tiny_keeps_the_layout_and_shrinks_the_size(tmp_path) -> None:
    out = _emit(tmp_path, "--sp", "4", "--sp-method", "usp", "--ulysses", "2", "--ring", "2")
    setup = _setup(out, "--tiny")
    s = setup.shape.strategy
    assert (s.sp, s.ulysses, s.ring, s.micro_batch, s.global_batch) == (4, 2, 2, 1, 1)
    assert setup.shape.heads == 6 and setup.shape.blocks == ("full", "full")
    assert setup.ds_config["train_batch_size"] == 1 == setup.accumulation
    assert setup.prediction.source.startswith("the cost model for the --tiny model")


def test_tiny_blocks_take_each_type_once() -> None:
    assert tiny_blocks(["full"] * 12) == [0, 1]
    assert tiny_blocks(["spatial"] * 14 + ["temporal"] * 14) == [0, 14]
    assert tiny_blocks(["spatial", "temporal"] * 3) == [0, 1]


@pytest.mark.parametrize(
    ("flags", "extra", "message"),
    [
        ((), ("--sp", "2"), r"--sp 2 disagrees with .*plan.yaml: sp=1"),
        (("--sp", "4", "--sp-method", "usp", "--ulysses", "2", "--ring", "2"),
         ("--ring", "4"), "--ring 4 disagrees"),
        (("--tp", "2", "--zero", "3"), (),
         "zero=3: the reference trainer with tp > 1 or FastSeq implements zero 0, 1 and 2 only"),
        (("--pp", "2"), (), "pp=2: the reference trainer runs no pipeline parallelism"),
        (("--tp", "2", "--sp", "2", "--sp-method", "ring"), (), "runs TP or SP"),
    ],
)  # fmt: skip
def test_disagreements_and_unsupported_layouts_are_spec_errors(
    tmp_path, flags, extra, message
) -> None:
    out = _emit(tmp_path, *flags)
    with pytest.raises(SpecError, match=message):
        _setup(out, *extra)


def test_zero_3_runs_where_no_layer_slices_weights(tmp_path) -> None:
    """DeepSpeed ZeRO-3 gathers a module's parameters around its forward: plain DP (and the SP
    methods that call whole modules) run it; TP and FastSeq slice weights outside those calls."""
    assert _setup(_emit(tmp_path, "--zero", "3")).shape.strategy.zero == 3


def test_ds_config_that_disagrees_with_the_plan_is_refused(tmp_path) -> None:
    out = _emit(tmp_path)
    config = json.loads((out / "ds_config.json").read_text())
    (out / "ds_config.json").write_text(json.dumps(config | {"train_batch_size": 128}))
    with pytest.raises(SpecError, match="train_batch_size=128 disagrees with the plan"):
        _setup(out)


def test_stale_prediction_is_noted(tmp_path) -> None:
    """A calibration (or cost model) newer than the plan: the trainer says the numbers moved."""
    out = _emit(tmp_path)
    plan = out / "plan.yaml"
    plan.write_text(plan.read_text().replace("step_time_s=", "step_time_s=1", 1))
    assert "predicted" in _setup(out).notes[0]


def test_trainer_bad_input_is_one_line_exit_2(tmp_path) -> None:
    """`python -m parplan.train` (what launch.sh's check runs) on a plan.yaml that is not there."""
    result = subprocess.run(
        [sys.executable, "-m", "parplan.train", "--check", "--parplan-strategy",
         str(tmp_path / "missing.yaml"), *DIT],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.yaml'}: file not found"]


def test_trainer_bad_flag_is_one_line_exit_2(capsys) -> None:
    from parplan.train.args import main as train_main

    with pytest.raises(SystemExit) as exit_:
        train_main(["--parplan-strategy", "p.yaml", *DIT, "--steps", "0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: argument --steps: 0 must be > 0 (see `python -m parplan.train --help`)"
    ]
