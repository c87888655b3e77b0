"""Lower bounds that let the search skip layouts without solving them (docs/solver.md, "Search"):
a family's compute floor (every ZeRO stage and rank order), an order's block floor, and a
block program's all-fastest bound; and the families the search visits cheapest first."""

from __future__ import annotations

import math

from parplan.cluster.placement import rank_strides
from parplan.cost.block import uniform_strategy
from parplan.cost.layout import stage_blocks
from parplan.cost.records import BlockOption
from parplan.cost.strategies.pp import bubble_fraction
from parplan.errors import Infeasible, SpecError
from parplan.plan.ilp import solve_blocks
from parplan.plan.program import BlockProgram, block_program
from parplan.plan.space import (
    CANONICAL_ORDER,
    Core,
    orders_for,
    strategy_of,
)
from parplan.plan.state import Context, Search, cache_kwargs, tie_key


def lower_bound_s(program: BlockProgram) -> float:
    """No assignment is faster than every block at its fastest mode."""
    fastest: dict[int, float] = {}
    for item in program.items:
        fastest[item.group_index] = min(fastest.get(item.group_index, math.inf), item.time_s)
    return program.fixed_time_s + sum(
        count * fastest[g] for g, count in enumerate(program.group_counts)
    )


def memory_floor_s(core: Core, ctx: Context, search: Search) -> float:
    """A lower bound on this core's step in every rank order, recompute included: the block
    program on the cost model's items with every collective at 0 s (`floor_options`), which
    have the layout's real memory. Memory does not depend on the rank order, so where this
    program is infeasible, every order is (Infeasible "memory"); SpecError on bad degrees.
    0 when the cost model has no such items."""
    if not hasattr(ctx.cost, "floor_options"):
        return 0.0
    base = strategy_of(core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack)
    if core.type_methods is None:
        options, fixed_s, fixed_b = ctx.cost.floor_options(
            ctx.model, ctx.workload, ctx.cluster, base, ctx.num_gpus, **cache_kwargs(ctx, search)
        )
    else:
        found = ctx.cost.sp_floor_options(ctx.model, ctx.workload, ctx.cluster, base,
                                          core.type_methods, ctx.num_gpus, search.shared)  # fmt: skip
        options, fixed_s, fixed_b = found.options, found.fixed_time_s, found.fixed_memory_bytes
    program = block_program(ctx.model, _least_per_mode(options), fixed_time_s=fixed_s,
                            fixed_memory_bytes=fixed_b, capacity_bytes=ctx.capacity_bytes,
                            per_group=getattr(ctx.cost, "ckpt_per_group", False))  # fmt: skip
    return solve_blocks(program, solver=ctx.solver).step_time_s


def _least_per_mode(options: list[BlockOption]) -> list[BlockOption]:
    """One item per (group, checkpoint mode) with the least seconds and the least bytes over the
    SP methods: every mix's program is at least this one, which has a single mix to solve."""
    least: dict[tuple[int, str], BlockOption] = {}
    for o in options:
        key = (o.group_index, o.ckpt)
        if key not in least:
            least[key] = BlockOption(**{f: getattr(o, f) for f in BlockOption.model_fields})
            continue
        kept = least[key]
        least[key] = kept.model_copy(update={
            "time_s": min(kept.time_s, o.time_s),
            "activation_bytes": min(kept.activation_bytes, o.activation_bytes),
        })  # fmt: skip
    return list(least.values())


