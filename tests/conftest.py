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
