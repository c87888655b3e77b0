"""Files the tests read outside the package: the shared validation cases beside the repository
and the scripts in tools/ (a folder of scripts, not a package, so loaded from their path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_CASES = ROOT.parent / "shared" / "validation" / "public_cases.yaml"


def load_tool(name: str) -> ModuleType:
    """tools/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
