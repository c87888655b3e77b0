"""The flags of `parplan estimate`: hand-written ones, and one per Factorial Funds input,
generated from `FactorialFundsInputs` so that the flags, the JSON "inputs" and the defaults
cannot drift."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, get_args

import typer
from pydantic import ValidationError

from parplan.commands.checks import flag_problems
from parplan.commands.strategy_flags import STACK_OPTIONS, stack_parameters
from parplan.errors import SpecError
from parplan.estimate.seed import FactorialFundsInputs

FF_PANEL = "Factorial Funds inputs (--factorial-funds; seed 001 lines)"


SHARED_FF_FIELDS = ("fps", "utilization")  # same meaning in both modes: one flag each


def _options(
    *,
    factorial_funds_mode: bool = typer.Option(
        False, "--factorial-funds", help="Reproduce Factorial Funds' Sora estimate (seed 001)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    recipe: str | None = typer.Option(
        None, "--recipe", help="Multi-stage recipe: preset name or YAML file (docs/recipes.md)."
    ),
    gpus: int | None = typer.Option(
        None, "--gpus", help="--recipe: GPUs for the stages that give none."
    ),
    no_failures: bool = typer.Option(
        False, "--no-failures", help="Leave out failures, restarts and checkpoints (goodput 1)."
    ),
    async_checkpoint: bool | None = typer.Option(
        None,
        "--async-checkpoint/--sync-checkpoint",
        help="Checkpoint writes hidden behind training, or not (default: the cluster's "
        "reliability.async_checkpoint).",
    ),
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


def signature() -> inspect.Signature:
    template = inspect.signature(_options, eval_str=True).parameters.values()
    return inspect.Signature([*template, *stack_parameters(), *_ff_parameters()])


def ff_inputs(flags: dict[str, Any]) -> FactorialFundsInputs:
    """Flags given on the command line override the seed's inputs; 0 clears an optional one."""
    given = {
        name: flags[name] for name in FactorialFundsInputs.model_fields if flags[name] is not None
    }
    given = {k: None if v == 0 and _nullable(k) else v for k, v in given.items()}
    try:
        return FactorialFundsInputs(**given)
    except ValidationError as err:
        raise SpecError(flag_problems(err)) from None


def reject_ff_only_flags(flags: dict[str, Any]) -> None:
    for name in FactorialFundsInputs.model_fields:
        if name not in SHARED_FF_FIELDS and flags[name] is not None:
            raise SpecError(f"--{name.replace('_', '-')} applies only with --factorial-funds")


# The flags each mode reads (besides --json, the stack flags and the Factorial Funds inputs,
# which have their own checks): any other flag given is an error, never silently ignored.
MODE_FLAGS: dict[str, set[str]] = {
    "--recipe": {"recipe", "cluster", "gpus", "deadline_days", "cost_per_gpu_hour", "no_failures",
                 "async_checkpoint"},
    "--factorial-funds": {"factorial_funds_mode", "fps", "utilization"},
    "--inference": {"inference", "model", "workload", "cluster", "steps", "cfg", "utilization",
                    "demand_minutes_per_day", "fps"},
    "a training estimate": {"model", "workload", "cluster", "train_samples", "train_tokens",
                            "deadline_days", "cost_per_gpu_hour", "global_batch", "no_plan",
                            "no_failures", "async_checkpoint", "plot"},
}  # fmt: skip


def estimate_mode(flags: dict[str, Any]) -> str:
    for mode, flag in (("--recipe", "recipe"), ("--factorial-funds", "factorial_funds_mode"),
                       ("--inference", "inference")):  # fmt: skip
        if flags[flag] not in (None, False):
            return mode
    return "a training estimate"


def reject_other_modes_flags(flags: dict[str, Any]) -> None:
    """`--cfg` with a training estimate, `--plot` with --inference: one line naming the flag."""
    mode = estimate_mode(flags)
    ff_only = set(FactorialFundsInputs.model_fields) - set(SHARED_FF_FIELDS)  # reject_ff_only_flags
    own = MODE_FLAGS[mode] | {"json_out", *ff_only, *STACK_OPTIONS}
    for name, value in flags.items():
        if name not in own and value not in (None, False):
            flag = "--" + name.removesuffix("_mode").replace("_", "-")
            users = [m for m, names in MODE_FLAGS.items() if name in names]
            raise SpecError(f"{flag} does not apply with {mode} (it is for {' or '.join(users)})")
