"""Bad input through `parplan model`: exit code 2 and one line on stderr naming the problem
(STYLE.md "Errors, three kinds"; SPEC_FORMAT.md "Unknown keys are an error")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from parplan.cli import main
from parplan.specs.cluster import MAX_NICS_PER_GPU

ROOT = Path(__file__).resolve().parents[1]

GOOD = "name: m\nhidden: 64\nheads: 4\nblocks: [{type: full, count: 2}]\n"


def run_error(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("error:")
    return err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD + "hiddn: 5\n", "hiddn"),  # unknown key
        (GOOD.replace("heads: 4", "heads: many"), "heads"),  # wrong type
        (GOOD.replace("hidden: 64", "hidden: -64"), "hidden=-64"),  # negative size
        (GOOD.replace("heads: 4", "heads: 5"), "heads=5 must divide hidden=64"),
        (GOOD.replace("count: 2", "count: 0"), "blocks.0.count"),
        (GOOD.replace("full", "fulll"), "blocks.0.type"),
        (GOOD + "extras: {qk_nrom: rms_head}\n", "qk_nrom"),  # unknown extension key
        (GOOD + "blocks: [\n", "YAML syntax error"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "negative",
        "heads-divide",
        "zero-count",
        "block-type",
        "unknown-extras",
        "yaml-syntax",
    ],
)
def test_bad_model_file(tmp_path, capsys, text, needle):
    """Each bad model file fails with exit 2 and a one-line message that names the key."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert needle in run_error(capsys, "model", str(path), "--json")


def test_missing_file(tmp_path, capsys):
    assert "file not found" in run_error(capsys, "model", str(tmp_path / "nope.yaml"))


def test_unknown_preset(capsys):
    err = run_error(capsys, "model", "dit-xxl-2")
    assert "dit-xxl-2" in err and "no such preset" in err and "dit-xl-2" in err


def test_bad_workload(tmp_path, capsys):
    """Workload errors too: a negative frame count, and a text workload for a DiT."""
    path = tmp_path / "w.yaml"
    path.write_text("kind: video\nframes: -3\nheight: 256\nwidth: 256\n")
    assert "frames=-3" in run_error(capsys, "model", "dit-xl-2", "--workload", str(path))
    path.write_text("kind: text\nseq_len: 2048\n")
    assert "family=dit" in run_error(capsys, "model", "dit-xl-2", "--workload", str(path))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # a value no branch of `ckpt: mode | [modes]` takes is one problem, not "and 1 more"
        (["--ckpt", "sometimes"],
         "ckpt='sometimes' must be 'none', 'selective' or 'full', or a list of them"),
        # a list with one bad entry: the deeper branch names the entry
        (["--ckpt", "none,sometimes"], "ckpt.1='sometimes' must be 'none', 'selective' or 'full'"),
        # every problem named, in one line
        (["--zero", "5", "--sp-method", "foo"],
         "sp_method='foo' must be 'none', 'ulysses', 'ring', 'fastseq', 'usp' or 'dsp'; "
         "zero=5 must be 0, 1, 2 or 3"),
    ],
    ids=["union", "list-entry", "two-fields"],
)
def test_strategy_errors_name_every_problem(capsys, argv, expected):
    err = run_error(capsys, "predict", *argv)
    assert err == f"error: strategy flags: {expected}"
    assert "more problem" not in err


def test_spec_file_errors_name_every_problem(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("dp: 2\nzeroo: 1\nckpt: [full, x]\n")
    err = run_error(capsys, "predict", "--strategy", str(path))
    assert err.startswith(f"error: {path}: unknown key 'zeroo' (allowed here: dp, tp,")
    assert err.endswith("; ckpt.1='x' must be 'none', 'selective' or 'full'")


def test_nics_beyond_any_built_node_are_bad_input(tmp_path, capsys):
    """The fuzzer's find: `nics_per_node: 3164994252` made the planner allocate 23.6 GiB for
    its per-NIC link loads. More than MAX_NICS_PER_GPU per GPU is now one line, exit 2."""
    spec = yaml.safe_load((ROOT / "cluster_specs" / "h100-dgx-ndr400.yaml").read_text())
    spec["inter_node"]["nics_per_node"] = 3164994252
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(spec))
    err = run_error(capsys, "predict", "--cluster", str(path), "--gpus", "8")
    assert "inter_node.nics_per_node = 3,164,994,252" in err and f"at most {MAX_NICS_PER_GPU}" in err
    spec["inter_node"]["nics_per_node"] = MAX_NICS_PER_GPU * spec["gpus_per_node"]  # the bound
    path.write_text(yaml.safe_dump(spec))
    assert main(["predict", "--cluster", str(path), "--gpus", "8", "--json"]) == 0


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_non_finite_numbers_are_bad_input(tmp_path, capsys, value):
    """The fuzzer's find: `failures_per_gpu_hour: .inf` passed `ge=0` and crashed the topology
    cache's JSON round trip. Every spec number must be finite."""
    spec = yaml.safe_load((ROOT / "cluster_specs" / "h100-dgx-ndr400.yaml").read_text())
    text = yaml.safe_dump(spec) + f"reliability:\n  failures_per_gpu_hour: {value}\n"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    err = run_error(capsys, "predict", "--cluster", str(path), "--gpus", "8")
    assert "reliability.failures_per_gpu_hour" in err and "finite" in err
