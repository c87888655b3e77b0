"""Achieved compute throughput: a roofline whose compute side comes from published kernels.

Every kernel is timed as max(FLOPs / (peak × achievable fraction), bytes / (HBM × achievable
fraction)) plus a fixed launch overhead. The achievable fractions are per GPU architecture:
GEMMs at the Maximum Achievable Matmul FLOPS less their shape's tile and wave quantization
(kernels/gemm.py), fused attention from the published kernel table (kernels/attention_table.py),
both times one fitted sustained fraction (below). A cluster spec's `efficiency:` block (written
by `parplan calibrate`) overrides them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cost.kernels.attention_table import has_rows
from parplan.cost.measured import KernelTable, kernel_table, mean_gemm_flop_per_s
from parplan.specs import ATTENTION_PRECISION, ClusterSpec


class Efficiency(BaseModel):
    """Achievable fractions of the datasheet peaks, and per-kernel overhead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gemm_max: float  # best-shape dense GEMM / peak (MAMF), times the sustained fraction
    attention_scale: float = 1.0  # multiplies the attention table's published rates (sustained fraction)
    attention_max: float | None  # flat fused-attention fraction: GPUs without table rows, calibrated specs
    hbm: float  # achievable / datasheet HBM bandwidth
    conv_max: float  # VAE encoder convolutions / peak
    kernel_overhead_s: float  # launch + tail per kernel


# Maximum Achievable Matmul FLOPS, bf16 (stas00/ml-engineering compute/accelerator/README.md,
# "Maximum Achievable Matmul FLOPS comparison table"): A100 SXM 267.9/312 = 85.9%,
# H100 SXM 792.1/989 = 80.1%. It is the best shape; parplan/cost/kernels/gemm.py takes each
# GEMM's tile and wave quantization off it.
# Attention: the published kernel table, parplan/cost/kernels/attention.yaml (FlashAttention-2,
# FlashAttention-3, cuDNN; A100, H100, GB200), read by attention_table.py. GPUs whose
# architecture has no rows (the CPU of smoke runs) use a flat `attention_max`.
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
# Sustained fraction (fitted, like conv_max; applied to the MAMF and the attention table): those
# are one kernel timed alone at the best shape; a training step runs at power-limited clocks
# (NVIDIA rates A100 HPL at its sustained 1305 MHz, not the 1410 MHz boost of the datasheet
# peak: 0.93 alone), beside NCCL kernels that take SMs and HBM, with gaps between kernels. No
# source gives the product, so it is measured, once per architecture, on one source's runs, as
# the value that zeroes their mean signed error (tools/fit_sustained_fraction.py): Ampere on the
# nine Korthikanti et al. 2022 runs (A100, with the unfused attention their paper states), Hopper
# on the nine Megatron-Core r0.8 weak-scaling runs (H100); Blackwell has no runs and takes
# Hopper's. Out of sample: Narayanan 2021, Megatron-Core strong scaling, fast-DiT, Open-Sora and
# the held-out set (docs/validation.md). Calibrated `efficiency:` overrides are measured
# throughputs already and are not scaled.
SUSTAINED_FRACTION = {"ampere": 0.844, "hopper": 0.738, "blackwell": 0.738}
MAMF_FRACTION = {"ampere": 0.859, "hopper": 0.801, "blackwell": 0.80}


def arch_efficiency(arch: str) -> Efficiency:
    """The datasheet-based efficiencies of one architecture (no calibration applied)."""
    if arch == "cpu":  # CPU processes (cpu-local): calibrate measures gemm_max and attention_max
        return Efficiency(gemm_max=0.5, attention_scale=1.0, attention_max=0.3, hbm=0.6,
                          conv_max=0.3, kernel_overhead_s=2e-5)  # fmt: skip
    sustained = SUSTAINED_FRACTION[arch]
    return Efficiency(
        gemm_max=MAMF_FRACTION[arch] * sustained,
        attention_scale=sustained,
        attention_max=None,
        hbm=0.90,
        conv_max=0.19,
        kernel_overhead_s=4e-6,
    )


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

