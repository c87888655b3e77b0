"""Emitted run files: DeepSpeed accepts ds_config.json, plan.yaml round-trips, launch.sh is sane."""

from __future__ import annotations

import json
import subprocess

import pytest

from parplan.plan.emit import block_modes, ds_config, emit, rank_groups_comment
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec, load_strategy

MODEL = ModelSpec(name="toy", hidden=512, heads=8, blocks=[{"type": "full", "count": 4}])
WORKLOAD = WorkloadSpec(kind="video", frames=4, height=128, width=128, global_batch=64)
CLUSTER = ClusterSpec(
    name="toy",
    gpus_per_node=8,
    nodes=4,
    gpu={"name": "H100", "peak_tflops": {"bf16": 989.4}, "memory_gib": 80, "hbm_gbyte_per_s": 3350},
    intra_node={"gbyte_per_s_per_gpu": 450},
    inter_node={"nics_per_node": 8, "gbit_per_s_per_nic": 400},
)
STRATEGY = StrategySpec(
    dp=4,
    tp=2,
    sp=4,
    sp_method="usp",
    ulysses=2,
    ring=2,
    zero=2,
    micro_batch=2,
    global_batch=64,
    order=["tp", "sp", "dp", "pp"],
    ckpt=["none", "selective", "full", "full"],
)


def test_ds_config_batch_arithmetic() -> None:
    cfg = ds_config(STRATEGY, workload=WORKLOAD, model=MODEL)
    assert cfg["train_batch_size"] == 64
    assert cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * 4 == 64
    assert cfg["gradient_accumulation_steps"] == 8
    assert cfg["zero_optimization"]["stage"] == 2
    assert cfg["activation_checkpointing"]["number_checkpoints"] == 3
    assert cfg["bf16"]["enabled"]
    assert "sequence_parallel_size" not in cfg  # usp: DeepSpeed would read sp=4 as Ulysses


# One plan per SP method (and TP): 32 GPUs, global batch 64.
LAYOUTS = {
    "ulysses": {"dp": 8, "sp": 4, "sp_method": "ulysses"},
    "ring": {"dp": 8, "sp": 4, "sp_method": "ring", "ckpt": "full"},
    "usp": {"dp": 4, "tp": 2, "sp": 4, "sp_method": "usp", "ulysses": 2, "ring": 2},
    "fastseq": {"dp": 8, "sp": 4, "sp_method": "fastseq", "zero": 1},
    "dsp": {"dp": 8, "sp": 4, "sp_method": "dsp"},
    "tp+dp": {"dp": 16, "tp": 2, "megatron_sp": True, "zero": 2, "ckpt": "selective"},
}


