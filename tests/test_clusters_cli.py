"""`parplan clusters | cluster | collective`: JSON output, and one-line exit-2 errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from parplan.cli import main
from parplan.specs import load_cluster


def run_json(capsys, *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_clusters_lists_every_spec(capsys) -> None:
    names = {row["name"] for row in run_json(capsys, "clusters")}
    assert {
        "h100-dgx-ndr400",
        "h200-dgx-ndr400",
        "h800-ib",
        "a100-selene",
        "gb200-nvl72",
        "cpu-local",
    } <= names


def test_cluster_summary(capsys) -> None:
    rec = run_json(capsys, "cluster", "h100-dgx-ndr400")
    assert rec["num_gpus"] == 16384 and rec["edges_per_tier"]["nic"] == 16384
    assert rec["bisection_bytes_per_s"] == pytest.approx(1024 * 8 * 50e9)


def test_collective_json_fields(capsys) -> None:
    rec = run_json(
        capsys,
        "collective",
        "--cluster",
        "h100-dgx-ndr400",
        "--op",
        "all_gather",
        "--group-size",
        "8",
        "--bytes",
        str(2**30),
    )
    assert rec["algorithm"] == "ring" and rec["bottleneck"]["tier"] == "nvlink"
    assert rec["bus_bandwidth_gbyte_per_s"] == pytest.approx(450 * 0.82, rel=0.01)
    assert 0 < rec["bottleneck"]["utilization"] <= 1 and rec["time_s"] > 0


def test_collective_stride_and_concurrency(capsys) -> None:
    rec = run_json(
        capsys,
        "collective",
        "--cluster",
        "h100-dgx-ndr400",
        "--op",
        "all_reduce",
        "--group-size",
        "4",
        "--stride",
        "8",
        "--concurrent-groups",
        "8",
        "--bytes",
        "1e9",
    )
    assert rec["groups"] == 8 and rec["bottleneck"]["tier"] == "nic"


def test_human_output(capsys) -> None:
    assert (
        main(
            [
                "collective",
                "--cluster",
                "h100-dgx-ndr400",
                "--op",
                "all_to_all",
                "--group-size",
                "16",
                "--bytes",
                "1e8",
            ]
        )
        == 0
    )
    assert "bottleneck nic" in capsys.readouterr().out


def write_bad(tmp_path: Path, path: tuple[str, ...], value) -> Path:
    data = load_cluster("h100-dgx-ndr400").model_dump()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("inter_node", "gbit_per_s_per_nic"), -1, "inter_node.gbit_per_s_per_nic=-1"),
        (("intra_node", "gbyte_per_s_per_gpu"), -5, "intra_node.gbyte_per_s_per_gpu=-5"),
        (("gpus_per_node",), 0, "gpus_per_node=0"),
        (("inter_node", "topology"), "torus", "inter_node.topology='torus'"),
        (("inter_node", "oversubscription"), 0.5, "inter_node.oversubscription=0.5"),
    ],
)
def test_bad_cluster_file_exits_2_with_one_line(tmp_path, capsys, path, value, match) -> None:
    file = write_bad(tmp_path, path, value)
    assert main(["cluster", str(file), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and match in err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--group-size", "32768"], "needs 32768 GPUs, but cluster 'h100-dgx-ndr400' has"),
        (["--group-size", "0"], "--group-size=0 must be >= 1"),
        (["--group-size", "8", "--op", "gather"], "op='gather'"),
        (["--group-size", "8", "--cluster", "nope"], "--cluster 'nope': no such preset"),
    ],
)
def test_bad_collective_flags_exit_2(capsys, argv: list[str], match: str) -> None:
    base = {"--cluster": "h100-dgx-ndr400", "--op": "all_reduce", "--bytes": "1e6"}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value
    args = ["collective"] + [x for kv in base.items() for x in kv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and match in err


def test_cluster_gpus_over_size_exits_2(capsys) -> None:
    assert main(["cluster", "h800-ib", "--gpus", "4096"]) == 2
    assert capsys.readouterr().err == ("error: --gpus 4096 exceeds cluster 'h800-ib': "
                                       "nodes*gpus_per_node = 256*8 = 2048\n")  # fmt: skip


def test_cluster_old_flag_points_to_the_new_one(capsys) -> None:
    """`--num-gpus` became `--gpus`, as on every other command (issue 16)."""
    assert main(["cluster", "h800-ib", "--num-gpus", "64"]) == 2
    assert "Possible options: --gpus" in capsys.readouterr().err
