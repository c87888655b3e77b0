"""What one training run is, decided before any rank starts (no torch here).

The plan (plan.yaml, ds_config.json, the model / workload / cluster launch.sh names) becomes a
`RunSetup`: the layout and model size the smoke layers build (`SmokeConfig`), the DeepSpeed
config, the checkpoint mode of each built block, and the prediction the run is compared with:
the cost model's for the plan (checked against plan.yaml's `# predicted:` line, which differs
when the cluster spec or the cost model changed since the emit), or for the scaled-down model
of --tiny, on the same cluster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError
from parplan.model.geometry import token_geometry
from parplan.plan.emit import block_modes, read_prediction
from parplan.smoke.config import SmokeConfig, model_fields, to_specs, validate
from parplan.specs import (
    GIB,
    ClusterSpec,
    ModelSpec,
    StrategySpec,
    WorkloadSpec,
    check_degrees,
    load_cluster,
    load_model,
    load_strategy,
    load_workload,
)
from parplan.train.tiny import tiny_shape

TRAINER = "the reference trainer"
# DeepSpeed's engine. ZeRO-3 gathers a module's parameters in hooks around its forward: the TP
# and FastSeq layers read sliced weights outside those calls (smoke/parallel.py), so they run
# ZeRO 0-2 only.
ZERO_STAGES = (0, 1, 2, 3)
ZERO_STAGES_SLICING_WEIGHTS = (0, 1, 2)


def zero_stages(strategy: StrategySpec) -> tuple[tuple[int, ...], str]:
    """(ZeRO stages the trainer runs for this layout, who runs it: for the error message)."""
    if strategy.tp > 1 or "fastseq" in strategy.methods_used:
        return ZERO_STAGES_SLICING_WEIGHTS, f"{TRAINER} with tp > 1 or FastSeq"
    return ZERO_STAGES, TRAINER


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step_time_s: float
    memory_gib_per_gpu: float  # what the cost model says a GPU holds, allocator margin included
    live_memory_gib_per_gpu: float  # weights, grads, optimizer, activations, buffers: no margin
    source: str  # where the numbers come from, said in the log


class RunSetup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: SmokeConfig  # layout + model size the smoke layers build; nproc = world size
    block_modes: tuple[str, ...]  # activation checkpointing of each built block
    ds_config: dict[str, Any]
    tiny: bool
    backend: str  # auto | nccl | gloo
    lr: float
    report: Path | None
    prediction: Prediction
    notes: tuple[str, ...] = ()

    @property
    def accumulation(self) -> int:
        return self.ds_config["gradient_accumulation_steps"]


def load_run(args: argparse.Namespace) -> RunSetup:
    """Read and cross-check the plan's files; SpecError (one line) for anything that disagrees."""
    strategy = load_strategy(args.parplan_strategy)
    check_flags(args, strategy)
    model, workload = load_model(args.model), load_workload(args.workload)
    cluster = load_cluster(args.cluster)
    gpus = args.gpus or strategy.world_size
    check_degrees(strategy, gpus)
    config_path = args.deepspeed_config or args.parplan_strategy.parent / "ds_config.json"
    ds_config = read_ds_config(config_path, strategy=strategy, workload=workload)
    modes = block_modes(strategy, model)
    if args.tiny:
        fields, strategy, modes = tiny_shape(model, strategy, modes)
        ds_config = ds_config | tiny_batch(strategy)
    else:
        fields = full_shape(model, workload)
    shape = SmokeConfig(
        nproc=gpus, strategy=strategy, steps=args.steps, timeout_s=args.timeout_s,
        seed=args.seed, cluster=args.cluster, precision=_precision(ds_config), **fields,
    )  # fmt: skip
    stages, who = zero_stages(shape.strategy)
    validate(shape, who=who, zero_stages=stages)
    if args.tiny:  # the cost model on the tiny model itself, on the plan's cluster
        m, w, s = to_specs(shape)
        prediction = predicted(m, w, cluster, s, gpus=gpus,
                               source=f"the cost model for the --tiny model on {cluster.name}")
        notes = []
    else:
        prediction = predicted(model, workload, cluster, strategy, gpus=gpus,
                               source=f"the cost model on {cluster.name}")
        notes = stale_prediction_note(args.parplan_strategy, prediction)
    return RunSetup(
        shape=shape, block_modes=tuple(modes), ds_config=ds_config, tiny=args.tiny,
        backend=args.backend, lr=args.lr, report=args.report, prediction=prediction,
        notes=tuple(notes),
    )  # fmt: skip


