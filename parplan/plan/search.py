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

import math
import time
from collections import Counter
from typing import Any

from parplan.cost.options import SharedWork
from parplan.cost.records import BlockOption, Prediction
from parplan.cost.strategies.zero_impl import pipeline_zero_stages
from parplan.errors import Infeasible, SpecError
from parplan.plan.bounds import (
    block_floor_s,
    degrees_of,
    families,
    layouts_of,
    lower_bound_s,
    memory_floor_s,
)
from parplan.plan.enumeration import Fronts
from parplan.plan.ilp import solve_blocks
from parplan.plan.program import (
    BlockProgram,
    BlockSolution,
    block_program,
    memory_infeasible,
    model_ckpt_list,
)
from parplan.plan.results import PlanResult, SearchStats, to_plan, train_samples_of
from parplan.plan.space import (
    Core,
    core_candidates,
    mix_fields,
    orders_for,
    strategy_of,
)
from parplan.plan.state import Context, Progress, Search, cache_kwargs
from parplan.specs import ModelSpec, StrategySpec

# ----------------------------------------------------------------------- one candidate


def ckpt_field(solution: BlockSolution, program: BlockProgram, model: ModelSpec) -> Any:
    """`ckpt` of the strategy: one mode, or a list per group (program.per_group) or per block
    (program.model_ckpt_list: what predict reads as the solution's counts on the stage)."""
    if program.per_group:
        modes = solution.ckpt_per_group()
    else:
        modes = model_ckpt_list(solution, program, model)
    return modes[0] if len(set(modes)) == 1 else modes


def evaluate_family(members: list[Core], ctx: Context, search: Search, floor_s: float) -> None:
    """Solve every rank order of every core of one family, pruning what cannot enter the top-k:
    a core whose memory floor (every order, recompute included) loses or cannot fit, before
    any order is costed; an order whose block floor already loses, for all members at once.
    `floor_s`: the family's compute floor (valid for every order, ZeRO stage and SP mix)."""
    orders = orders_for(degrees_of(members[0]), space=ctx.order_space)
    alive = _with_memory_floors(members, ctx, search, orders=len(orders))
    for k, order in enumerate(orders):
        alive = _still_alive(alive, search, orders_left=len(orders) - k)
        if alive and block_floor_s(alive[0][0], order, ctx, search) >= search.bar_s():
            search.pruned["bound"] += len(alive)
            continue
        for core, core_floor_s in list(alive):
            if core_floor_s >= search.bar_s():  # the bar fell during this order
                search.pruned["bound"] += 1  # the rest go with _still_alive at the next order
                continue
            if not _evaluate_order(core, order, ctx, search):
                search.pruned["order"] += len(orders) - k - 1
                alive.remove((core, core_floor_s))


def _with_memory_floors(
    members: list[Core], ctx: Context, search: Search, *, orders: int
) -> list[tuple[Core, float]]:
    """Members with their memory floor (bounds.memory_floor_s), cheapest first; those that
    lose or cannot fit in any order are counted as pruned for all their orders."""
    alive = []
    for core in members:
        try:
            floor_s = memory_floor_s(core, ctx, search)
        except SpecError as err:
            search.note_infeasible(Infeasible("divisibility", str(err)), count=orders)
            continue
        except Infeasible as err:
            search.note_infeasible(err, count=orders)
            continue
        if floor_s >= search.bar_s():
            search.pruned["bound"] += orders
            continue
        alive.append((core, floor_s))
    return sorted(alive, key=lambda member: member[1])


def _still_alive(
    alive: list[tuple[Core, float]], search: Search, *, orders_left: int
) -> list[tuple[Core, float]]:
    """Drop the members whose memory floor reaches the bar, with the orders they have left."""
    keep = [(core, floor_s) for core, floor_s in alive if floor_s < search.bar_s()]
    search.pruned["bound"] += (len(alive) - len(keep)) * orders_left
    return keep


def _evaluate_order(core: Core, order: list[str], ctx: Context, search: Search) -> bool:
    """Solve one layout; False when it cannot run whatever its order (degrees, memory)."""
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
            return True
        _solve_and_predict(core, order, program, ctx, search)
    except SpecError as err:
        search.note_infeasible(Infeasible("divisibility", str(err)))
        return False
    except Infeasible as err:  # memory does not depend on the order either
        search.note_infeasible(err)
        return False
    return True


def _options(
    core: Core, base: StrategySpec, ctx: Context, search: Search
) -> tuple[list[BlockOption], float, float]:
    """Knapsack items of one layout: per SP method where the ILP picks it per block type."""
    if core.type_methods is None:
        return ctx.cost.block_options(ctx.model, ctx.workload, ctx.cluster, base, ctx.num_gpus,
                                      **cache_kwargs(ctx, search))  # fmt: skip
    found = ctx.cost.sp_block_options(
        ctx.model, ctx.workload, ctx.cluster, base, core.type_methods, ctx.num_gpus,
        cache=search.shared,
    )  # fmt: skip
    return found.options, found.fixed_time_s, found.fixed_memory_bytes


MAX_CAP_RETRIES = 3
MAX_MIX_CUTS = 32  # more than the method-per-type mixes of any model (5 methods x 2 types)


