"""Outputs are checked writable before the work that produces them (commands/checks.py)."""

from __future__ import annotations

import pytest

from parplan.cli import main
from parplan.commands.checks import writable_output
from parplan.errors import SpecError


def test_writable_output_cases(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    writable_output(tmp_path / "new" / "deeper" / "out.yaml", "--out")  # folders get created
    writable_output(tmp_path, "--emit", kind="folder")
    with pytest.raises(SpecError, match=r"--emit .*a-file/run: .*a-file is a file, not a folder"):
        writable_output(blocker / "run", "--emit", kind="folder")
    with pytest.raises(SpecError, match="exists and is not a folder"):
        writable_output(blocker, "--emit", kind="folder")
    with pytest.raises(SpecError, match="exists and is not a file"):
        writable_output(tmp_path, "--out")
    with pytest.raises(SpecError, match="does not exist"):
        writable_output(tmp_path / "missing" / "p.png", "--plot", create_parents=False)


def _forbid(*_, **__):
    raise AssertionError("the work started before the output was checked")


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["plan", "--model", "dit-s-2", "--workload", "imagenet-256", "--gpus", "8"],
         "parplan.commands.plan_cmd.plan"),
        (["predict", "--model", "dit-s-2", "--workload", "imagenet-256", "--gpus", "8"],
         "parplan.commands.predict_cmd.predict_step"),
    ],
)  # fmt: skip
def test_unwritable_emit_fails_before_the_work(argv, target, tmp_path, monkeypatch, capsys):
    (tmp_path / "f").write_text("x")
    monkeypatch.setattr(target, _forbid)
    assert main([*argv, "--emit", str(tmp_path / "f" / "out")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_unwritable_calibrate_out_fails_before_measuring(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("torch")
    (tmp_path / "f").write_text("x")
    monkeypatch.setattr("parplan.smoke.calibrate.calibrate", _forbid)
    assert main(["calibrate", "--out", str(tmp_path / "f" / "cpu-local.yaml")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
