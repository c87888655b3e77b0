"""Flag checks shared by the subcommands: one-line SpecErrors that name the flag."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from parplan.errors import SpecError


def require_positive(**values: float | None) -> None:
    """Every given value must be finite and > 0 (`gpus=0` -> `--gpus=0 must be ...`)."""
    for name, value in values.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SpecError(f"--{name.replace('_', '-')}={value:g} must be a positive, finite number")


def writable_output(
    path: Path | None, flag: str, *, kind: Literal["file", "folder"] = "file",
    create_parents: bool = True,
) -> None:  # fmt: skip
    """The output `path` of `flag` can be written, checked before the work that produces it.

    An existing target must be of `kind` and writable; a new one needs its nearest existing
    ancestor to be a writable folder (with `create_parents=False`, its own folder must exist)."""
    if path is None:
        return
    target = path.expanduser()
    if target.exists():
        if (kind == "folder") != target.is_dir():
            raise SpecError(f"{flag} {path}: exists and is not a {kind}")
        if not os.access(target, os.W_OK):
            raise SpecError(f"{flag} {path}: not writable (permission denied)")
        return
    parent = target.parent
    if not create_parents and not parent.is_dir():
        raise SpecError(f"{flag} {path}: folder {parent} does not exist")
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SpecError(f"{flag} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(f"{flag} {path}: cannot create it in {parent} (permission denied)")


def writable_file(path: Path | None, flag: str) -> None:
    """An output file whose folder must already exist (e.g. a plot)."""
    writable_output(path, flag, create_parents=False)


def flag_problems(err: ValidationError) -> str:
    """A pydantic error over flag values as one line naming every flag: `--steps=0 must be
    greater than 0; --fps=-1 ...` (a field's name is its flag's, in kebab case)."""
    problems = []
    for e in err.errors():
        loc = e.get("loc") or ()
        flag = "--" + str(loc[-1]).replace("_", "-") if loc else "flags"
        text = e["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        problems.append(f"{flag}={e.get('input')!r} {text[0].lower() + text[1:]}")
    return "; ".join(dict.fromkeys(problems))


def announce(path: Path | str, what: str) -> None:
    """Say on stderr where a file was written (stdout may be one JSON object)."""
    print(f"wrote {path}: {what}", file=sys.stderr)


def announce_files(paths: list[Path], what: str) -> None:
    """`wrote DIR/: a, b, c (what)` on stderr, one line per folder written into."""
    folders: dict[Path, list[str]] = {}
    for path in paths:
        folders.setdefault(path.parent, []).append(path.name)
    for folder, names in folders.items():
        print(f"wrote {folder}/: {', '.join(names)} ({what})", file=sys.stderr)
