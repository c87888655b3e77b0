"""The published attention table (parplan/cost/kernels/attention.yaml) and its reading.

Golden values are the figures each series cites (FlashAttention-2 paper Fig. 4/7, FlashAttention-3
paper Fig. 5/6, NVIDIA cudnn-frontend GB200 CSVs); tolerance 2% as the issue asks (they are
reproduced exactly up to float rounding). Out-of-sample checks use published points the table does
not hold: ONNX Runtime PR #21629 (H100, 256 tokens) and NVIDIA's Wan2.2 video-DiT shapes on GB200.
"""

from __future__ import annotations

import pytest

from parplan.cost.attention import Split, attention_time
from parplan.cost.device import MAMF_FRACTION, Device
from parplan.cost.kernels.attention_table import (
    BWD_OVER_FWD,
    FWD_BWD_OVER_FWD,
    attention_fraction,
    curves,
    load_table,
    padded_head_dim,
)
from parplan.errors import SpecError
from parplan.model.flops import AttentionShape
from parplan.specs import StackSpec, load_cluster

H100_PEAK_TFLOPS = 989.4


def _tflops(series, length: int, direction: str) -> float:
    frac, hd = attention_fraction(arch=series.arch, kernel=series.kernel, direction=direction,
                                  causal=series.causal, head_dim=series.head_dim, q_len=length,
                                  kv_len=length)  # fmt: skip
    assert hd == series.head_dim
    return frac * series.source_peak_tflops


@pytest.mark.parametrize("index", range(len(load_table().series)))
def test_table_reproduces_every_cited_point(index: int) -> None:
    """Every published point of every series, read back through the interpolation; a
    forward+backward series (A100 Fig. 4, H100 Fig. 7) through its directions:
    3.5 F / (F / fwd + 2.5 F / bwd). Where the backward is published on its own (H100
    FlashAttention-2 non-causal, Shah 2024 Fig. 6) the table uses that figure, and Dao 2023
    Fig. 7's run of the same kernel is only checked to agree within 8%."""
    s = load_table().series[index]
    own_bwd = s.direction == "fwd_bwd" and any(
        (o.arch, o.kernel, o.direction, o.head_dim, o.causal) == (s.arch, s.kernel, "bwd", s.head_dim, s.causal)
        for o in load_table().series
    )
    for length, published in s.points:
        if s.direction == "fwd_bwd":
            fwd, bwd = _tflops(s, length, "fwd"), _tflops(s, length, "bwd")
            got = FWD_BWD_OVER_FWD / (1 / fwd + BWD_OVER_FWD / bwd)
        else:
            got = _tflops(s, length, s.direction)
        assert got == pytest.approx(published, rel=0.08 if own_bwd else 0.02), (s.source, length)


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("kernel", ["flash3", "cudnn"])
@pytest.mark.parametrize("length", [8192, 16384])
def test_flash3_and_cudnn_beat_flash2_on_h100_by_the_published_ratio(kernel, direction, length) -> None:
    """Shah et al. 2024 Fig. 5 (fwd) / Fig. 6 (bwd), head dim 128, non-causal:
    FA3 646/370, 648/370 fwd, 559/318, 561/322 bwd; cuDNN 600/370, 595/370 fwd, 518/318,
    516/322 bwd."""
    published = {
        ("flash3", "fwd", 8192): 646 / 370, ("flash3", "fwd", 16384): 648 / 370,
        ("flash3", "bwd", 8192): 559 / 318, ("flash3", "bwd", 16384): 561 / 322,
        ("cudnn", "fwd", 8192): 600 / 370, ("cudnn", "fwd", 16384): 595 / 370,
        ("cudnn", "bwd", 8192): 518 / 318, ("cudnn", "bwd", 16384): 516 / 322,
    }  # fmt: skip
    rate = {k: attention_fraction(arch="hopper", kernel=k, direction=direction, causal=False,
                                  head_dim=128, q_len=length, kv_len=length)[0]
            for k in (kernel, "flash2")}  # fmt: skip
    assert rate[kernel] / rate["flash2"] == pytest.approx(published[(kernel, direction, length)], rel=0.02)
    assert rate[kernel] > 1.4 * rate["flash2"]


def test_flash2_runs_the_next_compiled_head_dim() -> None:
    """csrc/flash_attn/src/static_switch.h HEADDIM_SWITCH: 32, 64, 96, 128, 192, 256; FA3
    (hopper/flash_api.cpp round_up_headdim) starts at 64."""
    assert [padded_head_dim("flash2", "hopper", d) for d in (8, 40, 72, 96, 100, 160, 200)] == [
        32, 64, 96, 96, 128, 192, 256]  # fmt: skip
    assert padded_head_dim("flash3", "hopper", 32) == 64
    with pytest.raises(SpecError, match="head dims up to 256"):
        padded_head_dim("flash2", "hopper", 320)


