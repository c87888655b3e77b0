"""`parplan kernels measure | show`: measure a kernel table on this machine's device, and print
the table the cost model uses for a cluster (measured, or the published rates)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parplan.commands.checks import announce, require_positive, writable_file
from parplan.commands.common import CLUSTER_OPT, JSON_OPT, MODEL_OPT, WORKLOAD_OPT
from parplan.commands.tables import fixed_columns, new_table, quantity_table
from parplan.cost.device import efficiency_for, gpu_architecture
from parplan.cost.kernels.attention_table import load_table
from parplan.cost.measured import KernelTable, dump_kernel_table, kernel_table
from parplan.measure.run import measure_kernels
from parplan.measure.shapes import Split
from parplan.measure.timing import import_torch, pick_device
from parplan.specs import load_cluster, load_model, load_workload

app = typer.Typer(help="Measure kernel tables on this device; show the table a cluster uses.")


@app.command("measure")
def measure(
    model: str = MODEL_OPT,
    workload: str = WORKLOAD_OPT,
    out: Path = typer.Option(..., "--out", help="YAML kernel table to write."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if present) | cuda | cpu."),
    dtype: str = typer.Option(None, "--dtype", help="bf16|fp16|fp32 (default: the workload's "
                              "precision on CUDA, fp32 on the CPU)."),  # fmt: skip
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree: shapes of one TP rank."),
    ulysses: int = typer.Option(1, "--ulysses", help="Ulysses degree: heads / ulysses, tokens / ulysses."),
    ring: int = typer.Option(1, "--ring", help="Ring degree: attention blocks of 1/ring of the sequence."),
    micro_batch: int = typer.Option(1, "--micro-batch", help="Samples per micro-batch."),
    repeats: int = typer.Option(5, "--repeats", help="Timed runs per kernel (median)."),
) -> None:
    """Time the model's GEMMs, every SDPA backend (flash, efficient, cudnn, math) over its
    attention shapes, and one eager block forward + backward; write a kernel table."""
    require_positive(tp=tp, ulysses=ulysses, ring=ring, micro_batch=micro_batch, repeats=repeats)
    writable_file(out, "--out")
    specs = dict(model=load_model(model), workload=load_workload(workload))
    pick_device(import_torch(), device)  # a missing torch or GPU is one line, before the bar
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("measuring", total=None)
        table = measure_kernels(
            **specs, split=Split(tp=tp, ulysses=ulysses, ring=ring, micro_batch=micro_batch),
            device=device, dtype=dtype, repeats=repeats,
            command=shlex.join(["parplan", *sys.argv[1:]]) if sys.argv[1:2] == ["kernels"]
            else f"parplan kernels measure --model {model} --workload {workload} --out {out}",
            progress=lambda what, done, total: bar.update(task, description=what, completed=done,
                                                          total=total),
        )  # fmt: skip
    out.write_text(dump_kernel_table(table))
    p = table.provenance
    announce(out, f"{len(table.gemm)} GEMMs, {len(table.attention)} attention rows, "
             f"{len(table.block)} blocks on {p.device} (torch {p.torch}, {p.dtype}); a cluster "
             "spec's `kernels:` key uses it")  # fmt: skip


@app.command("show")
def show(cluster: str = CLUSTER_OPT, as_json: bool = JSON_OPT) -> None:
    """Print the kernel table the cost model uses for CLUSTER: its measured `kernels:` table,
    or the published rates."""
    spec = load_cluster(cluster)
    table = kernel_table(spec)
    if as_json:
        data = table.model_dump(mode="json") if table else _published(spec)
        print(json.dumps({"cluster": spec.name, "source": spec.kernels or "published", **data},
                         indent=2))  # fmt: skip
        return
    if table is None:
        _print_published(spec)
        return
    _print_measured(spec.kernels or "", table)


def _published(spec) -> dict:  # noqa: ANN001
    arch = gpu_architecture(spec.gpu.name)
    series = [x for x in load_table().series if x.arch == arch]
    return {"architecture": arch, "efficiency": efficiency_for(spec).model_dump(),
            "attention": [x.model_dump(mode="json") for x in series]}  # fmt: skip


def _print_published(spec) -> None:  # noqa: ANN001
    console = Console()
    data = _published(spec)
    console.print(f"[bold]{spec.name}[/]: published rates for {spec.gpu.name} "
                  f"({data['architecture']}); no measured `kernels:` table")  # fmt: skip
    efficiency = [(k, "-" if v is None else f"{v:.4g}") for k, v in data["efficiency"].items()]
    console.print(quantity_table(efficiency, title="efficiency"))
    if not data["attention"]:
        console.print("no published attention rows: flat attention_max")
        return
    table, sources = attention_series_table(data["attention"])
    console.print(table)
    for k, source in enumerate(sources, start=1):
        console.print(f"[{k}] {source}", highlight=False, markup=False)


def _tokens_label(n: int) -> str:
    return f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else str(n)


def attention_series_table(series: list[dict]) -> tuple[Table, list[str]]:
    """Published attention TFLOP/s: one row per series (kernel, direction, head dim, mask), one
    column per sequence length; sources as numbered notes (their first three parts: figure and
    paper; the whole citation is in --json)."""
    tokens = sorted({n for x in series for n, _t in x["points"]})
    sources: list[str] = []
    rows = []
    for x in series:
        source = "; ".join(x["source"].split("; ")[:3])
        if source not in sources:
            sources.append(source)
        by_tokens = dict(x["points"])
        rows.append([f"{x['kernel']} {x['direction']}", str(x["head_dim"]),
                     "causal" if x["causal"] else "-",
                     *(f"{by_tokens[n]:.0f}" if n in by_tokens else "-" for n in tokens),
                     f"[{sources.index(source) + 1}]"])  # fmt: skip
    columns = ["kernel", "d", "mask", *map(_tokens_label, tokens), "src"]
    table = new_table("attention TFLOP/s by sequence length (parplan/cost/kernels/attention.yaml)",
                      gap=1)  # fmt: skip
    return fixed_columns(table, columns, rows, left=("kernel", "mask")), sources


def _print_measured(path: str, t: KernelTable) -> None:
    console, p = Console(), t.provenance
    console.print(f"[bold]measured kernel table[/] {path}\n  {p.device}, torch {p.torch}, "
                  f"CUDA {p.cuda or '-'}, {p.dtype}, {p.date}\n  command: {p.command}")  # fmt: skip
    gemm = fixed_columns(new_table("GEMMs"), ["layers", "m", "n", "k", "TFLOP/s"],
                         [[r.name, str(r.m), str(r.n), str(r.k), f"{r.tflops:.3g}"] for r in t.gemm],
                         text=("layers",))  # fmt: skip
    attention = fixed_columns(
        new_table("attention"), ["kernel", "dir", "head dim", "q len", "kv len", "causal", "TFLOP/s"],
        [[r.kernel, r.direction, str(r.head_dim), str(r.q_len), str(r.kv_len), str(r.causal),
          f"{r.tflops:.3g}"] for r in t.attention], left=("kernel", "dir", "causal"),
    )  # fmt: skip
    block = fixed_columns(new_table("eager block"), ["block", "tokens", "fwd s", "bwd s"],
                          [[r.block_type, str(r.tokens), f"{r.fwd_s:.4g}", f"{r.bwd_s:.4g}"]
                           for r in t.block], left=("block",))  # fmt: skip
    for part in (gemm, attention, block):
        console.print(part)
    for note in p.notes:
        console.print(f"[yellow]note[/]: {note}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kernels")
