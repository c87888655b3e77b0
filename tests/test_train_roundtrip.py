"""emit -> launch.sh -> train, on 4 gloo ranks, for every SP method and TP (issue 16).

Each case writes a plan with the command line a user types (`parplan plan` for the plan's own
pick, `parplan predict ... --emit` to force a layout the planner would not pick; run in-process
by `parplan.cli.main`) from one directory, then runs `NNODES=1 bash DIR/launch.sh --tiny --steps 2` from another: launch.sh
must find its files, check them with the trainer (`--check`), and torchrun must train to the
end. Tiny shapes, 2 steps; each case costs ~15-25 s on the 2-core box (4 ranks importing
torch and DeepSpeed). Every process is stopped on failure or timeout (tests/proctree.py).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("deepspeed")

from proctree import descendants, run_tree  # noqa: E402

from parplan.cli import main  # noqa: E402

pytestmark = pytest.mark.distributed

TIMEOUT_S = 240
BIN = Path(sys.executable).parent
SPEC_FILES = {  # a video model and workload loaded from files (DSP needs spatial/temporal blocks)
    "model.yaml": {
        "name": "tiny-video-dit", "hidden": 256, "heads": 4, "patch": [1, 2, 2],
        "in_channels": 4, "blocks": [{"type": "spatial", "count": 2},
                                     {"type": "temporal", "count": 2}],
        "vae": {"temporal": 4, "spatial": 8, "causal": False},
    },
    "workload.yaml": {"name": "tiny-clip", "kind": "video", "frames": 16, "height": 128,
                      "width": 128, "global_batch": 8, "precision": "bf16"},
}  # fmt: skip
DIT = ["--model", "dit-s-2", "--workload", "imagenet-256"]
FILES = ["--model", "../specs/model.yaml", "--workload", "../specs/workload.yaml"]
CASES = {
    "dp (the plan's pick)": ["plan", *DIT],
    "ulysses": ["predict", "--model", "dit-b-2", "--workload", "imagenet-256", "--sp", "4",
                "--sp-method", "ulysses", "--zero", "2", "--ckpt", "full"],
    "ring": ["predict", *DIT, "--sp", "4", "--sp-method", "ring", "--ckpt", "selective"],
    "usp": ["predict", *DIT, "--sp", "4", "--sp-method", "usp", "--ulysses", "2", "--ring", "2"],
    "fastseq": ["predict", *DIT, "--sp", "2", "--sp-method", "fastseq", "--zero", "1",
                "--order", "dp,sp,tp,pp"],
    "dsp": ["predict", *FILES, "--sp", "4", "--sp-method", "dsp"],
    "tp+dp": ["predict", *DIT, "--tp", "2"],
}  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_PORT", "MASTER_ADDR")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHON=sys.executable,
               NNODES="1", OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")  # fmt: skip
    return env


@pytest.mark.parametrize("name", list(CASES))
def test_emit_launch_train_round_trip(name: str, tmp_path: Path, monkeypatch) -> None:
    specs, work, elsewhere = (tmp_path / d for d in ("specs", "work", "elsewhere"))
    for folder in (specs, work, elsewhere):
        folder.mkdir()
    for file, data in SPEC_FILES.items():
        (specs / file).write_text(yaml.safe_dump(data))
    before = set(descendants(os.getpid()))
    monkeypatch.chdir(work)  # `parplan ...` typed in work/ (in-process: one interpreter less)
    assert main([*CASES[name], "--cluster", "cpu-local", "--gpus", "4", "--emit", "out/"]) == 0
    report = tmp_path / "report.json"
    launched = run_tree(
        ["bash", "../work/out/launch.sh", "--tiny", "--steps", "2", "--report", str(report)],
        cwd=elsewhere, env=_env(), timeout_s=TIMEOUT_S,
    )
    assert launched.returncode == 0, launched.stdout[-6000:]
    assert "done: 2 steps" in launched.stdout
    summary = json.loads(report.read_text())
    plan = yaml.safe_load((work / "out" / "plan.yaml").read_text())
    ran = summary["strategy"]
    for key in ("dp", "tp", "sp", "sp_method", "ulysses", "ring", "zero", "order"):
        assert ran[key] == plan[key], key
    assert summary["world_size"] == 4 and summary["tiny"]
    assert len(summary["step_times_s"]) == 2 and all(t > 0 for t in summary["step_times_s"])
    assert all(math.isfinite(loss) for loss in summary["losses"])
    assert summary["step_time_predicted_s"] > 0
    assert set(descendants(os.getpid())) <= before  # no rank outlives the run
