"""Lower bounds on a layout's step time that the planner prunes with (docs/solver.md, "Search").

The compute floor (from `shape_compute`) and the block floor skip `assemble` (embedders, DP/ZeRO step collectives, optimizer:
all >= 0), so neither exceeds `predict`'s step time for any ZeRO stage or checkpoint choice of
the same degrees. The planner's memory floor is its knapsack items with every collective at
0 s (options.block_options(timed=False)): the same memory, so the block program solved on them
is a lower bound for every rank order that includes the recompute memory forces.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import comm_strategy
from parplan.cost.device import Device
from parplan.cost.options import SharedWork, Untimed
from parplan.cost.stage import block_step_time
from parplan.cost.strategies.pp import bubble_fraction
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


class ShapeCompute(BaseModel):
    """What one GPU shape computes, without recompute or communication."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_block_s: dict[int, float]  # group index -> one block's fwd + bwd, one micro-batch
    train_flops_per_sample: float  # model FLOPs of one sample's step, as `predict`'s MFU counts
    peak_flop_per_s: float  # the peak `predict`'s MFU divides by


def shape_compute(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> ShapeCompute:
    """fwd + bwd compute of one block of each group on the slowest stage, one micro-batch, no
    recompute and no communication. A block's compute does not depend on pp, dp, the rank order
    or the ZeRO stage. The compute floor (plan/bounds.py) is m x the sum over the stage's
    blocks, never more than `predict`'s compute_s; it skips routing collectives on the graph,
    the costly part of `predict` on thousands of GPUs."""
    shared = cache or SharedWork()
    inp = shared.inputs(model, workload, cluster, strategy, num_gpus)
    device = Device.of(cluster, workload.precision)
    blocks = shared.blocks(inp, Untimed(), device)
    return ShapeCompute(
        per_block_s={r.group_index: r.parts.fwd_s + r.parts.bwd_s for r in blocks},
        train_flops_per_sample=inp.cost.train_flops,
        peak_flop_per_s=device.peak_flop_per_s,
    )


def block_floor_by_type_s(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> dict[str, float]:
    """m x (1 + bubble) x the slowest stage's blocks, each with its compute and exposed
    communication without checkpointing (`block_options`' items at their fastest mode), by
    block type."""
    shared = cache or SharedWork()
    inp = shared.inputs(model, workload, cluster, strategy, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(strategy), inp.layout.num_gpus)
    s, m = strategy, inp.layout.microbatches
    factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
    by_type: Counter[str] = Counter()
    for r in shared.blocks(inp, comm, device):
        by_type[r.shape.block_type] += factor * r.count * sum(block_step_time(r, "none"))
    return dict(by_type)
