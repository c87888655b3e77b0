"""The model modes of `parplan estimate`: a training estimate through the planner (with its
plot) and an inference estimate, from the flags (one-line SpecErrors naming them)."""

from __future__ import annotations

from typing import Any

from parplan.commands.checks import announce, writable_file
from parplan.commands.checks import require_positive as positive
from parplan.commands.common import StageProgress
from parplan.commands.plots import plot_gpus_vs_deadline
from parplan.errors import SpecError
from parplan.estimate.formulas import DEFAULT_FPS
from parplan.estimate.inference import InferenceEstimate, estimate_inference
from parplan.estimate.training import TrainingEstimate, estimate_training
from parplan.specs import StackSpec, load_cluster, load_model, load_workload


def require_positive(flag: str, value: float | None) -> None:
    """`--steps=0`, `--fps=inf`, `--utilization=nan`: one line naming the flag."""
    positive(**{flag.removeprefix("--").replace("-", "_"): value})


def _load_specs(flags: dict[str, Any]) -> dict[str, Any]:
    for flag in ("model", "workload", "cluster"):
        if flags[flag] is None:
            raise SpecError(f"--{flag} is required (or use --factorial-funds)")
    return {
        "model": load_model(flags["model"]),
        "workload": load_workload(flags["workload"]),
        "cluster": load_cluster(flags["cluster"]),
    }


def model_training(flags: dict[str, Any], stack: StackSpec) -> TrainingEstimate:
    writable_file(flags["plot"], "--plot")  # before the planner's minutes
    for flag in ("train_samples", "train_tokens", "deadline_days", "cost_per_gpu_hour",
                 "global_batch"):  # fmt: skip
        require_positive("--" + flag.replace("_", "-"), flags[flag])
    if (flags["train_samples"] is None) == (flags["train_tokens"] is None):
        raise SpecError("give exactly one of --train-samples and --train-tokens")
    if flags["deadline_days"] is None:
        raise SpecError("--deadline-days is required for a training estimate")
    specs = _load_specs(flags)  # before the bar: a bad spec is one line on stderr
    with StageProgress(quiet=flags["json_out"]) as progress:
        return estimate_training(
            **specs,
            deadline_days=flags["deadline_days"],
            train_samples=flags["train_samples"],
            train_tokens=flags["train_tokens"],
            cost_per_gpu_hour=flags["cost_per_gpu_hour"],
            global_batch=flags["global_batch"],
            with_plan=not flags["no_plan"],
            stack=stack,
            with_failures=not flags["no_failures"],
            async_checkpoint=flags["async_checkpoint"],
            progress=progress,
        )


def model_inference(flags: dict[str, Any]) -> InferenceEstimate:
    steps, utilization = flags["steps"], flags["utilization"]
    if steps is None:
        raise SpecError("--inference needs --steps (denoising steps per video)")
    require_positive("--steps", steps)
    require_positive("--utilization", utilization)
    require_positive("--fps", flags["fps"])
    require_positive("--demand-minutes-per-day", flags["demand_minutes_per_day"])
    if utilization is not None and utilization > 1:
        raise SpecError(f"--utilization={utilization:g} must be <= 1")
    return estimate_inference(
        **_load_specs(flags),
        steps=steps,
        cfg=flags["cfg"],
        utilization=utilization or 1.0,
        demand_video_minutes_per_day=flags["demand_minutes_per_day"],
        fps=flags["fps"] or DEFAULT_FPS,
    )


def plot_training(training: TrainingEstimate, flags: dict[str, Any]) -> None:
    planned = training.plan["gpus"] if training.plan else None
    title = (f"{flags['model']} · {flags['workload']} · {flags['cluster']}: GPUs vs deadline"
             + (f" (plan: {planned:,} GPUs)" if planned else ""))  # fmt: skip
    plot_gpus_vs_deadline(training, flags["plot"], title=title)
    announce(flags["plot"], "GPUs needed vs deadline")
