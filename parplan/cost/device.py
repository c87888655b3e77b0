"""Achieved compute throughput: a roofline with a few named, physical efficiency constants.

Every kernel is timed as max(FLOPs / (peak × achievable fraction), bytes / (HBM × achievable
fraction)) plus a fixed launch overhead. The constants are per GPU architecture, taken from
public microbenchmarks (cited below), never fitted per validation case. A cluster spec's
`efficiency:` block (written by `parplan calibrate`) overrides them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cost.measured import KernelTable, kernel_table, mean_gemm_flop_per_s
from parplan.specs import ATTENTION_PRECISION, ClusterSpec


class Efficiency(BaseModel):
    """Achievable fractions of the datasheet peaks, and per-kernel overhead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gemm_max: float  # best-shape dense GEMM / peak (MAMF)
    attention_max: float  # fused (flash) attention fwd+bwd / peak
    hbm: float  # achievable / datasheet HBM bandwidth
    conv_max: float  # VAE encoder convolutions / peak
    kernel_overhead_s: float  # launch + tail per kernel


# Maximum Achievable Matmul FLOPS, bf16 (stas00/ml-engineering compute/accelerator/README.md,
# "Maximum Achievable Matmul FLOPS comparison table"): A100 SXM 267.9/312 = 85.9%,
# H100 SXM 792.1/989 = 80.1%.
# Attention: FlashAttention-2, the kernel of the DiT code bases parplan targets (directly or via
# PyTorch SDPA). Dao 2023 (arXiv 2307.08691) Fig. 4: A100 fwd+bwd 187-203 TFLOP/s at head dim 128
# and long sequences = 0.62 of 312; on H100 FA2 reaches ~330 TFLOP/s fwd+bwd (Shah et al. 2024,
# arXiv 2407.08608, Fig. 5) = 0.33 of 989. FA3/cuDNN reach 500-650: set `efficiency:
# attention_max: 0.55` in a cluster spec for stacks that use them. Short sequences run less
# efficiently: see ATTENTION_HALF_SEQ.
# HBM: STREAM-like copies reach ~90% of the datasheet (H100 3.0/3.35 TB/s; A100 1.8/2.04 TB/s).
# VAE encoders (conv_max): calibrated once from fast-DiT's README (chuanyangjin/fast-DiT, A100,
# amp rows): online SD-VAE encoding of 128 images at 256 px costs 1.786 - 1.190 = 0.596 s,
# i.e. 128 x 65,536 px x 4.2e6 FLOP/px / 0.596 s = 59 TFLOP/s = 0.19 of the 312 TFLOP/s 16-bit
# peak, which is the peak parplan times the VAE on. fast-DiT's train.py in fact encodes outside
# accelerate's autocast, so that VAE ran fp32 with TF32 convolutions (cudnn.allow_tf32): 0.38 of
# the 156 TFLOP/s TF32 peak (NCHW convolutions and GroupNorm at full resolution in eager
# PyTorch). The Open-Sora cases (bf16 VAE on H800) are the out-of-sample check of this constant.
# Kernel overhead: ~4 µs per eager launch incl. tail (PyTorch eager, measured widely; CUDA graphs
# get ~1.3 µs).
#
# Sustained fraction (fitted, like conv_max; applied to the MAMF and FlashAttention figures
# above): those are the best shape of one kernel timed alone; a training
# step runs every shape of the model (wave and tile quantization, small-K projections, wgrad
# layouts), at power-limited clocks (NVIDIA rates A100 HPL at its sustained 1305 MHz, not the
# 1410 MHz boost of the datasheet peak: 0.93 alone), beside NCCL kernels. No source gives the
# product, so it is measured: fitted once, on the nine Korthikanti et al. 2022 runs (A100, with
# the unfused attention their paper states), as the value that zeroes their mean signed error
# (0.824), and checked out of sample on the Megatron-Core H100, Narayanan 2021, fast-DiT and
# Open-Sora runs (docs/validation.md). Calibrated `efficiency:` overrides are measured
# throughputs already and are not scaled.
SUSTAINED_FRACTION = 0.82


def _datasheet_arch(*, gemm_max: float, attention_max: float) -> Efficiency:
    return Efficiency(
        gemm_max=gemm_max * SUSTAINED_FRACTION,
        attention_max=attention_max * SUSTAINED_FRACTION,
        hbm=0.90,
        conv_max=0.19,
        kernel_overhead_s=4e-6,
    )


_ARCH_EFFICIENCY: dict[str, Efficiency] = {
    "hopper": _datasheet_arch(gemm_max=0.801, attention_max=0.33),
    "ampere": _datasheet_arch(gemm_max=0.859, attention_max=0.62),
    "blackwell": _datasheet_arch(gemm_max=0.80, attention_max=0.50),
    # CPU processes (cpu-local): calibrate measures gemm_max; attention runs through SDPA GEMMs.
    "cpu": Efficiency(gemm_max=0.5, attention_max=0.3, hbm=0.6, conv_max=0.3, kernel_overhead_s=2e-5),
}

