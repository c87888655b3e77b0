"""`parplan smoke`: run a layout of a small real DiT on N local processes and check the model.

Thin layer over `parplan.smoke.run_smoke`; flags are validated (SpecError, exit 2) before any
process starts; a rank that fails, dies or hangs stops all ranks and exits 1.
"""

from __future__ import annotations

import json
import sys

import typer
from pydantic import ValidationError
from rich.console import Console

from parplan.commands.checks import flag_problems
from parplan.commands.common import CLUSTER_HELP, JSON_OPT
from parplan.commands.tables import fixed_columns, new_table, quantity_table
from parplan.errors import SpecError
from parplan.smoke.extra import require_smoke_extra
from parplan.specs import load_cluster


def _blocks(count: int | None, types: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`--blocks 4 --block-types spatial,temporal` -> spatial, temporal, spatial, temporal."""
    if count is None and types is None:
        return default
    kinds = [t.strip() for t in (types or "full").split(",") if t.strip()]
    bad = [k for k in kinds if k not in ("full", "spatial", "temporal")]
    if bad:
        raise SpecError(f"--block-types {types!r}: {bad} not in full, spatial, temporal")
    n = count if count is not None else len(default)
    if not 1 <= n <= 64:
        raise SpecError(f"--blocks {n} must be between 1 and 64")
    return tuple(kinds[i % len(kinds)] for i in range(n))


def _size_default(field: str) -> str:
    """SmokeConfig's default of a size flag, or the model file's (`--model FILE`)."""
    from parplan.smoke.config import SmokeConfig  # no torch: pydantic only

    value = SmokeConfig.model_fields[field].default
    shown = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return f"{shown}, or the model file's"


def smoke_config(
    *, nproc: int, backend: str, strategy: dict, model: str, blocks: int | None,
    block_types: str | None, sizes: dict, steps: int, cluster: str | None, timeout_s: float,
):  # fmt: skip
    """Build and validate the SmokeConfig the flags describe (no torch import)."""
    from parplan.smoke.config import SmokeConfig, build_strategy, model_fields_from_file

    fields: dict = {} if model == "tiny" else model_fields_from_file(model)
    default_blocks = fields.get("blocks", ("full", "full"))
    fields["blocks"] = _blocks(blocks, block_types, default_blocks)
    fields.update({k: v for k, v in sizes.items() if v is not None})
    if strategy.get("sp") is None:
        usp = strategy.get("sp_method") == "usp"
        strategy["sp"] = strategy["ulysses"] * strategy["ring"] if usp else 1
    try:
        cfg = SmokeConfig(
            nproc=nproc, backend=backend, strategy=build_strategy(**strategy), steps=steps,
            cluster=cluster, timeout_s=timeout_s, **fields,
        )  # fmt: skip
    except ValidationError as err:  # pydantic: bad sizes; name the flag
        raise SpecError(flag_problems(err)) from None
    from parplan.smoke.config import validate

    validate(cfg)
    if cluster is not None:
        load_cluster(cluster)  # a bad --cluster fails now, not after the run
    return cfg


def _print_report(report: dict) -> None:
    console = Console()
    keys = ("max_abs_err_output", "max_abs_err_grad", "bytes_measured", "bytes_predicted",
            "step_time_measured_s", "step_time_predicted_s")  # fmt: skip
    rows = [(k, "null" if report[k] is None else f"{report[k]:.6g}") for k in keys]
    console.print(quantity_table(rows, title=f"parplan smoke: {report['nproc']} ranks"))
    keys = ("phase", "op", "label", "count", "bytes")
    cells = [[str(row[c]) for c in keys] for row in report["collectives_measured"]]
    console.print(fixed_columns(new_table("collectives per rank, one step (measured)"), keys, cells,
                                text=("label",), left=("phase", "op")))  # fmt: skip
    for piece, code in report["implementation"].items():
        console.print(f"[bold]{piece}[/]: {code}")
    for note in report["notes"]:
        console.print(f"note: {note}")


def register(app: typer.Typer) -> None:
    @app.command("smoke")
    def smoke(
        nproc: int = typer.Option(4, "--nproc", help="Processes (ranks) to spawn."),
        backend: str = typer.Option("gloo", "--backend", help="gloo (CPU) or nccl (GPUs)."),
        dp: int = typer.Option(1, "--dp", help="Data-parallel degree."),
        tp: int = typer.Option(1, "--tp", help="Megatron tensor-parallel degree."),
        sp: int | None = typer.Option(None, "--sp", help="SP degree.",
                                      show_default="usp: ulysses*ring, else 1"),  # fmt: skip
        sp_method: str = typer.Option(
            "none", "--sp-method", help="ulysses | ring | fastseq | usp | dsp"
        ),
        ulysses: int = typer.Option(1, "--ulysses", help="usp: Ulysses degree (inner)."),
        ring: int = typer.Option(1, "--ring", help="usp: ring degree (outer)."),
        zero: int = typer.Option(0, "--zero", help="0 or 2."),
        megatron_sp: bool = typer.Option(
            False,
            "--megatron-sp/--no-megatron-sp",
            help="TP sequence parallelism (all-gather/reduce-scatter).",
        ),
        micro_batch: int = typer.Option(1, "--micro-batch", help="Samples per DP rank."),
        model: str = typer.Option("tiny", "--model", help="tiny, or a model YAML file."),
        blocks: int | None = typer.Option(None, "--blocks", help="Number of blocks.",
                                          show_default="2, or the model file's"),  # fmt: skip
        block_types: str | None = typer.Option(
            None, "--block-types", help="Comma list cycled over the blocks.",
            show_default="full, or the model file's",
        ),
        hidden: int | None = typer.Option(None, "--hidden", help="Hidden size.",
                                          show_default=_size_default("hidden")),  # fmt: skip
        heads: int | None = typer.Option(None, "--heads", help="Attention heads.",
                                         show_default=_size_default("heads")),  # fmt: skip
        tokens: int | None = typer.Option(None, "--tokens", help="Tokens per sample.",
                                          show_default=_size_default("tokens")),  # fmt: skip
        frames: int | None = typer.Option(None, "--frames", help="Frames (tokens = T x S).",
                                          show_default=_size_default("frames")),  # fmt: skip
        cross_attention: bool | None = typer.Option(
            None, "--cross-attention/--no-cross-attention", help="Text cross-attention blocks.",
            show_default=_size_default("cross_attention"),
        ),
        steps: int = typer.Option(3, "--steps", help="Training steps (the first is warm-up)."),
        cluster: str | None = typer.Option(None, "--cluster", help=CLUSTER_HELP + " For the "
                                           "predicted step time.", show_default="cpu-local"),  # fmt: skip
        timeout_s: float = typer.Option(300.0, "--timeout-s", help="Seconds for the whole run."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Run a parallel layout on real processes; check numerics, bytes and step time."""
        require_smoke_extra("parplan smoke")
        strategy = {
            "dp": dp, "tp": tp, "sp": sp, "sp_method": sp_method, "ulysses": ulysses,
            "ring": ring, "zero": zero, "megatron_sp": megatron_sp, "micro_batch": micro_batch,
        }  # fmt: skip
        sizes = {"hidden": hidden, "heads": heads, "tokens": tokens, "frames": frames,
                 "cross_attention": cross_attention}  # fmt: skip
        cfg = smoke_config(
            nproc=nproc, backend=backend, strategy=strategy, model=model, blocks=blocks,
            block_types=block_types, sizes=sizes, steps=steps, cluster=cluster, timeout_s=timeout_s,
        )  # fmt: skip
        from parplan.smoke import SmokeFailure, run_smoke

        try:
            report = run_smoke(cfg)
        except SmokeFailure as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(1) from None
        if as_json:
            print(json.dumps(report, indent=2))
        else:
            _print_report(report)
