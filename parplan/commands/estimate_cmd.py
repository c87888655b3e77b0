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
from parplan.commands.estimate_flags import (
    ff_inputs,
    reject_ff_only_flags,
    reject_other_modes_flags,
    signature,
)
from parplan.commands.estimate_modes import (
    model_inference,
    model_training,
    plot_training,
    require_positive,
)
from parplan.commands.estimate_tables import ff_table, inference_table, training_table
from parplan.commands.recipe_tables import recipe_json, recipe_table
from parplan.commands.strategy_flags import STACK_FLAGS, reject_stack_flags, stack_from_flags
from parplan.errors import SpecError
from parplan.estimate.recipe import RecipeEstimate, estimate_recipe
from parplan.estimate.seed import factorial_funds
from parplan.specs import load_cluster, load_recipe


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
        result = model_inference(flags)
        _emit(result.model_dump(), flags["json_out"], lambda: inference_table(result))
        return
    if flags["no_plan"]:
        reject_stack_flags(flags, why="with --no-plan (FLOPs only; the planner costs the stack)")
    stack = stack_from_flags(**{name: flags[name] for name in STACK_FLAGS})
    training = model_training(flags, stack)
    if flags["plot"] is not None:
        plot_training(training, flags)
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
        reject_other_modes_flags(flags)
        return
    if flags["gpus"] is not None:
        raise SpecError("--gpus applies only with --recipe (the model mode sizes the GPUs)")
    if flags["factorial_funds_mode"]:
        if model_flags:
            raise SpecError(f"--{model_flags[0]} does not apply with --factorial-funds ({MODES})")
        reject_other_modes_flags(flags)
        return
    if flags.get("model") is None and not flags["inference"]:
        if flags.get("train_samples") is None and flags.get("train_tokens") is None:
            raise SpecError(MODES)
    if flags.get("steps") is not None and not flags["inference"]:
        raise SpecError("--steps applies only with --inference")
    reject_other_modes_flags(flags)


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
    require_positive("--gpus", flags["gpus"])
    require_positive("--deadline-days", flags["deadline_days"])
    require_positive("--cost-per-gpu-hour", flags["cost_per_gpu_hour"])
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


def _emit(data: dict, json_out: bool, table: Any) -> None:
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        Console().print(table())
