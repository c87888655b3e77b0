"""Factorial Funds' Sora estimate (seed 001, lines 50-85), reproduced from its stated inputs.

The seed copies the DiT paper's "Gflops" (MACs, model_notes.md section 4, DiT issue #14) as
FLOPS: its whole chain is in DiT units. `factorial_funds` keeps those units so its numbers
reproduce, and reports the true-FLOP versions beside them (`*_true_flops`, `*_true`)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from pydantic import Field

from parplan.errors import SpecError
from parplan.estimate.formulas import (
    DEFAULT_FPS,
    H100_SXM_BF16_DENSE_FLOP_PER_S,
    TRAIN_TO_FORWARD,
    Record,
    breakeven_outputs,
    fleet_gpus,
    gpu_months,
)
from parplan.estimate.inference import inference_estimate


def _f(default: float, description: str, *, le: float | None = None, zero_ok: bool = False) -> Any:
    """A positive (or, with `zero_ok`, non-negative) finite input with its source; `le` caps
    fractions (an infinite fps or share would divide a later step by infinity, or by zero)."""
    if zero_ok:
        return Field(default, ge=0, le=le, allow_inf_nan=False, description=description)
    return Field(default, gt=0, le=le, allow_inf_nan=False, description=description)


class FactorialFundsInputs(Record):
    """Every input of the seed's chain; each description names the seed (001) line it is from."""

    dit_train_flops: float = _f(1e21, "line 53: DiT-XL training 'about 1e21 FLOPS' (DiT MACs)")
    param_multiplier: float = _f(30.0, "line 55: Sora >= 20B params -> 30x DiT compute")
    dataset_multiplier_low: float = _f(4.0, "line 56: data multiplier, low end of 4-10x")
    dataset_multiplier_high: float = _f(10.0, "line 56: data multiplier, high end of 4-10x")
    video_seconds: float = _f(60.0, "line 54: videos up to 1 minute")
    fps: float = _f(DEFAULT_FPS, "line 54: 24 fps -> 1,440 frames")
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
    """Reproduce seed 001 lines 50-85 from `inputs`; inputs so extreme that a step overflows
    or underflows to zero are a SpecError naming them."""
    i = inputs or FactorialFundsInputs()
    try:
        result = _chain(i)
    except ZeroDivisionError:
        result = None
    if result is None or not all(math.isfinite(v) for v in _floats(result.model_dump())):
        changed = {k: v for k, v in i.model_dump().items() if v != FactorialFundsInputs.model_fields[k].default}
        given = ", ".join(f"--{k.replace('_', '-')}={v:g}" for k, v in changed.items()) or "defaults"
        raise SpecError(f"Factorial Funds inputs {given}: a step of the chain overflows or "
                        "underflows to zero; give values of a realistic size")  # fmt: skip
    return result


def _floats(data: Any) -> list[float]:
    if isinstance(data, dict):
        return [f for v in data.values() for f in _floats(v)]
    if isinstance(data, list):
        return [f for v in data for f in _floats(v)]
    return [data] if isinstance(data, float) else []


def _chain(i: FactorialFundsInputs) -> FactorialFundsEstimate:
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
