"""`parplan predict`, `parplan compare-sp` and `parplan validate`: the cost model's front door."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from parplan.commands.checks import require_positive, writable_file
from parplan.commands.strategy_flags import (
    ATTENTION_DROPOUT_OPT,
    ATTENTION_OPT,
    TEXT_ENCODER_PRECISION_OPT,
    TP_OVERLAP_OPT,
    strategy_from_flags,
)
from parplan.commands.tables import quantity_table
from parplan.compare.sp import SpRow, compare_sp, crossovers
from parplan.cost.records import Prediction
from parplan.cost.step import predict as predict_step
from parplan.errors import SpecError
from parplan.specs import GIB, StrategySpec, load_cluster, load_model, load_workload
from parplan.validate.cases import ValidationReport, markdown, validate

DEFAULT_MODEL = "hunyuanvideo"
DEFAULT_WORKLOAD = "video-720p-129f"
DEFAULT_CLUSTER = "h100-dgx-ndr400"

MODEL_OPT = typer.Option(DEFAULT_MODEL, "--model", help="Model preset name or YAML file.")
WORKLOAD_OPT = typer.Option(DEFAULT_WORKLOAD, "--workload", help="Workload preset or YAML file.")
CLUSTER_OPT = typer.Option(DEFAULT_CLUSTER, "--cluster", help="Cluster name (cluster_specs/) or YAML.")
JSON_OPT = typer.Option(False, "--json", help="Print one JSON object for scripts.")


def predict(
    model: str = MODEL_OPT,
    workload: str = WORKLOAD_OPT,
    cluster: str = CLUSTER_OPT,
    gpus: int = typer.Option(None, "--gpus", help="GPUs in the run (default: dp*tp*sp*pp)."),
    strategy_file: str = typer.Option(None, "--strategy", help="Strategy YAML (e.g. a plan.yaml)."),
    dp: int = typer.Option(None, "--dp", help="Data-parallel degree (default: gpus/(tp*sp*pp))."),
    tp: int = typer.Option(None, "--tp", help="Tensor-parallel degree (Megatron)."),
    pp: int = typer.Option(None, "--pp", help="Pipeline stages."),
    vpp: int = typer.Option(None, "--vpp", help="Interleaved virtual stages per pipeline rank."),
    sp: int = typer.Option(None, "--sp", help="Sequence-parallel degree."),
    sp_method: str = typer.Option(None, "--sp-method", help="none|ulysses|ring|fastseq|usp|dsp"),
    sp_methods: str = typer.Option(None, "--sp-methods", help="SP method per block type, e.g. spatial=dsp,temporal=ulysses (others use --sp-method)."),
    ulysses: int = typer.Option(None, "--ulysses", help="USP: Ulysses degree (inner)."),
    ring: int = typer.Option(None, "--ring", help="USP: ring degree (outer)."),
    megatron_sp: bool = typer.Option(None, "--megatron-sp/--no-megatron-sp", help="TP sequence parallelism."),
    zero: int = typer.Option(None, "--zero", help="ZeRO stage 0-3 (3 = FSDP full shard)."),
    ckpt: str = typer.Option(None, "--ckpt", help="none|selective|full, or one per block group, comma-separated."),
    micro_batch: int = typer.Option(None, "--micro-batch", help="Samples per GPU per micro-batch."),
    global_batch: int = typer.Option(None, "--global-batch", help="Samples per optimizer step."),
    order: str = typer.Option(None, "--order", help="Rank order, innermost first, e.g. tp,sp,dp,pp."),
    attention: str = ATTENTION_OPT,
    attention_dropout: bool = ATTENTION_DROPOUT_OPT,
    tp_comm_overlap: bool = TP_OVERLAP_OPT,
    text_encoder_precision: str = TEXT_ENCODER_PRECISION_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Predict step time, MFU, memory per GPU and the bottleneck of one parallel layout."""
    require_positive(gpus=gpus)
    strategy = strategy_from_flags(
        gpus=gpus, strategy_file=strategy_file, dp=dp, tp=tp, pp=pp, vpp=vpp, sp=sp,
        sp_method=sp_method, sp_methods=sp_methods, ulysses=ulysses, ring=ring,
        megatron_sp=megatron_sp, zero=zero, ckpt=ckpt, micro_batch=micro_batch,
        global_batch=global_batch, order=order, attention=attention, attention_dropout=attention_dropout, tp_comm_overlap=tp_comm_overlap,
        text_encoder_precision=text_encoder_precision,
    )  # fmt: skip
    pred = predict_step(
        load_model(model), load_workload(workload), load_cluster(cluster), strategy, gpus
    )
    if as_json:
        print(json.dumps(prediction_json(pred), indent=2))
        return
    print_prediction(pred, title=f"{model} · {workload} · {cluster}")


