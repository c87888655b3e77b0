"""`parplan models` (the presets with their parameter counts) and `parplan model NAME|FILE`
(parameters, tokens and FLOPs per sample, per block type). Thin layer over
`parplan.model.flops.model_summary`; `--json` for scripts, a rich table for people."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from parplan.commands.common import JSON_OPT, WORKLOAD_HELP
from parplan.commands.tables import fixed_columns, new_table
from parplan.model.flops import model_summary
from parplan.model.geometry import default_workload_name
from parplan.model.params import param_count
from parplan.specs import load_model, load_workload, model_presets


def presets_table() -> list[dict]:
    """One row per model preset: name, blocks, hidden, params (formula) and params_exact."""
    rows = []
    for name in model_presets():
        model = load_model(name)
        rows.append({"name": name, "params": param_count(model), "params_exact": model.params_exact,
                     "hidden": model.hidden, "depth": model.depth,
                     "blocks": [f"{g.type}x{g.count}" for g in model.blocks]})  # fmt: skip
    return rows


def describe(model_source: str, workload_source: str | None) -> dict:
    """Resolve the model and workload (default per `default_workload_name`) and summarize."""
    model = load_model(model_source)
    workload_name = workload_source or default_workload_name(model)
    workload = load_workload(workload_name) if workload_name else None
    return model_summary(model, workload)


def _billions(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e9:,.3f} B"


def _print_presets(rows: list[dict]) -> None:
    cells = [[r["name"], " + ".join(r["blocks"]), str(r["hidden"]), _billions(r["params"]),
              _billions(r["params_exact"])] for r in rows]  # fmt: skip
    columns = ["name", "blocks", "hidden", "params", "published"]
    Console().print(fixed_columns(new_table("parplan model presets (params: parplan's count; "
                                            "published: the model's own)"), columns, cells,
                                  text=("blocks",), left=("name",)))  # fmt: skip


def _print_model(rec: dict) -> None:
    console = Console()
    console.print(
        f"[bold]{rec['name']}[/]  params {rec['params']:,}"
        + (f" (published {rec['params_exact']:,})" if rec["params_exact"] else "")
    )
    if rec["workload"] is None:
        console.print("no workload (give --workload FILE|NAME for tokens and FLOPs)")
        return
    geo = rec["geometry"]
    latent = f"{geo['latent_frames']}x{geo['latent_height']}x{geo['latent_width']}"
    text = f"+{rec['text_tokens']} text{', joint' if geo['joint'] else ''}"
    console.print(
        f"workload {rec['workload']}: latent {latent} -> {geo['frames']} frames x "
        f"{geo['tokens_per_frame']} = {rec['tokens_per_sample']:,} tokens ({text})"
    )
    fwd = rec["forward_flops_per_sample"]
    cells = [[b["block_type"], str(b["count"]), f"{b['params_per_block']:,}",
              f"{b['gemm_flops_per_block'] / 1e12:.4f}", f"{b['attention_flops_per_block'] / 1e12:.4f}",
              f"{b['forward_flops_total'] / fwd:.1%}"] for b in rec["blocks"]]  # fmt: skip
    cells.append(["embed", "", "", f"{rec['embed_flops_per_sample'] / 1e12:.4f}", "",
                  f"{rec['embed_flops_per_sample'] / fwd:.1%}"])  # fmt: skip
    columns = ["block", "count", "params/block", "GEMM TFLOP/block", "attn TFLOP/block", "share"]
    table = fixed_columns(new_table("forward FLOPs per sample (true FLOPs, multiply-add = 2)"),
                          columns, cells, left=("block",))  # fmt: skip
    console.print(table)
    console.print(f"forward {fwd:.4e} FLOP/sample, train (3x) {rec['train_flops_per_sample']:.4e}")
    for note in rec["assumptions"]:
        console.print(f"[yellow]note:[/] {note}")


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command(as_json: bool = JSON_OPT) -> None:
        """List the model presets with their parameter counts."""
        rows = presets_table()
        if as_json:
            print(json.dumps(rows, indent=2))
        else:
            _print_presets(rows)

    @app.command("model")
    def model_command(
        model: str = typer.Argument(..., help="Preset name or model YAML file."),
        workload: str | None = typer.Option(
            None, "--workload", help=WORKLOAD_HELP,
            show_default="imagenet-256 for image models, video-720p-129f for video",
        ),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Parameters, tokens and forward/training FLOPs per sample, per block type."""
        record = describe(model, workload)
        if as_json:
            print(json.dumps(record, indent=2))
        else:
            _print_model(record)
