"""What `parplan plan` returns: the plans (layout, step time, MFU, memory, days to train), the
search's counts, the deadline curve, and why nothing fits when nothing does."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from parplan.cost.records import Prediction
from parplan.specs import StrategySpec, WorkloadSpec

SECONDS_PER_DAY = 86400.0


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SizePoint(Record):
    """One cluster size of deadline mode (deadline.py): its best plan's days to train where it
    was planned to the end, the least days any layout could take (the MFU bound), and what the
    sizing found: "meets" (the answer), "misses" (searched: no layout is fast enough), "bound"
    (pruned by the MFU bound), "above" (larger than the answer, not planned), "no plan"."""

    nodes: int
    gpus: int
    days: float | None  # None: not planned to the end, or no feasible plan
    days_at_least: float | None = None
    status: str | None = None


class Plan(Record):
    strategy: StrategySpec
    step_time_s: float
    mfu: float
    hfu: float
    memory_gib_per_gpu: float
    tokens_per_s_per_gpu: float
    samples_per_s: float
    bottleneck: dict[str, Any]
    time_to_train_days: float | None = None
    ilp_step_time_s: float  # the block program's objective (cost model's additive estimate)
    ckpt_blocks: dict[str, int]  # blocks per checkpoint mode


class SearchStats(Record):
    seconds: float
    candidates: int
    evaluated: int
    pruned: int
    pruned_by: dict[str, int]
    solver: str
    ilp_solves: int
    order_space: str
    optimal: bool


class PlanResult(Record):
    plans: list[Plan]
    gpus: int
    nodes: int
    global_batch: int
    time_to_train_days: float | None = None
    deadline_days: float | None = None
    curve: list[SizePoint] = Field(default_factory=list)
    mfu_bound: float | None = None  # deadline mode: the best MFU any layout reaches (mfu_bound.py)
    search: SearchStats
    infeasible: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


def train_samples_of(
    *,
    workload: WorkloadSpec,
    prediction: Prediction,
    train_samples: float | None,
    train_tokens: float | None,
) -> float | None:
    if train_samples is not None:
        return train_samples
    if train_tokens is not None:
        tokens_per_sample = (
            prediction.tokens_per_s_per_gpu * prediction.num_gpus / prediction.samples_per_s
        )
        return train_tokens / tokens_per_sample
    return workload.train_samples


def days_to_train(
    *, prediction: Prediction, samples: float | None, global_batch: int
) -> float | None:
    if samples is None:
        return None
    steps = math.ceil(samples / global_batch)
    return steps * prediction.step_time_s / SECONDS_PER_DAY


def to_plan(entry: tuple, *, samples: float | None, global_batch: int) -> Plan:
    _key, p, ilp_s, blocks = entry
    return Plan(
        strategy=p.strategy,
        step_time_s=p.step_time_s,
        mfu=p.mfu,
        hfu=p.hfu,
        memory_gib_per_gpu=p.memory_gib_per_gpu,
        tokens_per_s_per_gpu=p.tokens_per_s_per_gpu,
        samples_per_s=p.samples_per_s,
        bottleneck=p.bottleneck.model_dump(mode="json"),
        time_to_train_days=days_to_train(prediction=p, samples=samples, global_batch=global_batch),
        ilp_step_time_s=ilp_s,
        ckpt_blocks=blocks,
    )