def block_floor_s(core: Core, order: list[str], ctx: Context, search: Search) -> float:
    """A lower bound on every ZeRO stage of this family in this order: the blocks alone, each
    at its fastest checkpoint mode (none), with ZeRO 0's block collectives. ZeRO 0-2 issue the
    same block collectives and ZeRO-3 adds parameter gathers whose exposed part is >= 0; the
    fixed part (embedders, DP/ZeRO step collectives, optimizer, pipeline sends) is >= 0.
    With SP methods per block type: the sum over types of the least over the methods.
    0 when the cost model has no such floor. The blocks' collectives run on the TP and SP
    groups (and USP's sub-groups of SP), which depend on the order only through the rank
    strides of tp and sp (cluster/placement.py): orders that share them share this floor."""
    floor = getattr(ctx.cost, "block_floor_by_type_s", None)
    if floor is None:
        return 0.0
    base = strategy_of(core.model_copy(update={"zero": 0}), order=order,
                       global_batch=ctx.global_batch, stack=ctx.stack)  # fmt: skip
    methods = (
        sorted({m for ms in core.type_methods.values() for m in ms})
        if core.type_methods
        else [None]
    )
    degrees = {"dp": core.dp, "tp": core.tp, "sp": core.sp, "pp": core.pp}
    strides = rank_strides(degrees=degrees, order=order)
    placed = f"{ctx.num_gpus}|{strides['tp']}|{strides['sp']}|"
    by_method = {}
    for method in methods:
        uniform = base if method is None else uniform_strategy(base, method)
        key = placed + uniform.model_copy(update={"order": list(CANONICAL_ORDER)}).model_dump_json()
        if key not in search.block_floors:
            try:
                search.block_floors[key] = floor(
                    ctx.model, ctx.workload, ctx.cluster, uniform, ctx.num_gpus,
                    **cache_kwargs(ctx, search),
                )  # fmt: skip
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
    micro = ctx.global_batch // (core.dp * core.micro_batch)
    bubble = 1 + bubble_fraction(pp=core.pp, vpp=core.vpp, microbatches=micro)
    search = search or Search(top_k=1)
    if hasattr(ctx.cost, "shape_compute"):
        by_method = _floors_by_method(core, ctx, search, microbatches=micro)
        offered = core.type_methods or {t: [None] for t in _types(ctx)}
        return _least_sum(by_method, offered) * bubble
    strategy = strategy_of(
        core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack
    )
    prediction = ctx.cost.predict(ctx.model, ctx.workload, ctx.cluster, strategy, ctx.num_gpus)
    return (prediction.breakdown.compute_s - prediction.breakdown.recompute_s) * bubble


def _types(ctx: Context) -> list[str]:
    return list(dict.fromkeys(g.type for g in ctx.model.blocks))


def _floors_by_method(
    core: Core, ctx: Context, search: Search, *, microbatches: int
) -> dict[str | None, dict[str, float]]:
    """Per SP method that can run: m x the slowest stage's blocks' compute, by block type, from
    one block's compute per group (floors.shape_compute), which does not depend on pp or
    dp: cached per GPU shape across the families and searches of a plan.
    SpecError when no method can run."""
    methods = sorted({m for ms in core.type_methods.values() for m in ms}) if core.type_methods else [None]
    by_method: dict[str | None, dict[str, float]] = {}
    errors = []
    for method in methods:
        per_block = _per_block_s(core, method, ctx, search)
        if isinstance(per_block, str):
            errors.append(per_block)
            continue
        per_mb: dict[str, float] = {}
        for g, count in stage_blocks(ctx.model, core.pp):
            block_type = ctx.model.blocks[g].type
            per_mb[block_type] = per_mb.get(block_type, 0) + count * per_block[g]
        by_method[method] = {t: microbatches * seconds for t, seconds in per_mb.items()}
    if not by_method:
        raise SpecError(errors[0])
    return by_method


def _per_block_s(core: Core, method: str | None, ctx: Context, search: Search) -> dict[int, float] | str:
    """One block's fwd + bwd compute per group at this GPU shape (dp = pp = 1), or the SpecError."""
    shape = core.model_copy(update={"dp": 1, "pp": 1, "vpp": 1, "zero": 0})
    base = strategy_of(shape, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack)
    strategy = base if method is None else uniform_strategy(base, method)
    key = strategy.model_dump_json()
    memo = search.shared.memo.setdefault("per_block_s", {})
    if key not in memo:
        try:
            memo[key] = ctx.cost.shape_compute(
                ctx.model, ctx.workload, ctx.cluster, strategy, core.tp * core.sp,
                **cache_kwargs(ctx, search),
            ).per_block_s  # fmt: skip
        except SpecError as err:
            memo[key] = str(err)
    return memo[key]


def _least_sum(by_method: dict, offered: dict[str, list]) -> float:
    """Sum over block types of the least floor over the methods offered to the type."""
    return sum(
        min(f.get(t, 0.0) for m, f in by_method.items() if m in methods)
        if any(m in by_method for m in methods)
        else math.inf
        for t, methods in offered.items()
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
                Infeasible("divisibility", str(err)), count=layouts_of(members, ctx)
            )
            continue
        ranked.append((floor_s, members))
    ranked.sort(
        key=lambda fam: (
            fam[0],
            tie_key(
                strategy_of(
                    fam[1][0], order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack
                )
            ),  # fmt: skip
        )
    )
    return ranked


def layouts_of(cores: list[Core], ctx: Context) -> int:
    return sum(len(orders_for(degrees_of(c), space=ctx.order_space)) for c in cores)


def degrees_of(core: Core) -> dict[str, int]:
    return {"dp": core.dp, "tp": core.tp, "sp": core.sp, "pp": core.pp}
