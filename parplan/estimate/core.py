"""Top-down compute estimates: the seed's Sora chain, and FLOP-only training/inference estimates.

Why this module exists: DESIGN.md "Estimate" asks parplan to reproduce Factorial Funds' Sora
estimate (seed 001, lines 50-85) from its stated inputs, then to replace its assumptions (100%
utilization, linear frame scaling, MACs labelled FLOPs) with parplan's own cost model.

Conventions. parplan counts true FLOPs (multiply-add = 2). The DiT paper's "Gflops" are MACs
(model_notes.md section 4, DiT issue #14), and the seed copies them as "FLOPS": its whole chain is
in DiT units. `factorial_funds` keeps the seed's units so its numbers reproduce, and reports the
true-FLOP versions beside them (`*_true_flops`, `*_true`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0
H100_SXM_BF16_DENSE_FLOP_PER_S = 989.4e12  # NVIDIA H100 SXM5 datasheet: 989.4 TFLOPS BF16 dense
H100_SXM_HBM_BYTES_PER_S = 3.35e12  # NVIDIA H100 SXM5 datasheet: 3.35 TB/s HBM3
TRAIN_TO_FORWARD = 3.0  # forward + backward (2x forward): DiT paper Sec. 5, Kaplan et al. 2020


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------- shared formulas


def gpu_months(
    *, flops: float, peak_flop_per_s: float, utilization: float, days_per_month: float
) -> float:
    """GPU-months = FLOPs / (peak x utilization x seconds per month). Seed line 53: 1e21 is
    "0.4 H100 for one month (or one H100 for 12 days)", and line 60: 4,211-10,528 H100s for a month
    at 989.4 TFLOP/s, 30 days (1.08e25 / (989.4e12 * 2.592e6 s) = 4,211)."""
    return flops / (peak_flop_per_s * utilization * days_per_month * SECONDS_PER_DAY)


def breakeven_outputs(*, train_flops: float, inference_flops_per_output: float) -> float:
    """Outputs (images, videos) after which inference compute exceeds training compute.
    Seed lines 63-66: break-even = training FLOPs / inference FLOPs per output."""
    return train_flops / inference_flops_per_output


def fleet_gpus(*, demand_video_minutes_per_day: float, video_minutes_per_gpu_hour: float) -> float:
    """GPUs that produce the daily demand running 24 h a day. Seed lines 76 and 80:
    5 min/h = 120 min/day per H100; 10.7 M / 120 = 89,000."""
    return demand_video_minutes_per_day / (video_minutes_per_gpu_hour * 24.0)


# -------------------------------------------------------------------------------- inference


class InferenceEstimate(Record):
    """One generated video (or image) with `steps` denoising steps; true FLOPs unless stated."""

    flops_per_step: float  # per video, both CFG branches included
    flops_per_video: float
    compute_time_per_step_s: float  # at peak x utilization
    weight_time_per_step_s: float | None  # streaming the weights once from HBM per step
    time_per_video_s: float
    videos_per_gpu_hour: float
    video_minutes_per_gpu_hour: float
    gpus_for_demand: float | None
    arithmetic_intensity_flop_per_byte: float | None
    ridge_flop_per_byte: float | None
    memory_bound: bool | None
    note: str


def inference_estimate(
    *,
    forward_flops_per_sample: float,
    steps: int,
    cfg: bool,
    peak_flop_per_s: float,
    utilization: float,
    demand_video_minutes_per_day: float | None,
    seconds_per_video: float,
    params: float | None = None,
    weight_bytes_per_param: float = 2.0,
    hbm_bytes_per_s: float | None = None,
) -> InferenceEstimate:
    """FLOPs per video, videos per GPU-hour and the fleet for a demand, with a roofline check.

    Per video = forward x steps, x2 with classifier-free guidance (DiT sample.py runs the
    conditional and null-label halves as one batch of 2). The seed (line 66) has no CFG term.
    Roofline (Williams et al. 2009): a step must read every weight once; it is memory-bandwidth
    bound when FLOPs per step / weight bytes < ridge = peak / HBM bytes/s. Time per step is the
    larger of compute time at `utilization` and weight-streaming time.
    """
    flops_per_step = forward_flops_per_sample * (2.0 if cfg else 1.0)
    compute_s = flops_per_step / (peak_flop_per_s * utilization)
    intensity = ridge = weight_s = None
    memory_bound = None
    note = "compute bound assumed (give params and HBM bandwidth for a roofline check)"
    if params is not None and hbm_bytes_per_s is not None:
        weight_bytes = params * weight_bytes_per_param
        intensity = flops_per_step / weight_bytes
        ridge = peak_flop_per_s / hbm_bytes_per_s
        weight_s = weight_bytes / hbm_bytes_per_s
        memory_bound = intensity < ridge
        note = _roofline_note(intensity=intensity, ridge=ridge, memory_bound=memory_bound)
    step_s = max(compute_s, weight_s or 0.0)
    video_s = step_s * steps
    videos_per_hour = SECONDS_PER_HOUR / video_s
    minutes_per_hour = videos_per_hour * seconds_per_video / 60.0
    gpus = None
    if demand_video_minutes_per_day is not None:
        gpus = fleet_gpus(
            demand_video_minutes_per_day=demand_video_minutes_per_day,
            video_minutes_per_gpu_hour=minutes_per_hour,
        )
    return InferenceEstimate(
        flops_per_step=flops_per_step,
        flops_per_video=flops_per_step * steps,
        compute_time_per_step_s=compute_s,
        weight_time_per_step_s=weight_s,
        time_per_video_s=video_s,
        videos_per_gpu_hour=videos_per_hour,
        video_minutes_per_gpu_hour=minutes_per_hour,
        gpus_for_demand=gpus,
        arithmetic_intensity_flop_per_byte=intensity,
        ridge_flop_per_byte=ridge,
        memory_bound=memory_bound,
        note=note,
    )


def _roofline_note(*, intensity: float, ridge: float, memory_bound: bool) -> str:
    verdict = "memory-bandwidth bound" if memory_bound else "compute bound"
    return (
        f"{verdict}: {intensity:,.0f} FLOP per weight byte per step vs ridge point "
        f"{ridge:,.0f} FLOP/byte (peak / HBM bandwidth)"
    )


# --------------------------------------------------------------------------------- training


class PlanRound(Record):
    """One planner call of the deadline sizing: the GPUs planned, the MFU found, and the GPUs that
    MFU needs for the deadline (or why nothing fits at this size)."""

    gpus: int
    mfu: float | None
    gpus_needed: float | None
    infeasible: str | None = None


class PlannedOutcome(Protocol):
    """What the sizing reads from a plan (parplan.plan.results.Plan has these)."""

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
    if planned_mfu is None and sizing is not None:
        planned_mfu = sizing.planned_mfu
    gpus_mfu = hours_mfu = None
    if planned_mfu is not None:
        gpus_mfu = train_flops / (peak_flop_per_s * planned_mfu * deadline_s)
        hours_mfu = gpu_hours / planned_mfu
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


# --------------------------------------------------------------------- Factorial Funds (seed)


def _f(default: float, description: str, *, le: float | None = None, zero_ok: bool = False) -> Any:
    """A positive (or, with `zero_ok`, non-negative) input with its source; `le` caps fractions."""
    if zero_ok:
        return Field(default, ge=0, le=le, description=description)
    return Field(default, gt=0, le=le, description=description)


class FactorialFundsInputs(Record):
    """Every input of the seed's chain; each description names the seed (001) line it is from."""

    dit_train_flops: float = _f(1e21, "line 53: DiT-XL training 'about 1e21 FLOPS' (DiT MACs)")
    param_multiplier: float = _f(30.0, "line 55: Sora >= 20B params -> 30x DiT compute")
    dataset_multiplier_low: float = _f(4.0, "line 56: data multiplier, low end of 4-10x")
    dataset_multiplier_high: float = _f(10.0, "line 56: data multiplier, high end of 4-10x")
    video_seconds: float = _f(60.0, "line 54: videos up to 1 minute")
    fps: float = _f(24.0, "line 54: 24 fps -> 1,440 frames")
    temporal_compression: float = _f(8.0, "line 54: DiT's 8x applied in time -> 180 latent frames")
    video_sample_fraction: float = _f(
        0.5, "line 56: 50% videos, 50% images -> 180/2 (line 58)", le=1
    )
    peak_flop_per_s: float = _f(
        H100_SXM_BF16_DENSE_FLOP_PER_S, "H100 SXM dense BF16, datasheet 989.4 TFLOP/s"
    )
    utilization: float = _f(1.0, "lines 60, 82: the chain assumes 100% of peak", le=1)
    days_per_month: float = _f(30.0, "line 60: one month of training")
    dit_inference_flops_per_step: float = _f(524e9, "line 65: DiT-XL/2 512 px per step (MACs)")
    sampling_steps: int = _f(250, "lines 65-66: 250 diffusion steps per output")
    tiktok_video_minutes_per_day: float = _f(
        17e6, "line 77: TikTok uploads, minutes/day", zero_ok=True
    )
    tiktok_ai_share: float = _f(0.5, "line 77: AI share of TikTok", le=1, zero_ok=True)
    youtube_video_minutes_per_day: float = _f(
        43e6, "line 78: YouTube uploads, minutes/day", zero_ok=True
    )
    youtube_ai_share: float = _f(0.15, "line 78: AI share of YouTube", le=1, zero_ok=True)
    stated_daily_ai_video_minutes: float | None = _f(
        10.7e6, "line 79 states 8.5 M + 6.5 M = 10.7 M (the sum is 15 M); None: use the sum"
    )
    stated_video_minutes_per_h100_hour: float | None = _f(
        5.0, "line 76 rounds ~5.04 to 5 min/h (at 100%) for the fleet; None: use the computed"
    )
    realistic_utilization: float = _f(0.5, "line 82: 50% utilization -> x2 GPUs", le=1)
    peak_to_mean_demand: float = _f(2.0, "line 83: bursty demand -> x2 GPUs")
    candidates_per_upload: float = _f(2.0, "line 84: 2 candidates per upload -> x2 GPUs")
    dit_gmac_per_image: float = _f(118.64, "DiT paper Table 4: XL/2 at 256 px, GMAC per forward")
    dit_batch: int = _f(256, "DiT paper Sec. 5: batch 256")
    dit_train_steps: float = _f(7e6, "DiT paper Sec. 5/Table 4: XL/2 trained 7M steps")


