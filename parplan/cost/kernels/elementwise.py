"""Memory-bound bytes of one block per token, forward: eager (one kernel per op) or fused.

Returns (whole, split): `whole` is kept whole on every TP rank without Megatron-SP (residual
stream, norms, casts), `split` is divided by TP (head-split copies, the FFN activation).

Eager (`stack.elementwise: eager`, plain PyTorch):
* DiT blocks as DiT / Latte / Open-Sora / fast-DiT write them, under torch.autocast: LayerNorm
  runs fp32 and the residual stream stays fp32 (PyTorch autocast op reference: layer_norm is an
  fp32 op; mul/add follow type promotion), so per modulated sublayer: LayerNorm r+w d and
  modulate x·(1+s)+b (mul, add: 4d) at 4 bytes; a cast of the GEMM input to 16 bit (r 4 + w e);
  the gate multiplies the 16-bit GEMM output by the 16-bit gate (r+w d at e); the residual add
  reads the fp32 stream and the 16-bit branch and writes fp32 ((4 + e + 4)·d). A cross-attention
  sublayer casts its input and adds its residual. tests/test_elementwise_traffic.py counts
  these bytes op by op on a DiT block.
* GPT blocks: with a GELU MLP (GPT-2 / Megatron / MPT style) LayerNorm r+w d and the residual
  add r 2d + w d at e; with SwiGLU, the Llama reference code (meta-llama/llama3 model.py, as
  torchtitan's eager model): RMSNorm upcasts to fp32 and runs x.float(), pow, mean, x·rsqrt,
  type_as, ·weight as separate kernels ((e + 4) + 8 + 4 + 8 + (4 + e) + 2e bytes per element),
  and rotary embeddings go through complex fp32 (x.float(), complex multiply, type_as: (e + 4)
  + 8 + (4 + e) per q and k element).
* The FFN activation at e: GELU r+w f; SwiGLU silu (r+w f) then multiply (r 2f + w f): 5f.
* Fused attention returns its output tokens-major, so `x.transpose(1, 2).reshape` is a view;
  an unfused (math) attention output is heads-major and that reshape copies it (r+w d at e).

Fused (`stack.elementwise: fused`): each run of memory-bound ops between two GEMM or attention
calls is one kernel that reads its inputs from HBM once and writes what later ops need once
(torch.compile: Inductor fuses pointwise ops and reductions up to its extern kernels; Transformer
Engine and Megatron-Core fuse norm + cast into LayerNormLinear and gate + residual into
bias-dropout-add). A DiT block then moves, per hidden element: the first norm + modulate + cast
r s + w e; at each later modulated sublayer the previous gate + residual and this norm +
modulate + cast, r e (branch) + r s + w s + w e; into a cross-attention sublayer r e + r s + w s
(+ w e for a cast); the last gate + residual r e + r s + w s (tests/test_elementwise_fused.py
counts these boundaries on the traced DiT block). Megatron writes the stream and reads it again
between bias-dropout-add and the next LayerNorm (one more r s per boundary, not counted). The
stream stays 16-bit, as Megatron-Core keeps it (fp32_residual_connection=False by default) and
as FSDP2 with a bf16 param_dtype runs it. GPT: the Megatron count 5d per sublayer (LayerNorm r+w,
bias-dropout-add r 2d + w d); rotary embeddings r+w of q and k (TE's fused RoPE); the FFN
activation in one pass: GELU r+w f, SwiGLU r 2f + w f.
"""

from __future__ import annotations

from parplan.specs import ModelSpec

AUTOCAST_STREAM_BYTES = 4  # fp32 residual stream and norms under torch.autocast
FP32_BYTES = 4
# backward of the memory-bound ops: each reads the incoming gradient and its saved input(s) and
# writes a gradient, plus the broadcast operands' reductions; tests/test_elementwise_traffic.py
# measures 1.89x the forward bytes on a DiT block under autocast
ELEMENTWISE_BWD_OVER_FWD = 2.0
# kernel launches per sublayer: eager norm, modulate (2), GEMM-input cast, gate, residual;
# fused: the pre-GEMM and post-GEMM kernels
KERNELS_PER_SUBLAYER = {"eager": 6, "fused": 2}


def elementwise_bytes_per_token(
    model: ModelSpec,
    *,
    element_bytes: int,
    self_attentions: int,
    cross_attention: bool,
    attention: str = "flash2",
    fused: bool = False,
) -> tuple[float, float]:
    """(whole on every TP rank, split by TP) bytes per token of one block's forward."""
    e, d = element_bytes, model.hidden
    attentions = self_attentions + int(cross_attention)
    copies = 2 * d * e * attentions if attention == "unfused" else 0
    act = ffn_activation_bytes(model, element_bytes=e, fused=fused)
    if model.family == "gpt":
        stream = gpt_stream_bytes(model, element_bytes=e, fused=fused)
        return stream, copies + act + rotary_bytes(model, element_bytes=e, fused=fused)
    modulated, cross = self_attentions + 1, int(cross_attention)
    if fused:
        return dit_fused_bytes(modulated=modulated, cross=cross, s=e, e=e) * d, copies + act
    return dit_eager_bytes(modulated=modulated, cross=cross, s=max(e, AUTOCAST_STREAM_BYTES), e=e) * d, copies + act


def dit_eager_bytes(*, modulated: int, cross: int, s: int, e: int) -> int:
    """Bytes per hidden element of a DiT block's eager ops, stream at s bytes, GEMM inputs at e."""
    cast = s + e if e < s else 0  # one 16-bit copy of a GEMM input taken from the stream
    residual = 2 * s + e
    return modulated * (2 * s + 4 * s + cast + 2 * e + residual) + cross * (cast + residual)


def dit_fused_bytes(*, modulated: int, cross: int, s: int, e: int) -> int:
    """Bytes per hidden element of a DiT block's fused kernels (the boundaries in the docstring)."""
    first, last = s + e, 2 * s + e
    into_modulated = 2 * s + 2 * e
    into_cross = 2 * s + e + (e if e < s else 0)
    return first + (modulated - 1) * into_modulated + cross * into_cross + last


def gpt_stream_bytes(model: ModelSpec, *, element_bytes: int, fused: bool) -> float:
    """Norms and residual adds of a GPT block's two sublayers, per token."""
    e, d = element_bytes, model.hidden
    if fused or model.mlp != "swiglu":
        return 2 * 5 * d * e  # norm r+w, residual r 2d + w d
    rmsnorm = (e + FP32_BYTES) + 2 * FP32_BYTES + FP32_BYTES + 2 * FP32_BYTES + (FP32_BYTES + e) + 2 * e
    return 2 * (rmsnorm + 3 * e) * d


def rotary_bytes(model: ModelSpec, *, element_bytes: int, fused: bool) -> float:
    """Rotary embeddings on q and k per token (SwiGLU GPT blocks: the Llama family)."""
    if model.family != "gpt" or model.mlp != "swiglu":
        return 0.0
    e = element_bytes
    qk = (model.heads + model.n_kv_heads) * model.d_head
    per_element = 2 * e if fused else (e + FP32_BYTES) + 2 * FP32_BYTES + (FP32_BYTES + e)
    return per_element * qk


def ffn_activation_bytes(model: ModelSpec, *, element_bytes: int, fused: bool) -> float:
    """GELU r+w f; SwiGLU fused r 2f + w f, eager silu (r+w f) then multiply (r 2f + w f)."""
    f = model.ffn
    if model.mlp != "swiglu":
        return 2 * f * element_bytes
    return (3 if fused else 5) * f * element_bytes
