"""The planner's view of the cost model: knapsack items per (block group, checkpoint mode[, SP
method]) with their step seconds and activation bytes, plus the fixed time and memory of
everything else (docs/solver.md §1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CallTime, CommModel
from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.block import (
    Inputs,
    block_inputs,
    check_block_methods,
    comm_strategy,
    dsp_switches_per_block,
    resolve,
    uniform_strategy,
)
from parplan.cost.device import Device
from parplan.cost.footprint import block_activation_bytes, memory_breakdown
from parplan.cost.layout import make_layout
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
    *,
    timed: bool = True,
    cache: SharedWork | None = None,
) -> tuple[list[BlockOption], float, float]:
    """The ILP's knapsack items: per block group × checkpoint mode, one block's seconds per
    step and kept activation bytes on the slowest pipeline stage (`count`: that stage's blocks
    of the group, the whole group when pp = 1; the schedule's m(1 + bubble) and in-flight
    micro-batches included); plus the fixed time and fixed memory of everything else.
    step = fixed_time + Σ count_i · time_s and memory = fixed_memory + Σ count_i ·
    activation_bytes for the stage's mode counts count_i, which is how `predict` reads a
    `ckpt` list (layout.ckpt_mix: the group's modes scaled to the stage).
    `timed=False` prices every collective at 0 s (`Untimed`) and leaves out everything outside
    the blocks (fixed time 0): a lower bound on the step of every rank order, with the same
    memory (floors.py). `cache`: the plan's SharedWork."""
    run = _block_run(model, workload, cluster, strategy, num_gpus, timed=timed, shared=cache)
    return run.options, run.fixed_time_s, run.fixed_memory_bytes


class Untimed:
    """A CommModel that prices every collective at 0 s. Memory does not depend on collective
    times (buffers come from the calls' sizes), and every step term is nondecreasing in them
    (exposed = max(0, t - window), the bubble scales the exposed time), so a run with it is a
    lower bound on the step for every placement, and needs no rank groups at all."""

    def time(self, call: CollectiveCall) -> CallTime:
        return CallTime(call=call, group_size=0, time_s=0.0, tier="-", edge="-")


class SharedWork:
    """What the layouts of one plan (one model, workload and cluster; any GPU count) share, so
    each is computed once (tests/test_planner_cache.py checks every entry against a fresh run):
    - resolved inputs: the token geometry and model cost do not depend on the strategy; the
      layout does not depend on the rank order, ZeRO stage, vpp or checkpointing (which are
      still validated per strategy);
    - a stage's evaluated blocks: the same for every ZeRO stage below 3 (only ZeRO-3 adds block
      collectives), every vpp and checkpoint choice, and, without collective times (`Untimed`),
      every rank order;
    - whole runs (`sp_block_options`)."""

    def __init__(self) -> None:
        self._template: Inputs | None = None
        self._inputs: dict[str, Inputs] = {}
        self._blocks: dict[str, list[BlockResult]] = {}
        self.runs: dict[str, _BlockRun | str] = {}
        self.memo: dict[str, dict] = {}  # the planner's own per-plan caches, by name

    def inputs(self, model: ModelSpec, workload: WorkloadSpec, cluster: ClusterSpec,
               strategy: StrategySpec, num_gpus: int | None) -> Inputs:  # fmt: skip
        """`block.resolve(...)`, from the shared parts."""
        gpus = num_gpus or strategy.world_size
        key = f"{gpus}|{_key(strategy, order=False, zero=False)}"
        t = self._template
        if t is None or not (t.model is model and t.workload is workload and t.cluster is cluster):
            self._template = self._inputs[key] = resolve(model, workload, cluster, strategy, gpus)
            return self._template
        check_block_methods(model=model, geometry=t.geometry, strategy=strategy, num_gpus=gpus)
        if key not in self._inputs:
            layout = make_layout(model=model, workload=workload, strategy=strategy, num_gpus=gpus)
            self._inputs[key] = t.model_copy(update={"layout": layout})
        inp = self._inputs[key]
        s = strategy.model_copy(update={"global_batch": inp.layout.global_batch})
        return inp.model_copy(update={"strategy": s})

    def blocks(self, inp: Inputs, comm: CommModel | Untimed, device: Device) -> list[BlockResult]:
        """`stage.evaluate_blocks(inp, comm, device)`, once per distinct result."""
        timed = not isinstance(comm, Untimed)
        s = inp.strategy
        key = f"{timed}|{inp.layout.num_gpus}|{_key(s, order=timed, zero=s.zero == 3)}"
        if key not in self._blocks:
            self._blocks[key] = evaluate_blocks(inp, comm, device)
        return self._blocks[key]


def _key(strategy: StrategySpec, *, order: bool, zero: bool) -> str:
    """The strategy as a cache key, without its checkpointing and vpp (and rank order, ZeRO
    stage)."""
    update: dict = {"ckpt": "none", "vpp": 1}
    if not order:
        update["order"] = ["tp", "sp", "dp", "pp"]
    if not zero:
        update["zero"] = 0
    return strategy.model_copy(update=update).model_dump_json()


class _BlockRun(BaseModel):
    """One evaluation behind `block_options`, kept for the per-method surcharges."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    inp: Inputs
    comm: CommModel | Untimed
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
    *,
    timed: bool = True,
    shared: SharedWork | None = None,
) -> _BlockRun:
    shared = shared or SharedWork()
    uniform = strategy.model_copy(update={"ckpt": "none"})
    inp = shared.inputs(model, workload, cluster, uniform, num_gpus)
    device = Device.of(cluster, workload.precision)
    comm = CommModel(cluster, comm_strategy(uniform), inp.layout.num_gpus) if timed else Untimed()
    blocks = shared.blocks(inp, comm, device)
    if timed:
        base = assemble(inp, blocks, comm, device)
        base_time_s, base_memory_bytes = base.step_time_s, base.memory.total_bytes
    else:  # the floor: the blocks' compute alone (assemble adds only time >= 0); exact memory
        base_time_s, base_memory_bytes = 0.0, memory_breakdown(inp, blocks).total_bytes
    s, m = uniform, inp.layout.microbatches
    factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
    in_flight = in_flight_microbatches(pp=s.pp, vpp=s.vpp, microbatches=m)
    options: list[BlockOption] = []
    for r in blocks:  # one item per block of the slowest stage (r.count of them) and mode
        view = block_inputs(inp, r.shape.block_type)
        for ckpt in ("none", "selective", "full"):
            kept, _ = block_activation_bytes(view, r.shape, ckpt)
            options.append(BlockOption.model_construct(
                group_index=r.group_index, block_type=r.shape.block_type, count=r.count,
                ckpt=ckpt, time_s=factor * sum(block_step_time(r, ckpt)),
                activation_bytes=in_flight * kept * (1 + ALLOCATOR_FRACTION),
            ))  # fmt: skip
    on_stage = {r.group_index for r in blocks}
    for index, group in enumerate(model.blocks):  # groups with no block on the slowest stage
        if index not in on_stage:
            options += [
                BlockOption.model_construct(group_index=index, block_type=group.type, count=0,
                                            ckpt=ckpt, time_s=0.0, activation_bytes=0.0)
                for ckpt in ("none", "selective", "full")
            ]  # fmt: skip
    block_time_total = sum(o.count * o.time_s for o in options if o.ckpt == "none")
    block_mem_total = sum(o.count * o.activation_bytes for o in options if o.ckpt == "none")
    return _BlockRun(
        inp=inp, comm=comm, blocks=blocks, factor=factor, options=options,
        fixed_time_s=base_time_s - block_time_total if timed else 0.0,
        fixed_memory_bytes=base_memory_bytes - block_mem_total,  # margin already inside
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
    cache: SharedWork | None = None,
    *,
    timed: bool = True,
) -> SpOptions:
    """Knapsack items for every (block group, SP method offered to its type, checkpoint mode):
    one `block_options` run per method with that method on every block, plus the DSP-switch
    surcharges of mixes (block.py `dsp_switches_per_block`). `strategy` carries the degrees
    and the USP split; SpecError when no method can run. `cache` (the plan's SharedWork) keeps
    each method's run for the next call with the same uniform strategy.
    `timed=False`: every collective at 0 s, as in `block_options`."""
    shared = SharedWork() if cache is None else cache
    runs: dict[str, _BlockRun] = {}
    dropped: dict[str, str] = {}
    for method in sorted({m for ms in methods.values() for m in ms}):
        uniform = uniform_strategy(strategy, method)
        key = f"{timed}|{num_gpus}|{uniform.model_dump_json()}"
        if key not in shared.runs:
            try:
                shared.runs[key] = _block_run(model, workload, cluster, uniform, num_gpus,
                                              timed=timed, shared=shared)  # fmt: skip
            except SpecError as err:
                shared.runs[key] = str(err)
        found = shared.runs[key]
        if isinstance(found, str):
            dropped[method] = found
        else:
            runs[method] = found
    if not runs:
        raise SpecError(next(iter(dropped.values())))
    options = [
        SpOption.model_construct(**dict(o), method=method, **_surcharge(model, methods, run, o))
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
    if isinstance(run.comm, Untimed):
        return {}  # switches are collectives: 0 s
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
    return {"surcharge_s": run.factor * per_mb, "surcharge_if": other}  # per stage block
