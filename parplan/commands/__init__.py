"""The command line's subcommands, one module per command (`*_cmd.py`); each exposes `register(app)`.

Thin by rule: a command parses its flags, calls one library function and renders the result
(tables in `*_tables.py`, plots in `plots.py`, shared options in `common.py`). Logic a test or
another caller needs lives in the library packages below.
May import: every package but cli.
"""

from __future__ import annotations

import typer

from parplan.commands import (
    calibrate_cmd,
    clusters_cmd,
    compare_cmd,
    estimate_cmd,
    kernels_cmd,
    models_cmd,
    plan_cmd,
    predict_cmd,
    smoke_cmd,
    validate_cmd,
)

MODULES = (
    models_cmd,
    clusters_cmd,
    predict_cmd,
    compare_cmd,
    validate_cmd,
    plan_cmd,
    estimate_cmd,
    smoke_cmd,
    calibrate_cmd,
    kernels_cmd,
)


def register_all(app: typer.Typer) -> None:
    for module in MODULES:
        module.register(app)
