"""Cluster specs (SPEC_FORMAT.md "Cluster"): the GPU, the node, the fabric between nodes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from parplan.errors import SpecError
from parplan.specs.base import (
    GB,
    GIB,
    NonNegFloat,
    PosFloat,
    PosInt,
    Spec,
)


class GpuSpec(Spec):
    name: str
    peak_tflops: dict[Literal["bf16", "fp16", "fp8", "fp32", "tf32"], PosFloat]
    memory_gib: PosFloat
    hbm_gbyte_per_s: PosFloat

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * GIB

    @property
    def hbm_bytes_per_s(self) -> float:
        return self.hbm_gbyte_per_s * GB

    def peak_flop_per_s(self, precision: str) -> float:
        """Dense peak for `precision`; fp16 falls back to bf16 (same tensor-core rate)."""
        table = dict(self.peak_tflops)
        if precision == "fp16" and "fp16" not in table and "bf16" in table:
            precision = "bf16"
        if precision not in table:
            raise SpecError(
                f"gpu.peak_tflops has no '{precision}' entry (has: {', '.join(sorted(table))}); "
                f"add peak_tflops.{precision}"
            )
        return table[precision] * 1e12


class IntraNodeSpec(Spec):
    fabric: Literal["nvswitch", "nvlink", "pcie", "loopback"] = "nvswitch"
    gbyte_per_s_per_gpu: PosFloat
    latency_us: NonNegFloat = 2.0

    @property
    def bytes_per_s(self) -> float:
        return self.gbyte_per_s_per_gpu * GB

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class InterNodeSpec(Spec):
    nics_per_node: PosInt
    gbit_per_s_per_nic: PosFloat
    latency_us: NonNegFloat = 5.0
    topology: Literal["rail_optimized", "fat_tree"] = "rail_optimized"
    oversubscription: Annotated[float, Field(ge=1.0)] = 1.0
    nodes_per_leaf: PosInt | None = None

    @property
    def nic_bytes_per_s(self) -> float:
        return self.gbit_per_s_per_nic * 1e9 / 8

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class EfficiencySpec(Spec):
    """Achieved fractions of peak for this hardware (docs/cost_model.md). Written by calibrate."""

    gemm_max: Annotated[float, Field(gt=0, le=1)] | None = None
    attention_max: Annotated[float, Field(gt=0, le=1)] | None = None
    hbm: Annotated[float, Field(gt=0, le=1)] | None = None
    kernel_overhead_us: NonNegFloat | None = None
    collective_bus: Annotated[float, Field(gt=0, le=1)] | None = None


# Llama 3 (arXiv 2407.21783) Sec. 3.3.4: 419 unexpected interruptions in a 54-day snapshot of
# pre-training on 16,384 H100s -> 419 / (54 x 24 h x 16,384) per GPU-hour.
LLAMA3_FAILURES_PER_GPU_HOUR = 419 / (54 * 24 * 16_384)
# Llama 3 Sec. 3.3.1: Tectonic "sustains a throughput of 2 TB/s" for the checkpoint writes of the
# 16K-GPU job (7 TB/s peak) -> 2,000 GB/s over 2,048 nodes of 8 GPUs.
LLAMA3_CHECKPOINT_GBYTE_PER_S_PER_NODE = 2000 / 2048


class ReliabilitySpec(Spec):
    """Failures and checkpointing (parplan extension, docs/spec_extensions.md "reliability").
    Defaults: Llama 3's failure rate and storage throughput; the restart time is an assumption
    (Llama 3 gives none; Daly 2006's worked example uses R = 10 min)."""

    failures_per_gpu_hour: NonNegFloat = LLAMA3_FAILURES_PER_GPU_HOUR
    checkpoint_write_gbyte_per_s_per_node: PosFloat = LLAMA3_CHECKPOINT_GBYTE_PER_S_PER_NODE
    checkpoint_read_gbyte_per_s_per_node: PosFloat = LLAMA3_CHECKPOINT_GBYTE_PER_S_PER_NODE
    restart_s: NonNegFloat = 600.0  # reschedule, re-initialise, warm up (before the read)
    async_checkpoint: bool = False  # the write runs behind training (only a copy blocks)

    @property
    def write_bytes_per_s_per_node(self) -> float:
        return self.checkpoint_write_gbyte_per_s_per_node * GB

    @property
    def read_bytes_per_s_per_node(self) -> float:
        return self.checkpoint_read_gbyte_per_s_per_node * GB


# 2^20 GPUs: several times any cluster built; a million-GPU predict takes ~2 s and ~250 MB,
# while the rank lists of a 2^40-GPU spec would exhaust the machine's memory.
MAX_GPUS = 2**20
# NICs per GPU: built systems have one compute NIC per GPU (DGX H100/B200, GB200 NVL72 trays), two
# at most; the link-load arrays hold one entry per NIC, so 3e9 NICs (a fuzzer's find) ran the
# planner out of memory.
MAX_NICS_PER_GPU = 4


class ClusterSpec(Spec):
    name: str
    gpu: GpuSpec
    gpus_per_node: PosInt
    nodes: PosInt
    intra_node: IntraNodeSpec
    inter_node: InterNodeSpec
    efficiency: EfficiencySpec | None = None
    # parplan extension (docs/spec_extensions.md): a kernel table measured on this GPU by
    # `parplan kernels measure` (path relative to this file); the cost model then times GEMMs
    # and attention from it instead of the published tables (parplan/cost/measured.py)
    kernels: str | None = None
    reliability: ReliabilitySpec = Field(default_factory=ReliabilitySpec)
    source: list[str] = Field(default_factory=list)

    @property
    def num_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @model_validator(mode="after")
    def _check_size(self) -> ClusterSpec:
        if self.num_gpus > MAX_GPUS:
            raise ValueError(
                f"nodes*gpus_per_node = {self.nodes}*{self.gpus_per_node} = {self.num_gpus:,} "
                f"GPUs: parplan models clusters of up to {MAX_GPUS:,} (rank groups and deadline "
                "sweeps span the whole cluster)"
            )
        if self.inter_node.nics_per_node > MAX_NICS_PER_GPU * self.gpus_per_node:
            raise ValueError(
                f"inter_node.nics_per_node = {self.inter_node.nics_per_node:,} for "
                f"{self.gpus_per_node} GPUs per node: give at most {MAX_NICS_PER_GPU} per GPU "
                "(the compute NICs, one per GPU on DGX/HGX nodes)"
            )
        return self
