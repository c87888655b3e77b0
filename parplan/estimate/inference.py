"""Inference compute per generated video (or image): FLOPs per denoising step and per output,
the roofline regime of one step, and the GPUs a daily demand needs."""

from __future__ import annotations

from parplan.errors import SpecError
from parplan.estimate.formulas import (
    DEFAULT_FPS,
    SECONDS_PER_HOUR,
    Record,
    fleet_gpus,
    forward_flops_and_tokens,
)
from parplan.model.params import param_count
from parplan.specs import ClusterSpec, ModelSpec, WorkloadSpec


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


def estimate_inference(
    *,
    model: ModelSpec,
    workload: WorkloadSpec,
    cluster: ClusterSpec,
    steps: int,
    cfg: bool = False,
    utilization: float = 1.0,
    demand_video_minutes_per_day: float | None = None,
    fps: float = DEFAULT_FPS,
) -> InferenceEstimate:
    """`inference_estimate` for a model, workload and cluster: the forward FLOPs from the cost
    model, the datasheet peak and HBM bandwidth, the published parameter count when known."""
    if demand_video_minutes_per_day is not None and workload.kind != "video":
        raise SpecError(
            f"--demand-minutes-per-day needs a video workload, got kind={workload.kind}"
        )
    forward, _ = forward_flops_and_tokens(model, workload)
    params = model.params_exact if model.params_exact is not None else param_count(model)
    return inference_estimate(
        forward_flops_per_sample=forward,
        steps=steps,
        cfg=cfg,
        peak_flop_per_s=cluster.gpu.peak_flop_per_s(workload.precision),
        utilization=utilization,
        demand_video_minutes_per_day=demand_video_minutes_per_day,
        seconds_per_video=workload.frames / fps,
        params=float(params),
        weight_bytes_per_param=workload.element_bytes,
        hbm_bytes_per_s=cluster.gpu.hbm_bytes_per_s,
    )
