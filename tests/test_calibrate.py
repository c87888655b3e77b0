"""parplan calibrate: the fits, the spec it writes, and a real calibration driving a smoke prediction."""

from __future__ import annotations

import pytest

from parplan.cluster.comm_ops import CollectiveCall, sent_bytes
from parplan.cost.device import efficiency_for, gpu_architecture
from parplan.smoke.calibrate import (
    Plan,
    cluster_spec,
    fit_alpha_beta,
    fit_compute,
    latency_steps,
    merge_ranks,
    write_cluster,
)
from parplan.specs import load_cluster

# Step time, predicted vs measured, after a quick calibration on the same machine: ±50 %.
# Honest for a shared 2-core box: other jobs change the cores our 4 ranks get between the
# calibration and the smoke run (we saw the same smoke step take 0.47 s and 0.86 s an hour
# apart), and the quick calibration times each quantity for ~1 s. The ±30 % claim for all six
# layouts rests on the recorded run in docs/smoke.md, not on this test.
TIME_TOLERANCE = 0.5


def _synthetic(alpha: float, bandwidth: float, p: int) -> list[dict]:
    rows = []
    for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "p2p_ring"):
        for nbytes in (1024, 65536, 4 * 2**20):
            buffer = nbytes * p if op == "all_gather" else nbytes
            sent = sent_bytes(CollectiveCall(op=op, dim="dp", buffer_bytes=buffer), p)
            rows.append({"op": op, "bytes": nbytes,
                         "seconds": alpha * latency_steps(op, p) + sent / bandwidth})  # fmt: skip
    return rows


def test_alpha_beta_fit_recovers_exact_constants() -> None:
    fit = fit_alpha_beta(_synthetic(50e-6, 2e9, 4), 4)
    assert fit["latency_s"] == pytest.approx(50e-6, rel=1e-6)
    assert fit["bytes_per_s"] == pytest.approx(2e9, rel=1e-6)
    assert fit["r2"] == pytest.approx(1.0)


def test_alpha_beta_fit_drops_non_positive_marginal_times() -> None:
    rows = _synthetic(1e-3, 1e9, 4) + [{"op": "all_to_all", "bytes": 1024, "seconds": -1e-4}]
    fit = fit_alpha_beta(rows, 4)
    assert fit["points"] == 15
    assert fit["latency_s"] == pytest.approx(1e-3, rel=1e-6)


def _measured() -> dict:
    return {
        "matmul_fp32_512": 2e10, "matmul_fp32_1024": 4e10, "matmul_bf16_512": 1e10,
        "linear_fwd_bwd": 3e10, "attention_fwd_bwd": 2e10, "copy_bytes_per_s": 1e10,
        "op_overhead": {"seconds_per_op": 1e-5, "ops": 204}, "collectives": [],
    }  # fmt: skip


def test_compute_fit_and_spec_round_trip(tmp_path) -> None:
    plan = Plan(nproc=4)
    compute = fit_compute(_measured(), plan)
    assert compute["peak_flop_per_s"] == 4e10  # best rate seen (here a square matmul)
    assert compute["gemm_max"] == pytest.approx(0.75)
    # attention_max: the measured SDPA rate over the peak (the flat fraction of GPUs without rows)
    assert compute["attention_max"] == pytest.approx(0.5)
    comm = {"latency_s": 1e-3, "bytes_per_s": 1e9, "r2": 0.9, "median_rel_residual": 0.1}
    write_cluster(cluster_spec(plan=plan, compute=compute, comm=comm), tmp_path / "c.yaml")
    loaded = load_cluster(tmp_path / "c.yaml")
    assert loaded.gpu.peak_tflops == {"fp32": 0.04, "bf16": 0.01}
    assert gpu_architecture(loaded.gpu.name) == "cpu"
    eff = efficiency_for(loaded)
    assert eff.kernel_overhead_s == pytest.approx(1e-5)
    assert eff.gemm_max == pytest.approx(0.75) and eff.hbm == 1.0
    assert loaded.intra_node.latency_us == pytest.approx(1000.0)
    assert loaded.intra_node.gbyte_per_s_per_gpu == pytest.approx(1.0)
    assert loaded.gpus_per_node == 4


def test_merge_takes_medians_over_ranks() -> None:
    ranks = [{**_measured(), "linear_fwd_bwd": v,
              "collectives": [{"op": "all_reduce", "bytes": 4, "seconds": v}]}
             for v in (1.0, 3.0, 2.0)]  # fmt: skip
    merged = merge_ranks(ranks)
    assert merged["linear_fwd_bwd"] == 2.0
    assert merged["collectives"][0]["seconds"] == 2.0


