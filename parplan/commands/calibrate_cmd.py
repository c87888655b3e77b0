"""`parplan calibrate`: measure this machine and write its cluster spec.

It writes the user's `cpu-local.yaml` ($PARPLAN_HOME, else ~/.config/parplan), never the
bundled cluster_specs/cpu-local.yaml: `--cluster cpu-local` (smoke, predict, plan) then reads
the calibration and says so. The output is checked writable before the minute of measuring.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from parplan.commands.checks import announce, writable_output
from parplan.commands.common import JSON_OPT
from parplan.commands.tables import fixed_columns, new_table
from parplan.errors import SpecError
from parplan.smoke.extra import require_smoke_extra
from parplan.specs import user_dir

STEPS = ("measure", "fit")
# The gloo alpha-beta fit (smoke/calibrate.py) should explain nearly all the variance of the
# collective times: on an idle machine latency + bytes / bandwidth is the whole story, and
# points scatter by a few percent. Below 0.9, more than a tenth of the variance is something
# else (other jobs on the cores, scheduler stalls), and comm predictions are off by as much.
MIN_R2 = 0.9


def _summary(result: dict) -> Table:
    fit, c, m = result["comm_fit"], result["compute_fit"], result["measured"]
    quality = f"R2 {fit['r2']:.3f}, median |rel. residual| {fit['median_rel_residual']:.2f}"
    rows = [
        ("gpu.peak_tflops.fp32", f"{c['peak_flop_per_s'] / 1e12:.4f}", "best rate seen per rank"),
        ("gpu.peak_tflops.bf16", f"{c['peak_bf16_flop_per_s'] / 1e12:.4f}", "bf16 matmul"),
        ("efficiency.gemm_max", f"{c['gemm_max']:.3f}",
         f"Linear fwd+bwd {m['linear_fwd_bwd'] / 1e9:.1f} GFLOP/s"),
        ("efficiency.attention_max", f"{c['attention_max']:.3f}",
         f"SDPA fwd+bwd {m['attention_fwd_bwd'] / 1e9:.1f} GFLOP/s"),
        ("gpu.hbm_gbyte_per_s", f"{c['hbm_bytes_per_s'] / 1e9:.2f}", "copy, read+write"),
        ("efficiency.kernel_overhead_us", f"{c['kernel_overhead_s'] * 1e6:.2f}",
         f"{m['op_overhead']['ops']} aten ops fwd+bwd"),
        ("intra_node.gbyte_per_s_per_gpu", f"{fit['bytes_per_s'] / 1e9:.3f}", quality),
        ("intra_node.latency_us", f"{fit['latency_s'] * 1e6:.1f}", quality),
    ]  # fmt: skip
    title = f"calibration ({result['plan']['nproc']} ranks at once) -> {result['out']}"
    return fixed_columns(new_table(title), ["constant", "value", "from"], rows,
                         text=("constant", "from"))  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate(
        nproc: int = typer.Option(
            4, "--nproc", help="Ranks measuring at once (use the --nproc you smoke with)."
        ),
        out: Path = typer.Option(
            None, "--out", help="Cluster spec YAML to write (default: cpu-local.yaml in "
            "$PARPLAN_HOME, else ~/.config/parplan)."
        ),
        quick: bool = typer.Option(False, "--quick", help="Fewer sizes and repeats (tests)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Measure GEMM, attention, op overhead, copy and gloo on N ranks at once; write a spec."""
        require_smoke_extra("parplan calibrate", ("torch",))
        if nproc < 2:
            raise SpecError(f"--nproc {nproc}: collectives need at least 2 ranks")
        default_out = user_dir() / "cpu-local.yaml"
        out = out if out is not None else default_out
        writable_output(out, "--out")
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
        warn_poor_fit(result["comm_fit"])
        use = "--cluster cpu-local reads it" if out == default_out else f"use it as --cluster {out}"
        announce(out, f"this machine's cluster spec; {use}")


def warn_poor_fit(fit: dict) -> None:
    """One line on stderr when the collectives' fit explains too little (MIN_R2)."""
    if fit["r2"] < MIN_R2:
        print(
            f"warning: the gloo latency/bandwidth fit explains R2 = {fit['r2']:.2f} of the "
            f"collective times (below {MIN_R2}): the machine was likely busy and the comm "
            "constants are unreliable; rerun `parplan calibrate` when it is idle",
            file=sys.stderr,
        )
