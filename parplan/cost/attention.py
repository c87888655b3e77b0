"""Seconds of one attention call on one GPU for one micro-batch: fused (flash) or unfused.

Fused (flash2: FlashAttention-2 / PyTorch SDPA's flash backend; flash3: FlashAttention-3;
cudnn: cuDNN fused attention, Transformer Engine's choice on Hopper): one kernel forward, one
main kernel backward; the s x s scores live in SRAM only. Timed from the published kernel table
(kernels/attention_table.py: throughput by architecture, kernel, direction, padded head dim,
length and causal), never below the HBM traffic of its operands.

Unfused (Megatron-LM `CoreAttention` before FlashAttention, megatron/model/transformer.py 2021-22:
baddbmm -> FusedScaleMaskSoftmax -> dropout -> bmm; PyTorch's math SDPA without the dropout):
the scores make round trips through HBM. Every score element costs, in bytes of 16-bit
element e (mask 1 byte):
  forward  QK^T writes e; softmax reads e, writes e; dropout reads e, writes e + mask; AV reads e.
  backward dP = dO V^T writes e; dV = P^T dO reads e; dropout bwd reads e + mask, writes e;
           softmax bwd reads y and dy, writes e; dQ = dS K and dK = dS^T Q read e each.
The four batched GEMMs run on the roofline with their score traffic (QK^T at head dim 128 is
memory-bound on A100: 2·d FLOP per e bytes written is below the ridge). The whole s x s matrix
is computed even under a causal mask (masked, not skipped), so causal FLOPs are not halved.
Korthikanti et al. 2022 (arXiv 2205.05198) §4.1 count the same tensors as activations: 2as²b
softmax output, as²b dropout mask, 2as²b dropout output.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from parplan.cost.device import Device
from parplan.cost.kernels.attention_table import BWD_OVER_FWD, DIRECTION_FLOPS, attention_fraction
from parplan.cost.measured import attention_seconds
from parplan.model.flops import AttentionShape
from parplan.specs import StackSpec

FLASH_BWD_OVER_FWD = BWD_OVER_FWD  # backward FLOPs: 5 matmuls vs 2 forward (Dao 2023 §3.1.2)
LSE_BYTES = 4  # fp32 log-sum-exp per query row, written forward, read backward
# backward launches: dot(dO, O) pre-pass, the main kernel, dQ's fp32 -> 16-bit conversion
# (Dao-AILab/flash-attention csrc/flash_attn/src/flash_bwd_launch_template.h)
FUSED_BWD_KERNELS = 3
MASK_BYTES = 1  # torch.bool dropout mask
ACCUMULATOR_BYTES = 4  # ring attention accumulates out, dq, dk, dv in fp32


class AttentionTime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fwd_s: float
    bwd_s: float


class Split(BaseModel):
    """How one attention call is divided over the GPUs of a block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    micro_batch: int
    gpus: int  # tp * sp: heads and/or sequence split this many ways
    ring: int  # ring degree: K/V arrive in this many blocks
    element_bytes: int


def attention_time(a: AttentionShape, split: Split, device: Device, stack: StackSpec) -> AttentionTime:
    if stack.attention == "unfused":
        return _unfused(a, split, device, dropout=stack.attention_dropout)
    return _fused(a, split, device, kernel=stack.attention)


def score_elements(a: AttentionShape, split: Split) -> float:
    """Score-matrix elements of one call on one GPU (the whole s x s, causal or not)."""
    return split.micro_batch * a.score_elements / split.gpus


def score_bytes_per_element(*, element_bytes: int, dropout: bool) -> int:
    """Kept for backward per score element: the softmax output, plus the dropout mask and
    output when dropout is on (Korthikanti 2022 §4.1: 5as²b bytes at e = 2)."""
    return 2 * element_bytes + MASK_BYTES if dropout else element_bytes


def _fused(a: AttentionShape, split: Split, device: Device, *, kernel: str) -> AttentionTime:
    """One fused kernel per ring step on this GPU's (batch x head) problems, forward and backward;
    ring attention adds its fp32 merges (ring_merge_bytes)."""
    measured = _measured_flash(a, split, device, kernel)
    if measured is not None:
        fwd, bwd = measured
    else:
        fwd = split.ring * _fused_step(a, split, device, kernel=kernel, direction="fwd")
        bwd = split.ring * _fused_step(a, split, device, kernel=kernel, direction="bwd")
    if split.ring == 1:
        return AttentionTime(fwd_s=fwd, bwd_s=bwd)
    fwd_merge, bwd_merge = ring_merge_bytes(a, split)
    kernels = split.ring + 1
    return AttentionTime(
        fwd_s=fwd + device.memory_bound_s(bytes_moved=fwd_merge, kernels=kernels),
        bwd_s=bwd + device.memory_bound_s(bytes_moved=bwd_merge, kernels=3 * kernels),
    )


