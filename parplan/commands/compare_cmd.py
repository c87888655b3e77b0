"""`parplan compare-sp`: Ulysses vs ring vs FastSeq vs USP vs DSP at several SP degrees."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from parplan.commands import common
from parplan.commands.checks import announce, require_positive, writable_file
from parplan.commands.common import DEFAULT_GPUS_TEXT, JSON_OPT
from parplan.commands.compare_tables import sp_table
from parplan.commands.plots import plot_sp
from parplan.commands.strategy_flags import strategy_from_flags, with_stack_flags
from parplan.commands.tables import stack_text
from parplan.compare.sp import compare_sp, crossovers, summary
from parplan.errors import SpecError
from parplan.specs import load_cluster, load_model, load_workload


def compare_sp_cmd(
    model: str = common.MODEL_OPT,
    workload: str = typer.Option(None, "--workload", help=common.WORKLOAD_HELP,
                                 show_default=common.DEFAULT_WORKLOAD),  # fmt: skip
    cluster: str = common.CLUSTER_OPT,
    sp_degrees: str = typer.Option("2,4,8,16", "--sp-degrees", help="Comma-separated SP degrees."),
    workloads: str = typer.Option(
        None, "--workloads", help="Several workloads (comma list): rows per sequence length."
    ),
    gpus: int = typer.Option(None, "--gpus", help="GPUs; dp = gpus / sp.",
                             show_default=DEFAULT_GPUS_TEXT),  # fmt: skip
    micro_batch: int = typer.Option(None, "--micro-batch", help="Samples per GPU per micro-batch."),
    zero: int = typer.Option(None, "--zero", help="ZeRO stage 0-3 for every row."),
    ckpt: str = typer.Option(None, "--ckpt", help="Checkpointing for every row."),
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
    common.note_calibration(cluster)
    if workloads and workload:
        raise SpecError("--workload and --workloads exclude each other: give one")
    names = [w.strip() for w in workloads.split(",") if w.strip()] if workloads else [
        workload or common.DEFAULT_WORKLOAD]  # fmt: skip
    if not names:
        raise SpecError(f"--workloads {workloads!r}: give workload names or files, comma-separated")
    specs = dict(model=load_model(model), cluster=load_cluster(cluster),
                 workloads=[load_workload(w).model_copy(update={"name": w}) for w in names])  # fmt: skip
    n = gpus or common.default_gpus(specs["cluster"])
    if all(n % sp for sp in degrees):
        raise SpecError(f"--sp-degrees {sp_degrees}: none divides --gpus {n}")
    base = strategy_from_flags(gpus=None, strategy_file=None, micro_batch=micro_batch, zero=zero,
                               ckpt=ckpt, **(stack_flags or {}))  # fmt: skip
    rows = compare_sp(**specs, sp_degrees=degrees, gpus=n, base=base)
    notes = summary(rows)
    title = f"{model} · {' + '.join(names)} · {cluster} · {n} GPUs"
    if plot:
        plot_sp(rows, plot, title=title)
        announce(plot, "step time and exposed SP communication vs SP degree")
    if as_json:
        stack = base.stack.model_dump(mode="json")
        print(json.dumps({"rows": [r.model_dump() for r in rows], "crossovers": crossovers(rows),
                          "notes": notes, "stack": stack}, indent=2))  # fmt: skip
        return
    console = Console()
    console.print(title, style="bold", highlight=False)
    console.print(sp_table(rows))
    for note in notes:
        console.print(f"- {note}")
    console.print(stack_text(base.stack))


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SpecError(f"{flag}={text!r} must be a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise SpecError(f"{flag}={text!r} needs positive integers")
    return values


def register(app: typer.Typer) -> None:
    app.command("compare-sp")(with_stack_flags(compare_sp_cmd))
