"""Placeholder: the owning issue fills in `register`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