def test_committed_cpu_local_selects_the_cpu_defaults() -> None:
    spec = load_cluster("cpu-local")
    assert gpu_architecture(spec.gpu.name) == "cpu"
    assert spec.efficiency is not None and spec.efficiency.kernel_overhead_us is not None


def test_calibrate_rejects_one_rank() -> None:
    from parplan.cli import main

    assert main(["calibrate", "--nproc", "1"]) == 2


@pytest.mark.distributed
def test_calibrated_prediction_tracks_a_smoke_step(tmp_path) -> None:
    """Quick calibration on 4 ranks, then smoke ulysses 4 at the default size on the same
    machine: predicted step time within TIME_TOLERANCE of measured (~60 s in all)."""
    pytest.importorskip("torch")
    from parplan.smoke import SmokeConfig, build_strategy, run_smoke
    from parplan.smoke.calibrate import calibrate

    steps: list[str] = []
    out = tmp_path / "cpu-local.yaml"
    result = calibrate(4, out, steps.append, quick=True)
    assert steps == ["measure", "fit"]
    assert len(result["measured"]["collectives"]) == 5 * 2
    spec = load_cluster(out)
    assert spec.gpu.peak_tflops["fp32"] > 0 and spec.intra_node.latency_us > 0
    cfg = SmokeConfig(nproc=4, strategy=build_strategy(sp=4, sp_method="ulysses"), steps=4,
                      cluster=str(out))  # fmt: skip
    report = run_smoke(cfg)
    measured, predicted = report["step_time_measured_s"], report["step_time_predicted_s"]
    assert predicted is not None, report["notes"]
    assert abs(predicted - measured) <= TIME_TOLERANCE * measured, (predicted, measured)


def test_calibrate_writes_the_user_calibration_and_warns_on_a_poor_fit(
    tmp_path, monkeypatch, capsys
) -> None:
    """Default output: $PARPLAN_HOME/cpu-local.yaml, never the bundled cluster_specs file; a
    fit with R2 below calibrate_cmd.MIN_R2 is said on stderr. The measurement is faked (the
    real one is test_calibrated_prediction_tracks_a_smoke_step)."""
    pytest.importorskip("torch")
    from parplan.cli import main
    from parplan.specs.loading import BUNDLED_CLUSTER_DIR

    bundled = (BUNDLED_CLUSTER_DIR / "cpu-local.yaml").read_bytes()
    monkeypatch.setenv("PARPLAN_HOME", str(tmp_path / "home"))
    written = []

    def fake(nproc, out, progress, quick):  # noqa: ANN001
        written.append(out)
        return {"out": str(out), "comm_fit": {"r2": -0.31}}

    monkeypatch.setattr("parplan.smoke.calibrate.calibrate", fake)
    assert main(["calibrate", "--json"]) == 0
    assert written == [tmp_path / "home" / "cpu-local.yaml"]
    err = capsys.readouterr().err
    assert "warning: the gloo latency/bandwidth fit explains R2 = -0.31" in err
    assert (BUNDLED_CLUSTER_DIR / "cpu-local.yaml").read_bytes() == bundled


def test_cpu_local_reads_the_user_calibration_and_says_so(tmp_path, monkeypatch, capsys) -> None:
    """predict --cluster cpu-local and smoke's prediction use $PARPLAN_HOME/cpu-local.yaml."""
    import json

    from parplan.cli import main
    from parplan.smoke import SmokeConfig, build_strategy
    from parplan.smoke.prediction import predicted_step_time
    from parplan.specs.loading import BUNDLED_CLUSTER_DIR

    argv = ["predict", "--model", "dit-s-2", "--workload", "imagenet-256", "--cluster",
            "cpu-local", "--gpus", "4", "--json"]  # fmt: skip
    assert main(argv) == 0
    bundled_s = json.loads(capsys.readouterr().out)["step_time_s"]
    spec = load_cluster(BUNDLED_CLUSTER_DIR / "cpu-local.yaml")
    faster = spec.gpu.model_copy(update={"peak_tflops": {"fp32": 1.0, "bf16": 2.0}})
    home = tmp_path / "home"
    monkeypatch.setenv("PARPLAN_HOME", str(home))
    write_cluster(spec.model_copy(update={"gpu": faster}), home / "cpu-local.yaml")
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["step_time_s"] < bundled_s / 2  # 19x the peak FLOP/s
    assert f"reads your calibration {home / 'cpu-local.yaml'}" in captured.err
    cfg = SmokeConfig(nproc=4, strategy=build_strategy(sp=4, sp_method="ulysses"))
    assert "your calibration" in predicted_step_time(cfg)[1]
