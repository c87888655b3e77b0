"""Training compute for a model and workload, and the GPUs a deadline needs: at 100% of peak, and
at the MFU of the planner's layout (the planner's deadline mode sizes the cluster:
plan/deadline.py `size_for_deadline`, the one sizing routine of `plan` and `estimate`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from parplan.cost.goodput import sizing_goodput, strategy_goodput
from parplan.errors import SpecError
from parplan.estimate.formulas import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    TRAIN_TO_FORWARD,
    Record,
    forward_flops_and_tokens,
)
from parplan.plan.planner import plan
from parplan.plan.results import PlanResult
from parplan.specs import ClusterSpec, ModelSpec, StackSpec, StrategySpec, WorkloadSpec


class PlanRound(Record):
    """One cluster size the deadline sizing decided (plan/deadline.py): the MFU of its best
    plan where one meets the deadline, and the GPUs that MFU needs; or why it does not."""

    gpus: int
    mfu: float | None
    gpus_needed: float | None
    infeasible: str | None = None


class DeadlineSizing(Record):
    """The planner's layout for the deadline: the MFU it reaches at `plan_gpus` GPUs."""

    planned_mfu: float | None
    plan_gpus: int | None
    plan: dict | None  # the planner's Plan (strategy, step time, MFU, memory, days) + its GPUs
    bottleneck: dict | None
    rounds: list[PlanRound]
    cluster_gpus: int
    exceeds_cluster: bool  # no size up to the cluster meets the deadline
    infeasible: str | None = None


def sizing_of(result: PlanResult, *, train_flops: float, peak_flop_per_s: float,
              deadline_s: float, cluster_gpus: int,
              whole_cluster: PlanResult | None = None) -> DeadlineSizing:  # fmt: skip
    """The estimate's view of deadline mode's answer (`plan(..., deadline_days=...)`): the sizes
    it decided, the MFU of the one that meets the deadline and the GPUs that MFU needs. When no
    size meets it, `whole_cluster` (the plan on every GPU) gives the MFU to extrapolate from."""
    chosen = result if result.plans else whole_cluster
    best = chosen.plans[0] if chosen and chosen.plans else None
    rounds = []
    for p in result.curve:
        if p.status not in ("meets", "misses", "no plan"):
            continue
        mfu = best.mfu if best and p.gpus == chosen.gpus else None
        needed = train_flops / (peak_flop_per_s * mfu * deadline_s) if mfu else None
        why = None if p.status == "meets" else f"{p.status}: no layout meets the deadline"
        rounds.append(PlanRound(gpus=p.gpus, mfu=mfu, gpus_needed=needed, infeasible=why))
    return DeadlineSizing(
        planned_mfu=best.mfu if best else None,
        plan_gpus=chosen.gpus if best else None,
        plan={"gpus": chosen.gpus, **best.model_dump(mode="json"), "search_s": chosen.search.seconds}
        if best else None,
        bottleneck=best.bottleneck if best else None,
        rounds=rounds,
        cluster_gpus=cluster_gpus,
        exceeds_cluster=(result.infeasible or {}).get("binding") == "deadline",
        infeasible=None if best else (result.infeasible or {}).get("detail"),
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
    """The smallest cluster of the planner's node grid that meets the deadline, and its plan:
    the planner's own deadline mode (plan/deadline.py `size_for_deadline`: sizes the MFU bound
    rules out are skipped, the rest decided smallest first). When even the whole cluster misses
    it, the plan on the whole cluster, whose MFU tells how many GPUs the deadline needs."""
    report = progress or (lambda _description, _done, _total: None)
    common = dict(model=model, workload=workload, cluster=cluster, train_samples=e.train_samples,
                  global_batch=global_batch, top_k=1, stack=stack)  # fmt: skip
    fit = sizing_goodput(model=model, workload=workload, cluster=cluster,
                         with_failures=with_failures, async_checkpoint=async_checkpoint)  # fmt: skip
    whole = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding warnings were shown once already
        result = plan(**common, deadline_days=e.deadline_s / SECONDS_PER_DAY, goodput=fit,
                      progress=lambda done, total: report("sizing the cluster", done, total))  # fmt: skip
        if (result.infeasible or {}).get("binding") == "deadline":
            report(f"planning {cluster.num_gpus:,} GPUs", 0, None)
            whole = plan(**common, num_gpus=cluster.num_gpus)
    sizing = sizing_of(result, train_flops=e.train_flops, peak_flop_per_s=e.peak_flop_per_s,
                       deadline_s=e.deadline_s, cluster_gpus=cluster.num_gpus,
                       whole_cluster=whole)  # fmt: skip
    if sizing.plan is None:
        return sizing
    chosen = strategy_goodput(model=model, workload=workload, cluster=cluster,
                              strategy=StrategySpec.model_validate(sizing.plan["strategy"]),
                              num_gpus=sizing.plan["gpus"], with_failures=with_failures,
                              async_checkpoint=async_checkpoint)  # fmt: skip
    return sizing.model_copy(update={"plan": {**sizing.plan, "goodput": chosen.model_dump(mode="json")}})
