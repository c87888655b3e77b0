"""Memory per GPU: model states by ZeRO stage and TP/PP sharding, activations by checkpoint mode.

Model states (Rajbhandari et al. 2020, ZeRO §3): mixed precision keeps 2 (weights) + 2 (grads)
+ 12 (fp32 master, Adam m and v) bytes per parameter; fp32 training 4 + 4 + 8. ZeRO-1 shards the
optimizer states, ZeRO-2 also the gradients, ZeRO-3 also the weights, over the dp×sp group.

Activations (Korthikanti et al. 2022, arXiv 2205.05198 §4, Table 2) are what the block's anatomy
says its ops keep for backward (parplan/model/traffic.py `saved_elements`), at the activation
precision, with flash attention (no s² score matrix; an unfused kernel adds Korthikanti's
5as²b, or as²b·e without dropout, split by TP and SP and dropped by selective recompute). In
units of X = b·s·h·e:
* whole on every TP rank under plain TP (split by TP only with Megatron-SP): each norm's input,
  each sublayer's GEMM input and each adaLN gate's branch output: 3X per modulated DiT sublayer,
  2X per GPT sublayer (LayerNorm input and output), 1X for a PixArt-style cross-attention
  (no norm, no gate: its query projection's input);
* split by TP: Q, K, V and the attention output (2X + 2X_kv) per self-attention; Q, O and the
  text K/V per cross-attention; the FFN activation's input and FC2's input, (2 or 3 for
  SwiGLU) × ffn/h · X.
Everything is split by the SP degree. Checkpoint modes: `none` keeps all of it; `selective`
recomputes the attention core, so the attention output is not kept; `full` keeps only the block
input and recomputes the rest. During a block's backward one block's worth of activation-sized
buffers is live on top (its recomputed activations, or the gradients of its activations).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.traffic import SavedElements
from parplan.specs import GIB

STATE_BYTES_PER_PARAM = {  # (weights, grads, optimizer states)
    "mixed": (2, 2, 12),
    "fp32": (4, 4, 8),
}
ALLOCATOR_FIXED_BYTES = 1.0 * GIB  # CUDA context + NCCL communicators (~0.5-1 GiB per process)
ALLOCATOR_FRACTION = 0.05  # caching-allocator fragmentation on top of live tensors


class ModelStates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float


def model_state_bytes(*, params_per_gpu: float, precision: str, zero: int, shard_group: int) -> ModelStates:
    """Weights, grads and optimizer bytes on one GPU (before ZeRO-3's per-layer gathers)."""
    w, g, o = STATE_BYTES_PER_PARAM["fp32" if precision == "fp32" else "mixed"]
    n = params_per_gpu
    return ModelStates(
        weights_bytes=n * w / (shard_group if zero >= 3 else 1),
        grads_bytes=n * g / (shard_group if zero >= 2 else 1),
        optimizer_bytes=n * o / (shard_group if zero >= 1 else 1),
    )


class ActivationTerms(BaseModel):
    """Per-block activation bytes for one micro-batch before TP/SP division."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicated_bytes: float  # split by TP only with Megatron-SP
    sharded_bytes: float  # split by TP
    attention_out_bytes: float  # part of sharded_bytes dropped by selective recompute
    scores_bytes: float = 0.0  # part of sharded_bytes: unfused attention's stored s x s tensors
    input_bytes: float  # the block input (kept under full recompute)


def activation_terms(
    *, saved: SavedElements, micro_batch: int, element_bytes: int, input_bytes: float,
    scores_bytes: float = 0.0,
) -> ActivationTerms:  # fmt: skip
    """One block's saved activations (its anatomy's, parplan/model/traffic.py) in bytes for one
    micro-batch, at the activation precision."""
    unit = micro_batch * element_bytes
    return ActivationTerms(
        replicated_bytes=float(saved.whole * unit),
        sharded_bytes=float(saved.split * unit) + scores_bytes,
        attention_out_bytes=float(saved.attention_out * unit),
        scores_bytes=scores_bytes,
        input_bytes=input_bytes,
    )


def kept_activation_bytes(terms: ActivationTerms, *, ckpt: str, tp: int, sp: int, megatron_sp: bool) -> float:
    """Bytes one block keeps for its backward under `ckpt`, on one GPU."""
    rep_div = tp * sp if megatron_sp else sp
    if ckpt == "full":
        return terms.input_bytes / rep_div
    full = terms.replicated_bytes / rep_div + terms.sharded_bytes / (tp * sp)
    if ckpt == "selective":
        return full - (terms.attention_out_bytes + terms.scores_bytes) / (tp * sp)
    return full


def working_activation_bytes(terms: ActivationTerms, *, tp: int, sp: int, megatron_sp: bool) -> float:
    """One block's activations live during its backward (recomputed or kept)."""
    return kept_activation_bytes(terms, ckpt="none", tp=tp, sp=sp, megatron_sp=megatron_sp)


def allocator_margin_bytes(live_bytes: float) -> float:
    return ALLOCATOR_FIXED_BYTES + ALLOCATOR_FRACTION * live_bytes
