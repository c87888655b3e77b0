"""`parplan estimate`: the seed's Sora chain (`--factorial-funds`) or a FLOP-only estimate for a
model/workload/cluster (training GPUs for a deadline, or `--inference`).

A thin layer over parplan.estimate: flags (estimate_flags.py), one library call per mode, tables
(estimate_tables.py).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

from parplan.commands.common import StageProgress
from parplan.commands.estimate_flags import ff_inputs, reject_ff_only_flags, signature
from parplan.commands.estimate_tables import ff_table, inference_table, training_table
from parplan.commands.plots import plot_gpus_vs_deadline
from parplan.commands.recipe_tables import recipe_json, recipe_table
from parplan.commands.strategy_flags import STACK_FLAGS, reject_stack_flags, stack_from_flags
from parplan.errors import SpecError
from parplan.estimate.formulas import DEFAULT_FPS
from parplan.estimate.inference import InferenceEstimate, estimate_inference
from parplan.estimate.recipe import RecipeEstimate, estimate_recipe
from parplan.estimate.seed import factorial_funds
from parplan.estimate.training import TrainingEstimate, estimate_training
from parplan.specs import StackSpec, load_cluster, load_model, load_recipe, load_workload


def estimate(**flags: Any) -> None:
    """Month-long GPU counts: the seed's Sora chain (--factorial-funds), a bottom-up training
    estimate through the planner (--model ... --deadline-days), or inference (--inference)."""
    _check_mode(flags)
    if flags["recipe"] is not None:
        reject_stack_flags(flags, why="with --recipe (each stage states its `stack:`)")
        result = _recipe(flags)
        _emit(recipe_json(result), flags["json_out"], lambda: recipe_table(result))
        return
    if flags["factorial_funds_mode"]:
        reject_stack_flags(flags, why="to --factorial-funds (FLOPs at a stated utilization)")
        result = factorial_funds(ff_inputs(flags))
        _emit(result.model_dump(), flags["json_out"], lambda: ff_table(result))
        return
    reject_ff_only_flags(flags)
    if flags["inference"]:
        reject_stack_flags(flags, why="to --inference (FLOPs at a stated utilization)")
        result = _model_inference(flags)
        _emit(result.model_dump(), flags["json_out"], lambda: inference_table(result))
        return
    if flags["no_plan"]:
        reject_stack_flags(flags, why="with --no-plan (FLOPs only; the planner costs the stack)")
    stack = stack_from_flags(**{name: flags[name] for name in STACK_FLAGS})
    training = _model_training(flags, stack)
    if flags["plot"] is not None:
        plot_gpus_vs_deadline(training, flags["plot"])
    data = training.model_dump(exclude={"sizing": {"plan", "bottleneck"}})
    if training.sizing is not None:
        data["stack"] = stack.model_dump(mode="json")
    _emit(data, flags["json_out"], lambda: training_table(training, stack=stack))


MODES = (
    "choose a mode: --factorial-funds | --model M --workload W --cluster C --train-samples S "
    "--deadline-days D | --model M --workload W --cluster C --inference --steps K"
)


def _check_mode(flags: dict[str, Any]) -> None:
    """One mode per call; flags of another mode are an error, not silently ignored."""
    model_flags = [f for f in ("model", "workload", "cluster") if flags.get(f) is not None]
    if flags["recipe"] is not None:
        _check_recipe_mode(flags)
        return
    if flags["gpus"] is not None:
        raise SpecError("--gpus applies only with --recipe (the model mode sizes the GPUs)")
    if flags["factorial_funds_mode"]:
        if model_flags:
            raise SpecError(f"--{model_flags[0]} does not apply with --factorial-funds ({MODES})")
        return
    if flags.get("model") is None and not flags["inference"]:
        if flags.get("train_samples") is None and flags.get("train_tokens") is None:
            raise SpecError(MODES)
    if flags.get("steps") is not None and not flags["inference"]:
        raise SpecError("--steps applies only with --inference")


def _check_recipe_mode(flags: dict[str, Any]) -> None:
    clash = [f for f in ("model", "workload", "train_samples", "train_tokens", "global_batch",
                         "plot", "steps") if flags.get(f) is not None]  # fmt: skip
    clash += [f for f in ("factorial_funds_mode", "inference", "no_plan") if flags[f]]
    if clash:
        name = clash[0].replace("_mode", "").replace("_", "-")
        raise SpecError(f"--{name} does not apply with --recipe (stages give their own)")
    if flags["cluster"] is None:
        raise SpecError("--recipe needs --cluster")
    if (flags["gpus"] is None) == (flags["deadline_days"] is None) and not _all_stages_sized(flags):
        raise SpecError("--recipe needs one of --gpus N and --deadline-days D")


def _all_stages_sized(flags: dict[str, Any]) -> bool:
    """A recipe whose stages all give gpus: needs neither flag (but takes none of both)."""
    given = flags["gpus"] is not None or flags["deadline_days"] is not None
    return not given and all(s.gpus for s in load_recipe(flags["recipe"]).stages)


def _recipe(flags: dict[str, Any]) -> RecipeEstimate:
    _require_positive("--gpus", flags["gpus"])
    _require_positive("--deadline-days", flags["deadline_days"])
    _require_positive("--cost-per-gpu-hour", flags["cost_per_gpu_hour"])
    recipe, cluster = load_recipe(flags["recipe"]), load_cluster(flags["cluster"])
    with StageProgress(quiet=flags["json_out"]) as progress:
        return estimate_recipe(recipe, cluster=cluster, gpus=flags["gpus"],
                               deadline_days=flags["deadline_days"],
                               cost_per_gpu_hour=flags["cost_per_gpu_hour"],
                               with_failures=not flags["no_failures"],
                               async_checkpoint=flags["async_checkpoint"], progress=progress)  # fmt: skip


estimate.__signature__ = signature()  # type: ignore[attr-defined]
estimate.__annotations__ = {
    p.name: p.annotation for p in estimate.__signature__.parameters.values()
}


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)


# ------------------------------------------------------------------------------ model mode


def _require_positive(flag: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise SpecError(f"{flag}={value:g} must be > 0")


def _load_specs(flags: dict[str, Any]) -> dict[str, Any]:
    for flag in ("model", "workload", "cluster"):
        if flags[flag] is None:
            raise SpecError(f"--{flag} is required (or use --factorial-funds)")
    return {
        "model": load_model(flags["model"]),
        "workload": load_workload(flags["workload"]),
        "cluster": load_cluster(flags["cluster"]),
    }


def _model_training(flags: dict[str, Any], stack: StackSpec) -> TrainingEstimate:
    for flag in ("train_samples", "train_tokens", "deadline_days", "cost_per_gpu_hour",
                 "global_batch"):  # fmt: skip
        _require_positive("--" + flag.replace("_", "-"), flags[flag])
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


def _model_inference(flags: dict[str, Any]) -> InferenceEstimate:
    steps, utilization = flags["steps"], flags["utilization"]
    if steps is None:
        raise SpecError("--inference needs --steps (denoising steps per video)")
    _require_positive("--steps", steps)
    _require_positive("--utilization", utilization)
    _require_positive("--fps", flags["fps"])
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


def _emit(data: dict, json_out: bool, table: Any) -> None:
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        Console().print(table())
