"""Lower bounds on a layout's step time that the planner prunes with (docs/solver.md, "Search").

The compute and block floors skip `assemble` (embedders, DP/ZeRO step collectives, optimizer:
all >= 0), so neither exceeds `predict`'s step time for any ZeRO stage or checkpoint choice of
the same degrees. `floor_options` are the planner's knapsack items with every collective at
0 s: the same memory, so the block program solved on them is a lower bound for every rank
order that includes the recompute memory forces.
"""

from __future__ import annotations

from collections import Counter

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import comm_strategy
from parplan.cost.device import Device
from parplan.cost.options import SharedWork, SpOptions, Untimed, block_options, sp_block_options
from parplan.cost.records import BlockOption
from parplan.cost.stage import block_step_time
from parplan.cost.strategies.pp import bubble_fraction
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


def compute_floor_by_type_s(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> dict[str, float]:
    """m x the slowest stage's blocks' fwd + bwd compute, no recompute, no communication, by
    block type (each type under its own SP method): never more than `predict`'s compute_s.
    Skips routing collectives on the graph, the costly part of `predict` on thousands of GPUs."""
    shared = cache or SharedWork()
    inp = shared.inputs(model, workload, cluster, strategy, num_gpus)
    per_mb: Counter[str] = Counter()
    for r in shared.blocks(inp, Untimed(), Device.of(cluster, workload.precision)):
        per_mb[r.shape.block_type] += r.count * (r.parts.fwd_s + r.parts.bwd_s)
    return {t: inp.layout.microbatches * s for t, s in per_mb.items()}


def compute_per_block_s(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> dict[int, float]:
    """fwd + bwd compute of one block of each group on the slowest stage, one micro-batch, no
    recompute and no communication (what `compute_floor_by_type_s` sums): block index -> s.
    A block's compute does not depend on pp, dp, the rank order or the ZeRO stage."""
    shared = cache or SharedWork()
    inp = shared.inputs(model, workload, cluster, strategy, num_gpus)
    blocks = shared.blocks(inp, Untimed(), Device.of(cluster, workload.precision))
    return {r.group_index: r.parts.fwd_s + r.parts.bwd_s for r in blocks}


def model_flops_per_sample(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> tuple[float, float]:
    """(model FLOPs of one sample's training step, the peak FLOP/s) as `predict`'s MFU counts."""
    shared = cache or SharedWork()
    inp = shared.inputs(model, workload, cluster, strategy, num_gpus)
    return inp.cost.train_flops, Device.of(cluster, workload.precision).peak_flop_per_s


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


def floor_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> tuple[list[BlockOption], float, float]:
    """`block_options` with every collective at 0 s (options.Untimed): order-independent."""
    return block_options(model, workload, cluster, strategy, num_gpus, timed=False, cache=cache)


def sp_floor_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    methods: dict[str, list[str]],
    num_gpus: int | None = None,
    cache: SharedWork | None = None,
) -> SpOptions:
    """`sp_block_options` with every collective at 0 s (no DSP-switch surcharges either)."""
    return sp_block_options(model, workload, cluster, strategy, methods, num_gpus, cache,
                            timed=False)  # fmt: skip
