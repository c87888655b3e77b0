"""Training compute for a model and workload, and the GPUs a deadline needs: at 100% of peak, and
at the MFU of the planner's layout (sized on the planner's node grid, `size_for_deadline`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Protocol

from parplan.cost.goodput import strategy_goodput
from parplan.errors import SpecError
from parplan.estimate.formulas import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    TRAIN_TO_FORWARD,
    Record,
    forward_flops_and_tokens,
)
from parplan.plan.deadline import node_grid
from parplan.plan.planner import plan
from parplan.plan.results import Plan
from parplan.specs import ClusterSpec, ModelSpec, StackSpec, WorkloadSpec


class PlanRound(Record):
    """One planner call of the deadline sizing: the GPUs planned, the MFU found (times the plan's
    goodput where the caller counts failures), and the GPUs that needs for the deadline (or why
    nothing fits at this size)."""

    gpus: int
    mfu: float | None
    gpus_needed: float | None
    infeasible: str | None = None


class PlannedOutcome(Protocol):
    """What the sizing reads from a plan: the MFU the deadline is sized with (the plan's MFU x
    its goodput, so that failures and checkpoints count)."""

    mfu: float


class EffectiveMfu(Record):
    """A plan's MFU times its goodput: the fraction of peak the run delivers over wall time."""

    mfu: float


class DeadlineSizing(Record):
    """The planner's layout for the deadline: the MFU it reaches at `plan_gpus` GPUs."""

    planned_mfu: float | None
    plan_gpus: int | None
    plan: dict | None  # the planner's Plan (strategy, step time, MFU, memory, days) + its GPUs
    bottleneck: dict | None
    rounds: list[PlanRound]
    cluster_gpus: int
    exceeds_cluster: bool  # the deadline needs more GPUs than the cluster has at this MFU
    infeasible: str | None = None


def grid_at_least(gpus: float, grid: Sequence[int]) -> int:
    """Index of the smallest size in `grid` (ascending) with >= `gpus`; the last if none is."""
    return next((k for k, size in enumerate(grid) if size >= gpus), len(grid) - 1)


def size_for_deadline(
    *,
    train_flops: float,
    peak_flop_per_s: float,
    deadline_s: float,
    grid: Sequence[int],
    plan_at: Callable[[int], tuple[PlannedOutcome, dict] | str],
) -> DeadlineSizing:
    """Smallest `grid` size whose planned MFU meets the deadline, by fixed-point iteration.

    Start at the smallest size with >= the GPUs at 100% of peak (no smaller size can make it);
    plan there; GPUs needed = FLOPs / (peak x MFU x deadline); if that exceeds the size, move up
    the grid to it and plan again (more GPUs usually lower MFU, so sizes only grow). A size with
    no feasible plan moves one step up. Stops when the size suffices or the cluster is used up.
    `plan_at(gpus)` returns (plan, plan as a dict) or the reason nothing fits.
    """
    k = grid_at_least(train_flops / (peak_flop_per_s * deadline_s), grid)
    rounds: list[PlanRound] = []
    while True:
        outcome = plan_at(grid[k])
        if isinstance(outcome, str):
            rounds.append(PlanRound(gpus=grid[k], mfu=None, gpus_needed=None, infeasible=outcome))
            if k + 1 == len(grid):
                return _sizing(rounds, grid=grid, best=None, infeasible=outcome)
            k += 1
            continue
        plan, plan_dict = outcome
        needed = train_flops / (peak_flop_per_s * plan.mfu * deadline_s)
        rounds.append(PlanRound(gpus=grid[k], mfu=plan.mfu, gpus_needed=needed))
        nxt = grid_at_least(needed, grid)
        if nxt <= k:
            return _sizing(rounds, grid=grid, best=(plan, plan_dict), infeasible=None)
        k = nxt


def _sizing(rounds: list[PlanRound], *, grid: Sequence[int],
            best: tuple[PlannedOutcome, dict] | None, infeasible: str | None) -> DeadlineSizing:  # fmt: skip
    last = rounds[-1]
    return DeadlineSizing(
        planned_mfu=best[0].mfu if best else None,
        plan_gpus=last.gpus if best else None,
        plan={"gpus": last.gpus, **best[1]} if best else None,
        bottleneck=best[1].get("bottleneck") if best else None,
        rounds=rounds,
        cluster_gpus=grid[-1],
        exceeds_cluster=bool(last.gpus_needed and last.gpus_needed > grid[-1]),
        infeasible=infeasible,
    )


