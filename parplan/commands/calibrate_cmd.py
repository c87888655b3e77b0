"""`parplan calibrate`: measure this machine and write its cluster spec (cpu-local by default)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from parplan.errors import SpecError

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "cluster_specs" / "cpu-local.yaml"
STEPS = ("measure", "fit")


def _summary(result: dict) -> Table:
    fit, c, m = result["comm_fit"], result["compute_fit"], result["measured"]
    table = Table(title=f"calibration ({result['plan']['nproc']} ranks at once) -> {result['out']}")
    table.add_column("constant")
    table.add_column("value", justify="right")
    table.add_column("from")
    table.add_row("gpu.peak_tflops.fp32", f"{c['peak_flop_per_s'] / 1e12:.4f}",
                  "best rate seen per rank")  # fmt: skip
    table.add_row("gpu.peak_tflops.bf16", f"{c['peak_bf16_flop_per_s'] / 1e12:.4f}", "bf16 matmul")
    table.add_row("efficiency.gemm_max", f"{c['gemm_max']:.3f}",
                  f"Linear fwd+bwd {m['linear_fwd_bwd'] / 1e9:.1f} GFLOP/s")  # fmt: skip
    table.add_row("efficiency.attention_max", f"{c['attention_max']:.3f}",
                  f"SDPA fwd+bwd {m['attention_fwd_bwd'] / 1e9:.1f} GFLOP/s")  # fmt: skip
    table.add_row("gpu.hbm_gbyte_per_s", f"{c['hbm_bytes_per_s'] / 1e9:.2f}", "copy, read+write")
    overhead = m["op_overhead"]
    table.add_row("efficiency.kernel_overhead_us", f"{c['kernel_overhead_s'] * 1e6:.2f}",
                  f"{overhead['ops']} aten ops fwd+bwd")  # fmt: skip
    quality = f"R2 {fit['r2']:.3f}, median |rel. residual| {fit['median_rel_residual']:.2f}"
    table.add_row("intra_node.gbyte_per_s_per_gpu", f"{fit['bytes_per_s'] / 1e9:.3f}", quality)
    table.add_row("intra_node.latency_us", f"{fit['latency_s'] * 1e6:.1f}", quality)
    return table


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate(
        nproc: int = typer.Option(
            4, "--nproc", help="Ranks measuring at once (use the --nproc you smoke with)."
        ),
        out: Path = typer.Option(DEFAULT_OUT, "--out", help="Cluster spec YAML to write."),
        quick: bool = typer.Option(False, "--quick", help="Fewer sizes and repeats (tests)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Measure GEMM, attention, op overhead, copy and gloo on N ranks at once; write a spec."""
        if nproc < 2:
            raise SpecError(f"--nproc {nproc}: collectives need at least 2 ranks")
        from parplan.smoke.calibrate import calibrate as run

        with Progress(transient=True, disable=as_json) as progress:
            task = progress.add_task("calibrating", total=len(STEPS))

            def step(name: str) -> None:
                progress.update(task, description=name, completed=STEPS.index(name))

            result = run(nproc, out, progress=step, quick=quick)
            progress.update(task, completed=len(STEPS))
        if as_json:
            print(json.dumps(result, indent=2))
        else:
            Console().print(_summary(result))
