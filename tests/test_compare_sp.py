"""`parplan compare-sp`: one row per (method, degree, workload), reasons for infeasible rows,
crossover sentences, and the plot."""

from __future__ import annotations

import json

import pytest

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
                 "--sp-degrees", "8,16", "--gpus", "16", "--zero", "2", "--ckpt", "full")  # fmt: skip
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


def test_defaults_are_predicts(capsys) -> None:
    """compare-sp and predict share one set of defaults (commands/common.py): the same model,
    workload and cluster, 64 GPUs, and the strategy spec's zero 0 / ckpt none / micro-batch 1,
    so a row equals `predict` of the same layout with no other flag."""
    data = _rows(capsys, "--sp-degrees", "8")
    row = next(r for r in data["rows"] if r["method"] == "ring")
    assert main(["predict", "--sp", "8", "--sp-method", "ring", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["strategy"]["dp"] == 8 and pred["strategy"]["zero"] == 0
    assert pred["strategy"]["ckpt"] == "none" and pred["strategy"]["micro_batch"] == 1
    assert row["step_time_s"] == pytest.approx(pred["step_time_s"], rel=1e-12)
    assert row["memory_gib_per_gpu"] == pytest.approx(pred["memory_gib_per_gpu"], rel=1e-12)


def test_nothing_fits_says_so(capsys, monkeypatch) -> None:
    """HunyuanVideo (12.8 B) unsharded (zero 0) fits no 80 GiB GPU at any degree: the summary
    names the closest miss and what shrinks it, never "the same at every SP degree"."""
    monkeypatch.setenv("COLUMNS", "200")
    data = _rows(capsys, "--sp-degrees", "2,4", "--gpus", "16")
    assert not any(r["fits"] for r in data["rows"])
    assert len(data["notes"]) == 1
    assert data["notes"][0].startswith("no method fits in memory at any SP degree: the closest, ")
    assert "--zero 3" in data["notes"][0]
    assert main(["compare-sp", "--sp-degrees", "2,4", "--gpus", "16"]) == 0
    out = capsys.readouterr().out
    assert "same at every SP degree" not in out and "no method fits in memory" in out


def test_same_method_everywhere_is_said_only_where_true(capsys) -> None:
    """HunyuanVideo, ZeRO 3 + full checkpointing on one node: FastSeq is fastest at sp = 2, 4
    and 8 (its all-gather overlaps attention), and the summary says exactly that."""
    data = _rows(capsys, "--model", "hunyuanvideo", "--sp-degrees", "2,4,8", "--gpus", "8",
                 "--zero", "3", "--ckpt", "full")  # fmt: skip
    best = {}
    for r in data["rows"]:
        if r["fits"] and (r["sp"] not in best or r["step_time_s"] < best[r["sp"]]["step_time_s"]):
            best[r["sp"]] = r
    assert {r["method"] for r in best.values()} == {"fastseq"} and data["crossovers"] == []
    assert data["notes"] == ["the fastest method, fastseq, is the same at every SP degree where "
                             "one fits"]  # fmt: skip


def test_degrees_without_a_fit_are_named(capsys) -> None:
    """A degree where no method runs or fits is named (rows built by hand)."""
    from parplan.compare.sp import SpRow, summary

    rows = [SpRow(workload="w", method="ulysses", sp=2, feasible=True, fits=True, step_time_s=1.0,
                  exposed_comm_s=0.1, sp_exposed_comm_s=0.1, comm_bytes_per_gpu_per_layer_fwd=1e6,
                  memory_gib_per_gpu=10.0),
            SpRow(workload="w", method="ulysses", sp=4, feasible=False, reason="heads")]  # fmt: skip
    assert summary(rows) == ["no method fits at sp=4 (see the note column)"]
