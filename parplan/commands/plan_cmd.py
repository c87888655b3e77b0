"""`parplan plan`: the planner's command line (a thin layer over `parplan.plan.planner.plan`).

Exit codes: 0 with plans, 1 when nothing fits (the JSON then has "plans": [] and "infeasible"),
2 on bad input (SpecError, handled by cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parplan.commands.checks import require_positive, writable_file
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
from parplan.plan.results import Plan, PlanResult
from parplan.specs import load_cluster, load_model, load_workload

DEFAULT_MODEL = "hunyuanvideo"
DEFAULT_WORKLOAD = "video-720p-129f"
DEFAULT_CLUSTER = "h100-dgx-ndr400"
DEFAULT_GPUS = 64


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
    solver: str = typer.Option("highs", "--solver", help="ILP solver: cbc | highs."),
    orders: str = typer.Option("auto", "--orders", help="Rank orders: auto | all | standard."),
    attention: str = ATTENTION_OPT,
    attention_dropout: bool = ATTENTION_DROPOUT_OPT,
    tp_comm_overlap: bool = TP_OVERLAP_OPT,
    text_encoder_precision: str = TEXT_ENCODER_PRECISION_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
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
    with _progress(quiet=as_json) as progress:
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
        )
    if emit_dir is not None and result.plans:
        _emit_or_fail(
            directory=emit_dir,
            strategy=result.plans[0].strategy,
            num_gpus=result.gpus,
            notes=_notes(result.plans[0]),
            **specs,
        )
    if plot is not None and result.curve:
        plot_curve(result, plot)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result, title=f"{model} · {workload} · {cluster}")
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


class _progress:
    """A rich progress bar fed by the planner's (done, total) callback; silent under --json."""

    def __init__(self, *, quiet: bool) -> None:
        self.bar = (
            None
            if quiet
            else Progress(
                TextColumn("planning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
        )
        self.task = None

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.__enter__()
        self.task = self.bar.add_task("plan", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _notes(best: Plan) -> list[str]:
    return [
        f"parplan plan: step {best.step_time_s:.3f} s, MFU {best.mfu:.1%}, "
        f"{best.memory_gib_per_gpu:.1f} GiB per GPU"
    ]


def _strategy_text(p: Plan) -> tuple[str, str]:
    s = p.strategy
    sp = f"{s.sp} {s.sp_method}" + (f" {s.ulysses}x{s.ring}" if "usp" in s.methods_used else "")
    if s.sp_methods:  # per-block-type methods: (temporal=dsp)
        sp += " (" + ",".join(f"{t}={m}" for t, m in sorted(s.sp_methods.items())) + ")"
    ckpt = (
        s.ckpt
        if isinstance(s.ckpt, str)
        else ",".join(f"{k}:{v}" for k, v in p.ckpt_blocks.items())
    )
    parts = [f"dp{s.dp}", f"tp{s.tp}" if s.tp > 1 else "", f"sp{sp}" if s.sp > 1 else "",
             (f"pp{s.pp}" + (f"x{s.vpp}" if s.vpp > 1 else "")) if s.pp > 1 else ""]  # fmt: skip
    return " ".join(part for part in parts if part), ckpt


def print_result(result: PlanResult, *, title: str) -> None:
    console = Console()
    if result.curve:
        _print_curve(console, result)
    if not result.plans:
        bad = result.infeasible or {}
        console.print(f"[bold red]no plan fits[/] ({bad.get('binding')}): {bad.get('detail')}")
        return
    table = Table(title=f"{title} on {result.gpus} GPUs, global batch {result.global_batch}")
    with_days = any(p.time_to_train_days is not None for p in result.plans)
    columns = ["#", "layout", "zero", "mb", "ckpt", "order", "step s", "MFU", "GiB/GPU",
               "bottleneck"] + ["days"] * with_days  # fmt: skip
    rows = [_plan_row(k, p, with_days=with_days) for k, p in enumerate(result.plans, start=1)]
    for i, column in enumerate(columns):  # numbers never wrap or shrink; text columns give way
        text = column in ("layout", "ckpt", "order", "bottleneck")
        width = max([len(column)] + [len(row[i]) for row in rows])
        table.add_column(column, no_wrap=not text, min_width=None if text else width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    s = result.search
    console.print(
        f"searched {s.candidates} layouts in {s.seconds:.2f} s ({s.evaluated} costed, "
        f"{s.pruned} pruned: {s.pruned_by}; {s.ilp_solves} ILPs with {s.solver}, "
        f"orders: {s.order_space})"
    )


def _plan_row(k: int, p: Plan, *, with_days: bool) -> list[str]:
    layout, ckpt = _strategy_text(p)
    b = p.bottleneck
    days = "-" if p.time_to_train_days is None else f"{p.time_to_train_days:.1f}"
    return [
        str(k),
        layout,
        str(p.strategy.zero),
        str(p.strategy.micro_batch),
        ckpt,
        ",".join(d for d in p.strategy.order if getattr(p.strategy, d) > 1) or "-",
        f"{p.step_time_s:.3f}",
        f"{p.mfu:.1%}",
        f"{p.memory_gib_per_gpu:.1f}",
        b.get("dim") if b.get("tier") in (None, "-") else f"{b.get('dim')}/{b.get('tier')}",
    ] + [days] * with_days


def _print_curve(console: Console, result: PlanResult) -> None:
    table = Table(title=f"cluster size vs time to train (deadline {result.deadline_days:g} days)")
    table.add_column("nodes")
    table.add_column("GPUs")
    table.add_column("days")
    for point in result.curve:
        mark = " <" if point.gpus == result.gpus else ""
        days = "no plan" if point.days is None else f"{point.days:.1f}{mark}"
        table.add_row(str(point.nodes), str(point.gpus), days)
    console.print(table)


def plot_curve(result: PlanResult, path: Path) -> None:
    """GPUs vs days to train, the deadline as a horizontal line (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = [p for p in result.curve if p.days is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p.gpus for p in points], [p.days for p in points], marker="o")
    if result.deadline_days is not None:
        ax.axhline(result.deadline_days, linestyle="--", color="gray", label="deadline")
    if result.gpus:
        ax.axvline(result.gpus, linestyle=":", color="red", label=f"chosen: {result.gpus} GPUs")
    ax.set(xscale="log", yscale="log", xlabel="GPUs", ylabel="days to train")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
