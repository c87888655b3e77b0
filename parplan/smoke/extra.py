"""The `smoke` extra: torch and DeepSpeed are not in the planner-only install.

Commands that need them (smoke, calibrate, the trainer) call `require_smoke_extra` before any
import of torch, so a missing package is one line that names the fix (exit 2), not a traceback.
"""

from __future__ import annotations

import importlib.util

from parplan.errors import SpecError

INSTALL_HINT = "pip install 'parplan[smoke]'"


def require_smoke_extra(what: str, modules: tuple[str, ...] = ("torch", "deepspeed")) -> None:
    """SpecError naming `what` needs and the extra to install when a module is missing."""
    missing = [name for name in modules if _missing(name)]
    if missing:
        raise SpecError(
            f"{what} needs {' and '.join(missing)}, which this install lacks: {INSTALL_HINT}"
        )


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return True
