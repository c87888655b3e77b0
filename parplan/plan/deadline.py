"""Deadline mode: the smallest whole-node cluster whose best plan trains the samples in time.

One sizing routine, `size_for_deadline`, serves `parplan plan --deadline-days`, `parplan
estimate` (estimate/training.py) and recipe stages (docs/solver.md §2):
1. Bound: every layout's MFU is at most `mfu_bound.best_mfu_bound`, so at N GPUs the run takes at
   least samples · F / (N · peak · MFU_max) days. Grid sizes where even that misses the deadline
   cannot meet it and are not planned.
2. Decide, smallest size first: "is any layout at N GPUs fast enough?" is the planner's search
   with the step time that meets the deadline as its bar (`ceiling_s`): everything whose floor
   reaches it is pruned before costing, so a size that misses is answered quickly.
3. The first size that meets the deadline is the answer (sizes are tried in increasing order, so
   days(N) need not be monotone); it is planned in full (top k) with the work already done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from parplan.cost.options import SharedWork
from parplan.errors import Infeasible, SpecError
from parplan.model.geometry import token_geometry
from parplan.plan.mfu_bound import best_mfu_bound
from parplan.plan.results import SECONDS_PER_DAY, PlanResult, SearchStats, SizePoint
from parplan.plan.search import plan_fixed
from parplan.plan.space import CANONICAL_ORDER, Core, strategy_of
from parplan.plan.state import Context, Progress, Search, cache_kwargs

# Fraction of wall time that trains at N GPUs (failures, restarts, checkpoints): wall days =
# compute days / goodput(N). None: 1. Must be in (0, 1] for the bound to hold.
GoodputOf = Callable[[int], float]


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
    goodput: GoodputOf | None = None,
    full_curve: bool = False,
) -> PlanResult:
    """`size_for_deadline` with the samples from --train-samples, --train-tokens or the
    workload (SpecError when none is given)."""
    samples = samples_to_train(ctx, train_samples=train_samples, train_tokens=train_tokens)
    return size_for_deadline(ctx, deadline_days=deadline_days, samples=samples, top_k=top_k,
                             progress=progress, goodput=goodput, full_curve=full_curve)  # fmt: skip


def samples_to_train(
    ctx: Context, *, train_samples: float | None, train_tokens: float | None
) -> float:
    if train_samples is not None:
        return train_samples
    if train_tokens is not None:
        return train_tokens / token_geometry(ctx.model, ctx.workload).tokens
    if ctx.workload.train_samples is not None:
        return ctx.workload.train_samples
    raise SpecError(
        "--deadline-days needs --train-samples or --train-tokens (or train_samples in the workload)"
    )


def size_for_deadline(
    ctx: Context,
    *,
    deadline_days: float,
    samples: float,
    top_k: int = 5,
    progress: Progress | None = None,
    goodput: GoodputOf | None = None,
    full_curve: bool = False,
) -> PlanResult:
    """The smallest size of the node grid (up to the cluster) whose best plan trains `samples`
    within `deadline_days` (wall days: compute days / goodput(N)), planned in full: a PlanResult
    with `gpus`, `plans` (top k at that size), `curve` (every grid size: days where planned, the
    bound's days, status) and `deadline_days`; `infeasible` (binding "deadline" or "memory")
    when no size meets it. `ctx.num_gpus` is ignored. Progress: (sizes done, grid sizes).
    `full_curve`: also plan every other size to the end, for the exact days-vs-GPUs curve (the
    answer does not need it; it costs a plan per size)."""
    start = time.perf_counter()
    grid = [n * ctx.cluster.gpus_per_node for n in node_grid(ctx.cluster.nodes)]
    search = Search(top_k=1, shared=SharedWork())
    mfu = best_mfu_bound(ctx, grid, search)
    lower = _days_lower_bound(ctx, search, samples=samples, mfu=mfu)
    fit = goodput or (lambda _gpus: 1.0)
    steps = math.ceil(samples / ctx.global_batch)
    points: list[SizePoint] = []
    chosen: int | None = None
    for k, gpus in enumerate(grid, start=1):
        bound_days = lower(gpus) / fit(gpus)
        if chosen is not None or bound_days > deadline_days:
            status = "above" if chosen is not None else "bound"
            points.append(_point(ctx, gpus, status=status, bound_days=bound_days))
        else:
            # the step that meets the deadline, a hair above: the days of the plan found decide
            ceiling_s = deadline_days * SECONDS_PER_DAY * fit(gpus) / steps * (1 + 1e-9)
            sized = ctx.model_copy(update={"num_gpus": gpus})
            found = plan_fixed(sized, top_k=1, progress=None, train_samples=samples,
                               train_tokens=None, ceiling_s=ceiling_s, shared=search.shared)  # fmt: skip
            point = _searched(ctx, gpus, found, bound_days=bound_days, fit=fit(gpus),
                              deadline_days=deadline_days)  # fmt: skip
            points.append(point)
            chosen = gpus if point.status == "meets" else None
        if progress is not None:
            progress(k, len(grid))
    if full_curve:
        points = [_exact(ctx, p, search, samples=samples, fit=fit(p.gpus)) for p in points]
    bound = None if math.isinf(mfu) else mfu
    if chosen is None:
        failed = _deadline_failure(ctx, points, deadline_days, time.perf_counter() - start)
        return failed.model_copy(update={"mfu_bound": bound})
    sized = ctx.model_copy(update={"num_gpus": chosen})
    result = plan_fixed(sized, top_k=top_k, progress=None, train_samples=samples,
                        train_tokens=None, shared=search.shared)  # fmt: skip
    plans = [p.model_copy(update={"time_to_train_days": _wall(p.time_to_train_days, fit(chosen))})
             for p in result.plans]  # fmt: skip
    return result.model_copy(update={
        "plans": plans, "time_to_train_days": plans[0].time_to_train_days, "curve": points,
        "deadline_days": deadline_days, "mfu_bound": bound,
        "search": result.search.model_copy(
            update={"seconds": round(time.perf_counter() - start, 3)}
        ),
    })  # fmt: skip


def _days_lower_bound(
    ctx: Context, search: Search, *, samples: float, mfu: float
) -> Callable[[int], float]:
    """days(N) >= samples · F / (N · peak · MFU_max) (mfu_bound.py); 0 without a bound."""
    if math.isinf(mfu):
        return lambda _gpus: 0.0
    core = Core(dp=1, tp=1, sp=1, pp=1, vpp=1, zero=0, micro_batch=1, sp_fields={"sp_method": "none"})
    base = strategy_of(core, order=CANONICAL_ORDER, global_batch=ctx.global_batch, stack=ctx.stack)
    shape = ctx.cost.shape_compute(
        ctx.model, ctx.workload, ctx.cluster, base, 1, **cache_kwargs(ctx, search)
    )
    flops, peak = shape.train_flops_per_sample, shape.peak_flop_per_s
    return lambda gpus: samples * flops / (gpus * peak * mfu) / SECONDS_PER_DAY


def _exact(ctx: Context, point: SizePoint, search: Search, *, samples: float,
           fit: float) -> SizePoint:  # fmt: skip
    """The point with its best plan's days (planned to the end unless it already was)."""
    if point.days is not None or point.status == "no plan":
        return point
    sized = ctx.model_copy(update={"num_gpus": point.gpus})
    result = plan_fixed(sized, top_k=1, progress=None, train_samples=samples, train_tokens=None,
                        shared=search.shared)  # fmt: skip
    return point.model_copy(update={"days": _wall(result.time_to_train_days, fit)})


def _wall(days: float | None, fit: float) -> float | None:
    return None if days is None else days / fit


def _point(ctx: Context, gpus: int, *, status: str, bound_days: float,
           days: float | None = None) -> SizePoint:  # fmt: skip
    nodes = gpus // ctx.cluster.gpus_per_node
    return SizePoint(nodes=nodes, gpus=gpus, days=days, days_at_least=bound_days, status=status)


def _searched(ctx: Context, gpus: int, found: PlanResult, *, bound_days: float, fit: float,
              deadline_days: float) -> SizePoint:  # fmt: skip
    """A size the search decided: it meets (its best plan's days) or misses the deadline (every
    layout pruned by the deadline's bar, or the best just above it), or nothing fits at all."""
    if found.plans:
        days = _wall(found.plans[0].time_to_train_days, fit)
        status = "meets" if days is not None and days <= deadline_days else "misses"
        return _point(ctx, gpus, status=status, bound_days=bound_days, days=days)
    beaten = found.search.pruned_by.get("bound", 0) > 0
    return _point(ctx, gpus, status="misses" if beaten else "no plan", bound_days=bound_days)


def _deadline_failure(
    ctx: Context, curve: list[SizePoint], deadline_days: float, seconds: float
) -> PlanResult:
    if all(p.status == "no plan" for p in curve):
        err = Infeasible("memory", "no cluster size up to the cluster's own has a feasible plan")
    else:
        err = Infeasible("deadline", _miss_detail(ctx, curve, deadline_days))
    stats = SearchStats(seconds=round(seconds, 3), candidates=0, evaluated=0, pruned=0,
                        pruned_by={}, solver=ctx.solver, ilp_solves=0,
                        order_space=ctx.order_space, optimal=True)  # fmt: skip
    return PlanResult(plans=[], gpus=0, nodes=0, global_batch=ctx.global_batch, curve=curve,
                      deadline_days=deadline_days, search=stats, infeasible=err.to_json())  # fmt: skip


def _miss_detail(ctx: Context, curve: list[SizePoint], deadline_days: float) -> str:
    largest = curve[-1]
    why = {"bound": f"needs at least {largest.days_at_least:.4g} days at the best MFU any "
                    "layout reaches", "misses": "has no layout fast enough"}  # fmt: skip
    return (
        f"deadline: no cluster size up to the whole cluster ({largest.gpus:,} GPUs, "
        f"{largest.nodes:,} nodes) trains within {deadline_days:g} days: the whole cluster "
        f"{why.get(largest.status or '', 'has no feasible plan')}"
    )


def smallest_meeting(*, curve: Sequence[SizePoint], deadline_days: float) -> SizePoint:
    """Smallest size whose best plan finishes within the deadline, from a curve with every
    size's days (the exhaustive reference the tests compare `size_for_deadline` with); sizes
    without a plan are left out; `Infeasible` names the fastest size when none makes it."""
    usable = [p for p in curve if p.days is not None]
    fastest = min((p.days for p in usable), default=None)
    if fastest is None or fastest > deadline_days:
        raise deadline_infeasible(curve=curve, deadline_days=deadline_days, fastest_days=fastest)
    return min((p for p in usable if p.days <= deadline_days), key=lambda p: p.nodes)


def deadline_infeasible(
    *, curve: Sequence[SizePoint], deadline_days: float, fastest_days: float | None
) -> Infeasible:
    if fastest_days is None:
        return Infeasible("memory", "no cluster size up to the cluster's own has a feasible plan")
    best = min((p for p in curve if p.days is not None), key=lambda p: (p.days, p.nodes))
    detail = (
        f"deadline: the fastest plan, on {best.gpus} GPUs ({best.nodes} nodes, the most that "
        f"help), needs {best.days:.1f} days > deadline {deadline_days:g} days"
    )
    return Infeasible("deadline", detail)