def _solve_and_predict(
    core: Core, order: list[str], program: BlockProgram, ctx: Context, search: Search
) -> None:
    """Solve the block ILP and check it with `predict`. With SP methods per block type, the
    ILP's fixed terms are a lower bound (the least over the methods), and every mix is a
    distinct layout: cut the mix found off and solve again while the ILP's bound for the
    remaining mixes could still enter the top k (docs/solver.md §1, "Mixes")."""
    fronts: dict[float, Fronts] = {}  # per cap: each mix is enumerated once across the cuts
    solution, _prediction = _solve_fitting(core, order, program, ctx, search, fronts=fronts)
    cuts: list[dict[str, str]] = []
    while core.type_methods is not None and len(cuts) < MAX_MIX_CUTS:
        cuts.append(solution.methods)
        rest = program.model_copy(update={"excluded_mixes": cuts})
        try:
            solution, _prediction = _solve_fitting(core, order, rest, ctx, search,
                                                   bar_s=search.bar_s(), fronts=fronts)  # fmt: skip
        except Infeasible:
            break


class _NoBetterMix(Infeasible):
    """The ILP's bound for the remaining mixes reaches the best predicted one."""


def _solve_fitting(
    core: Core,
    order: list[str],
    program: BlockProgram,
    ctx: Context,
    search: Search,
    bar_s: float = math.inf,
    fronts: dict[float, Fronts] | None = None,
) -> tuple[BlockSolution, Prediction]:
    """Solve and predict; where predict's memory exceeds the ILP's (margins the additive model
    leaves out), tighten the cap by the excess and solve again."""
    fronts = {} if fronts is None else fronts
    for _ in range(MAX_CAP_RETRIES):
        reuse = fronts.setdefault(program.capacity_bytes, Fronts(program))
        solution = solve_blocks(program, solver=ctx.solver, fronts=reuse)
        search.ilp_solves += solution.solver != "presolve"
        if solution.step_time_s >= bar_s:
            raise _NoBetterMix("bound", "no remaining SP-method mix beats the best one")
        fields = mix_fields(core, solution.methods, ctx.model) if core.type_methods else None
        strategy = strategy_of(
            core,
            order=order,
            global_batch=ctx.global_batch,
            stack=ctx.stack,
            ckpt=ckpt_field(solution, program, ctx.model),
            sp_fields=fields,
        )
        prediction = ctx.cost.predict(ctx.model, ctx.workload, ctx.cluster, strategy, ctx.num_gpus)
        search.evaluated += 1
        excess = prediction.memory.total_bytes - prediction.memory.capacity_bytes
        if prediction.fits:
            search.add(prediction, solution.step_time_s, _blocks_per_mode(strategy, ctx.model))
            return solution, prediction
        cap = program.capacity_bytes - max(excess, 0.0) * 1.01 - 1.0
        program = program.model_copy(update={"capacity_bytes": cap})
    raise memory_infeasible(
        need_bytes=prediction.memory.total_bytes,
        capacity_bytes=ctx.capacity_bytes,
        fixed_bytes=program.fixed_memory_bytes,
    )


def _blocks_per_mode(strategy: StrategySpec, model: ModelSpec) -> dict[str, int]:
    """Blocks of the model per checkpoint mode (`ckpt`: one mode, per group or per block)."""
    if isinstance(strategy.ckpt, str):
        return {strategy.ckpt: model.depth}
    per_block = len(strategy.ckpt) == model.depth
    counts = [1] * model.depth if per_block else [g.count for g in model.blocks]
    blocks: Counter[str] = Counter()
    for mode, n in zip(strategy.ckpt, counts, strict=True):
        blocks[mode] += n
    return dict(sorted(blocks.items()))


# ------------------------------------------------------------------------------ plan


def per_type_methods(ctx: Context) -> bool:
    """Let the ILP pick the SP method per block type: where the model has several block types
    and the cost model prices per-method items (cost/options.py sp_block_options)."""
    types = {g.type for g in ctx.model.blocks}
    return len(types) > 1 and hasattr(ctx.cost, "sp_block_options")


def search_plans(
    ctx: Context,
    *,
    top_k: int,
    progress: Progress | None = None,
    ceiling_s: float = math.inf,
    shared: SharedWork | None = None,
) -> tuple[Search, int]:
    """Branch and bound over families, cheapest compute floor first; returns the search state
    and the number of candidate layouts (core x rank order). `ceiling_s`: plans at or above it
    are pruned like those that cannot enter the top k (deadline mode's question "is any layout
    this fast?"); `shared`: sub-results kept from earlier searches of the same specs."""
    cores = list(
        core_candidates(
            model=ctx.model,
            num_gpus=ctx.num_gpus,
            global_batch=ctx.global_batch,
            gpus_per_node=ctx.cluster.gpus_per_node,
            per_type=per_type_methods(ctx),
            ring_ok=ctx.stack.fused_attention,
            zero_with_pp=pipeline_zero_stages(ctx.stack.zero_impl),
        )
    )
    search = Search(top_k=top_k, ceiling_s=ceiling_s, shared=shared)
    ranked = families(cores, ctx, search)
    for done, (floor_s, members) in enumerate(ranked, start=1):
        if floor_s >= search.bar_s():
            search.pruned["bound"] += sum(layouts_of(m, ctx) for _f, m in ranked[done - 1 :])
            break
        evaluate_family(members, ctx, search, floor_s)
        if progress is not None:
            progress(done, len(ranked))
    if progress is not None:
        progress(len(ranked), len(ranked))
    return search, layouts_of(cores, ctx)


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


def plan_fixed(
    ctx: Context,
    *,
    top_k: int,
    progress: Progress | None,
    train_samples: float | None,
    train_tokens: float | None,
    ceiling_s: float = math.inf,
    shared: SharedWork | None = None,
) -> PlanResult:
    start = time.perf_counter()
    search, candidates = search_plans(ctx, top_k=top_k, progress=progress, ceiling_s=ceiling_s,
                                      shared=shared)  # fmt: skip
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


