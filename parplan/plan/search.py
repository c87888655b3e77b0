"""The planner: search every layout of a DiT training run and return the fastest that fit.

It enumerates the global degrees (parplan/plan/space.py: dp, tp, sp, pp, vpp, ZeRO stage,
micro-batch, SP method with every Ulysses x ring split of USP, rank order), asks the cost model for
each candidate's per-block options, and lets the block ILP (`parplan.plan.ilp.solve_blocks`)
choose per-block activation checkpointing under the memory cap and, on models with several
block types, the SP method per block type. Candidates whose lower bound (compute floor, block
floor, `fixed time + every block at its fastest`) cannot beat the k-th best distinct plan found
so far are pruned without solving. The result is exact for the cost model over this space
(docs/solver.md, "Search").

Deadline mode sweeps whole-node cluster sizes (powers of two and 3 x powers of two, plus the
cluster's own size) and picks the smallest whose best plan meets the deadline.
"""

from __future__ import annotations

import importlib
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from parplan.cost.block import uniform_strategy
from parplan.cost.records import BlockOption, Prediction
from parplan.cost.strategies.pp import bubble_fraction
from parplan.errors import Infeasible, SpecError
from parplan.plan.ilp import (
    BlockItem,
    BlockProgram,
    BlockSolution,
    SizePoint,
    SolverName,
    memory_infeasible,
    solve_blocks,
    solve_cluster_size,
)
from parplan.plan.space import (
    CANONICAL_ORDER,
    Core,
    OrderSpace,
    core_candidates,
    mix_fields,
    order_space_for,
    orders_for,
    strategy_of,
)
from parplan.specs import ClusterSpec, ModelSpec, StackSpec, StrategySpec, WorkloadSpec

SECONDS_PER_DAY = 86400.0
Progress = Callable[[int, int], None]