class TrainingEstimate(Record):
    """Training compute from real block FLOPs and the GPUs it needs for a deadline, at 100% of
    peak and at the MFU of the planner's layout (`sizing`, when the planner ran)."""

    forward_flops_per_sample: float
    train_flops_per_sample: float
    train_samples: float
    train_flops: float
    linear_scaling_train_flops: float  # the seed's method: one-frame cost x latent frames
    quadratic_over_linear: float  # train_flops / linear_scaling_train_flops
    deadline_s: float
    deadline_days: float
    peak_flop_per_s: float
    gpu_hours_at_peak: float
    gpus_at_peak: float
    cost_at_peak: float | None
    planned_mfu: float | None = None
    goodput: dict | None = None  # cost.goodput.Goodput of the plan: failures, checkpoints
    gpus_at_planned_mfu: float | None = None
    gpu_hours: float | None = None  # at the planned MFU
    cost: float | None = None  # gpu_hours x price
    plan: dict | None = None
    bottleneck: dict | None = None
    sizing: DeadlineSizing | None = None


def training_estimate(
    *,
    forward_flops_per_sample: float,
    forward_flops_per_frame: float,
    frame_count: float,
    train_samples: float,
    deadline_s: float,
    peak_flop_per_s: float,
    cost_per_gpu_hour: float | None = None,
    planned_mfu: float | None = None,
    sizing: DeadlineSizing | None = None,
) -> TrainingEstimate:
    """Train FLOPs = 3 x forward x samples (DiT paper Sec. 5); GPUs at peak = FLOPs / (peak x
    deadline), at MFU m: / m. `forward_flops_per_frame` is the same model on one frame at the same
    resolution and `frame_count` = tokens per sample / tokens per frame: the seed (line 54) scales
    the one-frame cost linearly by the frame count, which misses attention's N^2 growth.
    `planned_mfu` defaults to the sizing's (the planner's) MFU."""
    train_per_sample = TRAIN_TO_FORWARD * forward_flops_per_sample
    train_flops = train_per_sample * train_samples
    linear = TRAIN_TO_FORWARD * forward_flops_per_frame * frame_count * train_samples
    gpu_hours = train_flops / peak_flop_per_s / SECONDS_PER_HOUR
    goodput = sizing.plan.get("goodput") if sizing and sizing.plan else None
    if planned_mfu is None and sizing is not None:  # the plan's own MFU, before goodput
        planned_mfu = (sizing.plan or {}).get("mfu", sizing.planned_mfu)
    fraction = goodput["fraction"] if goodput else 1.0
    gpus_mfu = hours_mfu = None
    if planned_mfu is not None:  # wall-clock GPUs and GPU-hours: at MFU x goodput
        gpus_mfu = train_flops / (peak_flop_per_s * planned_mfu * fraction * deadline_s)
        hours_mfu = gpu_hours / (planned_mfu * fraction)
    return TrainingEstimate(
        forward_flops_per_sample=forward_flops_per_sample,
        train_flops_per_sample=train_per_sample,
        train_samples=train_samples,
        train_flops=train_flops,
        linear_scaling_train_flops=linear,
        quadratic_over_linear=train_flops / linear,
        deadline_s=deadline_s,
        deadline_days=deadline_s / SECONDS_PER_DAY,
        peak_flop_per_s=peak_flop_per_s,
        gpu_hours_at_peak=gpu_hours,
        gpus_at_peak=train_flops / (peak_flop_per_s * deadline_s),
        cost_at_peak=_cost(gpu_hours=gpu_hours, cost_per_gpu_hour=cost_per_gpu_hour),
        planned_mfu=planned_mfu,
        goodput=goodput,
        gpus_at_planned_mfu=gpus_mfu,
        gpu_hours=hours_mfu,
        cost=_cost(gpu_hours=hours_mfu, cost_per_gpu_hour=cost_per_gpu_hour),
        plan=sizing.plan if sizing else None,
        bottleneck=sizing.bottleneck if sizing else None,
        sizing=sizing,
    )


def _cost(*, gpu_hours: float | None, cost_per_gpu_hour: float | None) -> float | None:
    if gpu_hours is None or cost_per_gpu_hour is None:
        return None
    return gpu_hours * cost_per_gpu_hour


