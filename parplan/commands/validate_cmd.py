"""`parplan validate`: every published case through the cost model, with its step-time error."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from parplan.commands.common import JSON_OPT
from parplan.commands.tables import fixed_columns, new_table
from parplan.validate.cases import ValidationReport, markdown, validate


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
    rows = [[c.id, "-", "-", "skipped", "", ""] if c.skipped else
            [c.id, f"{c.measured_step_time_s:.4g}", f"{c.predicted_step_time_s:.4g}",
             f"{c.rel_error:+.1%}", f"{c.tolerance:.0%}", "yes" if c.within_tolerance else "NO"]
            for c in report.cases]  # fmt: skip
    table = fixed_columns(new_table("validation: predicted vs measured step time"),
                          ["case", "measured s", "predicted s", "error", "tol", "ok"], rows,
                          text=("case",))  # fmt: skip
    console = Console()
    console.print(table)
    for c in report.cases:
        if c.skipped:
            console.print(
                f"[yellow]skipped[/] {escape(c.id)}: {escape(c.skipped)}", highlight=False
            )
    s = report.summary
    console.print(
        f"n={s.n} skipped={s.skipped}  MAPE {s.mape:.1%}  median {s.median_ape:.1%}  "
        f"max {s.max_ape:.1%}  within tolerance {s.within_tolerance}/{s.n}"
    )


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