def prediction_json(pred: Prediction) -> dict:
    data = pred.to_json()
    data["memory"] = {
        k.replace("_bytes", "_gib"): v / GIB for k, v in pred.memory.model_dump().items()
    }
    return data


def print_prediction(pred: Prediction, title: str) -> None:
    console = Console()
    s, b = pred.strategy, pred.breakdown
    console.print(f"[bold]{title}[/]  on {pred.num_gpus} GPUs: {_strategy_text(s)}")
    rows = [
        ("step time", f"{pred.step_time_s:.4g} s"),
        ("MFU / HFU", f"{pred.mfu:.1%} / {pred.hfu:.1%}"),
        ("TFLOP/s per GPU (model)", f"{pred.tflops_per_gpu:.1f}"),
        ("tokens/s per GPU", f"{pred.tokens_per_s_per_gpu:,.0f}"),
        ("samples/s", f"{pred.samples_per_s:.4g}"),
        ("memory per GPU", f"{pred.memory_gib_per_gpu:.1f} GiB "
         f"({'fits' if pred.fits else 'DOES NOT FIT'} in {pred.memory.capacity_bytes / GIB:.0f})"),
        ("compute", f"{b.compute_s:.4g} s (recompute {b.recompute_s:.3g})"),
        ("exposed comm", f"{b.exposed_comm_s:.4g} s"),
        *((f"  {dim} comm (exposed / total)", f"{b.exposed_comm_by_dim_s[dim]:.3g} / {b.comm_s[dim]:.3g} s")
          for dim in ("dp", "tp", "sp", "pp") if b.comm_s[dim] > 0),
        ("pipeline bubble", f"{b.bubble_s:.4g} s"),
        ("optimizer", f"{b.optimizer_s:.4g} s"),
        ("online encoders", f"{b.encoder_s:.4g} s"),
    ]  # fmt: skip
    console.print(quantity_table(rows))
    console.print(f"[bold]bottleneck[/]: {bottleneck_text(pred.bottleneck)}")
    for note in pred.notes:
        console.print(f"[yellow]note[/]: {note}")


def bottleneck_text(bn) -> str:  # noqa: ANN001
    """`sp: all_to_all (ulysses.q+out) on nvlink, 3.1 s exposed — advice`, or the non-comm term."""
    if bn.collective == "-":
        what = "compute (no communication exposed)" if bn.dim == "compute" else f"{bn.dim} ({bn.exposed_s:.3g} s)"
        return f"{what} — {bn.advice}"
    return f"{bn.dim}: {bn.collective} on {bn.tier}, {bn.exposed_s:.3g} s exposed — {bn.advice}"


def _strategy_text(s: StrategySpec) -> str:
    sp = f"sp={s.sp} {s.sp_method}" + (f"({s.ulysses}x{s.ring})" if "usp" in s.methods_used else "")
    if s.sp_methods:
        sp += " (" + ",".join(f"{t}={m}" for t, m in sorted(s.sp_methods.items())) + ")"
    stack = s.stack.model_dump(exclude_defaults=True)
    return (
        f"dp={s.dp} tp={s.tp} pp={s.pp} vpp={s.vpp} {sp} zero={s.zero} ckpt={s.ckpt} "
        f"micro_batch={s.micro_batch} order={','.join(s.order)}"
        + "".join(f" {k}={v}" for k, v in stack.items())
    )