def check_flags(args: argparse.Namespace, strategy: StrategySpec) -> None:
    """Degree flags launch.sh passes must equal plan.yaml's (no silent override)."""
    given = {name: getattr(args, name) for name in ("tp", "sp", "pp", "vpp", "ulysses", "ring")}
    given["sp_method"] = args.sp_method
    given["sp_methods"] = _parse_methods(args.sp_methods) if args.sp_methods else None
    for name, value in given.items():
        if value is not None and value != getattr(strategy, name):
            flag = "--" + name.replace("_", "-")
            raise SpecError(
                f"{flag} {value} disagrees with {args.parplan_strategy}: {name}="
                f"{getattr(strategy, name)}; re-emit the plan or drop the flag"
            )


def _parse_methods(text: str) -> dict[str, str]:
    pairs = [part.partition("=") for part in text.split(",") if part.strip()]
    return {k.strip(): v.strip() for k, _, v in pairs}


def read_ds_config(path: Path, *, strategy: StrategySpec, workload: WorkloadSpec) -> dict:
    """ds_config.json, checked against plan.yaml's batch and ZeRO stage."""
    try:
        config = json.loads(path.read_text())
    except OSError as err:
        raise SpecError(f"--deepspeed_config {path}: cannot read ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}: not JSON ({err.msg}, line {err.lineno})") from None
    batch = strategy.global_batch or workload.global_batch
    expected = {
        "train_batch_size": batch,
        "train_micro_batch_size_per_gpu": strategy.micro_batch,
        "gradient_accumulation_steps": batch // (strategy.dp * strategy.micro_batch),
    }
    stage = config.get("zero_optimization", {}).get("stage", 0)
    for key, value in {**expected, "zero_optimization.stage": strategy.zero}.items():
        found = stage if key == "zero_optimization.stage" else config.get(key)
        if found != value:
            raise SpecError(f"{path}: {key}={found} disagrees with the plan ({value})")
    return config


def tiny_batch(strategy: StrategySpec) -> dict[str, int]:
    """--tiny: one sample per rank and no accumulation (the tiny strategy's global batch = dp)."""
    return {
        "train_batch_size": strategy.dp,
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
    }


def full_shape(model: ModelSpec, workload: WorkloadSpec) -> dict:
    """SmokeConfig fields of the plan's own model at the workload's token geometry."""
    geometry = token_geometry(model, workload)
    return {**model_fields(model), "tokens": geometry.tokens, "frames": geometry.frames}


def _precision(ds_config: dict) -> str:
    for key in ("bf16", "fp16"):
        if ds_config.get(key, {}).get("enabled"):
            return key
    return "fp32"


def predicted(
    model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec, strategy: StrategySpec,
    *, gpus: int, source: str,
) -> Prediction:  # fmt: skip
    from parplan.cost.step import predict

    pred = predict(model, workload, cluster, strategy, gpus)
    live = pred.memory.total_bytes - pred.memory.margin_bytes
    return Prediction(step_time_s=pred.step_time_s, memory_gib_per_gpu=pred.memory_gib_per_gpu,
                      live_memory_gib_per_gpu=live / GIB, source=source)  # fmt: skip


def stale_prediction_note(plan_path: Path, prediction: Prediction) -> list[str]:
    """plan.yaml's `# predicted:` step time against the cost model's now: a changed cluster
    spec (a new calibration) or cost model since the plan was emitted shows here."""
    recorded = read_prediction(plan_path.read_text())
    if recorded is None or "step_time_s" not in recorded:
        return []
    then, now = recorded["step_time_s"], prediction.step_time_s
    if abs(then - now) <= 1e-9 * max(abs(now), 1e-30):
        return []
    return [f"{plan_path.name} predicted {then:.4g} s per step when emitted; the cost model now "
            f"says {now:.4g} s (cluster spec or cost model changed since)"]  # fmt: skip
