"""Tables of `parplan estimate`: the seed's chain beside what the seed says, the training
estimate (with the planner's rounds and layout), and the inference estimate."""

from __future__ import annotations

from rich.table import Table

from parplan.commands.tables import (
    fixed_columns,
    layout_text,
    new_table,
    quantity_table,
    stack_text,
)
from parplan.estimate.inference import InferenceEstimate
from parplan.estimate.seed import FactorialFundsEstimate
from parplan.estimate.training import TrainingEstimate
from parplan.specs import StackSpec, StrategySpec


def ff_table(e: FactorialFundsEstimate) -> Table:
    i = e.inputs
    rows = [
        (
            "DiT-XL/2 anchor",
            f"3 x {i.dit_gmac_per_image} GMAC x {i.dit_batch} x {i.dit_train_steps:.0e} steps",
            f"{e.dit_anchor_macs:.3g} MAC = {e.dit_anchor_true_flops:.3g} FLOP",
            "'about 1e21' (l.53)",
        ),
        ("DiT training", "input", f"{i.dit_train_flops:.3g}", "1e21, 0.4 H100-months (l.53)"),
        (
            "",
            "/ (peak x 30 days)",
            f"{e.dit_h100_months:.2f} H100-months = {e.dit_h100_days:.1f} days",
            "0.4 / 12 days",
        ),
        (
            "latent frames",
            f"{i.video_seconds:g} s x {i.fps:g} fps / {i.temporal_compression:g}",
            f"{e.pixel_frames:,.0f} -> {e.latent_frames:,.0f}",
            "1,440 -> 180 (l.54)",
        ),
        (
            "train FLOPs low",
            f"1e21 x {i.param_multiplier:g} x {i.dataset_multiplier_low:g} x "
            f"{e.latent_frames:g}x{i.video_sample_fraction:g}",
            f"{e.train_flops_low:.3g}",
            "1.1e25 (l.58)",
        ),
        (
            "train FLOPs high",
            f"... x {i.dataset_multiplier_high:g} ...",
            f"{e.train_flops_high:.3g}",
            "2.7e25 (l.59)",
        ),
        (
            "H100-months",
            f"FLOPs / ({i.peak_flop_per_s / 1e12:g} TFLOP/s x {i.utilization:g} x "
            f"{i.days_per_month:g} d)",
            f"{e.h100_months_low:,.0f} - {e.h100_months_high:,.0f}",
            "4,211 - 10,528 (l.60)",
        ),
        (
            "inference / step",
            f"{i.dit_inference_flops_per_step:.3g} x {i.param_multiplier:g} x {e.latent_frames:g}",
            f"{e.inference_flops_per_step:.3g}",
            "2.8e15 (l.66)",
        ),
        (
            "inference / video",
            f"x {i.sampling_steps} steps",
            f"{e.inference_flops_per_video:.3g}",
            "708e15 (l.66)",
        ),
        (
            "video min / H100-h",
            "peak x 3600 s / per-video",
            f"{e.video_minutes_per_h100_hour:.2f}",
            "about 5 (l.11, 76)",
        ),
        (
            "break-even minutes",
            "train FLOPs / per-video",
            f"{e.breakeven_video_minutes_low / 1e6:.1f} M - "
            f"{e.breakeven_video_minutes_high / 1e6:.1f} M",
            "15.3 M - 38.1 M (l.66)",
        ),
        (
            "AI minutes / day",
            f"{i.tiktok_video_minutes_per_day / 1e6:g} M x "
            f"{i.tiktok_ai_share:g} + {i.youtube_video_minutes_per_day / 1e6:g} M x "
            f"{i.youtube_ai_share:g}",
            f"sum {e.daily_ai_video_minutes_sum / 1e6:.2f} M, used "
            f"{e.daily_ai_video_minutes_used / 1e6:.2f} M",
            "10.7 M (l.79)",
        ),
        (
            "H100s steady",
            f"used / ({e.fleet_video_minutes_per_h100_hour:g} min/h x 24)",
            f"{e.h100s_steady:,.0f}",
            "89,000 (l.80)",
        ),
        (
            "H100s peak",
            f"x {e.fleet_multiplier:g} (util, bursts, candidates)",
            f"{e.h100s_peak:,.0f}",
            "720,000 (l.85)",
        ),
        (
            "recomputed",
            "platform sum, unrounded rate",
            f"{e.h100s_steady_recomputed:,.0f} / {e.h100s_peak_recomputed:,.0f}",
            "-",
        ),
        (
            "in true FLOPs",
            "MAC x 2: H100-months (if 1e21 is MACs), fleet",
            f"{e.h100_months_low_true:,.0f} - {e.h100_months_high_true:,.0f}; "
            f"{e.h100s_peak_true:,.0f} peak",
            "-",
        ),
    ]
    t = fixed_columns(new_table("Factorial Funds' Sora estimate, reproduced (seed 001)"),
                      ["step", "formula", "value", "seed says"], rows,
                      text=("step", "formula", "value", "seed says"))  # fmt: skip
    t.caption_justify = "left"
    t.caption = f"Units: {e.flop_convention}.\n" + "\n".join(f"- {n}" for n in e.notes)
    return t


