"""`parplan predict`: step time, MFU, memory and the bottleneck of one layout."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from parplan.commands.checks import announce_files, require_positive, writable_output
from parplan.commands.common import (
    CLUSTER_OPT,
    DEFAULT_GPUS_TEXT,
    JSON_OPT,
    MODEL_OPT,
    WORKLOAD_OPT,
    default_gpus,
    note_calibration,
)
from parplan.commands.strategy_flags import strategy_from_flags, with_stack_flags
from parplan.commands.tables import layout_text, quantity_table, stack_text
from parplan.cost.records import Prediction
from parplan.cost.step import predict as predict_step
from parplan.plan.emit import SpecSources, emit_or_fail
from parplan.specs import GIB, StrategySpec, load_cluster, load_model, load_workload


def predict(
    model: str = MODEL_OPT,
    workload: str = WORKLOAD_OPT,
    cluster: str = CLUSTER_OPT,
    gpus: int = typer.Option(None, "--gpus", help="GPUs in the run; with --dp or "
                             "--strategy: dp*tp*sp*pp.", show_default=DEFAULT_GPUS_TEXT),
    strategy_file: str = typer.Option(None, "--strategy", help="Strategy YAML (e.g. a plan.yaml); "
                                      "flags override its keys.", show_default="none"),
    dp: int = typer.Option(None, "--dp", help="Data-parallel degree.", show_default="gpus/(tp*sp*pp)"),
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
    emit_dir: Path = typer.Option(
        None, "--emit", help="Write ds_config.json, launch.sh, plan.yaml for this layout into this folder."
    ),
    as_json: bool = JSON_OPT,
    stack_flags: dict | None = None,
) -> None:
    """Predict step time, MFU, memory per GPU and the bottleneck of one parallel layout."""
    require_positive(gpus=gpus)
    writable_output(emit_dir, "--emit", kind="folder")
    note_calibration(cluster)
    specs = dict(model=load_model(model), workload=load_workload(workload),
                 cluster=load_cluster(cluster))  # fmt: skip
    if gpus is None and dp is None and not strategy_file:
        gpus = default_gpus(specs["cluster"])
    strategy = strategy_from_flags(
        gpus=gpus, strategy_file=strategy_file, dp=dp, tp=tp, pp=pp, vpp=vpp, sp=sp,
        sp_method=sp_method, sp_methods=sp_methods, ulysses=ulysses, ring=ring,
        megatron_sp=megatron_sp, zero=zero, ckpt=ckpt, micro_batch=micro_batch,
        global_batch=global_batch, order=order, **(stack_flags or {}),
    )  # fmt: skip
    pred = predict_step(*specs.values(), strategy, gpus)
    if emit_dir is not None:
        written = emit_or_fail(
            directory=emit_dir, strategy=strategy, num_gpus=pred.num_gpus, **specs,
            prediction=(pred.step_time_s, pred.memory_gib_per_gpu),
            sources=SpecSources(model=model, workload=workload, cluster=cluster),
        )  # fmt: skip
        announce_files(written, "launch files for this layout")
    if as_json:
        print(json.dumps(prediction_json(pred), indent=2))
        return
    print_prediction(pred, title=f"{model} · {workload} · {cluster}")


def prediction_json(pred: Prediction) -> dict:
    data = pred.to_json()
    data["stack"] = pred.strategy.stack.model_dump(mode="json")
    data["memory"] = {
        k.replace("_bytes", "_gib"): v / GIB for k, v in pred.memory.model_dump().items()
    }
    return data


def print_prediction(pred: Prediction, title: str) -> None:
    console = Console()
    s, b = pred.strategy, pred.breakdown
    console.print(f"[bold]{title}[/] · {pred.num_gpus} GPUs")
    console.print(f"layout {_strategy_text(s)}")
    console.print(stack_text(s.stack))
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
    """`dp8 sp8 ulysses, zero 3, ckpt full, ...`: the compact layout and the other knobs."""
    ckpt = s.ckpt if isinstance(s.ckpt, str) else ",".join(s.ckpt)
    return (f"{layout_text(s)}, zero {s.zero}, ckpt {ckpt}, micro-batch {s.micro_batch}, "
            f"order {','.join(s.order)}" + (", megatron-sp" if s.megatron_sp else ""))  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("predict")(with_stack_flags(predict))
