"""cost/goodput.py: the Young/Daly checkpoint interval, interruptions at Llama 3's failure rate, and
the goodput fraction against a simulation of failures, restarts and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parplan.cost.goodput import checkpoint_bytes_per_gpu, goodput, young_daly_interval_s
from parplan.cost.records import MemoryBreakdown
from parplan.specs import ReliabilitySpec, StrategySpec, load_cluster

MINUTE, HOUR = 60.0, 3600.0


@pytest.mark.parametrize(
    ("mtbf_h", "expected_min"),
    [(24, 117), (6, 57), (0.25, 9.1)],  # Daly 2006, Figs. 3-5: delta = 5 min, tau_opt
)
def test_daly_interval_matches_the_papers_examples(mtbf_h, expected_min):
    """Daly 2006 (FGCS 22(3)) states tau_opt for delta = 5 min at M = 24 h, 6 h and 15 min."""
    tau = young_daly_interval_s(write_s=5 * MINUTE, mtbf_s=mtbf_h * HOUR)
    assert tau / MINUTE == pytest.approx(expected_min, abs=0.6)


def test_daly_interval_tends_to_youngs_closed_form():
    """Young 1974: tau = sqrt(2 delta M); Daly's higher-order terms vanish as delta / M -> 0."""
    for write_s, mtbf_s in [(10.0, 1e6), (1.0, 1e7)]:
        young = math.sqrt(2 * write_s * mtbf_s)
        assert young_daly_interval_s(write_s=write_s, mtbf_s=mtbf_s) == pytest.approx(young, rel=2e-3)
    assert young_daly_interval_s(write_s=3 * HOUR, mtbf_s=HOUR) == HOUR  # delta >= 2M: tau = M


def test_llama3_failure_rate_gives_its_interruptions_per_day():
    """Llama 3 (arXiv 2407.21783) Sec. 3.3.4: 419 unexpected interruptions in 54 days on
    16,384 H100s; the default rate on that many GPUs gives 419 / 54 = 7.76 a day."""
    g = goodput(checkpoint_bytes_per_gpu=1e9, num_gpus=16_384, gpus_per_node=8,
                reliability=ReliabilitySpec())  # fmt: skip
    assert g.interruptions_per_day == pytest.approx(419 / 54, rel=1e-9)
    assert g.mtbf_s == pytest.approx(54 * 86_400 / 419)


def _simulate(*, tau, write, restart, mtbf, lives, lag, seed=0) -> float:
    """Useful fraction over `lives` failures (independent check of the closed forms): each life
    restarts (a failure during the restart restarts it again), then trains in periods of tau +
    write; a period's work counts once its checkpoint is written, or (`lag`, async writes back to
    back) once the next one is."""
    rng = np.random.default_rng(seed)
    failures = rng.exponential(mtbf, size=3 * lives)
    useful = wall = 0.0
    k = 0
    for _ in range(lives):
        while failures[k] < restart:  # the restart itself fails
            wall += failures[k]
            k += 1
        life, k = failures[k], k + 1
        periods = int((life - restart) // (tau + write))
        useful += tau * max(0, periods - lag)
        wall += life
    return useful / wall


@pytest.mark.parametrize("async_checkpoint", [False, True])
def test_goodput_fraction_agrees_with_a_simulation(async_checkpoint):
    """1,024 GPUs at 100x Llama 3's rate (MTBF 30 min), 60 s writes, 5 min restart (far from
    the first-order regime): the closed form within 0.5 points of a 200,000-failure run."""
    rel = ReliabilitySpec(failures_per_gpu_hour=100 * ReliabilitySpec().failures_per_gpu_hour,
                          checkpoint_write_gbyte_per_s_per_node=1.0,
                          checkpoint_read_gbyte_per_s_per_node=1e9, restart_s=300.0,
                          async_checkpoint=async_checkpoint)  # fmt: skip
    g = goodput(checkpoint_bytes_per_gpu=7.5e9, num_gpus=1024, gpus_per_node=8, reliability=rel)
    assert g.checkpoint_write_s == pytest.approx(60.0)
    blocking = 0.0 if async_checkpoint else g.checkpoint_write_s
    sim = _simulate(tau=g.checkpoint_interval_s, write=blocking, restart=g.restart_s,
                    mtbf=g.mtbf_s, lives=200_000, lag=int(async_checkpoint))  # fmt: skip
    assert g.fraction == pytest.approx(sim, abs=0.005)
    assert 0.5 < g.fraction < 0.9  # a regime where the terms matter


def test_checkpoint_bytes_split_replicas_and_keep_shards():
    """ZeRO-2 over dp=4: optimizer states are shards (written whole), weights replicated 4x
    (a quarter each); ZeRO-0: both replicated."""
    memory = MemoryBreakdown(weights_bytes=8.0, grads_bytes=0.0, optimizer_bytes=12.0,
                             activations_bytes=0.0, buffers_bytes=0.0, margin_bytes=0.0,
                             total_bytes=20.0, capacity_bytes=100.0)  # fmt: skip
    zero2 = StrategySpec(dp=4, zero=2)
    assert checkpoint_bytes_per_gpu(memory=memory, strategy=zero2) == 8 / 4 + 12
    assert checkpoint_bytes_per_gpu(memory=memory, strategy=StrategySpec(dp=4)) == (8 + 12) / 4


def test_no_failure_rate_is_full_goodput_and_cluster_defaults_apply():
    g = goodput(checkpoint_bytes_per_gpu=1e9, num_gpus=64, gpus_per_node=8,
                reliability=ReliabilitySpec(failures_per_gpu_hour=0))  # fmt: skip
    assert g.fraction == 1.0 and g.checkpoint_interval_s is None
    assert load_cluster("h100-dgx-ndr400").reliability == ReliabilitySpec()


def test_estimates_and_deadline_plans_carry_goodput(tmp_path, capsys):
    """`estimate --json` (model mode) and `plan --deadline-days --json` report the plan's
    goodput; --no-failures makes it 1."""
    import json

    import yaml

    from parplan.cli import main

    sora = ["estimate", "--model", "sora-estimate", "--workload", "video-1080p-60s", "--cluster",
            "h100-dgx-ndr400", "--train-samples", "80", "--deadline-days", "1",
            "--global-batch", "2", "--json"]  # fmt: skip
    assert main(sora) == 0
    g = json.loads(capsys.readouterr().out)["goodput"]
    assert 0.9 < g["fraction"] < 1 and g["checkpoint_interval_s"] > 0
    assert g["checkpoint_bytes"] == pytest.approx(20.29e9 * 14, rel=0.01)  # params x (2 + 12) B
    assert main([*sora, "--no-failures"]) == 0
    assert json.loads(capsys.readouterr().out)["goodput"]["fraction"] == 1.0
    cluster = tmp_path / "tiny.yaml"
    cluster.write_text(yaml.safe_dump(
        {"name": "tiny", "gpu": {"name": "H100", "peak_tflops": {"bf16": 989.4},
         "memory_gib": 80, "hbm_gbyte_per_s": 3350}, "gpus_per_node": 8, "nodes": 2,
         "intra_node": {"gbyte_per_s_per_gpu": 450},
         "inter_node": {"nics_per_node": 8, "gbit_per_s_per_nic": 400},
         "reliability": {"failures_per_gpu_hour": 1e-3, "restart_s": 120}}))  # fmt: skip
    assert main(["plan", "--model", "dit-s-2", "--workload", "imagenet-256", "--cluster",
                 str(cluster), "--deadline-days", "1", "--train-samples", "1e7", "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["goodput"]["interruptions_per_day"] == pytest.approx(1e-3 * 24 * data["gpus"])