def _layout(name: str) -> StrategySpec:
    return StrategySpec(global_batch=64, micro_batch=2, **LAYOUTS[name])


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_ds_config_keys_mean_what_deepspeed_means(name: str) -> None:
    """sequence_parallel_size is DeepSpeed-Ulysses' degree: only Ulysses plans carry it;
    activation_checkpointing (number_checkpoints) only when the plan checkpoints."""
    strategy = _layout(name)
    cfg = ds_config(strategy, workload=WORKLOAD, model=MODEL)
    assert cfg.get("sequence_parallel_size") == (4 if name == "ulysses" else None)
    checkpoints = cfg.get("activation_checkpointing", {}).get("number_checkpoints")
    assert checkpoints == (4 if strategy.ckpt != "none" else None)


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_deepspeed_config_class_accepts_ds_config(name: str, monkeypatch) -> None:
    """DeepSpeed's own parser at the plan's world size, without a process group: dist's rank
    and world size are stubbed. It checks train_batch = micro x accumulation x dp, with dp
    from the mpu the trainer passes (its data-parallel size) or, for a plain Ulysses plan
    without one, from world / sequence_parallel_size, as DeepSpeed-Ulysses' engine reads it."""
    pytest.importorskip("deepspeed")
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    from deepspeed.runtime import config as ds_runtime_config

    strategy = _layout(name)
    monkeypatch.setattr(ds_runtime_config.dist, "get_rank", lambda *a, **k: 0)
    monkeypatch.setattr(ds_runtime_config.dist, "get_world_size", lambda *a, **k: 32)

    class Mpu:  # what DeepSpeedConfig asks of parplan.train.groups.ParplanMPU
        def get_data_parallel_world_size(self) -> int:
            return strategy.dp

    cfg = ds_config(strategy, workload=WORKLOAD, model=MODEL)
    parsed = ds_runtime_config.DeepSpeedConfig(cfg, mpu=Mpu())
    accumulation = 64 // (strategy.dp * strategy.micro_batch)
    assert (parsed.train_batch_size, parsed.gradient_accumulation_steps) == (64, accumulation)
    assert parsed.zero_optimization_stage == strategy.zero
    if name == "ulysses":
        assert ds_runtime_config.DeepSpeedConfig(cfg).train_batch_size == 64
    with pytest.raises(AssertionError):  # DeepSpeed checks batch = micro x accumulation x dp
        ds_runtime_config.DeepSpeedConfig(cfg | {"train_batch_size": 62}, mpu=Mpu())


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_launch_script_parses_and_passes_the_degrees(name: str, tmp_path) -> None:
    strategy = _layout(name)
    emit(directory=tmp_path, strategy=strategy, model=MODEL, workload=WORKLOAD,
         cluster=CLUSTER, num_gpus=32)  # fmt: skip
    text = (tmp_path / "launch.sh").read_text()
    result = subprocess.run(["bash", "-n", str(tmp_path / "launch.sh")], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert f"--sp {strategy.sp} --sp-method {strategy.sp_method}" in text
    assert ("--ulysses 2 --ring 2" in text) == (name == "usp")
    assert "-m parplan.train" in text


def test_emit_round_trips_plan_yaml(tmp_path) -> None:
    paths = emit(
        directory=tmp_path / "run",
        strategy=STRATEGY,
        model=MODEL,
        workload=WORKLOAD,
        cluster=CLUSTER,
        num_gpus=32,
        notes=["predicted step 1.0 s"],
    )
    assert sorted(p.name for p in paths) == ["ds_config.json", "launch.sh", "plan.yaml"]
    assert load_strategy(tmp_path / "run" / "plan.yaml") == STRATEGY
    assert json.loads((tmp_path / "run" / "ds_config.json").read_text())["train_batch_size"] == 64


def test_launch_script_layout(tmp_path) -> None:
    emit(
        directory=tmp_path,
        strategy=STRATEGY,
        model=MODEL,
        workload=WORKLOAD,
        cluster=CLUSTER,
        num_gpus=32,
    )
    text = (tmp_path / "launch.sh").read_text()
    assert "--nproc_per_node=8" in text and 'NNODES="${NNODES:-4}"' in text
    assert "group of rank 0: [0, 2, 4, 6]" in text  # sp groups stride over tp=2
    result = subprocess.run(["bash", "-n", str(tmp_path / "launch.sh")], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_rank_groups_strides() -> None:
    lines = rank_groups_comment(STRATEGY)
    assert lines[1].startswith("#   tp=2") and "(rank // 1) % 2" in lines[1]
    assert "(rank // 8) % 4" in lines[3]  # dp sits outside tp*sp = 8


def test_per_group_ckpt_list_counts_whole_groups() -> None:
    """The cost model's per-group lists: [none, full] on 3 + 5 blocks checkpoints 5 blocks."""
    model = MODEL.model_validate(
        MODEL.model_dump()
        | {"blocks": [{"type": "full", "count": 3}, {"type": "full", "count": 5}]}
    )
    strategy = STRATEGY.model_copy(update={"ckpt": ["none", "full"]})
    assert block_modes(strategy, model) == ["none"] * 3 + ["full"] * 5
    cfg = ds_config(strategy, workload=WORKLOAD, model=model)
    assert cfg["activation_checkpointing"]["number_checkpoints"] == 5


def test_emitted_plan_predicts_the_same_step(tmp_path) -> None:
    """plan --emit, then predict on plan.yaml: the same step time (the lead's predict reads it)."""
    evaluate = pytest.importorskip("parplan.cost.step")
    from parplan.plan.planner import plan
    from parplan.specs import load_cluster, load_model, load_workload

    specs = dict(
        model=load_model("hunyuanvideo"),
        workload=load_workload("video-720p-129f"),
        cluster=load_cluster("h100-dgx-ndr400"),
    )
    best = plan(**specs, num_gpus=16, top_k=1).plans[0]
    emit(directory=tmp_path, strategy=best.strategy, num_gpus=16, **specs)
    again = evaluate.predict(*specs.values(), load_strategy(tmp_path / "plan.yaml"), 16)
    assert again.step_time_s == pytest.approx(best.step_time_s, rel=1e-12)