class FactorialFundsEstimate(Record):
    """The seed's chain; units as the seed uses them (DiT MACs called FLOPs) unless `*_true*`."""

    inputs: FactorialFundsInputs
    dit_anchor_macs: float
    dit_anchor_true_flops: float
    dit_h100_months: float
    dit_h100_days: float
    dit_inference_flops_per_image: float
    dit_breakeven_images: float
    pixel_frames: float
    latent_frames: float
    train_frame_multiplier: float
    train_flops_low: float
    train_flops_high: float
    h100_months_low: float
    h100_months_high: float
    inference_flops_per_step: float
    inference_flops_per_video: float
    video_minutes_per_h100_hour: float
    breakeven_video_minutes_low: float
    breakeven_video_minutes_high: float
    daily_ai_video_minutes_sum: float
    daily_ai_video_minutes_used: float
    fleet_video_minutes_per_h100_hour: float
    fleet_multiplier: float
    h100s_steady: float
    h100s_peak: float
    h100s_steady_recomputed: float  # computed sum and unrounded rate, seed's MAC units
    h100s_peak_recomputed: float
    inference_true_flops_per_video: float  # x2: MAC -> FLOP
    video_minutes_per_h100_hour_true: float
    h100_months_low_true: float  # if the seed's 1e21 is read as MACs
    h100_months_high_true: float
    h100s_peak_true: float  # the seed's fleet with 524e9 read as MACs (x2 FLOPs)
    flop_convention: str
    notes: list[str]


