"""What hides behind what: the exposed part of each collective (docs/cost_model.md, table).

Rules per strategy: ring P2P steps hide behind the blockwise attention of the block present;
Megatron-SP's all-gathers and reduce-scatters behind their GEMMs when the stack overlaps them;
FastSeq's gather ring behind the QKV GEMM; Ulysses' backward all-to-alls behind the QKV weight
gradient; ZeRO-3 gathers behind the previous block; DP/ZeRO step collectives behind the last
backward in per-layer buckets. Everything else is exposed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_model import CallTime
from parplan.cost.attention import FLASH_BWD_OVER_FWD
from parplan.cost.block import GEMM_BWD_OVER_FWD, ComputeParts, Inputs


class Exposed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timed: CallTime
    exposed_s: float  # per micro-batch (or per step for phase "step")


def exposed_seconds(timed: CallTime, parts: ComputeParts, inp: Inputs) -> float:
    """What the step waits for, per the strategy's overlap rule (docs/cost_model.md)."""
    call, t = timed.call, timed.time_s
    label, bwd = call.label, call.phase == "bwd"
    if label.startswith("ring."):
        # each step hides behind the blockwise attention of the K/V block present; in backward
        # the K/V and dK/dV records travel together and share that window
        attention = parts.self_attention_s * (FLASH_BWD_OVER_FWD * 0.5 if bwd else 1.0)
        per_step_compute = attention / max(call.count, 1) / max(inp.strategy.ring_degree, 1)
        per_step_comm = t / max(call.steps * call.count, 1)
        return call.count * call.steps * max(0.0, per_step_comm - per_step_compute)
    if label == "fastseq.gather_x":
        return max(0.0, t - parts.qkv_gemm_s * call.count)
    if label == "fastseq.reduce_scatter_dx":
        return max(0.0, t - GEMM_BWD_OVER_FWD * parts.qkv_gemm_s * call.count)
    if label.startswith("ulysses.") and bwd:
        # dq/dk/dv all-to-alls overlap the QKV weight-gradient GEMM (DeepSpeed sp_stream)
        return max(0.0, t - parts.qkv_gemm_s * _share(label))
    if label in _TP_OVERLAPPED and inp.strategy.stack.tp_comm_overlap:
        return _tp_overlap_exposed(t, parts, label=label, bwd=bwd, degree=inp.strategy.tp)
    if label.startswith("zero3."):
        window = parts.bwd_s if bwd else parts.fwd_s  # prefetch behind the previous block
        return max(0.0, t - window)
    return t


_TP_OVERLAPPED = ("tp.ag", "tp.rs")  # plain TP's all-reduce: TE has no decomposition, exposed


def _tp_overlap_exposed(t: float, parts: ComputeParts, *, label: str, bwd: bool, degree: int) -> float:
    """Megatron-Core --tp-comm-overlap (Transformer Engine userbuffers; Wang et al. 2023,
    "Overlap communication with dependent computation via decomposition", ASPLOS): the
    all-gather before a column-parallel GEMM and the reduce-scatter after a row-parallel GEMM are
    split into `degree` chunks exchanged around the ring while the GEMM works on the chunk
    already present. With n chunks, n - 1 of them travel behind n - 1 GEMM chunks, so
    exposed = max(0, comm - (n - 1)/n · GEMM). In backward the dgrad and wgrad GEMMs (2x the
    forward) are the window."""
    share = parts.column_gemm_share if label == "tp.ag" else 1.0 - parts.column_gemm_share
    window = parts.gemm_s * share * (GEMM_BWD_OVER_FWD if bwd else 1.0)
    return max(0.0, t - window * (degree - 1) / degree)


def _share(label: str) -> float:
    """Split the QKV wgrad window between the two Ulysses call records."""
    return 0.5 if label in ("ulysses.q+out", "ulysses.kv") else 1.0


def step_exposed(timed: CallTime, *, window_s: float, buckets: int) -> float:
    """DP/ZeRO step collectives overlap a compute window in the buckets their implementation
    issues (strategies/zero_impl.py); the last bucket is always exposed (PyTorch DDP / Megatron
    overlap-grad-reduce, Li et al. 2020)."""
    return max(timed.time_s / max(buckets, 1), timed.time_s - window_s)