def test_flash3_exists_on_hopper_only() -> None:
    with pytest.raises(SpecError, match="FlashAttention-3 runs on Hopper"):
        attention_fraction(arch="ampere", kernel="flash3", direction="fwd", causal=False,
                           head_dim=128, q_len=4096, kv_len=4096)  # fmt: skip


def test_short_sequences_follow_the_tile_model() -> None:
    """Below the shortest published length the rate falls with the padded tiles: at 16 tokens
    FlashAttention-2 computes a full 128 x 64 tile for 16 x 16 scores, so its rate is below
    16·16/(128·64) of the long-sequence rate plus nothing; it rises monotonically to the
    published 512-token point and never above it."""
    def rate(s: int) -> float:
        return attention_fraction(arch="hopper", kernel="flash2", direction="fwd", causal=False,
                                  head_dim=128, q_len=s, kv_len=s)[0] * H100_PEAK_TFLOPS  # fmt: skip

    lengths = [16, 32, 64, 128, 256, 512]
    rates = [rate(s) for s in lengths]
    assert rates == sorted(rates)
    assert rates[-1] == pytest.approx(309, rel=0.02)  # Shah 2024 Fig. 5c, FA2 at 512
    assert rates[0] < 370 * 16 * 16 / (128 * 64)  # long-sequence rate x tile occupancy


def test_short_sequence_model_against_a_published_256_token_point() -> None:
    """Out of sample: ONNX Runtime PR #21629 (commit fbc3927), H100, batch 16, 32 heads x 128,
    256 tokens, forward: PyTorch SDPA's FlashAttention-2 229.5 TFLOP/s (75 µs, call time). The
    table starts at 512 tokens; the tile model predicts 256 within 20%. (cuDNN: published 227.8,
    the model 350 with FA3's tiles assumed for cuDNN: docs/cost_model.md lists it as a miss.)"""
    frac, _ = attention_fraction(arch="hopper", kernel="flash2", direction="fwd", causal=False,
                                 head_dim=128, q_len=256, kv_len=256)  # fmt: skip
    assert frac * H100_PEAK_TFLOPS == pytest.approx(229.5, rel=0.20)


@pytest.mark.parametrize(
    ("length", "fwd", "bwd"),
    [(7800, 1552, 1393), (17160, 1783, 1417), (32760, 1666, 1319), (75600, 1533, 1254)],
)
def test_blackwell_cudnn_on_wan_video_dit_shapes(length: int, fwd: float, bwd: float) -> None:
    """Out of sample: NVIDIA/cudnn-frontend@3929da2 results/wan22/gb200 (Wan2.2-A14B, 40 heads x
    128, non-causal). The table's non-causal series are the Llama-3.1 GQA shapes (2k-32k)."""
    for direction, published in (("fwd", fwd), ("bwd", bwd)):
        frac, _ = attention_fraction(arch="blackwell", kernel="cudnn", direction=direction,
                                     causal=False, head_dim=128, q_len=length, kv_len=length)  # fmt: skip
        assert frac * 2500.0 == pytest.approx(published, rel=0.15)


def test_every_derived_series_says_how() -> None:
    derived = [c.derived for by_hd in curves().values() for c in by_hd.values() if c.derived]
    assert derived and all(isinstance(d, str) and d for d in derived)
    # A100 has only forward+backward figures: both directions are derived from them
    assert curves()[("ampere", "flash2", "fwd", False)][64].derived == "fwd = fwd+bwd rate"


def test_unfused_model_sits_between_flash2_and_pytorchs_reference_attention() -> None:
    """The unfused model (Megatron CoreAttention: baddbmm, fused scale-mask-softmax, bmm) on an
    H100 at the MAMF rate, head dim 128, non-causal, forward+backward, against the same figure:
    FlashAttention-2 (Dao 2023 Fig. 7b: 320 at 2k, 335 at 8k) is faster; the FA papers' PyTorch
    'standard attention' (einsum with layout copies, separate mask and softmax passes: 145 at
    2k, 167 at 8k) is slower."""
    cluster = load_cluster("h100-dgx-ndr400")
    dev = Device.of(cluster, "bf16")
    dev = dev.model_copy(update={"eff": dev.eff.model_copy(update={"gemm_max": MAMF_FRACTION["hopper"]})})
    for length, flash2, pytorch in ((2048, 320, 145), (8192, 335, 167)):
        batch = 16384 // length
        a = AttentionShape(kind="self", sequences=1, q_len=length, kv_len=length, heads=16,
                           kv_heads=16, head_dim=128)  # fmt: skip
        t = attention_time(a, Split(micro_batch=batch, gpus=1, ring=1, element_bytes=2), dev,
                           StackSpec(attention="unfused"))  # fmt: skip
        tflops = FWD_BWD_OVER_FWD * batch * a.flops / (t.fwd_s + t.bwd_s) / 1e12
        assert pytorch < tflops < flash2
