"""plan.yaml's read-back line, pasted as printed, reproduces the plan's step time (issue 16).

Specs loaded from files (names that are no presets), a cluster found by name in the emitting
directory's ./cluster_specs, and presets: the line is run by a shell in the plan's directory,
exactly as plan.yaml prints it, and its --json step time must equal the plan's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from parplan.cli import main
from parplan.specs import PRESET_DIR
from parplan.specs.loading import BUNDLED_CLUSTER_DIR

PREFIX = "# read back (run in this directory): "


def _renamed(source: Path, target: Path, name: str) -> None:
    target.write_text(yaml.safe_dump(yaml.safe_load(source.read_text()) | {"name": name}))


def _read_back(out: Path) -> str:
    lines = [line for line in (out / "plan.yaml").read_text().splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1
    return lines[0][len(PREFIX) :]


def _run_pasted(line: str, cwd: Path) -> dict:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(line + " --json", shell=True, cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _plan(argv: list[str], capsys) -> dict:
    assert main(["plan", *argv, "--top", "1", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["plans"][0]


def test_read_back_from_spec_files(tmp_path, monkeypatch, capsys) -> None:
    specs, work = tmp_path / "specs", tmp_path / "work"
    specs.mkdir()
    (work / "cluster_specs").mkdir(parents=True)
    _renamed(PRESET_DIR / "models" / "dit-b-2.yaml", specs / "model.yaml", "my-dit")
    _renamed(PRESET_DIR / "workloads" / "imagenet-256.yaml", specs / "data.yaml", "my-images")
    _renamed(BUNDLED_CLUSTER_DIR / "h100-dgx-ndr400.yaml",
             work / "cluster_specs" / "lab.yaml", "lab")  # fmt: skip
    monkeypatch.chdir(work)
    best = _plan(["--model", "../specs/model.yaml", "--workload", "../specs/data.yaml",
                  "--cluster", "lab", "--gpus", "8", "--emit", "runs/a"], capsys)  # fmt: skip
    out = work / "runs" / "a"
    line = _read_back(out)
    assert "--model ../../../specs/model.yaml --workload ../../../specs/data.yaml" in line
    assert "--cluster ../../cluster_specs/lab.yaml" in line  # ./cluster_specs means nothing there
    monkeypatch.chdir(tmp_path)
    again = _run_pasted(line, cwd=out)
    assert again["step_time_s"] == pytest.approx(best["step_time_s"], rel=1e-12)
    assert again["memory"]["total_gib"] == pytest.approx(best["memory_gib_per_gpu"], rel=1e-12)


def test_read_back_of_presets(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    best = _plan(["--model", "dit-s-2", "--workload", "imagenet-256", "--cluster", "cpu-local",
                  "--gpus", "4", "--emit", "out"], capsys)  # fmt: skip
    line = _read_back(tmp_path / "out")
    assert line.startswith("parplan predict --model dit-s-2 --workload imagenet-256 ")
    assert _run_pasted(line, cwd=tmp_path / "out")["step_time_s"] == best["step_time_s"]
    recorded = (tmp_path / "out" / "plan.yaml").read_text()
    assert f"# predicted: step_time_s={best['step_time_s']!r} " in recorded
