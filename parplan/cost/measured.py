"""A kernel table measured on the user's own GPU (`parplan kernels measure`), and the lookups the
cost model makes in it instead of the published tables.

A cluster spec points to one with `kernels: FILE` (docs/spec_extensions.md). The format mirrors
the published tables so that either can stand in the same place:
  attention: kernel, direction, head_dim, q_len, kv_len, causal -> tflops
  gemm:      m, n, k, dtype -> tflops
  block:     block_type, tokens, micro_batch -> fwd_s, bwd_s (one eager block, for checking)
FLOP conventions (FlashAttention's benchmarks, Dao 2023): attention forward 4·b·h·q·kv·d (half
when causal), backward 2.5x that; a GEMM 2·m·n·k. `tflops` = those FLOPs / measured seconds.

Where the cost model meets it: `kernel_table(cluster)` (Device.of stores it on the Device);
`attention_seconds` for every fused attention call (cost/attention.py `_flash`) and
`gemm_flop_per_s` / `mean_gemm_flop_per_s` for GEMMs (cost/device.py `Device.gemm_s`).
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from parplan.errors import SpecError
from parplan.specs import ClusterSpec
from parplan.specs.base import NonNegFloat, PosFloat, PosInt, Spec
from parplan.specs.loading import format_validation_error

ATTENTION_BWD_FLOP_RATIO = 2.5  # FlashAttention benchmark convention: bwd = 2.5 x fwd FLOPs
MeasuredKernel = Literal["flash2", "flash3", "cudnn", "unfused", "efficient"]
SDPA_BACKENDS: dict[str, MeasuredKernel] = {  # torch.nn.attention.SDPBackend -> stack name
    "flash": "flash2",  # PyTorch's flash backend is FlashAttention-2
    "efficient": "efficient",  # memory-efficient (xFormers-style cutlass) kernel
    "cudnn": "cudnn",
    "math": "unfused",
}


class Provenance(Spec):
    device: str
    torch: str
    cuda: str | None = None
    date: str
    command: str
    model: str | None = None
    workload: str | None = None
    dtype: str
    repeats: PosInt
    split: dict[str, int] = Field(default_factory=dict)  # tp, ulysses, ring, micro_batch
    notes: list[str] = Field(default_factory=list)  # kernels that could not run, and why


class GemmRow(Spec):
    name: str = ""  # the model's layer, e.g. "qkv"
    m: PosInt
    n: PosInt
    k: PosInt
    dtype: str
    tflops: PosFloat


class AttentionRow(Spec):
    kernel: MeasuredKernel
    direction: Literal["fwd", "bwd"]
    head_dim: PosInt
    q_len: PosInt
    kv_len: PosInt
    causal: bool = False
    heads: PosInt = 1
    batch: PosInt = 1
    tflops: PosFloat


class BlockRow(Spec):
    block_type: str
    tokens: PosInt
    micro_batch: PosInt = 1
    fwd_s: NonNegFloat
    bwd_s: NonNegFloat


class KernelTable(Spec):
    provenance: Provenance
    gemm: list[GemmRow] = Field(default_factory=list)
    attention: list[AttentionRow] = Field(default_factory=list)
    block: list[BlockRow] = Field(default_factory=list)


# ------------------------------------------------------------------------------ loading


def kernel_table(cluster: ClusterSpec) -> KernelTable | None:
    """The measured table a cluster spec points to (`kernels:`), or None: the one function the
    cost model calls to learn whether measured kernels replace the published ones."""
    return None if cluster.kernels is None else load_kernel_table(cluster.kernels)


def load_kernel_table(path: str | Path) -> KernelTable:
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"kernels: {file} not found; write one with `parplan kernels measure "
                        f"--out {file}` or fix the cluster spec's `kernels:` path")  # fmt: skip
    return _load(str(file.resolve()), file.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _load(path: str, _mtime_ns: int) -> KernelTable:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None
    try:
        return KernelTable.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(path, KernelTable, err)) from None


def dump_kernel_table(table: KernelTable) -> str:
    return yaml.safe_dump(table.model_dump(mode="json"), sort_keys=False)


# ------------------------------------------------------------------------------ lookups


def attention_flop_per_s(
    table: KernelTable, *, kernel: str, direction: str, head_dim: int, q_len: float,
    kv_len: float, causal: bool,
) -> float | None:  # fmt: skip
    """Measured throughput of `kernel` at this shape: rows of the same kernel, direction, head
    dim and causality, and of the nearest q_len/kv_len ratio (self-attention 1, cross-attention
    to a few text tokens far above); linear in log kv_len between the measured lengths, clamped
    at the ends (no extrapolation). None if nothing matches."""
    rows = [r for r in table.attention if (r.kernel, r.direction, r.head_dim, r.causal)
            == (kernel, direction, head_dim, causal)]  # fmt: skip
    if not rows:
        return None
    aspect = math.log(q_len / kv_len)
    nearest = min({math.log(r.q_len / r.kv_len) for r in rows}, key=lambda a: abs(a - aspect))
    points = sorted((math.log(r.kv_len), r.tflops) for r in rows
                    if math.log(r.q_len / r.kv_len) == nearest)  # fmt: skip
    return _interpolate(points, math.log(kv_len)) * 1e12


def attention_seconds(
    table: KernelTable, *, kernel: str, head_dim: int, q_len: float, kv_len: float, causal: bool,
    flops: float,
) -> tuple[float, float] | None:  # fmt: skip
    """(forward, backward) seconds of `flops` forward attention FLOPs at measured rates."""
    shape = dict(kernel=kernel, head_dim=head_dim, q_len=q_len, kv_len=kv_len, causal=causal)
    fwd = attention_flop_per_s(table, direction="fwd", **shape)
    bwd = attention_flop_per_s(table, direction="bwd", **shape)
    if fwd is None or bwd is None:
        return None
    return flops / fwd, ATTENTION_BWD_FLOP_RATIO * flops / bwd


def gemm_flop_per_s(table: KernelTable, *, m: int, n: int, k: int, dtype: str) -> float | None:
    """Measured rate of the nearest measured GEMM shape of `dtype` (distance in log m, n, k)."""
    rows = [r for r in table.gemm if r.dtype == dtype]
    if not rows:
        return None
    nearest = min(rows, key=lambda r: sum(math.log(a / b) ** 2
                                         for a, b in ((r.m, m), (r.n, n), (r.k, k))))  # fmt: skip
    return nearest.tflops * 1e12


def mean_gemm_flop_per_s(table: KernelTable, *, dtype: str) -> float | None:
    """The rate of running every measured GEMM of `dtype` once: total FLOPs / total seconds
    (the cost model costs a block's GEMMs as one FLOP count until it lists their shapes)."""
    rows = [r for r in table.gemm if r.dtype == dtype]
    if not rows:
        return None
    flops = [2.0 * r.m * r.n * r.k for r in rows]
    seconds = sum(f / (r.tflops * 1e12) for f, r in zip(flops, rows, strict=True))
    return sum(flops) / seconds


def _interpolate(points: list[tuple[float, float]], x: float) -> float:
    xs = [p[0] for p in points]
    i = bisect.bisect_left(xs, x)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
