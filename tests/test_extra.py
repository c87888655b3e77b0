"""The planner-only install (no torch): smoke, calibrate and the trainer name the extra.

Each command runs in a fresh interpreter in which `import torch` and `import deepspeed` fail
(sys.modules entries set to None, what Python does for a module it could not import), so any
import of them on the way would show up as a traceback instead of the one line.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from parplan.errors import SpecError
from parplan.smoke.extra import require_smoke_extra

NO_TORCH = "import sys; sys.modules['torch'] = sys.modules['deepspeed'] = None; "
HINT = "pip install 'parplan[smoke]'"


@pytest.mark.parametrize(
    ("call", "what"),
    [
        ("from parplan.cli import main; sys.exit(main(['smoke']))", "parplan smoke needs torch and deepspeed"),
        ("from parplan.cli import main; sys.exit(main(['calibrate']))", "parplan calibrate needs torch"),
        ("from parplan.train.args import main; sys.exit(main(['--parplan-strategy', 'p.yaml', "
         "'--model', 'dit-s-2', '--workload', 'imagenet-256', '--cluster', 'cpu-local']))",
         "python -m parplan.train needs torch and deepspeed"),
    ],
)  # fmt: skip
def test_missing_torch_is_one_line_exit_2(call: str, what: str) -> None:
    result = subprocess.run([sys.executable, "-c", NO_TORCH + call], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {what}, which this install lacks: {HINT}"
    ]


def test_present_modules_pass(monkeypatch) -> None:
    require_smoke_extra("x", ("json",))
    monkeypatch.setitem(sys.modules, "json", None)
    with pytest.raises(SpecError, match="x needs json"):
        require_smoke_extra("x", ("json",))