# Streaming multiprocessors (the GEMM wave size): NVIDIA A100 whitepaper (108 of 128 enabled),
# H100 whitepaper (SXM5 132, PCIe 114), H20 78 (NVIDIA H20 product brief), B200 148 (Blackwell
# whitepaper: 2 dies x 74), L40/L40S 142, A10 72. H800/H200/GH200 are the H100 SXM5 die.
_SMS_BY_NAME = (
    ("H100-PCIE", 114),
    ("H100", 132),
    ("H800", 132),
    ("H200", 132),
    ("GH200", 132),
    ("H20", 78),
    ("A100", 108),
    ("A800", 108),
    ("A10", 72),
    ("L40", 142),
    ("B200", 148),
    ("B100", 148),
)


def gpu_architecture(gpu_name: str) -> str:
    """Architecture family from the GPU's marketing name (e.g. 'H800-SXM5-80GB' -> hopper);
    unknown names are taken as Hopper."""
    upper = gpu_name.upper()
    for marker, arch in _ARCH_BY_NAME:
        if marker in upper:
            return arch
    return "hopper"


def gpu_sms(gpu_name: str) -> int | None:
    """SM count of a known GPU (None: unknown, or a CPU: no wave quantization)."""
    upper = gpu_name.upper()
    return next((sms for marker, sms in _SMS_BY_NAME if marker in upper), None)


def efficiency_for(cluster: ClusterSpec) -> Efficiency:
    """Architecture defaults, overridden field by field by the cluster's `efficiency:` block
    (a calibrated `attention_max` replaces the attention table by that flat fraction)."""
    base = arch_efficiency(gpu_architecture(cluster.gpu.name))
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
    arch: str = "hopper"  # which rows of the attention table apply
    sms: int | None = None  # streaming multiprocessors (GEMM waves); None: no wave quantization
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
            arch=gpu_architecture(cluster.gpu.name),
            sms=gpu_sms(cluster.gpu.name),
            kernels=table,
            measured_gemm_flop_per_s=table and mean_gemm_flop_per_s(table, dtype=precision),
        )

    def for_attention(self) -> Device:
        """The same GPU with attention's peak for every kernel (an unfused attention's bmm)."""
        peak = self.attention_peak_flop_per_s
        if peak is None or peak == self.peak_flop_per_s:
            return self
        return self.model_copy(update={"peak_flop_per_s": peak})

    @property
    def attention_table(self) -> bool:
        """Fused attention from the published table (else the flat `attention_max`)."""
        return self.eff.attention_max is None and has_rows(self.arch)

    def gemm_s(self, *, flops: float, bytes_moved: float, kernels: int, utilization: float = 1.0) -> float:
        """Roofline GEMM time (Williams et al. 2009, CACM 52(4)) plus launch overhead;
        `utilization`: the shapes' tile and wave quantization (kernels/gemm.py)."""
        # a measured table's rate is that of the model's own shapes: no quantization on top
        rate = self.measured_gemm_flop_per_s or self.peak_flop_per_s * self.eff.gemm_max * utilization
        compute_s = flops / rate
        memory_s = bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm)
        return max(compute_s, memory_s) + kernels * self.eff.kernel_overhead_s

    def attention_s(self, *, flops: float, fraction: float, bytes_moved: float, kernels: int) -> float:
        """Fused attention: `flops` at `fraction` of the attention peak (the table's, scaled by
        the sustained fraction), or its HBM floor, plus launches."""
        peak = self.attention_peak_flop_per_s or self.peak_flop_per_s
        compute_s = flops / (peak * fraction * self.eff.attention_scale)
        memory_s = bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm)
        return max(compute_s, memory_s) + kernels * self.eff.kernel_overhead_s

    def memory_bound_s(self, *, bytes_moved: float, kernels: int = 0) -> float:
        return bytes_moved / (self.hbm_bytes_per_s * self.eff.hbm) + kernels * self.eff.kernel_overhead_s

    def conv_s(self, *, flops: float) -> float:
        return flops / (self.peak_flop_per_s * self.eff.conv_max)