def factorial_funds(inputs: FactorialFundsInputs | None = None) -> FactorialFundsEstimate:
    """Reproduce seed 001 lines 50-85 step by step from `inputs`."""
    i = inputs or FactorialFundsInputs()
    pixel_frames = i.video_seconds * i.fps  # line 54: 60 s x 24 fps = 1,440
    latent_frames = pixel_frames / i.temporal_compression  # line 54: 1,440 / 8 = 180
    frame_multiplier = latent_frames * i.video_sample_fraction  # line 58: 180 / 2
    base = i.dit_train_flops * i.param_multiplier * frame_multiplier  # lines 58-59
    train_low, train_high = base * i.dataset_multiplier_low, base * i.dataset_multiplier_high
    months = partial(gpu_months, peak_flop_per_s=i.peak_flop_per_s, utilization=i.utilization,
                     days_per_month=i.days_per_month)  # fmt: skip
    per_step = i.dit_inference_flops_per_step * i.param_multiplier * latent_frames  # line 66
    inference = inference_estimate(
        forward_flops_per_sample=per_step,
        steps=i.sampling_steps,
        cfg=False,
        peak_flop_per_s=i.peak_flop_per_s,
        utilization=i.utilization,
        demand_video_minutes_per_day=None,
        seconds_per_video=i.video_seconds,
    )
    per_video = inference.flops_per_video  # line 66: 708e15
    video_minutes = i.video_seconds / 60.0
    fleet = _fleet(i, computed_minutes_per_hour=inference.video_minutes_per_gpu_hour)
    dit_per_image = i.dit_inference_flops_per_step * i.sampling_steps  # line 65: 131e12
    anchor_macs = TRAIN_TO_FORWARD * i.dit_gmac_per_image * 1e9 * i.dit_batch * i.dit_train_steps
    return FactorialFundsEstimate(
        inputs=i,
        dit_anchor_macs=anchor_macs,
        dit_anchor_true_flops=2.0 * anchor_macs,
        dit_h100_months=months(flops=i.dit_train_flops),
        dit_h100_days=months(flops=i.dit_train_flops) * i.days_per_month,
        dit_inference_flops_per_image=dit_per_image,
        dit_breakeven_images=breakeven_outputs(
            train_flops=i.dit_train_flops, inference_flops_per_output=dit_per_image
        ),
        pixel_frames=pixel_frames,
        latent_frames=latent_frames,
        train_frame_multiplier=frame_multiplier,
        train_flops_low=train_low,
        train_flops_high=train_high,
        h100_months_low=months(flops=train_low),
        h100_months_high=months(flops=train_high),
        inference_flops_per_step=per_step,
        inference_flops_per_video=per_video,
        video_minutes_per_h100_hour=inference.video_minutes_per_gpu_hour,
        breakeven_video_minutes_low=video_minutes
        * breakeven_outputs(train_flops=train_low, inference_flops_per_output=per_video),
        breakeven_video_minutes_high=video_minutes
        * breakeven_outputs(train_flops=train_high, inference_flops_per_output=per_video),
        inference_true_flops_per_video=2.0 * per_video,
        video_minutes_per_h100_hour_true=inference.video_minutes_per_gpu_hour / 2.0,
        h100_months_low_true=2.0 * months(flops=train_low),
        h100_months_high_true=2.0 * months(flops=train_high),
        flop_convention="DiT-paper MACs labelled FLOPs (1 multiply-add = 1); true FLOPs = 2x",
        notes=_notes(i),
        **fleet,
    )


