"""`plan`: the planner's entry point: the best layouts for a GPU count, or (deadline mode) the
smallest cluster that meets a deadline."""

from __future__ import annotations

from typing import Literal

from parplan.errors import SpecError
from parplan.plan.cost_model import CostModel, default_cost_model
from parplan.plan.deadline import GoodputOf, plan_deadline
from parplan.plan.ilp import (
    SolverName,
)
from parplan.plan.results import PlanResult
from parplan.plan.search import plan_fixed
from parplan.plan.space import (
    OrderSpace,
)
from parplan.plan.state import Context, Progress
from parplan.specs import ClusterSpec, ModelSpec, StackSpec, WorkloadSpec


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
    goodput: GoodputOf | None = None,
    full_curve: bool = False,
) -> PlanResult:
    """Best `top_k` layouts for a fixed GPU count, or (deadline mode) the smallest cluster.

    `orders`: which rank orders to search ("all" permutations, "standard", or "auto": all up
    to AUTO_ALL_ORDERS_GPUS GPUs). `cost_model` defaults to parplan.cost.step. Deadline mode
    (deadline.size_for_deadline) reads wall days as compute days / `goodput(gpus)`, and with
    `full_curve` plans every grid size to the end for the curve."""
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
            goodput=goodput,
            full_curve=full_curve,
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
