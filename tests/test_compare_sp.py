"""`parplan compare-sp`: one row per (method, degree, workload), reasons for infeasible rows,
crossover sentences, and the plot."""

from __future__ import annotations

import json

from parplan.cli import main


def _rows(capsys, *args: str) -> dict:
    code = main(["compare-sp", *args, "--json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_rows_cover_every_method_and_degree(capsys) -> None:
    data = _rows(capsys, "--model", "wan2.1-1.3b", "--workload", "video-480p-81f",
                 "--sp-degrees", "2,4,8", "--gpus", "8")  # fmt: skip
    methods = {(r["method"], r["sp"]) for r in data["rows"]}
    for sp in (2, 4, 8):
        for method in ("ulysses", "ring", "fastseq", "dsp"):
            assert (method, sp) in methods
    usp = [r for r in data["rows"] if r["method"] == "usp"]
    assert {(r["ulysses"], r["ring"]) for r in usp} == {(2, 2), (2, 4), (4, 2)}
    for r in data["rows"]:
        keys = {"method", "sp", "feasible", "reason", "step_time_s", "exposed_comm_s",
                "comm_bytes_per_gpu_per_layer_fwd", "memory_gib_per_gpu"}  # fmt: skip
        assert keys <= set(r)


def test_infeasible_rows_say_why(capsys) -> None:
    """Wan2.1-1.3B has 12 heads: Ulysses at sp=8 cannot split them; DSP needs factorized blocks."""
    data = _rows(capsys, "--model", "wan2.1-1.3b", "--workload", "video-480p-81f",
                 "--sp-degrees", "8", "--gpus", "8")  # fmt: skip
    by_method = {r["method"]: r for r in data["rows"] if r["method"] != "usp"}
    assert not by_method["ulysses"]["feasible"]
    assert "12 heads per TP rank not divisible by the ulysses degree 8" in by_method["ulysses"]["reason"]
    assert by_method["ring"]["feasible"] and by_method["ring"]["step_time_s"] > 0
    assert "spatial/temporal" in by_method["dsp"]["reason"]


def test_ulysses_wins_inside_a_node_and_loses_across_nodes(capsys) -> None:
    """sequence_parallel.md §1/§5: Ulysses' all-to-all is fast on NVSwitch, slow over IB; USP keeps
    Ulysses inside a node. At sp=16 on 2 nodes USP(8x2) beats pure Ulysses."""
    data = _rows(capsys, "--model", "hunyuanvideo", "--workload", "video-720p-129f",
                 "--sp-degrees", "8,16", "--gpus", "16")  # fmt: skip
    step = {(r["method"], r["sp"], r["ulysses"]): r["step_time_s"] for r in data["rows"] if r["feasible"]}
    assert step[("ulysses", 8, 1)] < step[("ring", 8, 1)]
    assert step[("usp", 16, 8)] < step[("usp", 16, 2)]
    assert data["crossovers"] == [] or all("fastest method changes" in c for c in data["crossovers"])


def test_plot_and_several_workloads(tmp_path, capsys) -> None:
    plot = tmp_path / "sp.png"
    data = _rows(capsys, "--model", "open-sora-plan-1.3", "--workloads", "video-480p-81f,video-720p-81f",
                 "--sp-degrees", "2,4", "--gpus", "4", "--plot", str(plot))  # fmt: skip
    assert {r["workload"] for r in data["rows"]} == {"video-480p-81f", "video-720p-81f"}
    assert plot.exists() and plot.stat().st_size > 10_000


def test_bad_degrees_exit_2(capsys) -> None:
    assert main(["compare-sp", "--sp-degrees", "2,x"]) == 2
    assert "--sp-degrees" in capsys.readouterr().err
