"""`parplan plan`: the planner's command line (a thin layer over `parplan.plan.planner.plan`).

Exit codes: 0 with plans, 1 when nothing fits (the JSON then has "plans": [] and "infeasible"),
2 on bad input (SpecError, handled by cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parplan.commands.checks import (
    announce,
    announce_files,
    require_positive,
    writable_file,
    writable_output,
)
from parplan.commands.common import (
    CLUSTER_OPT,
    DEFAULT_GPUS_TEXT,
    DEFAULT_MODEL,
    DEFAULT_WORKLOAD,
    JSON_OPT,
    MODEL_HELP,
    WORKLOAD_HELP,
    PlannerProgress,
    default_gpus,
    note_calibration,
)
from parplan.commands.plan_recipe import plan_recipe
from parplan.commands.plan_tables import goodput_json, plan_notes, print_result
from parplan.commands.plots import plot_curve
from parplan.commands.strategy_flags import stack_from_flags, with_stack_flags
from parplan.cost.goodput import sizing_goodput, strategy_goodput
from parplan.errors import SpecError
from parplan.plan.emit import SpecSources, emit_or_fail
from parplan.plan.planner import plan
from parplan.specs import load_cluster, load_model, load_workload


def plan_command(
    model: str = typer.Option(None, "--model", help=MODEL_HELP, show_default=DEFAULT_MODEL),
    workload: str = typer.Option(None, "--workload", help=WORKLOAD_HELP,
                                 show_default=DEFAULT_WORKLOAD),  # fmt: skip
    recipe: str = typer.Option(
        None, "--recipe", help="Plan every stage of a recipe (preset or YAML; docs/recipes.md)."
    ),
    cluster: str = CLUSTER_OPT,
    gpus: int = typer.Option(None, "--gpus", help="GPUs to plan for.",
                             show_default=DEFAULT_GPUS_TEXT),  # fmt: skip
    deadline_days: float = typer.Option(
        None, "--deadline-days", help="Find the smallest cluster that trains within this many days."
    ),
    train_samples: float = typer.Option(None, "--train-samples", help="Samples in the run."),
    train_tokens: float = typer.Option(None, "--train-tokens", help="Tokens in the run."),
    global_batch: int = typer.Option(None, "--global-batch", help="Samples per optimizer step.",
                                     show_default="the workload's"),  # fmt: skip
    top: int = typer.Option(5, "--top", min=1, help="How many plans to list."),
    emit_dir: Path = typer.Option(
        None,
        "--emit",
        help="Write ds_config.json, launch.sh, plan.yaml for the best plan into this directory.",
    ),
    plot: Path = typer.Option(None, "--plot", help="Deadline mode: PNG of GPUs vs days."),
    full_curve: bool = typer.Option(
        False, "--full-curve", help="Deadline mode: plan every grid size for the exact curve."
    ),
    solver: str = typer.Option("highs", "--solver", help="ILP solver: cbc | highs."),
    orders: str = typer.Option("auto", "--orders", help="Rank orders: auto | all | standard."),
    no_failures: bool = typer.Option(False, "--no-failures", help="Goodput 1: no failures."),
    async_checkpoint: bool = typer.Option(
        None, "--async-checkpoint/--sync-checkpoint", help="Checkpoint writes behind training.",
        show_default="the cluster's reliability.async_checkpoint",
    ),
    as_json: bool = JSON_OPT,
    stack_flags: dict | None = None,
) -> None:
    """Search every parallel layout and list the fastest that fit (or, with --deadline-days,
    the smallest cluster that meets the deadline)."""
    _check_flags(
        gpus=gpus,
        deadline_days=deadline_days,
        solver=solver,
        orders=orders,
        train_samples=train_samples,
        train_tokens=train_tokens,
    )
    require_positive(gpus=gpus, deadline_days=deadline_days, train_samples=train_samples,
                     train_tokens=train_tokens, global_batch=global_batch)  # fmt: skip
    writable_file(plot, "--plot")
    writable_output(emit_dir, "--emit", kind="folder")
    if recipe is not None:
        if model is not None or workload is not None or plot is not None:
            raise SpecError("--recipe gives the models and workloads of its stages: drop "
                            "--model, --workload and --plot")  # fmt: skip
        if any(v is not None for v in (stack_flags or {}).values()):
            raise SpecError("stack flags do not apply with --recipe: give each stage its "
                            "`stack:` in the recipe")  # fmt: skip
        plan_recipe(recipe=recipe, cluster=cluster, gpus=gpus, deadline_days=deadline_days,
                    emit_dir=emit_dir, as_json=as_json, with_failures=not no_failures,
                    async_checkpoint=async_checkpoint)  # fmt: skip
        return
    model, workload = model or DEFAULT_MODEL, workload or DEFAULT_WORKLOAD
    note_calibration(cluster)
    stack = stack_from_flags(**(stack_flags or {}))
    if plot is not None and deadline_days is None:
        raise SpecError("--plot draws the GPUs -> days curve of deadline mode: add --deadline-days")
    specs = dict(
        model=load_model(model), workload=load_workload(workload), cluster=load_cluster(cluster)
    )
    if gpus is None and deadline_days is None:
        gpus = default_gpus(specs["cluster"])
    with PlannerProgress(quiet=as_json) as progress:
        result = plan(
            **specs,
            num_gpus=gpus,
            deadline_days=deadline_days,
            top_k=top,
            train_samples=train_samples,
            train_tokens=train_tokens,
            global_batch=global_batch,
            solver=solver,
            orders=orders,
            progress=progress,
            stack=stack,
            full_curve=full_curve,
            goodput=None if deadline_days is None else sizing_goodput(
                **specs, with_failures=not no_failures, async_checkpoint=async_checkpoint),
        )
    title = f"{model} · {workload} · {cluster}"
    if plot is not None and result.curve:
        plot_curve(result, plot, title=f"{title}: days to train vs GPUs"
                   + (f" (chosen: {result.gpus:,})" if result.plans else ""))  # fmt: skip
        announce(plot, "days to train vs GPUs")
    goodput = None
    if result.plans and deadline_days is not None:  # the chosen layout under failures
        goodput = strategy_goodput(**specs, strategy=result.plans[0].strategy, num_gpus=result.gpus,
                                   with_failures=not no_failures, async_checkpoint=async_checkpoint)  # fmt: skip
    if as_json:
        data = {**result.to_json(), "stack": stack.model_dump(mode="json"), **goodput_json(goodput)}
        print(json.dumps(data, indent=2))
    else:
        print_result(result, title=title, stack=stack, goodput=goodput)
    if emit_dir is not None and result.plans:  # after the table: a refusal keeps the plans shown
        best = result.plans[0]
        written = emit_or_fail(
            directory=emit_dir, strategy=best.strategy, num_gpus=result.gpus,
            notes=plan_notes(best), prediction=(best.step_time_s, best.memory_gib_per_gpu),
            sources=SpecSources(model=model, workload=workload, cluster=cluster), **specs,
        )  # fmt: skip
        announce_files(written, "the best plan's launch files")
    if not result.plans:  # SystemExit: cli.main maps it; a typer.Exit return value is dropped
        raise SystemExit(1)


def _check_flags(
    *,
    gpus: int | None,
    deadline_days: float | None,
    solver: str,
    orders: str,
    train_samples: float | None,
    train_tokens: float | None,
) -> None:
    if gpus is not None and deadline_days is not None:
        raise SpecError("--gpus and --deadline-days exclude each other: give one")
    if train_samples is not None and train_tokens is not None:
        raise SpecError("--train-samples and --train-tokens exclude each other: give one")
    if solver not in ("cbc", "highs"):
        raise SpecError(f"--solver {solver!r}: allowed: cbc, highs")
    if orders not in ("auto", "all", "standard"):
        raise SpecError(f"--orders {orders!r}: allowed: auto, all, standard")


def register(app: typer.Typer) -> None:
    app.command("plan")(with_stack_flags(plan_command))
