"""Deadline mode: the smallest whole-node cluster whose best plan trains the samples in time."""

from __future__ import annotations

import time
from collections.abc import Sequence

from parplan.errors import Infeasible, SpecError
from parplan.plan.results import PlanResult, SearchStats, SizePoint
from parplan.plan.search import plan_fixed
from parplan.plan.state import Context, Progress


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
        chosen = smallest_meeting(curve=curve, deadline_days=deadline_days)
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


def smallest_meeting(*, curve: Sequence[SizePoint], deadline_days: float) -> SizePoint:
    """Smallest cluster size whose best plan finishes within the deadline (docs/solver.md §2).
    Sizes without a plan are left out; `Infeasible` names the fastest size when none makes it."""
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
