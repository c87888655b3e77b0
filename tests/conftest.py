"""Session-wide test settings.

PARPLAN_HOME points at an empty folder: a developer's own `parplan calibrate` output
(~/.config/parplan/cpu-local.yaml) must not change what `--cluster cpu-local` means in tests.
Subprocesses inherit it.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_parplan_home(tmp_path_factory: pytest.TempPathFactory):
    previous = os.environ.get("PARPLAN_HOME")
    os.environ["PARPLAN_HOME"] = str(tmp_path_factory.mktemp("parplan-home"))
    yield
    if previous is None:
        os.environ.pop("PARPLAN_HOME", None)
    else:
        os.environ["PARPLAN_HOME"] = previous


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """The fuzz tests' case count (tests/test_fuzz_cli.py), when they ran."""
    import sys

    module = sys.modules.get("test_fuzz_cli")
    cases = getattr(module, "CASES", None)
    if not cases:
        return
    by_code: dict[str, int] = {}
    for key, n in cases.items():
        code = key.rsplit("=", 1)[1]
        by_code[code] = by_code.get(code, 0) + n
    commands = len({key.rsplit(" exit=", 1)[0] for key in cases})
    codes = ", ".join(f"exit {code}: {n:,}" for code, n in sorted(by_code.items()))
    terminalreporter.write_line(
        f"fuzz: {sum(cases.values()):,} generated CLI cases over {commands} commands ({codes})"
    )
