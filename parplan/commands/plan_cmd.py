"""`parplan plan`: the planner's command line (a thin layer over `parplan.plan.planner.plan`).

Exit codes: 0 with plans, 1 when nothing fits (the JSON then has "plans": [] and "infeasible"),
2 on bad input (SpecError, handled by cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parplan.commands.checks import require_positive, writable_file
from parplan.commands.common import (
    DEFAULT_CLUSTER,
    DEFAULT_GPUS,
    DEFAULT_MODEL,
    DEFAULT_WORKLOAD,
    JSON_OPT,
    PlannerProgress,
)
from parplan.commands.plan_tables import plan_notes, print_result
from parplan.commands.plots import plot_curve
from parplan.commands.strategy_flags import (
    ATTENTION_DROPOUT_OPT,
    ATTENTION_OPT,
    TEXT_ENCODER_PRECISION_OPT,
    TP_OVERLAP_OPT,
    stack_from_flags,
)
from parplan.errors import SpecError
from parplan.plan.emit import emit
from parplan.plan.planner import plan
from parplan.specs import load_cluster, load_model, load_workload


def plan_command(
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="Model preset name or YAML file."),
    workload: str = typer.Option(DEFAULT_WORKLOAD, "--workload", help="Workload preset or YAML."),
    cluster: str = typer.Option(DEFAULT_CLUSTER, "--cluster", help="Cluster name or YAML file."),
    gpus: int = typer.Option(None, "--gpus", help=f"GPUs to plan for (default {DEFAULT_GPUS})."),
    deadline_days: float = typer.Option(
        None, "--deadline-days", help="Find the smallest cluster that trains within this many days."
    ),
    train_samples: float = typer.Option(None, "--train-samples", help="Samples in the run."),
    train_tokens: float = typer.Option(None, "--train-tokens", help="Tokens in the run."),
    global_batch: int = typer.Option(None, "--global-batch", help="Samples per optimizer step."),
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
    attention: str = ATTENTION_OPT,
    attention_dropout: bool = ATTENTION_DROPOUT_OPT,
    tp_comm_overlap: bool = TP_OVERLAP_OPT,
    text_encoder_precision: str = TEXT_ENCODER_PRECISION_OPT,
    as_json: bool = JSON_OPT,
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
    stack = stack_from_flags(
        attention=attention, attention_dropout=attention_dropout, tp_comm_overlap=tp_comm_overlap,
        text_encoder_precision=text_encoder_precision,
    )
    if plot is not None and deadline_days is None:
        raise SpecError("--plot draws the GPUs -> days curve of deadline mode: add --deadline-days")
    specs = dict(
        model=load_model(model), workload=load_workload(workload), cluster=load_cluster(cluster)
    )
    if gpus is None and deadline_days is None:
        gpus = min(DEFAULT_GPUS, specs["cluster"].num_gpus)
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
        )
    if emit_dir is not None and result.plans:
        _emit_or_fail(
            directory=emit_dir,
            strategy=result.plans[0].strategy,
            num_gpus=result.gpus,
            notes=plan_notes(result.plans[0]),
            **specs,
        )
    title = f"{model} · {workload} · {cluster}"
    if plot is not None and result.curve:
        plot_curve(result, plot, title=title)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result, title=title)
    if not result.plans:  # SystemExit: cli.main maps it; a typer.Exit return value is dropped
        raise SystemExit(1)


def _emit_or_fail(*, directory: Path, **kwargs) -> None:
    try:
        emit(directory=directory, **kwargs)
    except OSError as err:
        raise SpecError(f"--emit {directory}: cannot write ({err.strerror})") from None


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
    app.command("plan")(plan_command)
