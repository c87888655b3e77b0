"""What the cost model returns for one (model, workload, cluster, strategy): the prediction record.

Kept apart from the step assembly (`step.py`) so the planner, reports and smoke can depend on the shape of a
prediction without importing the cost model's internals.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from parplan.specs import GIB, CkptMode, StrategySpec


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bottleneck(Record):
    """The communication (or compute) term that the step waits for most."""

    dim: str  # dp | tp | sp | pp | compute | bubble | optimizer | encoder
    collective: str  # e.g. "all_to_all (ulysses.qkv)", or "-" for non-comm terms
    tier: str  # nvlink | nic | leaf | spine | pcie | loopback | hbm | -
    exposed_s: float
    advice: str


class Breakdown(Record):
    """Per-step seconds; compute + exposed_comm + bubble + optimizer + encoder == step time."""

    compute_s: float
    exposed_comm_s: float
    comm_s: dict[str, float]  # total (hidden + exposed) per dimension: dp, tp, sp, pp
    exposed_comm_by_dim_s: dict[str, float]
    bubble_s: float
    optimizer_s: float
    encoder_s: float = 0.0
    recompute_s: float = 0.0  # part of compute_s spent recomputing checkpointed activations


class MemoryBreakdown(Record):
    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    buffers_bytes: float
    margin_bytes: float
    total_bytes: float
    capacity_bytes: float

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB


class BlockOption(Record):
    """One block group under one checkpoint mode: the ILP's knapsack item (per block, per step)."""

    group_index: int
    block_type: str
    count: int
    ckpt: CkptMode
    time_s: float  # compute + exposed comm of one block for a whole step, incl. recompute
    activation_bytes: float  # activation memory one block holds per GPU at the peak


class Prediction(Record):
    strategy: StrategySpec
    num_gpus: int
    step_time_s: float
    mfu: float
    hfu: float
    tflops_per_gpu: float
    tokens_per_s_per_gpu: float
    samples_per_s: float
    memory_gib_per_gpu: float
    fits: bool
    breakdown: Breakdown
    memory: MemoryBreakdown
    bottleneck: Bottleneck
    notes: list[str] = Field(default_factory=list)

    def to_json(self) -> dict:
        data = self.model_dump(mode="json")
        data["strategy"] = self.strategy.model_dump(mode="json")
        return data