def _daily_ai_video_minutes(i: FactorialFundsInputs) -> float:
    """Lines 77-78: TikTok 17 M x 50% + YouTube 43 M x 15% = 8.5 M + 6.45 M."""
    return (
        i.tiktok_video_minutes_per_day * i.tiktok_ai_share
        + i.youtube_video_minutes_per_day * i.youtube_ai_share
    )


def _fleet(i: FactorialFundsInputs, *, computed_minutes_per_hour: float) -> dict[str, float]:
    """Lines 76-85: daily AI minutes / (min per H100-hour x 24); peak = x util x burst x cands."""
    demand_sum = _daily_ai_video_minutes(i)
    demand_used = i.stated_daily_ai_video_minutes or demand_sum
    stated_rate = i.stated_video_minutes_per_h100_hour  # at 100% of peak, like line 11
    rate_used = stated_rate * i.utilization if stated_rate else computed_minutes_per_hour
    multiplier = (
        (i.utilization / i.realistic_utilization) * i.peak_to_mean_demand * i.candidates_per_upload
    )  # lines 82-84: 2 x 2 x 2
    steady = fleet_gpus(
        demand_video_minutes_per_day=demand_used, video_minutes_per_gpu_hour=rate_used
    )
    recomputed = fleet_gpus(
        demand_video_minutes_per_day=demand_sum,
        video_minutes_per_gpu_hour=computed_minutes_per_hour,
    )
    return {
        "daily_ai_video_minutes_sum": demand_sum,
        "daily_ai_video_minutes_used": demand_used,
        "fleet_video_minutes_per_h100_hour": rate_used,
        "fleet_multiplier": multiplier,
        "h100s_steady": steady,
        "h100s_peak": steady * multiplier,
        "h100s_steady_recomputed": recomputed,
        "h100s_peak_recomputed": recomputed * multiplier,
        "h100s_peak_true": 2.0 * steady * multiplier,
    }


def _notes(i: FactorialFundsInputs) -> list[str]:
    notes = [
        "Units: the seed's 524e9 per step is DiT Table 4's 524.6 GMAC, divided by the H100's true "
        "FLOP/s: in true FLOPs, per-video cost and the fleet double. Its 1e21 lies between the "
        "anchor's 6.4e20 MAC and 1.28e21 FLOP; read as MACs, H100-months double too.",
        f"DiT anchor: 3 x {i.dit_gmac_per_image} GMAC x {i.dit_batch} x {i.dit_train_steps:.3g} "
        "steps (DiT paper Sec. 5); the seed (line 56) says 3M steps, the paper trains XL/2 for 7M.",
        "Training scales with frames linearly (line 54); attention grows with tokens squared.",
        "Training uses the 256 px DiT cost per frame (1e21), inference the 512 px cost (524e9).",
        "No classifier-free guidance in inference (x2 in DiT's sampler).",
    ]
    if i.stated_daily_ai_video_minutes is not None:
        demand_sum = _daily_ai_video_minutes(i)
        if abs(demand_sum - i.stated_daily_ai_video_minutes) > 0.01 * demand_sum:
            notes.append(
                f"Line 79 states {i.stated_daily_ai_video_minutes / 1e6:.1f} M AI minutes/day, but "
                f"the platform shares sum to {demand_sum / 1e6:.2f} M; the fleet uses the stated "
                "total (see *_recomputed for the sum)."
            )
    return notes