class CostModel(Protocol):
    """What the planner needs from `parplan.cost.step` (tests pass a fake)."""

    def predict(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> Prediction: ...

    def block_options(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> tuple[list[BlockOption], float, float]: ...


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    search: SearchStats
    infeasible: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


# ----------------------------------------------------------------------- one candidate


def block_program(
    model: ModelSpec,
    options: list[BlockOption],
    *,
    fixed_time_s: float,
    fixed_memory_bytes: float,
    capacity_bytes: float,
    per_group: bool = False,
) -> BlockProgram:
    items = [
        BlockItem(
            group_index=o.group_index,
            block_type=o.block_type,
            ckpt=o.ckpt,
            method=getattr(o, "method", "default"),
            time_s=o.time_s,
            activation_bytes=o.activation_bytes,
            surcharge_s=getattr(o, "surcharge_s", 0.0),
            surcharge_if=_surcharge_if(o),
        )
        for o in options
    ]
    return BlockProgram(
        items=items,
        group_types=[g.type for g in model.blocks],
        group_counts=[g.count for g in model.blocks],
        fixed_time_s=fixed_time_s,
        fixed_memory_bytes=fixed_memory_bytes,
        capacity_bytes=capacity_bytes,
        per_group=per_group,
    )


def _surcharge_if(option: BlockOption) -> tuple[str, str] | None:
    """evaluate.SpOption's surcharge is paid when the named type runs DSP."""
    other = getattr(option, "surcharge_if", None)
    return None if other is None else (other, "dsp")


def lower_bound_s(program: BlockProgram) -> float:
    """No assignment is faster than every block at its fastest mode."""
    fastest: dict[int, float] = {}
    for item in program.items:
        fastest[item.group_index] = min(fastest.get(item.group_index, math.inf), item.time_s)
    return program.fixed_time_s + sum(
        count * fastest[g] for g, count in enumerate(program.group_counts)
    )


def ckpt_field(solution: BlockSolution, program: BlockProgram) -> Any:
    """`ckpt` of the strategy: one mode, or a list per group / per block (program.per_group)."""
    if program.per_group:
        modes = solution.ckpt_per_group()
    else:
        modes = solution.ckpt_per_block(program.group_counts)
    return modes[0] if len(set(modes)) == 1 else modes


class Search:
    """Mutable state of one search: the top-k so far, counters, the closest infeasibility."""

    def __init__(self, *, top_k: int) -> None:
        self.top_k = top_k
        self.best: list[tuple[tuple, Prediction, float, dict[str, int]]] = []
        self.pruned: Counter[str] = Counter()
        self.evaluated = 0
        self.ilp_solves = 0
        self.closest: Infeasible | None = None
        self.block_runs: dict[str, Any] = {}  # evaluate.sp_block_options' per-method cache
        self.floors: dict[str, dict[str, float]] = {}  # compute floor by block type, per strategy
        self.block_floors: dict[str, dict[str, float] | None] = {}  # by block type, per layout

    def bar_s(self) -> float:
        """Step time a new plan must beat to enter the top-k (inf until k plans exist)."""
        return self.best[-1][1].step_time_s if len(self.best) >= self.top_k else math.inf

    def note_infeasible(self, err: Infeasible, *, count: int = 1) -> None:
        self.pruned[err.binding] += count
        if self.closest is None or _closer(err, self.closest):
            self.closest = err

    def add(self, prediction: Prediction, ilp_s: float, ckpt_blocks: dict[str, int]) -> None:
        """Keep the k best distinct layouts: one entry per layout_key, its best order."""
        key = (round(prediction.step_time_s, 9), _tie_key(prediction.strategy))
        same = layout_key(prediction.strategy)
        for k, entry in enumerate(self.best):
            if layout_key(entry[1].strategy) == same:
                if key >= entry[0]:
                    return
                del self.best[k]
                break
        self.best.append((key, prediction, ilp_s, ckpt_blocks))
        self.best.sort(key=lambda entry: entry[0])
        del self.best[self.top_k :]


def layout_key(s: StrategySpec) -> tuple:
    """What makes two plans different layouts: degrees, SP methods, ZeRO, micro-batch (not the
    rank order or the checkpoint list, which the planner solves for each layout)."""
    methods = tuple(sorted((s.sp_methods or {}).items()))
    return (s.dp, s.tp, s.sp, s.pp, s.vpp, s.zero, s.micro_batch, s.sp_method, methods,
            s.ulysses, s.ring)  # fmt: skip


def _closer(new: Infeasible, old: Infeasible) -> bool:
    rank = {"memory": 0, "batch": 1, "divisibility": 2}
    a = (rank.get(new.binding, 3), new.shortfall_gib or math.inf)
    b = (rank.get(old.binding, 3), old.shortfall_gib or math.inf)
    return a < b


def _tie_key(s: StrategySpec) -> tuple:
    """Deterministic tie-break: simpler layouts first (fewer model-parallel GPUs, lower ZeRO)."""
    ckpt = s.ckpt if isinstance(s.ckpt, str) else ",".join(s.ckpt)
    return (
        s.tp * s.sp * s.pp,
        s.pp,
        s.tp,
        s.sp,
        s.zero,
        -s.micro_batch,
        s.vpp,
        s.sp_method,
        tuple(sorted((s.sp_methods or {}).items())),
        s.ulysses,
        ckpt,
        tuple(s.order),
    )


def evaluate_family(members: list[Core], ctx: Context, search: Search, floor_s: float) -> None:
    """Solve every rank order of every core of one family, pruning what cannot enter the top-k:
    an order whose block floor (below) already loses, for all members at once; the remaining
    orders of a core whose order-independent floor loses or that cannot fit in any order.
    `floor_s`: the family's compute floor (valid for every order, ZeRO stage and SP mix)."""
    orders = orders_for(_degrees(members[0]), space=ctx.order_space)
    alive = list(members)
    for k, order in enumerate(orders):
        if alive and _block_floor_s(alive[0], order, ctx, search) >= search.bar_s():
            search.pruned["bound"] += len(alive)
            continue
        for core in list(alive):
            core_floor_s = _evaluate_order(core, order, ctx, search, floor_s)
            if core_floor_s is None:  # memory or degrees: the same for every order
                search.pruned["order"] += len(orders) - k - 1
                alive.remove(core)
            elif core_floor_s >= search.bar_s():
                search.pruned["bound"] += len(orders) - k - 1
                alive.remove(core)


def _block_floor_s(core: Core, order: list[str], ctx: Context, search: Search) -> float:
    """A lower bound on every ZeRO stage of this family in this order: the blocks alone, each
    at its fastest checkpoint mode (none), with ZeRO 0's block collectives. ZeRO 0-2 issue the
    same block collectives and ZeRO-3 adds parameter gathers whose exposed part is >= 0; the
    fixed part (embedders, DP/ZeRO step collectives, optimizer, pipeline sends) is >= 0.
    With SP methods per block type: the sum over types of the least over the methods.
    0 when the cost model has no such floor."""
    floor = getattr(ctx.cost, "block_floor_by_type_s", None)
    if floor is None:
        return 0.0
    base = strategy_of(core.model_copy(update={"zero": 0}), order=order,
                       global_batch=ctx.global_batch, stack=ctx.stack)  # fmt: skip
    methods = sorted({m for ms in core.type_methods.values() for m in ms}) if core.type_methods else [None]
    by_method = {}
    for method in methods:
        uniform = base if method is None else uniform_strategy(base, method)
        key = uniform.model_dump_json()
        if key not in search.block_floors:
            try:
                search.block_floors[key] = floor(
                    ctx.model, ctx.workload, ctx.cluster, uniform, ctx.num_gpus
                )
            except SpecError:
                search.block_floors[key] = None  # the members report their own error
        if search.block_floors[key] is not None:
            by_method[method] = search.block_floors[key]
    if not by_method:
        return 0.0
    if core.type_methods is None:
        return sum(by_method[None].values())
    return sum(
        min((f.get(t, 0.0) for m, f in by_method.items() if m in offered), default=0.0)
        for t, offered in core.type_methods.items()
    )


def _evaluate_order(
    core: Core, order: list[str], ctx: Context, search: Search, family_floor_s: float
) -> float | None:
    """Solve one layout; returns the order-independent floor (compute without recompute, or
    the family floor when the ILP picks the SP method per block type), or None when the layout
    cannot fit whatever its order."""
    try:
        base = strategy_of(core, order=order, global_batch=ctx.global_batch, stack=ctx.stack)
        options, fixed_s, fixed_b = _options(core, base, ctx, search)
        program = block_program(
            ctx.model,
            options,
            fixed_time_s=fixed_s,
            fixed_memory_bytes=fixed_b,
            capacity_bytes=ctx.capacity_bytes,
            per_group=getattr(ctx.cost, "ckpt_per_group", False),
        )
        if lower_bound_s(program) >= search.bar_s():
            search.pruned["bound"] += 1
            return 0.0  # this bound includes this order's comm: says nothing about the others
        floor_s = _solve_and_predict(core, order, program, ctx, search)
        return floor_s if core.type_methods is None else family_floor_s
    except SpecError as err:
        search.note_infeasible(Infeasible("divisibility", str(err)))
    except Infeasible as err:
        search.note_infeasible(err)
    return None


def _options(
    core: Core, base: StrategySpec, ctx: Context, search: Search
) -> tuple[list[BlockOption], float, float]:
    """Knapsack items of one layout: per SP method where the ILP picks it per block type."""
    if core.type_methods is None:
        return ctx.cost.block_options(ctx.model, ctx.workload, ctx.cluster, base, ctx.num_gpus)
    found = ctx.cost.sp_block_options(
        ctx.model, ctx.workload, ctx.cluster, base, core.type_methods, ctx.num_gpus,
        cache=search.block_runs,
    )  # fmt: skip
    return found.options, found.fixed_time_s, found.fixed_memory_bytes


MAX_CAP_RETRIES = 3
MAX_MIX_CUTS = 32  # more than the method-per-type mixes of any model (5 methods x 2 types)


def _solve_and_predict(
    core: Core, order: list[str], program: BlockProgram, ctx: Context, search: Search
) -> float:
    """Solve the block ILP and check it with `predict`. With SP methods per block type, the
    ILP's fixed terms are a lower bound (the least over the methods), and every mix is a
    distinct layout: cut the mix found off and solve again while the ILP's bound for the
    remaining mixes could still enter the top k (docs/solver.md §1, "Mixes")."""
    solution, prediction = _solve_fitting(core, order, program, ctx, search)
    floor_s = prediction.breakdown.compute_s - prediction.breakdown.recompute_s
    cuts: list[dict[str, str]] = []
    while core.type_methods is not None and len(cuts) < MAX_MIX_CUTS:
        cuts.append(solution.methods)
        rest = program.model_copy(update={"excluded_mixes": cuts})
        try:
            solution, prediction = _solve_fitting(core, order, rest, ctx, search, bar_s=search.bar_s())
        except Infeasible:
            break
    return floor_s


class _NoBetterMix(Infeasible):
    """The ILP's bound for the remaining mixes reaches the best predicted one."""


def _solve_fitting(
    core: Core,
    order: list[str],
    program: BlockProgram,
    ctx: Context,
    search: Search,
    bar_s: float = math.inf,
) -> tuple[BlockSolution, Prediction]:
    """Solve and predict; where predict's memory exceeds the ILP's (margins the additive model
    leaves out), tighten the cap by the excess and solve again."""
    for _ in range(MAX_CAP_RETRIES):
        solution = solve_blocks(program, solver=ctx.solver)
        search.ilp_solves += solution.solver != "presolve"
        if solution.step_time_s >= bar_s:
            raise _NoBetterMix("bound", "no remaining SP-method mix beats the best one")
        fields = mix_fields(core, solution.methods, ctx.model) if core.type_methods else None
        strategy = strategy_of(
            core,
            order=order,
            global_batch=ctx.global_batch,
            stack=ctx.stack,
            ckpt=ckpt_field(solution, program),
            sp_fields=fields,
        )
        prediction = ctx.cost.predict(ctx.model, ctx.workload, ctx.cluster, strategy, ctx.num_gpus)
        search.evaluated += 1
        excess = prediction.memory.total_bytes - prediction.memory.capacity_bytes
        if prediction.fits:
            search.add(prediction, solution.step_time_s, _blocks_per_mode(solution))
            return solution, prediction
        cap = program.capacity_bytes - max(excess, 0.0) * 1.01 - 1.0
        program = program.model_copy(update={"capacity_bytes": cap})
    raise memory_infeasible(
        need_bytes=prediction.memory.total_bytes,
        capacity_bytes=ctx.capacity_bytes,
        fixed_bytes=program.fixed_memory_bytes,
    )


def _blocks_per_mode(solution: BlockSolution) -> dict[str, int]:
    blocks: Counter[str] = Counter()
    for choice in solution.choices:
        blocks[choice.ckpt] += choice.blocks
    return dict(sorted(blocks.items()))


# ------------------------------------------------------------------------------ plan


class Context(Record):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    model: ModelSpec
    workload: WorkloadSpec
    cluster: ClusterSpec
    num_gpus: int
    global_batch: int
    solver: SolverName
    orders: OrderSpace | Literal["auto"] = "auto"
    cost: Any  # CostModel
    stack: StackSpec = StackSpec()  # how the user's code runs a layout: not searched

    @property
    def capacity_bytes(self) -> float:
        return self.cluster.gpu.memory_bytes

    @property
    def order_space(self) -> OrderSpace:
        return order_space_for(self.num_gpus) if self.orders == "auto" else self.orders


class EvaluateCost:
    """`parplan.cost.step`, plus a compute-only floor that skips routing collectives on the
    cluster graph (the costly part of `predict` on thousands of GPUs)."""

    # `ckpt` lists are one mode per block (SPEC_FORMAT), so the ILP may mix modes in a group.
    ckpt_per_group = False

    def __init__(self) -> None:
        self.evaluate = importlib.import_module("parplan.cost.step")
        self.predict = self.evaluate.predict
        self.block_options = self.evaluate.block_options
        self.sp_block_options = self.evaluate.sp_block_options

    def compute_floor_s(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> float:
        """m x sum over the slowest stage's blocks of fwd + bwd compute, no recompute, no
        embedders, no communication: never more than `predict`'s compute_s."""
        by_type = self.compute_floor_by_type_s(model, workload, cluster, strategy, num_gpus)
        return sum(by_type.values())

    def block_floor_by_type_s(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> dict[str, float]:
        """m x (1 + bubble) x sum over the slowest stage's blocks of one block's compute and
        exposed communication without checkpointing: `block_options`' items at their fastest
        mode, without `assemble` (planner._block_floor_s says why it bounds the step); by
        block type."""
        ev = self.evaluate
        inp = ev.resolve(model, workload, cluster, strategy, num_gpus)
        device = ev.Device.of(cluster, workload.precision)
        comm = ev.CommModel(cluster, ev.comm_strategy(strategy), inp.layout.num_gpus)
        blocks = ev.evaluate_blocks(inp, comm, device)
        s, m = strategy, inp.layout.microbatches
        factor = m * (1 + bubble_fraction(pp=s.pp, vpp=s.vpp, microbatches=m))
        by_type: Counter[str] = Counter()
        for r in blocks:
            by_type[r.shape.block_type] += factor * r.count * sum(ev.block_step_time(r, "none"))
        return dict(by_type)

    def compute_floor_by_type_s(
        self,
        model: ModelSpec,
        workload: WorkloadSpec,
        cluster: ClusterSpec,
        strategy: StrategySpec,
        num_gpus: int | None = None,
    ) -> dict[str, float]:
        """compute_floor_s split by block type (each type under its own SP method)."""
        ev = self.evaluate
        inp = ev.resolve(model, workload, cluster, strategy, num_gpus)
        device = ev.Device.of(cluster, workload.precision)
        per_mb: Counter[str] = Counter()
        for index, count in inp.layout.stage_blocks:
            block = inp.cost.blocks[index]
            view = ev.block_inputs(inp, block.block_type)
            parts = ev.block_compute(view, block, ev.block_shape(view, block), device)
            per_mb[block.block_type] += count * (parts.fwd_s + parts.bwd_s)
        return {t: inp.layout.microbatches * s for t, s in per_mb.items()}


def default_cost_model() -> CostModel:
    """The real cost model (`parplan.cost.step`), imported when first needed."""
    return EvaluateCost()


def family_key(core: Core) -> tuple:
    """Cores that differ only in ZeRO stage share their compute time (and its floor)."""
    methods = sorted((core.type_methods or {}).items())
    return (core.tp, core.sp, core.pp, core.vpp, core.micro_batch, sorted(core.sp_fields.items()),
            methods)  # fmt: skip


def compute_floor_s(core: Core, ctx: Context, search: Search | None = None) -> float:
    """A lower bound on the step time of every ZeRO stage and rank order of this family:
    fwd+bwd compute without recompute, plus the pipeline bubble on that compute alone
    (bubble = fraction * m * t_mb >= fraction * compute). With SP methods per block type, the
    sum over types of the least compute over the methods offered to it: no mix is below it.
    Raises SpecError on bad degrees (SpecError only when no method can run)."""
    strategy = strategy_of(
        core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack
    )
    micro = ctx.global_batch // (core.dp * core.micro_batch)
    bubble = 1 + bubble_fraction(pp=core.pp, vpp=core.vpp, microbatches=micro)
    if core.type_methods is not None:
        return _mix_floor_s(core, strategy, ctx, search or Search(top_k=1)) * bubble
    floor = getattr(ctx.cost, "compute_floor_s", None)
    if floor is not None:
        compute_s = floor(ctx.model, ctx.workload, ctx.cluster, strategy, ctx.num_gpus)
    else:
        prediction = ctx.cost.predict(ctx.model, ctx.workload, ctx.cluster, strategy, ctx.num_gpus)
        compute_s = prediction.breakdown.compute_s - prediction.breakdown.recompute_s
    return compute_s * bubble


def _mix_floor_s(core: Core, strategy: StrategySpec, ctx: Context, search: Search) -> float:
    assert core.type_methods is not None
    by_method: dict[str, dict[str, float]] = {}
    errors = []
    for method in sorted({m for ms in core.type_methods.values() for m in ms}):
        uniform = uniform_strategy(strategy, method)
        key = uniform.model_dump_json()
        if key not in search.floors:
            try:
                search.floors[key] = ctx.cost.compute_floor_by_type_s(
                    ctx.model, ctx.workload, ctx.cluster, uniform, ctx.num_gpus
                )
            except SpecError as err:
                search.floors[key] = {"error": str(err)}  # type: ignore[dict-item]
        floors = search.floors[key]
        if "error" in floors:
            errors.append(floors["error"])
        else:
            by_method[method] = floors
    if not by_method:
        raise SpecError(str(errors[0]))
    return sum(
        min(f.get(t, 0.0) for m, f in by_method.items() if m in methods)
        if any(m in by_method for m in methods)
        else math.inf
        for t, methods in core.type_methods.items()
    )


def families(cores: list[Core], ctx: Context, search: Search) -> list[tuple[float, list[Core]]]:
    """Group cores by family and sort the families by their floor (cheapest first)."""
    grouped: dict[str, list[Core]] = {}
    for core in cores:
        grouped.setdefault(repr(family_key(core)), []).append(core)
    ranked = []
    for members in grouped.values():
        try:
            floor_s = compute_floor_s(members[0], ctx, search)
        except SpecError as err:
            search.note_infeasible(
                Infeasible("divisibility", str(err)), count=_layouts(members, ctx)
            )
            continue
        ranked.append((floor_s, members))
    ranked.sort(
        key=lambda fam: (
            fam[0],
            _tie_key(strategy_of(fam[1][0], order=CANONICAL_ORDER, global_batch=ctx.global_batch,
                                 stack=ctx.stack)),  # fmt: skip
        )
    )
    return ranked


def _layouts(cores: list[Core], ctx: Context) -> int:
    return sum(len(orders_for(_degrees(c), space=ctx.order_space)) for c in cores)


def _degrees(core: Core) -> dict[str, int]:
    return {"dp": core.dp, "tp": core.tp, "sp": core.sp, "pp": core.pp}


def per_type_methods(ctx: Context) -> bool:
    """Let the ILP pick the SP method per block type: where the model has several block types
    and the cost model prices per-method items (evaluate.sp_block_options)."""
    types = {g.type for g in ctx.model.blocks}
    return len(types) > 1 and hasattr(ctx.cost, "sp_block_options")


def search_plans(
    ctx: Context, *, top_k: int, progress: Progress | None = None
) -> tuple[Search, int]:
    """Branch and bound over families, cheapest compute floor first; returns the search state
    and the number of candidate layouts (core x rank order)."""
    cores = list(
        core_candidates(
            model=ctx.model,
            num_gpus=ctx.num_gpus,
            global_batch=ctx.global_batch,
            gpus_per_node=ctx.cluster.gpus_per_node,
            per_type=per_type_methods(ctx),
            ring_ok=ctx.stack.fused_attention,
        )
    )
    search = Search(top_k=top_k)
    ranked = families(cores, ctx, search)
    for done, (floor_s, members) in enumerate(ranked, start=1):
        if floor_s >= search.bar_s():
            search.pruned["bound"] += sum(_layouts(m, ctx) for _f, m in ranked[done - 1 :])
            break
        evaluate_family(members, ctx, search, floor_s)
        if progress is not None:
            progress(done, len(ranked))
    if progress is not None:
        progress(len(ranked), len(ranked))
    return search, _layouts(cores, ctx)


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


def _stats(
    search: Search, *, candidates: int, seconds: float, solver: str, order_space: str
) -> SearchStats:
    return SearchStats(
        seconds=round(seconds, 3),
        candidates=candidates,
        evaluated=search.evaluated,
        pruned=sum(search.pruned.values()),
        pruned_by=dict(sorted(search.pruned.items())),
        solver=solver,
        ilp_solves=search.ilp_solves,
        order_space=order_space,
        optimal=True,
    )


def no_plan_reason(search: Search, *, candidates: int, ctx: Context) -> Infeasible:
    """The closest miss (smallest memory shortfall first); when every layout broke a
    divisibility rule and the batch limits dp, name the batch as the binding constraint."""
    closest = search.closest or Infeasible(
        "divisibility", f"divisibility: no dp*tp*sp*pp = {ctx.num_gpus} passes the rules"
    )
    if closest.binding != "divisibility":
        return closest
    n, b = ctx.num_gpus, ctx.global_batch
    max_dp = math.gcd(n, b)
    if max_dp == n:
        return closest
    return Infeasible(
        "batch",
        f"batch: global_batch={b} allows dp <= {max_dp} on {n} GPUs, so tp*sp*pp >= "
        f"{n // max_dp}, and every such split breaks a rule (e.g. {closest.detail})",
    )


def plan(
    *,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    num_gpus: int | None = None,
    deadline_days: float | None = None,
    train_samples: float | None = None,
    train_tokens: float | None = None,
    global_batch: int | None = None,
    top_k: int = 5,
    progress: Progress | None = None,
    solver: SolverName = "highs",
    orders: OrderSpace | Literal["auto"] = "auto",
    cost_model: CostModel | None = None,
    stack: StackSpec | None = None,
) -> PlanResult:
    """Best `top_k` layouts for a fixed GPU count, or (deadline mode) the smallest cluster.

    `orders`: which rank orders to search ("all" permutations, "standard", or "auto": all up
    to AUTO_ALL_ORDERS_GPUS GPUs). `cost_model` defaults to parplan.cost.step."""
    ctx = Context(
        model=model,
        workload=workload,
        cluster=cluster,
        solver=solver,
        num_gpus=num_gpus or cluster.num_gpus,
        orders=orders,
        global_batch=global_batch or workload.global_batch,
        cost=cost_model or default_cost_model(),
        stack=stack or StackSpec(),
    )
    _check_gpu_count(ctx)
    if deadline_days is not None:
        return plan_deadline(
            ctx,
            deadline_days=deadline_days,
            top_k=top_k,
            progress=progress,
            train_samples=train_samples,
            train_tokens=train_tokens,
        )
    return plan_fixed(
        ctx, top_k=top_k, progress=progress, train_samples=train_samples, train_tokens=train_tokens
    )


def _check_gpu_count(ctx: Context) -> None:
    if ctx.num_gpus > ctx.cluster.num_gpus:
        raise SpecError(
            f"--gpus {ctx.num_gpus} exceeds the cluster: {ctx.cluster.nodes} nodes x "
            f"{ctx.cluster.gpus_per_node} GPUs = {ctx.cluster.num_gpus}"
        )


def plan_fixed(
    ctx: Context,
    *,
    top_k: int,
    progress: Progress | None,
    train_samples: float | None,
    train_tokens: float | None,
) -> PlanResult:
    start = time.perf_counter()
    search, candidates = search_plans(ctx, top_k=top_k, progress=progress)
    seconds = time.perf_counter() - start
    first = search.best[0][1] if search.best else None
    samples = first and train_samples_of(
        workload=ctx.workload,
        prediction=first,
        train_samples=train_samples,
        train_tokens=train_tokens,
    )
    plans = [to_plan(e, samples=samples, global_batch=ctx.global_batch) for e in search.best]
    reason = None if plans else no_plan_reason(search, candidates=candidates, ctx=ctx).to_json()
    return PlanResult(
        plans=plans,
        gpus=ctx.num_gpus,
        nodes=math.ceil(ctx.num_gpus / ctx.cluster.gpus_per_node),
        global_batch=ctx.global_batch,
        time_to_train_days=plans[0].time_to_train_days if plans else None,
        search=_stats(
            search,
            candidates=candidates,
            seconds=seconds,
            solver=ctx.solver,
            order_space=ctx.order_space,
        ),
        infeasible=reason,
    )


# -------------------------------------------------------------------------- deadline


def node_grid(max_nodes: int) -> list[int]:
    """Cluster sizes the deadline sweep tries: 2^k and 3*2^k nodes, and the whole cluster."""
    powers = [2**k for k in range(max_nodes.bit_length())]
    grid = {n for base in powers for n in (base, 3 * base) if n <= max_nodes}
    return sorted(grid | {max_nodes})


def plan_deadline(
    ctx: Context,
    *,
    deadline_days: float,
    top_k: int,
    progress: Progress | None,
    train_samples: float | None,
    train_tokens: float | None,
) -> PlanResult:
    if train_samples is None and train_tokens is None and ctx.workload.train_samples is None:
        raise SpecError(
            "--deadline-days needs --train-samples or --train-tokens "
            "(or train_samples in the workload)"
        )
    start = time.perf_counter()
    curve = size_curve(
        ctx, train_samples=train_samples, train_tokens=train_tokens, progress=progress
    )
    try:
        chosen = solve_cluster_size(curve=curve, deadline_days=deadline_days, solver=ctx.solver)
    except Infeasible as err:
        return _deadline_failure(ctx, curve, err, deadline_days, time.perf_counter() - start)
    result = plan_fixed(
        ctx.model_copy(update={"num_gpus": chosen.gpus}),
        top_k=top_k,
        progress=None,
        train_samples=train_samples,
        train_tokens=train_tokens,
    )
    search = result.search.model_copy(update={"seconds": round(time.perf_counter() - start, 3)})
    return result.model_copy(
        update={"curve": curve, "deadline_days": deadline_days, "search": search}
    )


def size_curve(
    ctx: Context,
    *,
    train_samples: float | None,
    train_tokens: float | None,
    progress: Progress | None,
) -> list[SizePoint]:
    """Best time-to-train for every grid size (None where no plan fits)."""
    grid = node_grid(ctx.cluster.nodes)
    points = []
    for k, nodes in enumerate(grid, start=1):
        sized = ctx.model_copy(update={"num_gpus": nodes * ctx.cluster.gpus_per_node})
        result = plan_fixed(
            sized, top_k=1, progress=None, train_samples=train_samples, train_tokens=train_tokens
        )
        points.append(SizePoint(nodes=nodes, gpus=sized.num_gpus, days=result.time_to_train_days))
        if progress is not None:
            progress(k, len(grid))
    return points


def _deadline_failure(
    ctx: Context, curve: list[SizePoint], err: Infeasible, deadline_days: float, seconds: float
) -> PlanResult:
    stats = SearchStats(
        seconds=round(seconds, 3),
        candidates=0,
        evaluated=0,
        pruned=0,
        pruned_by={},
        solver=ctx.solver,
        ilp_solves=0,
        order_space=ctx.order_space,
        optimal=True,
    )
    return PlanResult(
        plans=[],
        gpus=0,
        nodes=0,
        global_batch=ctx.global_batch,
        curve=curve,
        deadline_days=deadline_days,
        search=stats,
        infeasible=err.to_json(),
    )