def _measured_flash(a: AttentionShape, split: Split, device: Device, kernel: str) -> tuple[float, float] | None:
    """The cluster's measured table (cost/measured.py) at this call's shape: the ring's K/V
    blocks are kv_len/ring long; the measured rate already holds head-dim padding."""
    if device.kernels is None:
        return None
    return attention_seconds(
        device.kernels, kernel=kernel, head_dim=a.head_dim, q_len=a.q_len,
        kv_len=max(a.kv_len / split.ring, 1.0), causal=a.causal,
        flops=a.flops * split.micro_batch / split.gpus,
    )  # fmt: skip


def _fused_step(a: AttentionShape, split: Split, device: Device, *, kernel: str, direction: str) -> float:
    """Seconds of one fused kernel over the (batch x head) problems this GPU holds, with a ring
    step's q_len / ring queries and kv_len / ring keys. HBM floor: forward reads Q, K, V and
    writes O and the LSE; backward reads Q, K, V, O, dO and the LSE, writes dQ, dK, dV."""
    problems = split.micro_batch * a.sequences * a.heads * split.ring / split.gpus
    q, kv = math.ceil(a.q_len / split.ring), math.ceil(a.kv_len / split.ring)
    if device.attention_table:
        fraction, head_dim = attention_fraction(arch=device.arch, kernel=kernel, direction=direction,
                                                causal=a.causal, head_dim=a.head_dim, q_len=q, kv_len=kv)  # fmt: skip
    else:
        fraction, head_dim = device.eff.attention_max, a.head_dim
    flops = problems * DIRECTION_FLOPS[direction] * 4.0 * q * kv * head_dim / (2 if a.causal else 1)
    kernels = 1 if direction == "fwd" else FUSED_BWD_KERNELS
    bytes_moved = fused_step_bytes(a, split, direction=direction)
    return device.attention_s(flops=flops, fraction=fraction, bytes_moved=bytes_moved, kernels=kernels)


def fused_step_bytes(a: AttentionShape, split: Split, *, direction: str) -> float:
    """HBM floor of one fused kernel (one ring step) on one GPU: per (batch x head) problem,
    (Q, O) or (Q, O, dO, dQ) rows of the queries, K, V (and dK, dV) rows of the keys at the
    K/V heads' share, and the fp32 log-sum-exp per query."""
    problems = split.micro_batch * a.sequences * a.heads * split.ring / split.gpus
    q, kv = math.ceil(a.q_len / split.ring), math.ceil(a.kv_len / split.ring)
    passes = 2 if direction == "fwd" else 4
    rows = q + kv * a.kv_heads / a.heads
    return problems * (passes * rows * a.head_dim * split.element_bytes + LSE_BYTES * q)


def ring_merge_bytes(a: AttentionShape, split: Split) -> tuple[float, float]:
    """HBM bytes (forward, backward) of ring attention's per-step merges on one GPU, beside the
    blockwise flash kernels (zhuzilin/ring-flash-attention and yunchang/ring,
    ring_flash_attn.py and utils.py). The accumulators are fp32: forward, the output and its
    log-sum-exp (`update_out_and_lse`, one TorchScript-fused kernel per step after the first:
    read the fp32 output and the e-byte block output, write the fp32 output); backward, dq, dk
    and dv (`dq += block_dq`, `dk = block_dk + next_dk`: the same r 4 + r e + w 4). The first
    step casts the e-byte block to fp32 and the end casts back: (e + 4) each."""
    e, per_gpu = split.element_bytes, split.micro_batch * a.sequences * a.head_dim / split.gpus
    q_elems, kv_elems = per_gpu * a.q_len * a.heads, per_gpu * a.kv_len * a.kv_heads
    per_element = 2 * (e + ACCUMULATOR_BYTES) + (split.ring - 1) * (2 * ACCUMULATOR_BYTES + e)
    return q_elems * per_element, (q_elems + 2 * kv_elems) * per_element


def _unfused(a: AttentionShape, split: Split, device: Device, *, dropout: bool) -> AttentionTime:
    e = split.element_bytes
    elems = score_elements(a, split)
    matmul_flops = 2.0 * elems * a.head_dim  # one of QK^T, AV, dP, dV, dQ, dK
    # q and the output at the query heads, k and v at the K/V heads (GQA)
    operand_bytes = split.micro_batch * a.sequences * a.head_dim * e * (
        a.q_len * a.heads + a.kv_len * a.kv_heads
    )
    matmul_s = device.for_attention().gemm_s(
        flops=matmul_flops, bytes_moved=elems * e + operand_bytes / split.gpus, kernels=1
    )
    drop = 2 * e + MASK_BYTES if dropout else 0
    fwd_passes = 2 * e + drop  # softmax r+w, dropout r+w+mask
    bwd_passes = 3 * e + drop  # softmax bwd r y, r dy, w; dropout bwd r, r mask, w
    kernels = 1 + int(dropout)
    fwd = 2 * matmul_s + device.memory_bound_s(bytes_moved=elems * fwd_passes, kernels=kernels)
    bwd = 4 * matmul_s + device.memory_bound_s(bytes_moved=elems * bwd_passes, kernels=kernels)
    return AttentionTime(fwd_s=fwd, bwd_s=bwd)
