"""Turn a plan into files a run can start from: ds_config.json, launch.sh and plan.yaml.

* ds_config.json: only keys DeepSpeed reads with the plan's meaning
  (https://www.deepspeed.ai/docs/config-json/): train_batch_size = micro_batch x
  gradient_accumulation_steps x dp, the ZeRO stage, bf16/fp16, activation checkpointing (only
  when the plan checkpoints), and `sequence_parallel_size` only for DeepSpeed-Ulysses plans (it
  is DeepSpeed-Ulysses' degree; ring / USP / FastSeq / DSP degrees are in plan.yaml and on the
  trainer's command line). Tests load it with DeepSpeed's `DeepSpeedConfig`.
* launch.sh: torchrun running `python -m parplan.train` (or $TRAIN_SCRIPT) on the plan's files;
  its comments spell out the process-group layout: the rank order, innermost (nearest GPUs)
  first, as in nanotron's `reshape(pp, dp, cp, tp)`, and the first group of every dimension.
* plan.yaml: the StrategySpec (SPEC_FORMAT "Strategy"), which `parplan predict --strategy` reads
  back; its comments carry the read-back command (run in the plan's directory: spec files are
  written relative to it) and the prediction (`# predicted: step_time_s=... memory_gib_per_gpu=...`),
  which the trainer reads.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError
from parplan.specs import (
    ClusterSpec,
    ModelSpec,
    StrategySpec,
    WorkloadSpec,
    load_strategy,
    spec_file,
)


def block_modes(strategy: StrategySpec, model: ModelSpec) -> list[str]:
    """Checkpoint mode of every block. A list as long as the block groups (and not the depth)
    names one mode per group, as cost/step.py reads it; otherwise one per block (SPEC_FORMAT)."""
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
    config: dict[str, Any] = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": s.micro_batch,
        "gradient_accumulation_steps": accumulation,
        "zero_optimization": {
            "stage": s.zero,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "reduce_scatter": True,
        },
        # fp8 runs its GEMMs through Transformer Engine on top of a bf16 model
        "bf16": {"enabled": workload.precision in ("bf16", "fp8")},
        "fp16": {"enabled": workload.precision == "fp16"},
        "gradient_clipping": 1.0,
        "steps_per_print": 10,
        "wall_clock_breakdown": False,
    }
    if checkpointed:
        config["activation_checkpointing"] = {
            "partition_activations": s.tp > 1,
            "contiguous_memory_optimization": False,
            "cpu_checkpointing": False,
            "number_checkpoints": checkpointed,
            "synchronize_checkpoint_boundary": False,
            "profile": False,
        }
    if s.methods_used == {"ulysses"}:  # DeepSpeed-Ulysses' degree; its engine takes dp = world/sp
        config["sequence_parallel_size"] = s.sp
    return config


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


class SpecSources(BaseModel):
    """What the user named for each spec: a preset name or a file path (relative to the
    working directory of the command that emits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    workload: str
    cluster: str


def source_arg(source: str, *, kind: str, directory: Path) -> str:
    """A preset name as given; a file as a path relative to `directory` (where plan.yaml is).
    A cluster name found in ./cluster_specs of the emitting directory is a file too: the
    read-back and launch.sh run elsewhere."""
    path = spec_file(source, kind)
    if path is None:
        return source
    return os.path.relpath(path.resolve(), directory.resolve())


def _launch_arg(source: str, *, kind: str, directory: Path) -> str:
    """launch.sh runs from any directory: a file goes relative to the script's own folder."""
    arg = source_arg(source, kind=kind, directory=directory)
    return f'"$HERE"/{shlex.quote(arg)}' if spec_file(source, kind) else shlex.quote(arg)


def _trainer_flags(s: StrategySpec) -> str:
    """The degrees on the trainer's command line (it checks them against plan.yaml)."""
    usp = f" --ulysses {s.ulysses} --ring {s.ring}" if "usp" in s.methods_used else ""
    return (f"--tp {s.tp} --sp {s.sp} --sp-method {s.sp_method}{_sp_methods_flag(s)}{usp} "
            f"--pp {s.pp} --vpp {s.vpp}")  # fmt: skip


def launch_script(
    strategy: StrategySpec, *, cluster: ClusterSpec, model: ModelSpec, num_gpus: int,
    specs: str = "",
) -> str:  # fmt: skip
    """`specs`: the trainer's --model/--workload/--cluster/--gpus arguments."""
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
        "# Run on every node with NODE_RANK set (one node: NNODES=1, a free port is picked).",
        "# Runs `python -m parplan.train` (NCCL on GPUs, gloo on CPU), which builds its process",
        "# groups in this order; extra arguments go to it (e.g. --tiny --steps 2).",
        "# TRAIN_SCRIPT=train.py runs your own script with the same arguments instead;",
        "# PYTHON picks the interpreter (default python3).",
        "set -euo pipefail",
        f'NNODES="${{NNODES:-{nnodes}}}"',
        'NODE_RANK="${NODE_RANK:-0}"',
        'PYTHON="${PYTHON:-python3}"',
        'HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        'if [ "$NNODES" = 1 ] && [ -z "${MASTER_PORT:-}" ]; then',
        "  RDZV=(--standalone)",
        "else",
        '  RDZV=(--node_rank="$NODE_RANK" --master_addr="${MASTER_ADDR:-localhost}" '
        '--master_port="${MASTER_PORT:-29500}")',
        "fi",
        f'ARGS=(--deepspeed --deepspeed_config "$HERE/ds_config.json" '
        f'--parplan-strategy "$HERE/plan.yaml" {specs} {_trainer_flags(s)} "$@")',
        'if [ -z "${TRAIN_SCRIPT:-}" ]; then',
        '  "$PYTHON" -m parplan.train --check "${ARGS[@]}" >/dev/null  # bad input: one line, exit 2',
        "  TRAIN=(-m parplan.train)",
        "else",
        '  TRAIN=("$TRAIN_SCRIPT")',
        "fi",
    ]
    command = (
        f'exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --nproc_per_node={per_node} '
        '"${RDZV[@]}" \\\n  "${TRAIN[@]}" "${ARGS[@]}"'
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


PREDICTION = "predicted: "  # plan.yaml's comment `# predicted: step_time_s=... ...`


def prediction_note(*, step_time_s: float, memory_gib_per_gpu: float) -> str:
    """The prediction as plan.yaml carries it (full precision: the trainer compares with it)."""
    return f"{PREDICTION}step_time_s={step_time_s!r} memory_gib_per_gpu={memory_gib_per_gpu!r}"


def read_prediction(text: str) -> dict[str, float] | None:
    """The `# predicted:` line of a plan.yaml's text, or None when it has none."""
    for line in text.splitlines():
        if line.startswith(f"# {PREDICTION}"):
            pairs = re.findall(r"(\w+)=(\S+)", line[len(PREDICTION) + 2 :])
            return {key: float(value) for key, value in pairs}
    return None


def plan_yaml(strategy: StrategySpec, *, notes: list[str]) -> str:
    """The strategy as YAML (SPEC_FORMAT "Strategy"); comments carry the prediction."""
    body = yaml.safe_dump(strategy.model_dump(mode="json"), sort_keys=False)
    return "".join(f"# {n}\n" for n in notes) + body


def _spec_args(named: SpecSources, *, directory: Path) -> tuple[str, str]:
    """`--model M --workload W --cluster C` for the read-back (run in `directory`) and for
    launch.sh (run anywhere)."""
    kinds = {"model": named.model, "workload": named.workload, "cluster": named.cluster}
    read_back = [f"--{kind} {shlex.quote(source_arg(src, kind=kind, directory=directory))}"
                 for kind, src in kinds.items()]  # fmt: skip
    launch = [f"--{kind} {_launch_arg(src, kind=kind, directory=directory)}"
              for kind, src in kinds.items()]  # fmt: skip
    return " ".join(read_back), " ".join(launch)


def emit(
    *,
    directory: Path,
    strategy: StrategySpec,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    num_gpus: int,
    notes: list[str] | None = None,
    sources: SpecSources | None = None,
    prediction: tuple[float, float] | None = None,
) -> list[Path]:
    """Write the three files into `directory` (created); returns their paths.

    `sources`: what the user named (preset names or files); without it the specs' names are
    written, which read back only for presets. `prediction`: (step time s, GiB per GPU)."""
    if strategy.pp > 1 and strategy.zero >= 2:  # deepspeed/runtime/pipe/engine.py asserts it
        raise SpecError(
            f"--emit writes a DeepSpeed config, and DeepSpeed's PipelineEngine runs only ZeRO-0/1 "
            f"(this plan: zero={strategy.zero}, pp={strategy.pp}); run it with FSDP + pipelining "
            "(torchtitan) or predict/plan with zero <= 1"
        )
    directory.mkdir(parents=True, exist_ok=True)
    named = sources or SpecSources(model=model.name, workload=workload.name, cluster=cluster.name)
    read_back, launch_specs = _spec_args(named, directory=directory)
    header = [f"read back (run in this directory): parplan predict {read_back} --gpus "
              f"{num_gpus} --strategy plan.yaml"]  # fmt: skip
    if prediction is not None:
        step_s, memory_gib = prediction
        header.append(prediction_note(step_time_s=step_s, memory_gib_per_gpu=memory_gib))
    files = {
        "ds_config.json": json.dumps(ds_config(strategy, workload=workload, model=model), indent=2)
        + "\n",
        "launch.sh": launch_script(strategy, cluster=cluster, model=model, num_gpus=num_gpus,
                                   specs=f"{launch_specs} --gpus {num_gpus}"),
        "plan.yaml": plan_yaml(strategy, notes=[*header, *(notes or [])]),
    }  # fmt: skip
    paths = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    (directory / "launch.sh").chmod(0o755)
    assert load_strategy(directory / "plan.yaml") == strategy  # the round trip predict relies on
    return paths


def emit_or_fail(*, directory: Path, **kwargs: Any) -> list[Path]:
    """`emit` for the commands: an OS error writing is the --emit flag's one-line SpecError."""
    try:
        return emit(directory=directory, **kwargs)
    except OSError as err:
        raise SpecError(f"--emit {directory}: cannot write ({err.strerror})") from None
