"""`parplan kernels measure | show` and the measured kernel table (cost/measured.py): a CPU run
on tiny shapes, the file's round trip through a cluster spec's `kernels:`, and the cost model
timing GEMMs and attention from it instead of the published rates."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml

from parplan.cli import main
from parplan.cost.attention import Split, attention_time
from parplan.cost.device import Device
from parplan.cost.measured import (
    KernelTable,
    attention_flop_per_s,
    dump_kernel_table,
    gemm_flop_per_s,
    load_kernel_table,
)
from parplan.errors import SpecError
from parplan.measure.shapes import Split as MeasureSplit
from parplan.measure.shapes import attention_calls, gemm_shapes
from parplan.model.flops import AttentionShape
from parplan.specs import StackSpec, load_cluster, load_model, load_workload

CLUSTERS = Path(__file__).resolve().parents[1] / "cluster_specs"
TINY_MODEL = {
    "name": "tiny-dit", "family": "dit", "hidden": 64, "heads": 4,
    "blocks": [{"type": "spatial", "count": 1}, {"type": "temporal", "count": 1}],
    "cross_attention": True, "text_tokens": 8, "patch": [1, 2, 2], "in_channels": 4,
    "vae": {"temporal": 4, "spatial": 8, "causal": True},
}  # fmt: skip
TINY_WORKLOAD = {"name": "tiny-clip", "kind": "video", "frames": 9, "height": 64, "width": 64,
                 "global_batch": 8, "precision": "fp32"}  # fmt: skip
PROVENANCE = {"device": "test", "torch": "0", "date": "2026-01-01", "command": "hand-written",
              "dtype": "fp32", "repeats": 1}  # fmt: skip


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    model, workload = tmp_path / "tiny.yaml", tmp_path / "tiny_clip.yaml"
    model.write_text(yaml.safe_dump(TINY_MODEL))
    workload.write_text(yaml.safe_dump(TINY_WORKLOAD))
    return model, workload


def _cluster_with(tmp_path: Path, kernels: str) -> Path:
    spec = yaml.safe_load((CLUSTERS / "cpu-local.yaml").read_text())
    spec.update(name="cpu-measured", kernels=kernels)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _write_table(path: Path, **sections) -> Path:
    path.write_text(yaml.safe_dump({"provenance": PROVENANCE, **sections}))
    return path


# ------------------------------------------------------------------------- measuring on CPU


def test_measure_on_cpu_writes_a_table_with_provenance(tiny, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    model, workload = tiny
    out = tmp_path / "kernels.yaml"
    argv = ["kernels", "measure", "--model", str(model), "--workload", str(workload),
            "--out", str(out), "--device", "cpu", "--repeats", "2"]  # fmt: skip
    assert main(argv) == 0
    table = load_kernel_table(out)
    p = table.provenance
    assert p.torch == torch.__version__ and p.cuda is None and p.dtype == "fp32"
    assert p.device.startswith("CPU") and "kernels measure" in p.command and p.date
    specs = load_model(model), load_workload(workload)
    assert {(r.m, r.n, r.k) for r in table.gemm} == {
        (s.m, s.n, s.k) for s in gemm_shapes(*specs, MeasureSplit())
    }
    calls = attention_calls(*specs, MeasureSplit())
    for kernel in ("flash2", "unfused"):  # the CPU has SDPA's flash and math backends
        rows = [r for r in table.attention if r.kernel == kernel]
        assert len(rows) == 2 * len(calls) and all(r.tflops > 0 for r in rows)
    assert any("cudnn" in note for note in p.notes)  # not on a CPU: said, not dropped
    assert {r.block_type for r in table.block} == {"spatial", "temporal"}
    assert all(r.fwd_s > 0 and r.bwd_s > 0 for r in table.block)


def test_measure_without_torch_is_one_line_exit_2(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    model, workload = tiny
    argv = ["kernels", "measure", "--model", str(model), "--workload", str(workload),
            "--out", str(tmp_path / "k.yaml")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'parplan[smoke]'" in err


def test_measure_refuses_a_missing_gpu(tiny, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model, workload = tiny
    argv = ["kernels", "measure", "--model", str(model), "--workload", str(workload),
            "--out", str(tmp_path / "k.yaml"), "--device", "cuda"]  # fmt: skip
    assert main(argv) == 2
    assert "--device cuda: torch sees no CUDA GPU" in capsys.readouterr().err


def test_shapes_follow_the_split():
    """TP splits the column layers' outputs and the row layers' inputs; Ulysses x ring the
    token rows; a ring step attends 1/ring of the queries to 1/ring of the keys."""
    model, work = load_model("wan2.1-14b"), load_workload("video-720p-81f")
    whole = {s.names[0]: s for s in gemm_shapes(model, work, MeasureSplit())}
    split = {s.names[0]: s for s in gemm_shapes(model, work, MeasureSplit(tp=4, ulysses=2, ring=2))}
    assert split["full.attn.qkv"].n == whole["full.attn.qkv"].n // 4
    assert split["full.mlp.fc2"].k == whole["full.mlp.fc2"].k // 4
    assert split["full.attn.qkv"].m == whole["full.attn.qkv"].m // 4
    self_attn = attention_calls(model, work, MeasureSplit(tp=4, ulysses=2, ring=2))[0]
    assert (self_attn.heads, self_attn.q_len) == (40 // 8, 75600 // 2)


# ---------------------------------------------------------------------- table and cluster


def test_table_round_trips(tmp_path):
    rows = {"gemm": [{"name": "qkv", "m": 256, "n": 3456, "k": 1152, "dtype": "bf16",
                      "tflops": 500.0}],
            "attention": [{"kernel": "cudnn", "direction": "fwd", "head_dim": 128, "q_len": 4096,
                           "kv_len": 4096, "tflops": 600.0}],
            "block": [{"block_type": "full", "tokens": 256, "fwd_s": 0.001, "bwd_s": 0.002}]}  # fmt: skip
    table = load_kernel_table(_write_table(tmp_path / "k.yaml", **rows))
    again = tmp_path / "again.yaml"
    again.write_text(dump_kernel_table(table))
    assert load_kernel_table(again) == table


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ({"gemm": [{"m": 1, "n": 1, "k": 1, "dtype": "bf16", "tflops": -1}]}, r"gemm\.0\.tflops=-1"),
        ({"attention": [{"kernel": "flash9", "direction": "fwd", "head_dim": 64, "q_len": 1,
                         "kv_len": 1, "tflops": 1}]}, r"attention\.0\.kernel='flash9'"),  # fmt: skip
        ({"gemms": []}, "unknown key 'gemms'"),
    ],
)
def test_bad_table_is_a_spec_error(tmp_path, rows, match):
    path = _write_table(tmp_path / "bad.yaml", **rows)
    with pytest.raises(SpecError, match=match):
        load_kernel_table(path)


def test_cluster_kernels_path_is_relative_to_the_spec(tmp_path):
    (tmp_path / "tables").mkdir()
    _write_table(tmp_path / "tables" / "k.yaml")
    cluster = load_cluster(_cluster_with(tmp_path, "tables/k.yaml"))
    assert Path(cluster.kernels) == (tmp_path / "tables" / "k.yaml").resolve()


def test_missing_kernels_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match=r"kernels=nope\.yaml not found"):
        load_cluster(_cluster_with(tmp_path, "nope.yaml"))


def test_show_prints_the_table_in_use(tmp_path, capsys):
    _write_table(tmp_path / "k.yaml", gemm=[{"name": "fc1", "m": 48, "n": 256, "k": 64,
                                              "dtype": "fp32", "tflops": 0.05}])  # fmt: skip
    cluster = _cluster_with(tmp_path, "k.yaml")
    assert main(["kernels", "show", "--cluster", str(cluster)]) == 0
    out = capsys.readouterr().out
    assert "measured kernel table" in out and "fc1" in out and "hand-written" in out
    assert main(["kernels", "show", "--cluster", str(cluster), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == str((tmp_path / "k.yaml").resolve()) and data["gemm"][0]["m"] == 48
    assert main(["kernels", "show", "--cluster", "h100-dgx-ndr400"]) == 0
    assert "published rates for H100" in capsys.readouterr().out


# ---------------------------------------------------------------- the cost model uses it


def test_lookups_interpolate_in_log_length_and_clamp():
    rows = [{"kernel": "flash2", "direction": "fwd", "head_dim": 64, "q_len": q, "kv_len": q,
             "tflops": t} for q, t in ((1024, 100.0), (4096, 200.0))]  # fmt: skip
    table = KernelTable.model_validate({"provenance": PROVENANCE, "attention": rows})
    look = dict(kernel="flash2", direction="fwd", head_dim=64, causal=False)
    assert attention_flop_per_s(table, q_len=2048, kv_len=2048, **look) == pytest.approx(150e12)
    assert attention_flop_per_s(table, q_len=256, kv_len=256, **look) == pytest.approx(100e12)
    assert attention_flop_per_s(table, q_len=1e6, kv_len=1e6, **look) == pytest.approx(200e12)
    assert attention_flop_per_s(table, q_len=2048, kv_len=2048, **{**look, "head_dim": 128}) is None


def test_cost_model_times_kernels_from_the_measured_table(tmp_path):
    """GEMMs at the measured rate of the model's shapes run once each (total FLOPs / total
    seconds, by hand below); attention at the measured rate of its kernel and shape."""
    gemm = [{"m": 48, "n": 256, "k": 64, "dtype": "fp32", "tflops": 0.05},
            {"m": 48, "n": 64, "k": 256, "dtype": "fp32", "tflops": 0.20}]  # fmt: skip
    attention = [{"kernel": "flash2", "direction": d, "head_dim": 16, "q_len": 16, "kv_len": 16,
                  "tflops": t} for d, t in (("fwd", 0.01), ("bwd", 0.004))]  # fmt: skip
    _write_table(tmp_path / "k.yaml", gemm=gemm, attention=attention)
    measured = Device.of(load_cluster(_cluster_with(tmp_path, "k.yaml")), "fp32")
    published = Device.of(load_cluster("cpu-local"), "fp32")
    flops = 2 * 48 * 256 * 64  # the two shapes have the same FLOPs: harmonic mean of the rates
    rate = 2 * flops / (flops / 0.05e12 + flops / 0.20e12)
    assert measured.gemm_s(flops=1e9, bytes_moved=0, kernels=0) == pytest.approx(1e9 / rate)
    assert published.gemm_s(flops=1e9, bytes_moved=0, kernels=0) != pytest.approx(1e9 / rate)
    shape = AttentionShape(kind="self", sequences=3, q_len=16, kv_len=16, heads=4, kv_heads=4,
                           head_dim=16)  # fmt: skip
    split = Split(micro_batch=1, gpus=1, ring=1, element_bytes=4)
    t = attention_time(shape, split, measured, StackSpec())
    assert t.fwd_s == pytest.approx(shape.flops / 0.01e12)
    assert t.bwd_s == pytest.approx(2.5 * shape.flops / 0.004e12)
    # a kernel the table lacks (cudnn here) falls back to the published rates
    fallback = attention_time(shape, split, measured, StackSpec(attention="cudnn"))
    assert fallback == attention_time(shape, split, published, StackSpec(attention="cudnn"))
    assert math.isclose(gemm_flop_per_s(Device.of(load_cluster(_cluster_with(tmp_path, "k.yaml")),
                                                  "fp32").kernels, m=40, n=250, k=60,
                                        dtype="fp32"), 0.05e12)  # fmt: skip


def test_predict_uses_the_measured_table(tiny, tmp_path, capsys):
    model, workload = tiny
    slow = [{"m": 48, "n": 256, "k": 64, "dtype": "fp32", "tflops": 1e-4}]
    _write_table(tmp_path / "k.yaml", gemm=slow)
    argv = ["predict", "--model", str(model), "--workload", str(workload), "--gpus", "1", "--json"]
    assert main([*argv, "--cluster", "cpu-local"]) == 0
    published = json.loads(capsys.readouterr().out)["breakdown"]["compute_s"]
    assert main([*argv, "--cluster", str(_cluster_with(tmp_path, "k.yaml"))]) == 0
    assert json.loads(capsys.readouterr().out)["breakdown"]["compute_s"] > 10 * published
