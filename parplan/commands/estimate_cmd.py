"""`parplan estimate`: the seed's Sora chain (`--factorial-funds`) or a FLOP-only estimate for a
model/workload/cluster (training GPUs for a deadline, or `--inference`).

A thin layer over parplan.estimate.core. Every Factorial Funds input is a flag of its own, generated
from `FactorialFundsInputs` so that the flags, the JSON "inputs" and the defaults cannot drift.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any, get_args

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parplan.commands.tables import quantity_table
from parplan.errors import SpecError
from parplan.estimate.core import (
    SECONDS_PER_DAY,
    DeadlineSizing,
    FactorialFundsEstimate,
    FactorialFundsInputs,
    InferenceEstimate,
    TrainingEstimate,
    factorial_funds,
    inference_estimate,
    size_for_deadline,
    training_estimate,
)

FF_PANEL = "Factorial Funds inputs (--factorial-funds; seed 001 lines)"
SHARED_FF_FIELDS = ("fps", "utilization")  # same meaning in both modes: one flag each


def _options(
    *,
    factorial_funds_mode: bool = typer.Option(
        False, "--factorial-funds", help="Reproduce Factorial Funds' Sora estimate (seed 001)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    model: str | None = typer.Option(None, "--model", help="Model preset or YAML file."),
    workload: str | None = typer.Option(None, "--workload", help="Workload preset or file."),
    cluster: str | None = typer.Option(None, "--cluster", help="Cluster preset or file."),
    train_samples: float | None = typer.Option(
        None,
        "--train-samples",
        help="Training samples (clips/images).",
    ),
    train_tokens: float | None = typer.Option(
        None,
        "--train-tokens",
        help="Training tokens (alternative to samples).",
    ),
    deadline_days: float | None = typer.Option(
        None,
        "--deadline-days",
        help="Wall-clock days for training.",
    ),
    plot: Path | None = typer.Option(None, "--plot", help="PNG: GPUs needed vs deadline."),
    global_batch: int | None = typer.Option(
        None, "--global-batch", help="Global batch for the planner (default: the workload's)."
    ),
    no_plan: bool = typer.Option(
        False, "--no-plan", help="FLOPs only: skip the planner (no planned MFU, layout)."
    ),
    cost_per_gpu_hour: float | None = typer.Option(
        None, "--cost-per-gpu-hour", help="Price of one GPU-hour, for a cost line."
    ),
    inference: bool = typer.Option(False, "--inference", help="Inference estimate instead."),
    steps: int | None = typer.Option(None, "--steps", help="Denoising steps per video."),
    cfg: bool = typer.Option(False, "--cfg", help="Classifier-free guidance (x2 per step)."),
    utilization: float | None = typer.Option(
        None, "--utilization", help="Fraction of peak (default 1.0, as the seed)."
    ),
    demand_minutes_per_day: float | None = typer.Option(
        None, "--demand-minutes-per-day", help="Video minutes per day to serve (--inference)."
    ),
    fps: float | None = typer.Option(None, "--fps", help="Frames per second (default 24)."),
) -> None:
    """Template whose signature holds the hand-written options."""


def _nullable(name: str) -> bool:
    return type(None) in get_args(FactorialFundsInputs.model_fields[name].annotation)


def _ff_parameters() -> list[inspect.Parameter]:
    """One `--kebab-name` option per FactorialFundsInputs field (except the shared ones)."""
    params = []
    for name, field in FactorialFundsInputs.model_fields.items():
        if name in SHARED_FF_FIELDS:
            continue
        kind = int if field.annotation is int else float
        extra = " (give 0 for None)" if _nullable(name) else ""
        option = typer.Option(
            None,
            f"--{name.replace('_', '-')}",
            help=f"{field.description}; default {field.default:g}{extra}",
            rich_help_panel=FF_PANEL,
        )
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None
            )
        )
    return params


def estimate(**flags: Any) -> None:
    """Month-long GPU counts: the seed's Sora chain (--factorial-funds), a bottom-up training
    estimate through the planner (--model ... --deadline-days), or inference (--inference)."""
    _check_mode(flags)
    if flags["factorial_funds_mode"]:
        result = factorial_funds(_ff_inputs(flags))
        _emit(result.model_dump(), flags["json_out"], lambda: _ff_table(result))
        return
    _reject_ff_only_flags(flags)
    if flags["inference"]:
        result = _model_inference(flags)
        _emit(result.model_dump(), flags["json_out"], lambda: _inference_table(result))
        return
    training = _model_training(flags)
    if flags["plot"] is not None:
        _plot_gpus_vs_deadline(training, flags["plot"])
    data = training.model_dump(exclude={"sizing": {"plan", "bottleneck"}})
    _emit(data, flags["json_out"], lambda: _training_table(training))


MODES = (
    "choose a mode: --factorial-funds | --model M --workload W --cluster C --train-samples S "
    "--deadline-days D | --model M --workload W --cluster C --inference --steps K"
)


def _check_mode(flags: dict[str, Any]) -> None:
    """One mode per call; flags of another mode are an error, not silently ignored."""
    model_flags = [f for f in ("model", "workload", "cluster") if flags.get(f) is not None]
    if flags["factorial_funds_mode"]:
        if model_flags:
            raise SpecError(f"--{model_flags[0]} does not apply with --factorial-funds ({MODES})")
        return
    if flags.get("model") is None and not flags["inference"]:
        if flags.get("train_samples") is None and flags.get("train_tokens") is None:
            raise SpecError(MODES)
    if flags.get("steps") is not None and not flags["inference"]:
        raise SpecError("--steps applies only with --inference")


def _signature() -> inspect.Signature:
    template = inspect.signature(_options, eval_str=True).parameters.values()
    return inspect.Signature([*template, *_ff_parameters()])


estimate.__signature__ = _signature()  # type: ignore[attr-defined]
estimate.__annotations__ = {
    p.name: p.annotation for p in estimate.__signature__.parameters.values()
}


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)


# ------------------------------------------------------------------------ Factorial Funds


def _ff_inputs(flags: dict[str, Any]) -> FactorialFundsInputs:
    """Flags given on the command line override the seed's inputs; 0 clears an optional one."""
    given = {
        name: flags[name] for name in FactorialFundsInputs.model_fields if flags[name] is not None
    }
    given = {k: None if v == 0 and _nullable(k) else v for k, v in given.items()}
    try:
        return FactorialFundsInputs(**given)
    except ValidationError as err:
        first = err.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-")
        raise SpecError(f"{flag}={first['input']!r} {first['msg'].lower()}") from None


