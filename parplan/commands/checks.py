"""Flag checks shared by the subcommands: one-line SpecErrors that name the flag."""

from __future__ import annotations

import math
from pathlib import Path

from parplan.errors import SpecError


def require_positive(**values: float | None) -> None:
    """Every given value must be finite and > 0 (`gpus=0` -> `--gpus=0 must be ...`)."""
    for name, value in values.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SpecError(f"--{name.replace('_', '-')}={value} must be a positive, finite number")


def writable_file(path: Path | None, flag: str) -> None:
    """The folder of an output file must exist (checked before any long computation)."""
    if path is not None and not path.parent.is_dir():
        raise SpecError(f"{flag} {path}: folder {path.parent} does not exist")
