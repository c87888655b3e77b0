"""`parplan compare-sp`: Ulysses vs ring vs FastSeq vs USP vs DSP at several SP degrees."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from parplan.commands.checks import require_positive, writable_file
from parplan.commands.common import CLUSTER_OPT, JSON_OPT, WORKLOAD_OPT
from parplan.commands.plots import plot_sp
from parplan.commands.strategy_flags import strategy_from_flags, with_stack_flags
from parplan.commands.tables import stack_text
from parplan.compare.sp import SpRow, compare_sp, crossovers
from parplan.errors import SpecError
from parplan.specs import load_cluster, load_model, load_workload


def compare_sp_cmd(
    model: str = typer.Option("open-sora-1.2", "--model", help="Model preset or YAML."),
    workload: str = WORKLOAD_OPT,
    cluster: str = CLUSTER_OPT,
    sp_degrees: str = typer.Option("2,4,8,16", "--sp-degrees", help="Comma-separated SP degrees."),
    workloads: str = typer.Option(
        None, "--workloads", help="Several workloads (comma list): rows per sequence length."
    ),
    gpus: int = typer.Option(None, "--gpus", help="GPUs (default: the largest SP degree)."),
    micro_batch: int = typer.Option(1, "--micro-batch", help="Samples per GPU per micro-batch."),
    zero: int = typer.Option(2, "--zero", help="ZeRO stage for every row."),
    ckpt: str = typer.Option("full", "--ckpt", help="Checkpointing for every row."),
    plot: Path = typer.Option(
        None, "--plot", help="Write a PNG: step time and exposed comm vs SP degree."
    ),
    as_json: bool = JSON_OPT,
    stack_flags: dict | None = None,
) -> None:
    """Compare Ulysses, ring, FastSeq, USP and DSP at several SP degrees (dp = gpus / sp)."""
    degrees = _int_list(sp_degrees, "--sp-degrees")
    require_positive(gpus=gpus)
    writable_file(plot, "--plot")
    n = gpus or max(degrees)
    if all(n % sp for sp in degrees):
        raise SpecError(f"--sp-degrees {sp_degrees}: none divides --gpus {n}")
    names = [w.strip() for w in workloads.split(",")] if workloads else [workload]
    work_specs = [load_workload(w).model_copy(update={"name": w}) for w in names]
    base = strategy_from_flags(gpus=None, strategy_file=None, micro_batch=micro_batch, zero=zero,
                               ckpt=ckpt, **(stack_flags or {}))  # fmt: skip
    rows = compare_sp(
        model=load_model(model), workloads=work_specs, cluster=load_cluster(cluster),
        sp_degrees=degrees, gpus=n, base=base,
    )  # fmt: skip
    notes = crossovers(rows)
    if plot:
        plot_sp(rows, plot)
    if as_json:
        stack = base.stack.model_dump(mode="json")
        print(json.dumps({"rows": [r.model_dump() for r in rows], "crossovers": notes,
                          "stack": stack}, indent=2))  # fmt: skip
        return
    _print_sp(rows, notes, title=f"{model} on {n} GPUs of {cluster}")
    Console().print(stack_text(base.stack))


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SpecError(f"{flag}={text!r} must be a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise SpecError(f"{flag}={text!r} needs positive integers")
    return values


def _print_sp(rows: list[SpRow], notes: list[str], title: str) -> None:
    table = Table(title=title)
    several = len({r.workload for r in rows}) > 1
    columns = ("workload",) * several + (
        "method",
        "sp",
        "step s",
        "exposed comm s",
        "MB/layer fwd",
        "GiB/GPU",
        "note",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("workload", "method", "note") else "right")
    for r in rows:
        label = f"usp {r.ulysses}x{r.ring}" if r.method == "usp" else r.method
        head = (r.workload,) * several + (label, str(r.sp))
        if r.step_time_s is None:
            table.add_row(*head, "-", "-", "-", "-", r.reason)
            continue
        table.add_row(
            *head, f"{r.step_time_s:.4g}", f"{r.exposed_comm_s:.3g}",
            f"{r.comm_bytes_per_gpu_per_layer_fwd / 1e6:.1f}", f"{r.memory_gib_per_gpu:.1f}", r.reason,
        )  # fmt: skip
    console = Console()
    console.print(table)
    for note in notes or ["the fastest method is the same at every SP degree"]:
        console.print(f"- {note}")


def register(app: typer.Typer) -> None:
    app.command("compare-sp")(with_stack_flags(compare_sp_cmd))