def _reject_ff_only_flags(flags: dict[str, Any]) -> None:
    for name in FactorialFundsInputs.model_fields:
        if name not in SHARED_FF_FIELDS and flags[name] is not None:
            raise SpecError(f"--{name.replace('_', '-')} applies only with --factorial-funds")


def _ff_table(e: FactorialFundsEstimate) -> Table:
    i = e.inputs
    t = Table(title="Factorial Funds' Sora estimate, reproduced (seed 001)", show_lines=False)
    for col in ("step", "formula", "value", "seed says"):
        t.add_column(col)
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
    for row in rows:
        t.add_row(*row)
    t.caption_justify = "left"
    t.caption = f"Units: {e.flop_convention}.\n" + "\n".join(f"- {n}" for n in e.notes)
    return t


# ------------------------------------------------------------------------------ model mode


def _require_positive(flag: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise SpecError(f"{flag}={value:g} must be > 0")


def _load_specs(flags: dict[str, Any]) -> tuple[Any, Any, Any]:
    from parplan.specs import load_cluster, load_model, load_workload

    for flag in ("model", "workload", "cluster"):
        if flags[flag] is None:
            raise SpecError(f"--{flag} is required (or use --factorial-funds)")
    return (
        load_model(flags["model"]),
        load_workload(flags["workload"]),
        load_cluster(flags["cluster"]),
    )


def _forward_and_tokens(model: Any, workload: Any) -> tuple[float, float]:
    """True forward FLOPs and tokens per sample from the cost model (imported lazily: the
    Factorial Funds mode must not depend on it)."""
    try:
        from parplan.model.flops import model_cost
        from parplan.model.geometry import token_geometry
    except ImportError as err:
        raise SpecError(f"--model mode needs parplan.model.flops and parplan.model.geometry ({err})") from None
    geometry = token_geometry(model, workload)
    return float(model_cost(model, geometry).forward_flops), float(geometry.tokens)


def _one_frame(model: Any, workload: Any) -> tuple[float, float]:
    """The same model on one frame at the workload's resolution (the seed's linear unit);
    padding warnings for this reference are not the user's concern."""
    frame = workload.model_copy(update={"kind": "image", "frames": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _forward_and_tokens(model, frame)


def _model_training(flags: dict[str, Any]) -> TrainingEstimate:
    samples, tokens, days = flags["train_samples"], flags["train_tokens"], flags["deadline_days"]
    for flag in ("train_samples", "train_tokens", "deadline_days", "cost_per_gpu_hour",
                 "global_batch"):  # fmt: skip
        _require_positive("--" + flag.replace("_", "-"), flags[flag])
    if (samples is None) == (tokens is None):
        raise SpecError("give exactly one of --train-samples and --train-tokens")
    if days is None:
        raise SpecError("--deadline-days is required for a training estimate")
    model, workload, cluster = _load_specs(flags)
    forward, tokens_per_sample = _forward_and_tokens(model, workload)
    forward_frame, tokens_per_frame = _one_frame(model, workload)
    inputs = {
        "forward_flops_per_sample": forward,
        "forward_flops_per_frame": forward_frame,
        "frame_count": tokens_per_sample / tokens_per_frame,
        "train_samples": samples if samples is not None else tokens / tokens_per_sample,
        "deadline_s": days * SECONDS_PER_DAY,
        "peak_flop_per_s": cluster.gpu.peak_flop_per_s(workload.precision),
        "cost_per_gpu_hour": flags["cost_per_gpu_hour"],
    }
    flop_only = training_estimate(**inputs)
    if flags["no_plan"]:
        return flop_only
    sizing = _plan_for_deadline(flop_only, model=model, workload=workload, cluster=cluster,
                                global_batch=flags["global_batch"], quiet=flags["json_out"])  # fmt: skip
    return training_estimate(**inputs, sizing=sizing)


def _plan_for_deadline(e: TrainingEstimate, *, model: Any, workload: Any, cluster: Any,
                       global_batch: int | None, quiet: bool) -> DeadlineSizing:  # fmt: skip
    """Plan on the planner's node grid (2^k and 3x2^k nodes) from the GPUs at 100% of peak up,
    until the planned MFU meets the deadline (`size_for_deadline`). The planner's own deadline
    mode plans every grid size (22 for 2,048 nodes); this plans 1-3 of them."""
    from parplan.plan.deadline import node_grid
    from parplan.plan.planner import plan

    grid = [n * cluster.gpus_per_node for n in node_grid(cluster.nodes)]
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True, disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("planning", total=None)

        def plan_at(gpus: int) -> tuple[Any, dict] | str:
            bar.update(task, description=f"planning {gpus:,} GPUs", completed=0, total=None)
            result = plan(model=model, workload=workload, cluster=cluster, num_gpus=gpus,
                          train_samples=e.train_samples, global_batch=global_batch, top_k=1,
                          progress=lambda done, total: bar.update(task, completed=done,
                                                                  total=total))  # fmt: skip
            if not result.plans:
                return str((result.infeasible or {}).get("detail", "no feasible plan"))
            best = result.plans[0]
            return best, {**best.model_dump(mode="json"), "search_s": result.search.seconds}

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # padding warnings were shown once already
            return size_for_deadline(train_flops=e.train_flops, peak_flop_per_s=e.peak_flop_per_s,
                                     deadline_s=e.deadline_s, grid=grid, plan_at=plan_at)  # fmt: skip


def _model_params(model: Any) -> float:
    if model.params_exact is not None:
        return float(model.params_exact)
    from parplan.model.params import param_count

    return float(param_count(model))


def _model_inference(flags: dict[str, Any]) -> InferenceEstimate:
    steps, utilization = flags["steps"], flags["utilization"]
    if steps is None:
        raise SpecError("--inference needs --steps (denoising steps per video)")
    _require_positive("--steps", steps)
    _require_positive("--utilization", utilization)
    _require_positive("--fps", flags["fps"])
    if utilization is not None and utilization > 1:
        raise SpecError(f"--utilization={utilization:g} must be <= 1")
    model, workload, cluster = _load_specs(flags)
    if flags["demand_minutes_per_day"] is not None and workload.kind != "video":
        raise SpecError(
            f"--demand-minutes-per-day needs a video workload, got kind={workload.kind}"
        )
    forward, _ = _forward_and_tokens(model, workload)
    fps = flags["fps"] or FactorialFundsInputs().fps
    return inference_estimate(
        forward_flops_per_sample=forward,
        steps=steps,
        cfg=flags["cfg"],
        peak_flop_per_s=cluster.gpu.peak_flop_per_s(workload.precision),
        utilization=utilization or 1.0,
        demand_video_minutes_per_day=flags["demand_minutes_per_day"],
        seconds_per_video=workload.frames / fps,
        params=_model_params(model),
        weight_bytes_per_param=workload.element_bytes,
        hbm_bytes_per_s=cluster.gpu.hbm_bytes_per_s,
    )


def _training_table(e: TrainingEstimate) -> Table:
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
    if e.sizing is None:
        t.caption = "FLOPs only (--no-plan)"
    return t


def _planned_rows(e: TrainingEstimate) -> list[tuple[str, str | None]]:
    s = e.sizing
    if s is None:
        return []
    rounds = ", ".join(
        f"{r.gpus:,}: " + (f"MFU {r.mfu:.1%}" if r.mfu else "no fit") for r in s.rounds
    )
    if e.plan is None or e.planned_mfu is None:
        return [("planner rounds (GPUs)", rounds), ("no plan", s.infeasible)]
    p, b = e.plan, e.bottleneck or {}
    degrees = " ".join(f"{k}={p['strategy'][k]}" for k in ("dp", "tp", "sp", "pp")
                       if p["strategy"].get(k, 1) > 1)  # fmt: skip
    over = f" (> the cluster's {s.cluster_gpus:,})" if s.exceeds_cluster else ""
    return [
        ("planner rounds (GPUs)", rounds),
        (f"plan on {p['gpus']:,} GPUs", f"{degrees} {p['strategy'].get('sp_method', '')}".strip()),
        ("  step time / memory per GPU", f"{p['step_time_s']:,.1f} s / "
                                         f"{p['memory_gib_per_gpu']:.1f} GiB"),
        ("  days to train on those GPUs", f"{p['time_to_train_days']:,.1f}"),
        ("  bottleneck", f"{b.get('dim', '?')}: {b.get('advice', '')}"),
        ("planned MFU", f"{e.planned_mfu:.1%}"),
        ("GPUs at planned MFU", f"{e.gpus_at_planned_mfu:,.0f}{over}"),
        ("GPU-hours at planned MFU", f"{e.gpu_hours:,.0f}"),
        ("cost at planned MFU", _money(e.cost)),
    ]  # fmt: skip


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def _inference_table(e: InferenceEstimate) -> Table:
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


def _plot_gpus_vs_deadline(e: TrainingEstimate, path: Path) -> None:
    """GPUs needed vs deadline (deadline/10 to 3x deadline): real FLOPs at 100% of peak, the
    seed's linear frame scaling, and real FLOPs at the planned MFU (held at the MFU of the plan
    for this deadline: other deadlines give other sizes and slightly different MFUs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deadline_days = e.deadline_s / SECONDS_PER_DAY
    days = [deadline_days * 10 ** (k / 50 - 1) for k in range(75)]
    curves = {"real FLOPs, 100% of peak": e.train_flops,
              "seed's linear frame scaling, 100%": e.linear_scaling_train_flops}  # fmt: skip
    if e.planned_mfu is not None:
        curves[f"real FLOPs at planned MFU {e.planned_mfu:.0%}"] = e.train_flops / e.planned_mfu
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, flops in curves.items():
        ax.loglog(days, [flops / (e.peak_flop_per_s * d * SECONDS_PER_DAY) for d in days],
                  label=label)  # fmt: skip
    ax.axvline(deadline_days, linestyle=":", color="gray", label="deadline")
    top_gpus = max(curves.values()) / (e.peak_flop_per_s * days[0] * SECONDS_PER_DAY)
    if e.sizing is not None and e.sizing.cluster_gpus < 10 * top_gpus:
        ax.axhline(e.sizing.cluster_gpus, linestyle="--", color="gray", label="cluster size")
    ax.set_xlabel("deadline (days)")
    ax.set_ylabel("GPUs")
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _emit(data: dict, json_out: bool, table: Any) -> None:
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        Console().print(table())