def compare_sp_cmd(
    model: str = typer.Option("open-sora-1.2", "--model", help="Model preset or YAML."),
    workload: str = WORKLOAD_OPT,
    cluster: str = CLUSTER_OPT,
    sp_degrees: str = typer.Option("2,4,8,16", "--sp-degrees", help="Comma-separated SP degrees."),
    workloads: str = typer.Option(None, "--workloads", help="Several workloads (comma list): rows per sequence length."),
    gpus: int = typer.Option(None, "--gpus", help="GPUs (default: the largest SP degree)."),
    micro_batch: int = typer.Option(1, "--micro-batch", help="Samples per GPU per micro-batch."),
    zero: int = typer.Option(2, "--zero", help="ZeRO stage for every row."),
    ckpt: str = typer.Option("full", "--ckpt", help="Checkpointing for every row."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG: step time and exposed comm vs SP degree."),
    as_json: bool = JSON_OPT,
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
                               ckpt=ckpt)  # fmt: skip
    rows = compare_sp(
        model=load_model(model), workloads=work_specs, cluster=load_cluster(cluster),
        sp_degrees=degrees, gpus=n, base=base,
    )  # fmt: skip
    notes = crossovers(rows)
    if plot:
        plot_sp(rows, plot)
    if as_json:
        print(json.dumps({"rows": [r.model_dump() for r in rows], "crossovers": notes}, indent=2))
        return
    _print_sp(rows, notes, title=f"{model} on {n} GPUs of {cluster}")


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
    columns = ("workload",) * several + ("method", "sp", "step s", "exposed comm s", "MB/layer fwd", "GiB/GPU", "note")
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


def plot_sp(rows: list[SpRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_step, ax_comm) = plt.subplots(1, 2, figsize=(11, 4))
    for (workload, label), series in _series(rows).items():
        xs = [r.sp for r in series]
        name = f"{label} ({workload})" if len({r.workload for r in rows}) > 1 else label
        ax_step.plot(xs, [r.step_time_s for r in series], marker="o", label=name)
        ax_comm.plot(xs, [r.sp_exposed_comm_s for r in series], marker="o", label=name)
    for ax, ylabel in ((ax_step, "step time (s)"), (ax_comm, "exposed SP communication (s)")):
        ax.set_xscale("log", base=2)

        ax.set_xlabel("SP degree")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_step.set_yscale("log")  # methods differ by orders of magnitude at high degrees
    ax_comm.set_yscale("symlog", linthresh=0.01)  # exposed time can be exactly 0
    ax_comm.set_ylim(bottom=0)
    ax_step.legend(fontsize=7)
    ax_step.set_title("step time")
    ax_comm.set_title("exposed SP communication per step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _series(rows: list[SpRow]) -> dict[tuple[str, str], list[SpRow]]:
    series: dict[tuple[str, str], list[SpRow]] = {}
    for r in rows:
        if r.step_time_s is None:
            continue
        label = "usp" if r.method == "usp" else r.method
        if r.method == "usp" and r.ulysses != _best_usp_split(rows, r):
            continue
        series.setdefault((r.workload, label), []).append(r)
    return series


def _best_usp_split(rows: list[SpRow], row: SpRow) -> int:
    """Plot one USP line: the fastest Ulysses×ring split at each degree."""
    candidates = [r for r in rows if r.method == "usp" and (r.workload, r.sp) == (row.workload, row.sp)
                  and r.step_time_s is not None]  # fmt: skip
    return min(candidates, key=lambda r: r.step_time_s).ulysses


def validate_cmd(
    file: Path = typer.Argument(
        ...,
        help="YAML list of validation cases (SPEC_FORMAT.md). The measured step time is "
        "step_time_s, else derived from samples/s or tokens/s per GPU, else from tflops_per_gpu "
        "under its flops_convention (megatron_r08, narayanan2021_with_recompute, "
        "korthikanti2022_model_flops); a case that cannot be run is listed as skipped, with why.",
    ),
    as_json: bool = JSON_OPT,
    as_markdown: bool = typer.Option(False, "--markdown", help="Print the markdown report."),
) -> None:
    """Predict every published case and report step-time errors against the measurements."""
    with Progress(transient=True, disable=as_json or as_markdown) as progress:
        task = progress.add_task("validating", total=None)
        report = validate(file, progress=lambda cid: progress.update(task, description=cid))
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    elif as_markdown:
        print(markdown(report))
    else:
        _print_report(report)


def report_json(report: ValidationReport) -> dict:
    return {"cases": [c.model_dump() for c in report.cases], "summary": report.summary.model_dump()}


def _print_report(report: ValidationReport) -> None:
    table = Table(title="validation: predicted vs measured step time")
    for col in ("case", "measured s", "predicted s", "error", "tol", "ok"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for c in report.cases:
        if c.skipped:
            table.add_row(c.id, "-", "-", "skipped", "", "")
            continue
        table.add_row(c.id, f"{c.measured_step_time_s:.4g}", f"{c.predicted_step_time_s:.4g}",
                      f"{c.rel_error:+.1%}", f"{c.tolerance:.0%}", "yes" if c.within_tolerance else "NO")  # fmt: skip
    console = Console()
    console.print(table)
    for c in report.cases:
        if c.skipped:
            console.print(f"[yellow]skipped[/] {escape(c.id)}: {escape(c.skipped)}", highlight=False)
    s = report.summary
    console.print(
        f"n={s.n} skipped={s.skipped}  MAPE {s.mape:.1%}  median {s.median_ape:.1%}  "
        f"max {s.max_ape:.1%}  within tolerance {s.within_tolerance}/{s.n}"
    )


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
    app.command("compare-sp")(compare_sp_cmd)
    app.command("validate")(validate_cmd)