def training_table(e: TrainingEstimate, *, stack: StackSpec) -> Table:
    rows = [
        ("forward FLOPs / sample", f"{e.forward_flops_per_sample:.3g}"),
        ("train FLOPs / sample (3x)", f"{e.train_flops_per_sample:.3g}"),
        ("train samples", f"{e.train_samples:.3g}"),
        ("train FLOPs", f"{e.train_flops:.3g}"),
        ("seed-style linear frame scaling", f"{e.linear_scaling_train_flops:.3g}"),
        ("real / linear (attention ~ tokens^2)", f"{e.quadratic_over_linear:.2f}x"),
        ("GPU-hours at 100% peak", f"{e.gpu_hours_at_peak:,.0f}"),
        ("GPUs at 100% peak", f"{e.gpus_at_peak:,.0f}"),
        ("cost at 100% peak", _money(e.cost_at_peak)),
        *_planned_rows(e),
    ]
    t = quantity_table(rows, title=f"Training compute and GPUs for {e.deadline_days:g} days")
    advice = (e.bottleneck or {}).get("advice")
    t.caption = "FLOPs only (--no-plan)" if e.sizing is None else (
        f"planned with {stack_text(stack)}" + (f"\nbottleneck: {advice}" if advice else ""))
    t.caption_justify = "left"
    return t


def _planned_rows(e: TrainingEstimate) -> list[tuple[str, str | None]]:
    s = e.sizing
    if s is None:
        return []
    label = "MFU x goodput" if e.goodput else "MFU"
    rounds = ", ".join(
        f"{r.gpus:,}: " + (f"{label} {r.mfu:.1%}" if r.mfu else "no fit") for r in s.rounds
    )
    if e.plan is None or e.planned_mfu is None:
        return [("planner rounds (GPUs)", rounds), ("no plan", s.infeasible)]
    p, b = e.plan, e.bottleneck or {}
    over = f" (> the cluster's {s.cluster_gpus:,})" if s.exceeds_cluster else ""
    return [
        ("planner rounds (GPUs)", rounds),
        (f"plan on {p['gpus']:,} GPUs", layout_text(StrategySpec.model_validate(p["strategy"]))),
        ("  step time / memory per GPU", f"{p['step_time_s']:,.1f} s / "
                                         f"{p['memory_gib_per_gpu']:.1f} GiB"),
        ("  days to train on those GPUs", _days(p["time_to_train_days"], e.goodput)),
        ("  bottleneck", b.get("dim", "?")),
        ("planned MFU", f"{e.planned_mfu:.1%}"),
        *_goodput_rows(e.goodput),
        ("GPUs at planned MFU x goodput", f"{e.gpus_at_planned_mfu:,.0f}{over}"),
        ("GPU-hours at planned MFU x goodput", f"{e.gpu_hours:,.0f}"),
        ("cost", _money(e.cost)),
    ]  # fmt: skip


def _days(days: float, goodput: dict | None) -> str:
    if not goodput:
        return f"{days:,.1f}"
    return f"{days:,.1f} training, {days / max(goodput['fraction'], 1e-9):,.1f} wall"


def _goodput_rows(g: dict | None) -> list[tuple[str, str]]:
    """Failures and checkpoints (cluster reliability:, cost/goodput.py); none with --no-failures."""
    if not g or g["checkpoint_interval_s"] is None:
        return [("goodput", "100% (--no-failures)")] if g else []
    return [("goodput (failures, restarts, checkpoints)",
             f"{g['fraction']:.1%}: {g['interruptions_per_day']:.2f} interruptions/day, "
             f"checkpoint {g['checkpoint_bytes'] / 1e9:,.0f} GB every "
             f"{g['checkpoint_interval_s'] / 60:,.0f} min")]  # fmt: skip


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def inference_table(e: InferenceEstimate) -> Table:
    demand = None if e.gpus_for_demand is None else f"{e.gpus_for_demand:,.0f}"
    rows = [
        ("FLOPs / step", f"{e.flops_per_step:.3g}"),
        ("FLOPs / video", f"{e.flops_per_video:.3g}"),
        ("seconds / video", f"{e.time_per_video_s:,.1f}"),
        ("videos / GPU-hour", f"{e.videos_per_gpu_hour:.3g}"),
        ("video minutes / GPU-hour", f"{e.video_minutes_per_gpu_hour:.3g}"),
        ("GPUs for the demand", demand),
    ]
    t = quantity_table(rows, title="Inference compute per generated video (true FLOPs)")
    t.caption = e.note
    return t
