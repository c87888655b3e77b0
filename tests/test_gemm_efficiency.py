"""GEMM tile and wave quantization (parplan/cost/kernels/gemm.py) against the rules of NVIDIA's
"Matrix Multiplication Background" guide (§3.1 tile quantization, §3.2 wave quantization; A100:
108 SMs) and a brute-force schedule of the output tiles over the SMs."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from parplan.cost.device import gpu_sms
from parplan.cost.kernels.gemm import TILES, gemm_utilization, split_k, training_utilization

A100_SMS, H100_SMS = 108, 132


def test_sm_counts_from_the_whitepapers() -> None:
    assert gpu_sms("A100-SXM4-80GB") == A100_SMS
    assert gpu_sms("H100-SXM5-80GB") == gpu_sms("H800-SXM5-80GB") == H100_SMS
    assert gpu_sms("CPU-core-share-4ranks-2cores") is None


def test_a_partial_last_wave_costs_efficiency() -> None:
    """256 x 128 tiles: M = 3072, N = 1152 is 12 x 9 = 108 tiles, exactly one wave on an A100;
    N = 1280 is 120 tiles: two waves for 120 tiles with 256x128 (0.556), three for 240 with
    128x128 (240 / 324 = 0.741), the best cuBLAS can do with these tiles."""
    full = gemm_utilization(m=3072, n=1152, k=4096, sms=A100_SMS)
    partial = gemm_utilization(m=3072, n=1280, k=4096, sms=A100_SMS)
    assert full == 1.0
    assert math.isclose(partial, 240 / 324)


def test_tile_quantization_of_a_tp_split_width() -> None:
    """hidden 1152 split 8 ways (144 columns) fills 144 / 256 of a 256-wide tile and 144/256 of
    two 128-wide tiles: the honest rate of a thin TP-split GEMM is well below the MAMF."""
    thin = gemm_utilization(m=32768, n=144, k=1152, sms=H100_SMS)
    assert thin < 0.6
    assert gemm_utilization(m=32768, n=1152, k=1152, sms=H100_SMS) > 0.9


def test_split_k_fills_a_wave_when_the_output_is_small() -> None:
    """A 128 x 128 output with K = 65,536 is one tile: split-K into 108 slices of >= 256 fills
    the A100 (without it, one SM of 108 would work)."""
    assert split_k(tiles=1, k=65536, sms=A100_SMS) == A100_SMS
    assert gemm_utilization(m=128, n=128, k=65536, sms=A100_SMS) == 1.0
    assert split_k(tiles=1, k=512, sms=A100_SMS) == 2  # K too short to slice further


def _brute_force(m: int, n: int, k: int, sms: int) -> float:
    """Schedule every (tile, K slice) greedily on the least-loaded SM; utilization = useful
    tile work / (makespan x SMs x tile work)."""
    best = 0.0
    for rows, cols in TILES:
        tiles = math.ceil(m / rows) * math.ceil(n / cols)
        slices = split_k(tiles=tiles, k=k, sms=sms)
        loads = [0] * sms
        for _ in range(tiles * slices):
            loads[loads.index(min(loads))] += 1
        best = max(best, (m * n / (rows * cols)) * slices / (max(loads) * sms))
    return best


@settings(max_examples=60, deadline=None)
@given(m=st.integers(64, 20000), n=st.integers(64, 9000), k=st.integers(64, 20000),
       sms=st.sampled_from([A100_SMS, H100_SMS]))  # fmt: skip
def test_utilization_equals_a_brute_force_schedule(m: int, n: int, k: int, sms: int) -> None:
    got = gemm_utilization(m=m, n=n, k=k, sms=sms)
    assert 0 < got <= 1
    assert math.isclose(got, _brute_force(m, n, k, sms), rel_tol=1e-9)


def test_training_utilization_weighs_forward_dgrad_wgrad() -> None:
    """DiT-XL on one A100 (fast-DiT: 128 x 256 tokens): the QKV wgrad (1152 x 3456, K = 32,768)
    is 243 tiles of 128x128, three waves for 2.25 (0.75); forward and dgrad are near 1."""
    wgrad = gemm_utilization(m=1152, n=3456, k=32768, sms=A100_SMS)
    assert math.isclose(wgrad, 243 / 324)
    three = training_utilization(m=32768, n=3456, k=1152, sms=A100_SMS)
    fwd = gemm_utilization(m=32768, n=3456, k=1152, sms=A100_SMS)
    dgrad = gemm_utilization(m=32768, n=1152, k=3456, sms=A100_SMS)
    assert math.isclose(three, 3 / (1 / fwd + 1 / dgrad + 1 / wgrad))