_ARCH_BY_NAME = (
    ("H100", "hopper"),
    ("H800", "hopper"),
    ("H200", "hopper"),
    ("H20", "hopper"),
    ("GH200", "hopper"),
    ("A100", "ampere"),
    ("A800", "ampere"),
    ("A10", "ampere"),
    ("L40", "ampere"),
    ("B200", "blackwell"),
    ("GB200", "blackwell"),
    ("B100", "blackwell"),
    ("CPU", "cpu"),
)


# FlashAttention-2 throughput grows with the sequence length: Dao 2023 Fig. 4 (A100, head dim
# 64, fwd+bwd) gives ~110 TFLOP/s at 512 tokens and ~185 at 16k, which s/(s + s0) reproduces
# with s0 = 350 tokens (tiles of 128 rows leave the SMs underfed on short sequences).
ATTENTION_HALF_SEQ = 350


def attention_length_factor(kv_len: float) -> float:
    """Relative FlashAttention throughput at `kv_len` keys (1.0 for very long sequences)."""
    return kv_len / (kv_len + ATTENTION_HALF_SEQ)


def gpu_architecture(gpu_name: str) -> str:
    """Architecture family from the GPU's marketing name (e.g. 'H800-SXM5-80GB' -> hopper)."""
    upper = gpu_name.upper()
    for marker, arch in _ARCH_BY_NAME:
        if marker in upper:
            return arch
    return "hopper"


def efficiency_for(cluster: ClusterSpec) -> Efficiency:
    """Architecture defaults, overridden field by field by the cluster's `efficiency:` block."""
    base = _ARCH_EFFICIENCY[gpu_architecture(cluster.gpu.name)]
    if cluster.efficiency is None:
        return base
    e = cluster.efficiency
    overrides = {
        "gemm_max": e.gemm_max,
        "attention_max": e.attention_max,
        "hbm": e.hbm,
        "kernel_overhead_s": None if e.kernel_overhead_us is None else e.kernel_overhead_us * 1e-6,
    }
    return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})


class Device(BaseModel):
    """One GPU's rates for a given precision, with the efficiencies applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    peak_flop_per_s: float  # the GEMMs' peak
    hbm_bytes_per_s: float
    eff: Efficiency
    attention_peak_flop_per_s: float | None = None  # None: the GEMMs' peak
    # `parplan kernels measure` table of the cluster (cost/measured.py), None: published rates
    kernels: KernelTable | None = None
    measured_gemm_flop_per_s: float | None = None  # its GEMMs of this precision, all at once

    @classmethod
    def of(cls, cluster: ClusterSpec, precision: str) -> Device:
        """GEMMs on `precision`'s peak; attention on bf16's under fp8 (ATTENTION_PRECISION)."""
        attention = ATTENTION_PRECISION.get(precision, precision)
        table = kernel_table(cluster)
        return cls(
            peak_flop_per_s=cluster.gpu.peak_flop_per_s(precision),
            hbm_bytes_per_s=cluster.gpu.hbm_bytes_per_s,
            eff=efficiency_for(cluster),
            attention_peak_flop_per_s=cluster.gpu.peak_flop_per_s(attention),
            kernels=table,
            measured_gemm_flop_per_s=table and mean_gemm_flop_per_s(table, dtype=precision),
        )

    def for_attention(self) -> Device:
        """The same GPU with attention's peak for every kernel (an unfused attention's bmm)."""
        peak = self.attention_peak_flop_per_s
        if peak is None or peak == self.peak_flop_per_s:
            return self
        return self.model_copy(update={"peak_flop_per_s": peak})

    def gemm_s(self, *, flops: float, bytes_moved: float, kernels: int) -> float:
        """Roofline GEMM time (Williams et al. 2009, CACM 52(4)) plus launch overhead."""
        rate = self.measured_gemm_flop_per_s or self.peak_flop_per_s * self.eff.gemm_max
        compute_s = flops / rate
        memory_s = bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm)
        return max(compute_s, memory_s) + kernels * self.eff.kernel_overhead_s

    def attention_s(self, *, flops: float, bytes_moved: float, kernels: int) -> float:
        """Fused attention: compute at `attention_max`, or HBM-bound for short sequences."""
        peak = self.attention_peak_flop_per_s or self.peak_flop_per_s
        compute_s = flops / (peak * self.eff.attention_max)
        memory_s = bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm)
        return max(compute_s, memory_s) + kernels * self.eff.kernel_overhead_s

    def memory_bound_s(self, *, bytes_moved: float, kernels: int = 0) -> float:
        return bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm) + kernels * self.eff.kernel_overhead_s

    def conv_s(self, *, flops: float) -> float:
        return flops / (self.peak_flop_per_s * self.eff.conv_max)
