"""The command line's frame: --version, `python -m parplan`, help without type noise on flags,
and `parplan` alone (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from parplan.cli import main


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"parplan {version('parplan')}"


def test_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "parplan", "--version"], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("parplan ")


def test_no_arguments_prints_help(capsys) -> None:
    assert main([]) == 0
    captured = capsys.readouterr()
    assert "Usage: parplan" in captured.out and captured.err == ""


@pytest.mark.parametrize("command", [[], ["predict"], ["plan"], ["compare-sp"], ["estimate"],
                                     ["smoke"], ["kernels", "show"], ["cluster"]])  # fmt: skip
def test_flags_show_no_bool_type(capsys, monkeypatch, command) -> None:
    """typer's rich help prints every option's type; an on/off flag takes no value."""
    monkeypatch.setenv("COLUMNS", "120")
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--help" in out and "<bool>" not in out


def test_debug_only_before_the_command(capsys) -> None:
    """`--debug` is the root option; as a flag's value it is just a bad value (found by
    tests/test_fuzz_cli.py: `plan --workload --debug` raised the SpecError as a traceback)."""
    assert main(["predict", "--workload", "--debug"]) == 2
    assert capsys.readouterr().err.startswith("error: --workload '--debug': no such preset")
    with pytest.raises(Exception, match="no such preset"):
        main(["--debug", "predict", "--workload", "nope"])


def test_errors_stay_one_line_with_control_characters(capsys) -> None:
    r"""A name with a control character (\x1e splits lines for str.splitlines) is escaped."""
    assert main(["predict", "--workload", "a\x1eb\nc"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "a\\x1eb\\nc" in err
