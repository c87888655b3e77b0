"""Formulas and constants the estimates share: GPU-months, break-even outputs, fleet size.

Why this package exists: DESIGN.md "Estimate" asks parplan to reproduce Factorial Funds' Sora
estimate (seed 001, lines 50-85) from its stated inputs, then to replace its assumptions (100%
utilization, linear frame scaling, MACs labelled FLOPs) with parplan's own cost model. parplan
counts true FLOPs (multiply-add = 2).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.flops import model_cost
from parplan.model.geometry import token_geometry
from parplan.specs import ModelSpec, WorkloadSpec

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0
H100_SXM_BF16_DENSE_FLOP_PER_S = 989.4e12  # NVIDIA H100 SXM5 datasheet: 989.4 TFLOPS BF16 dense
H100_SXM_HBM_BYTES_PER_S = 3.35e12  # NVIDIA H100 SXM5 datasheet: 3.35 TB/s HBM3
DEFAULT_FPS = 24.0  # frames per second of a generated video (film; the seed's line 54)
TRAIN_TO_FORWARD = 3.0  # forward + backward (2x forward): DiT paper Sec. 5, Kaplan et al. 2020


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


# --------------------------------------------------------------------- Factorial Funds (seed)


def forward_flops_and_tokens(model: ModelSpec, workload: WorkloadSpec) -> tuple[float, float]:
    """True forward FLOPs and tokens per sample, from the cost model's block FLOPs."""
    geometry = token_geometry(model, workload)
    return float(model_cost(model, geometry).forward_flops), float(geometry.tokens)
