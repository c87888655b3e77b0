"""The package layout of docs/architecture.md, checked on the source (issue 13).

Imports run one way: commands -> plan / estimate / validate / compare / smoke / train -> cost ->
cluster / model -> specs -> errors. A module may import its own package and the packages below
it (ALLOWED), never one above; the top level stays small, and commands stay thin.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "parplan"
BASE = {"errors"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "specs": BASE,
    "model": BASE | {"specs"},
    "cluster": BASE | {"specs"},
    "cost": BASE | {"specs", "model", "cluster"},
    "plan": BASE | {"specs", "model", "cluster", "cost"},
    "validate": BASE | {"specs", "model", "cluster", "cost"},
    "compare": BASE | {"specs", "model", "cluster", "cost"},
    "smoke": BASE | {"specs", "model", "cluster", "cost"},
    "measure": BASE | {"specs", "model", "cluster", "cost"},
    "estimate": BASE | {"specs", "model", "cluster", "cost", "plan"},
    "train": BASE | {"specs", "model", "cluster", "cost", "plan", "smoke"},
    "commands": BASE | {"specs", "model", "cluster", "cost", "plan", "estimate", "validate",
                        "compare", "smoke", "measure", "train"},  # fmt: skip
    "cli": BASE | {"commands"},
    "__main__": {"cli"},
    "__init__": set(),
}
MAX_TOP_LEVEL_MODULES = 6  # besides the packages: issue 13
MAX_COMMAND_LINES = 200


def _unit(path: Path) -> str:
    """The package (or top-level module) a source file belongs to."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        units |= {n.split(".")[1] for n in names if n.startswith("parplan.")}
    return units


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    unit = _unit(path)
    assert unit in ALLOWED, f"{unit}: a new package needs its place in ALLOWED and docs/architecture.md"
    wrong = _imported_units(path) - ALLOWED[unit] - {unit}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({unit}) imports {sorted(wrong)}, above it"


def test_top_level_is_small() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


@pytest.mark.parametrize("path", sorted((PACKAGE / "commands").glob("*_cmd.py")), ids=lambda p: p.name)
def test_commands_are_thin(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_COMMAND_LINES, f"{path.name}: {lines} lines; move logic into the library"


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc.splitlines()) >= 2 or init.parent.name == "presets", init
