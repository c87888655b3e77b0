"""Lower bounds on a layout's step time that the planner prunes with (docs/solver.md, "Search").

Both skip `assemble` (embedders, DP/ZeRO step collectives, optimizer: all >= 0), so neither
exceeds `predict`'s step time for any ZeRO stage or checkpoint choice of the same degrees.
"""

from __future__ import annotations

from collections import Counter

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import block_compute, block_inputs, block_shape, comm_strategy, resolve
from parplan.cost.device import Device
from parplan.cost.stage import block_step_time, evaluate_blocks
from parplan.cost.strategies.pp import bubble_fraction
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


def compute_floor_by_type_s(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> dict[str, float]:
    """m x the slowest stage's blocks' fwd + bwd compute, no recompute, no communication, by
    block type (each type under its own SP method): never more than `predict`'s compute_s.
    Skips routing collectives on the graph, the costly part of `predict` on thousands of GPUs."""
    inp = resolve(model, workload, cluster, strategy, num_gpus)
    device = Device.of(cluster, workload.precision)
    per_mb: Counter[str] = Counter()
    for index, count in inp.layout.stage_blocks:
        block = inp.cost.blocks[index]
        view = block_inputs(inp, block.block_type)
        parts = block_compute(view, block, block_shape(view, block), device)
        per_mb[block.block_type] += count * (parts.fwd_s + parts.bwd_s)
    return {t: inp.layout.microbatches * s for t, s in per_mb.items()}


def block_floor_by_type_s(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> dict[str, float]:
    """m x (1 + bubble) x the slowest stage's blocks, each with its compute and exposed
    communication without checkpointing (`block_options`' items at their fastest mode), by
    block type."""
    inp = resolve(model, workload, cluster, strategy, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(strategy), inp.layout.num_gpus)
    s, m = strategy, inp.layout.microbatches
    factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
    by_type: Counter[str] = Counter()
    for r in evaluate_blocks(inp, comm, device):
        by_type[r.shape.block_type] += factor * r.count * sum(block_step_time(r, "none"))
    return dict(by_type)
