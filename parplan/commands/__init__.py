"""Subcommand modules, one per area; each exposes `register(app)`."""

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
