"""The planner's view of the cost model: knapsack items per (block group, checkpoint mode[, SP
method]) with their step seconds and activation bytes, plus the fixed time and memory of
everything else (docs/solver.md §1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CommModel
from parplan.cost.block import (
    Inputs,
    block_inputs,
    comm_strategy,
    dsp_switches_per_block,
    resolve,
    uniform_strategy,
)
from parplan.cost.device import Device
from parplan.cost.footprint import block_activation_bytes
from parplan.cost.memory import ALLOCATOR_FRACTION
from parplan.cost.overlap import exposed_seconds
from parplan.cost.records import BlockOption
from parplan.cost.stage import BlockResult, block_step_time, evaluate_blocks, recomputed
from parplan.cost.step import assemble
from parplan.cost.strategies.dsp import dsp_switch_calls
from parplan.cost.strategies.pp import bubble_fraction, in_flight_microbatches
from parplan.errors import SpecError
from parplan.specs import ClusterSpec, ModelSpec, StrategySpec, WorkloadSpec


def block_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None = None,
) -> tuple[list[BlockOption], float, float]:
    """The ILP's knapsack items: per block group × checkpoint mode, one block's seconds per
    step and kept activation bytes; plus the fixed time and fixed memory of everything else.
    step ≈ fixed_time + Σ time_s and memory ≈ fixed_memory + Σ activation_bytes (exact for
    pp = 1; for pp > 1 the per-block terms include the schedule's (m + bubble) factor)."""
    run = _block_run(model, workload, cluster, strategy, num_gpus)
    return run.options, run.fixed_time_s, run.fixed_memory_bytes


class _BlockRun(BaseModel):
    """One evaluation behind `block_options`, kept for the per-method surcharges."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    inp: Inputs
    comm: CommModel
    blocks: list[BlockResult]
    factor: float  # a block's per-micro-batch seconds -> seconds per step (m x (1 + bubble))
    options: list[BlockOption]
    fixed_time_s: float
    fixed_memory_bytes: float


def _block_run(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    num_gpus: int | None,
) -> _BlockRun:
    uniform = strategy.model_copy(update={"ckpt": "none"})
    inp = resolve(model, workload, cluster, uniform, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(uniform), inp.layout.num_gpus)
    blocks = evaluate_blocks(inp, comm, device)
    base = assemble(inp, blocks, comm, device)
    s, m = uniform, inp.layout.microbatches
    factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
    in_flight = in_flight_microbatches(pp=s.pp, vpp=s.vpp, microbatches=m)
    options: list[BlockOption] = []
    for r in blocks:
        # per block of the whole model: the slowest stage holds r.count of the group's blocks
        share = r.count / model.blocks[r.group_index].count
        view = block_inputs(inp, r.shape.block_type)
        for ckpt in ("none", "selective", "full"):
            kept, _ = block_activation_bytes(view, r.shape, ckpt)
            options.append(BlockOption(
                group_index=r.group_index, block_type=r.shape.block_type,
                count=model.blocks[r.group_index].count, ckpt=ckpt,
                time_s=share * factor * sum(block_step_time(r, ckpt)),
                activation_bytes=share * in_flight * kept * (1 + ALLOCATOR_FRACTION),
            ))  # fmt: skip
    on_stage = {r.group_index for r in blocks}
    for index, group in enumerate(model.blocks):  # groups with no block on the slowest stage
        if index not in on_stage:
            options += [
                BlockOption(group_index=index, block_type=group.type, count=group.count,
                            ckpt=ckpt, time_s=0.0, activation_bytes=0.0)
                for ckpt in ("none", "selective", "full")
            ]  # fmt: skip
    block_time_total = sum(o.count * o.time_s for o in options if o.ckpt == "none")
    block_mem_total = sum(o.count * o.activation_bytes for o in options if o.ckpt == "none")
    return _BlockRun(
        inp=inp, comm=comm, blocks=blocks, factor=factor, options=options,
        fixed_time_s=base.step_time_s - block_time_total,
        fixed_memory_bytes=base.memory.total_bytes - block_mem_total,  # margin already inside
    )  # fmt: skip


class SpOption(BlockOption):
    """A knapsack item under one SP method. `surcharge_s` is paid per block when block type
    `surcharge_if` runs DSP: the layout switches this (non-DSP) block then carries."""

    method: str
    surcharge_s: float = 0.0
    surcharge_if: str | None = None


class SpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    options: list[SpOption]
    # everything outside the blocks, the least over the methods: buffers, the working set and
    # the DP overlap window depend on the methods a little (docs/solver.md §1, "Mixes")
    fixed_time_s: float
    fixed_memory_bytes: float
    dropped: dict[str, str]  # method -> why it cannot run here (SpecError)


def sp_block_options(
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    strategy: StrategySpec,
    methods: dict[str, list[str]],
    num_gpus: int | None = None,
    cache: dict[str, _BlockRun | str] | None = None,
) -> SpOptions:
    """Knapsack items for every (block group, SP method offered to its type, checkpoint mode):
    one `block_options` run per method with that method on every block, plus the DSP-switch
    surcharges of mixes (block.py `dsp_switches_per_block`). `strategy` carries the degrees
    and the USP split; SpecError when no method can run. `cache` (one model, workload, cluster
    and GPU count) keeps each method's run for the next call with the same uniform strategy."""
    cache = {} if cache is None else cache
    runs: dict[str, _BlockRun] = {}
    dropped: dict[str, str] = {}
    for method in sorted({m for ms in methods.values() for m in ms}):
        uniform = uniform_strategy(strategy, method)
        key = uniform.model_dump_json()
        if key not in cache:
            try:
                cache[key] = _block_run(model, workload, cluster, uniform, num_gpus)
            except SpecError as err:
                cache[key] = str(err)
        found = cache[key]
        if isinstance(found, str):
            dropped[method] = found
        else:
            runs[method] = found
    if not runs:
        raise SpecError(next(iter(dropped.values())))
    options = [
        SpOption(**o.model_dump(), method=method, **_surcharge(model, methods, run, o))
        for method, run in runs.items()
        for o in run.options
        if method in methods.get(o.block_type, ())
    ]
    return SpOptions(
        options=options,
        fixed_time_s=min(r.fixed_time_s for r in runs.values()),
        fixed_memory_bytes=min(r.fixed_memory_bytes for r in runs.values()),
        dropped=dropped,
    )


def _surcharge(
    model: ModelSpec, methods: dict[str, list[str]], run: _BlockRun, option: BlockOption
) -> dict:
    """A non-DSP block of the type that carries the switches (the scarcer of spatial and
    temporal) pays them when the other type runs DSP; its DSP items already include them."""
    other = {"spatial": "temporal", "temporal": "spatial"}.get(option.block_type)
    s = run.inp.strategy
    if other is None or s.sp_method == "dsp" or "dsp" not in methods.get(other, ()):
        return {}
    mixed = s.model_copy(update={"sp_methods": {other: "dsp"}})
    switches = dsp_switches_per_block(model, mixed).get(option.block_type, 0)
    result = next((r for r in run.blocks if r.group_index == option.group_index), None)
    if not switches or result is None:
        return {}
    view = block_inputs(run.inp, option.block_type)
    fwd, bwd = dsp_switch_calls(result.shape, degree=s.sp, switches=switches)
    per_mb = sum(
        exposed_seconds(run.comm.time(c), result.parts, view)
        * (2 if recomputed(c, option.ckpt) else 1)
        for c in fwd + bwd
    )
    share = result.count / model.blocks[option.group_index].count
    return {"surcharge_s": share * run.factor * per_mb, "surcharge_if": other}
