"""Turn a plan into files a run can start from: ds_config.json, launch.sh and plan.yaml.

* ds_config.json: DeepSpeed's own keys (https://www.deepspeed.ai/docs/config-json/):
  train_batch_size = micro_batch x gradient_accumulation_steps x dp, ZeRO stage, bf16/fp16,
  activation checkpointing, and `sequence_parallel_size` (DeepSpeed-Ulysses, whose engine then
  takes dp = world / sp). tests/test_emit.py loads it with `DeepSpeedConfig`.
* launch.sh: a torchrun line (nnodes, nproc_per_node, rendezvous) whose comments spell out the
  process-group layout: the rank order, innermost (nearest GPUs) first, as in nanotron's
  `reshape(pp, dp, cp, tp)`, and the first group of every dimension.
* plan.yaml: the StrategySpec, which `parplan predict --strategy plan.yaml` reads back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from parplan.errors import SpecError
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec, load_strategy


def block_modes(strategy: StrategySpec, model: ModelSpec) -> list[str]:
    """Checkpoint mode of every block. A list as long as the block groups (and not the depth)
    names one mode per group, as evaluate.py reads it; otherwise one per block (SPEC_FORMAT)."""
    ckpt = strategy.ckpt
    if isinstance(ckpt, str):
        return [ckpt] * model.depth
    if len(ckpt) == len(model.blocks) != model.depth:
        return [mode for g, mode in zip(model.blocks, ckpt, strict=True) for _ in range(g.count)]
    assert len(ckpt) == model.depth, (len(ckpt), model.depth)
    return list(ckpt)


def ds_config(
    strategy: StrategySpec, *, workload: WorkloadSpec, model: ModelSpec
) -> dict[str, Any]:
    """DeepSpeed config of one plan (per-block checkpoint choices live in plan.yaml)."""
    s = strategy
    global_batch = s.global_batch or workload.global_batch
    accumulation = global_batch // (s.dp * s.micro_batch)
    assert accumulation * s.dp * s.micro_batch == global_batch, (global_batch, s.dp, s.micro_batch)
    checkpointed = sum(mode != "none" for mode in block_modes(s, model))
    return {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": s.micro_batch,
        "gradient_accumulation_steps": accumulation,
        "zero_optimization": {
            "stage": s.zero,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "reduce_scatter": True,
        },
        "bf16": {"enabled": workload.precision == "bf16"},
        "fp16": {"enabled": workload.precision == "fp16"},
        "gradient_clipping": 1.0,
        "activation_checkpointing": {
            "partition_activations": s.tp > 1 and checkpointed > 0,
            "contiguous_memory_optimization": False,
            "cpu_checkpointing": False,
            "number_checkpoints": checkpointed or None,
            "synchronize_checkpoint_boundary": False,
            "profile": False,
        },
        "sequence_parallel_size": s.sp,
        "steps_per_print": 10,
        "wall_clock_breakdown": False,
    }


def rank_groups_comment(strategy: StrategySpec) -> list[str]:
    """Comment lines: coordinate formula per dim and the first group of each dimension."""
    degrees = {"tp": strategy.tp, "sp": strategy.sp, "dp": strategy.dp, "pp": strategy.pp}
    lines = [f"# rank order (innermost first): {', '.join(strategy.order)}"]
    stride = 1
    for dim in strategy.order:
        first = [k * stride for k in range(min(degrees[dim], 8))]
        more = ", ..." if degrees[dim] > 8 else ""
        lines.append(
            f"#   {dim}={degrees[dim]:<5} coordinate = (rank // {stride}) % {degrees[dim]}; "
            f"group of rank 0: [{', '.join(map(str, first))}{more}]"
        )
        stride *= degrees[dim]
    if "usp" in strategy.methods_used:
        lines.append(
            f"#   usp: ulysses={strategy.ulysses} is the inner part of sp, "
            f"ring={strategy.ring} the outer"
        )
    return lines


def launch_script(
    strategy: StrategySpec, *, cluster: ClusterSpec, model: ModelSpec, num_gpus: int
) -> str:
    s = strategy
    per_node = min(cluster.gpus_per_node, num_gpus)
    nnodes = math.ceil(num_gpus / per_node)
    header = [
        "#!/usr/bin/env bash",
        f"# parplan plan: {model.name} on {cluster.name}: {num_gpus} GPUs = {nnodes} nodes x "
        f"{per_node}",
        f"# dp={s.dp} tp={s.tp} sp={s.sp} ({s.sp_method}) pp={s.pp} vpp={s.vpp} zero={s.zero} "
        f"micro_batch={s.micro_batch} global_batch={s.global_batch}",
        *_sp_methods_comment(s),
        *rank_groups_comment(s),
        "# Run on every node with NODE_RANK set; train.py must build its process groups in this",
        "# order (e.g. torch.distributed.device_mesh.init_device_mesh with the reversed order).",
        "set -euo pipefail",
        f'NNODES="${{NNODES:-{nnodes}}}"',
        'NODE_RANK="${NODE_RANK:-0}"',
        'MASTER_ADDR="${MASTER_ADDR:-localhost}"',
        'MASTER_PORT="${MASTER_PORT:-29500}"',
        'HERE="$(cd "$(dirname "$0")" && pwd)"',
    ]
    command = (
        f'torchrun --nnodes="$NNODES" --nproc_per_node={per_node} --node_rank="$NODE_RANK" '
        '--master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \\\n'
        '  "${TRAIN_SCRIPT:-train.py}" --deepspeed --deepspeed_config "$HERE/ds_config.json" \\\n'
        f'  --parplan-strategy "$HERE/plan.yaml" --tp {s.tp} --sp {s.sp} '
        f"--sp-method {s.sp_method}{_sp_methods_flag(s)} --pp {s.pp} --vpp {s.vpp} "
        '"$@"'
    )
    return "\n".join([*header, command]) + "\n"


def _sp_methods_text(s: StrategySpec) -> str:
    return ",".join(f"{t}={m}" for t, m in sorted((s.sp_methods or {}).items()))


def _sp_methods_flag(s: StrategySpec) -> str:
    return f" --sp-methods {_sp_methods_text(s)}" if s.sp_methods else ""


def _sp_methods_comment(s: StrategySpec) -> list[str]:
    if not s.sp_methods:
        return []
    return [
        f"# per block type SP methods: {_sp_methods_text(s)} (other types: {s.sp_method}); "
        "DSP and the token-sharded methods switch layouts between blocks (one all-to-all each)"
    ]


def plan_yaml(strategy: StrategySpec, *, notes: list[str]) -> str:
    """The strategy as YAML (SPEC_FORMAT "Strategy"); comments carry the prediction."""
    body = yaml.safe_dump(strategy.model_dump(mode="json"), sort_keys=False)
    return "".join(f"# {n}\n" for n in notes) + body


def emit(
    *,
    directory: Path,
    strategy: StrategySpec,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    num_gpus: int,
    notes: list[str] | None = None,
) -> list[Path]:
    """Write the three files into `directory` (created); returns their paths."""
    if strategy.pp > 1 and strategy.zero >= 2:  # deepspeed/runtime/pipe/engine.py asserts it
        raise SpecError(
            f"--emit writes a DeepSpeed config, and DeepSpeed's PipelineEngine runs only ZeRO-0/1 "
            f"(this plan: zero={strategy.zero}, pp={strategy.pp}); run it with FSDP + pipelining "
            "(torchtitan) or predict/plan with zero <= 1"
        )
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ds_config.json": json.dumps(ds_config(strategy, workload=workload, model=model), indent=2)
        + "\n",
        "launch.sh": launch_script(strategy, cluster=cluster, model=model, num_gpus=num_gpus),
        "plan.yaml": plan_yaml(strategy, notes=[
            f"read back with: parplan predict --model {model.name} --workload {workload.name} "
            f"--cluster {cluster.name} --gpus {num_gpus} --strategy plan.yaml",
            *(notes or []),
        ]),  # fmt: skip
    }
    paths = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    (directory / "launch.sh").chmod(0o755)
    assert load_strategy(directory / "plan.yaml") == strategy  # the round trip predict relies on
    return paths