def one_frame(model: ModelSpec, workload: WorkloadSpec) -> tuple[float, float]:
    """The same model on one frame at the workload's resolution (the seed's linear unit);
    padding warnings for this reference are not the user's concern."""
    frame = workload.model_copy(update={"kind": "image", "frames": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return forward_flops_and_tokens(model, frame)


# progress(description, done, total): a planner call's progress, for a bar that says which size
SizingProgress = Callable[[str, int, int | None], None]


def estimate_training(
    *,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    deadline_days: float,
    train_samples: float | None = None,
    train_tokens: float | None = None,
    cost_per_gpu_hour: float | None = None,
    global_batch: int | None = None,
    with_plan: bool = True,
    progress: SizingProgress | None = None,
    stack: StackSpec | None = None,
    with_failures: bool = True,
    async_checkpoint: bool | None = None,
) -> TrainingEstimate:
    """Training FLOPs and GPUs for the deadline (one of samples / tokens); with `with_plan`, the
    planner's layout and MFU on the GPU count that meets the deadline (`plan_for_deadline`),
    its goodput under the cluster's failures unless `with_failures` is False."""
    if (train_samples is None) == (train_tokens is None):
        raise SpecError("give exactly one of --train-samples and --train-tokens")
    forward, tokens_per_sample = forward_flops_and_tokens(model, workload)
    forward_frame, tokens_per_frame = one_frame(model, workload)
    inputs = {
        "forward_flops_per_sample": forward,
        "forward_flops_per_frame": forward_frame,
        "frame_count": tokens_per_sample / tokens_per_frame,
        "train_samples": train_samples
        if train_samples is not None
        else train_tokens / tokens_per_sample,
        "deadline_s": deadline_days * SECONDS_PER_DAY,
        "peak_flop_per_s": cluster.gpu.peak_flop_per_s(workload.precision),
        "cost_per_gpu_hour": cost_per_gpu_hour,
    }
    flop_only = training_estimate(**inputs)
    if not with_plan:
        return flop_only
    sizing = plan_for_deadline(flop_only, model=model, workload=workload, cluster=cluster,
                               global_batch=global_batch, progress=progress, stack=stack,
                               with_failures=with_failures, async_checkpoint=async_checkpoint)  # fmt: skip
    return training_estimate(**inputs, sizing=sizing)


def plan_for_deadline(
    e: TrainingEstimate,
    *,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    global_batch: int | None = None,
    progress: SizingProgress | None = None,
    stack: StackSpec | None = None,
    with_failures: bool = True,
    async_checkpoint: bool | None = None,
) -> DeadlineSizing:
    """Plan on the planner's node grid (2^k and 3x2^k nodes) from the GPUs at 100% of peak up,
    until the planned MFU x goodput meets the deadline (`size_for_deadline`). The planner's own
    deadline mode plans every grid size (22 for 2,048 nodes); this plans 1-3 of them."""
    grid = [n * cluster.gpus_per_node for n in node_grid(cluster.nodes)]
    report = progress or (lambda _description, _done, _total: None)

    def plan_at(gpus: int) -> tuple[Plan, dict] | str:
        report(f"planning {gpus:,} GPUs", 0, None)
        result = plan(model=model, workload=workload, cluster=cluster, num_gpus=gpus,
                      train_samples=e.train_samples, global_batch=global_batch, top_k=1, stack=stack,
                      progress=lambda done, total: report(f"planning {gpus:,} GPUs", done, total))  # fmt: skip
        if not result.plans:
            return str((result.infeasible or {}).get("detail", "no feasible plan"))
        best = result.plans[0]
        goodput = strategy_goodput(model=model, workload=workload, cluster=cluster,
                                   strategy=best.strategy, num_gpus=gpus,
                                   with_failures=with_failures, async_checkpoint=async_checkpoint)  # fmt: skip
        return EffectiveMfu(mfu=best.mfu * goodput.fraction), {
            **best.model_dump(mode="json"), "search_s": result.search.seconds,
            "goodput": goodput.model_dump(mode="json"),
        }  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding warnings were shown once already
        return size_for_deadline(train_flops=e.train_flops, peak_flop_per_s=e.peak_flop_per_s,
                                 deadline_s=e.deadline_s, grid=grid, plan_at=plan_at)  # fmt: skip
