"""Each block type once, as its operators (parplan/model/anatomy.py says what the records mean).

Formulas and sources: ../shared/reference/model_notes.md §2 (parameters: DiT §2.1, PixArt
cross-attention and adaLN-single §2.3, MM-DiT and FLUX single-stream §2.4, Mochi §2.5,
qk-norm §2.3) and §4 (FLOPs); Megatron-LM's GPT layer (Shoeybi et al. 2019 §3 for the TP
roles; Narayanan et al. 2021 eq. 3 for the FLOPs). The memory-bound ops between them (norms,
modulation, casts, gates, residuals, activations, qk-norm, rotary) are written in
parplan/model/pointwise.py, as the code of each family runs them.
Saved activations follow Korthikanti et al. 2022 (arXiv 2205.05198) §4 Table 2 with adaLN's
gated branch output added: a norm keeps its input, a linear its input, the attention core Q, K,
V and its output, the FFN activation its input, a gate its GEMM operand (all at the activation
precision; docs/models.md "Block anatomy" lists what this leaves out).
Adding a block type: one builder below and one entry in `BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from parplan.model.anatomy import (
    AttentionCall,
    BlockAnatomy,
    Linear,
    Over,
    ParamTensor,
    Stream,
    Sublayer,
    identity_memo,
)
from parplan.model.options import QkNorm, arch_options, dims, is_parallel_full, norm_params
from parplan.model.pointwise import (
    Ctx,
    activation,
    layout_copy,
    op,
    post_ops,
    pre_ops,
    qk_ops,
)
from parplan.specs import ModelSpec

# ------------------------------------------------------------------------- sublayers


def qk_norm_params(kind: QkNorm, *, head_dim: int, hidden: int) -> tuple[ParamTensor, ...]:
    """model_notes §2.3: RMSNorm(hd) 2hd, LayerNorm(hd) 4hd, RMSNorm(d) 2d (q and k); its
    memory-bound ops: `qk_ops`."""
    numel = {"none": 0, "rms_head": 2 * head_dim, "ln_head": 4 * head_dim,
             "rms_across": 2 * hidden, "ln_across": 4 * hidden}[kind]  # fmt: skip
    return (ParamTensor(name="qk_norm", numel=numel),) if numel else ()


def qkv_linear(c: Ctx, stream: Stream, width: int) -> Linear:
    """Fused q, k, v projection (GQA: kv_heads), column-parallel."""
    dm = c.dm
    return Linear(
        name="qkv", stream=stream, in_features=width, out_features=dm.q_out + 2 * dm.kv_out,
        bias=c.opts.qkv_bias, tp="column", role="qkv",
        parts=(("q", dm.q_out), ("k", dm.kv_out), ("v", dm.kv_out)),
    )  # fmt: skip


def out_linear(c: Ctx, stream: Stream, width: int) -> Linear:
    """Out-projection, row-parallel; its input is the attention output the core already keeps."""
    return Linear(name="out", stream=stream, in_features=c.dm.q_out, out_features=width,
                  bias=c.opts.out_bias, tp="row", role="out", saves_input=False)  # fmt: skip


def self_call(c: Ctx, *, over: Over, kind: str = "self", causal: bool = False) -> AttentionCall:
    dm = c.dm
    return AttentionCall(name="attention", kind=kind, over=over, heads=dm.heads,
                         kv_heads=dm.kv_heads, head_dim=dm.head_dim, causal=causal)  # fmt: skip


def attention_sublayer(
    c: Ctx, *, name: str, stream: Stream, over: Over, causal: bool = False
) -> Sublayer:
    """(modulated) norm -> QKV -> (qk-norm, rope) -> attention -> out-proj -> (gate) + residual."""
    dm, call = c.dm, self_call(c, over=over, causal=causal)
    qk = qk_ops(c, c.opts.qk_norm, q=(stream, dm.q_out), k=(stream, dm.kv_out),
                rope=(call.q_stream, dm.q_out, dm.kv_out))  # fmt: skip
    steps = (*pre_ops(c, stream, dm.d), qkv_linear(c, stream, dm.d), *qk, call,
             layout_copy(call.q_stream, dm.q_out), out_linear(c, stream, dm.d),
             *post_ops(c, stream, dm.d, "out"))  # fmt: skip
    return Sublayer(name=name, steps=steps,
                    params=qk_norm_params(c.opts.qk_norm, head_dim=dm.head_dim, hidden=dm.d))  # fmt: skip


def cross_sublayer(c: Ctx, stream: Stream) -> Sublayer:
    """PixArt-α §2.3: x + CrossAttn(x, text): q and out on the N tokens (`stream`: the block's
    residual stream, N rows when a block has cross-attention), k, v on the M text tokens already
    projected to width d (their input is the model's text, kept once for all blocks). No norm,
    no gate: the input's 16-bit copy and the residual add."""
    dm, o = c.dm, c.opts
    q = Linear(name="q", stream=stream, in_features=dm.d, out_features=dm.q_out,
               bias=o.qkv_bias, tp="column", role="q")  # fmt: skip
    kv = Linear(name="kv", stream="text", in_features=dm.d, out_features=2 * dm.q_out,
                bias=o.qkv_bias, tp="column", role="kv",
                parts=(("k", dm.q_out), ("v", dm.q_out)), saves_input=False)  # fmt: skip
    call = AttentionCall(name="attention", kind="cross", over="text", heads=dm.heads,
                         kv_heads=dm.heads, head_dim=dm.head_dim, stream=stream)  # fmt: skip
    kind = o.cross_qk_norm or o.qk_norm
    qk = qk_ops(c, kind, q=(stream, dm.q_out), k=("text", dm.q_out), rope=None)
    steps = (*pre_ops(c, stream, dm.d, norm=False), q, kv, *qk, call,
             layout_copy(stream, dm.q_out), out_linear(c, stream, dm.d),
             *post_ops(c, stream, dm.d, "out", gate=False))  # fmt: skip
    params = qk_norm_params(kind, head_dim=dm.head_dim, hidden=dm.d)
    return Sublayer(name="cross", steps=steps, params=params)


def fc1_linear(c: Ctx, stream: Stream, width: int, ffn: int) -> Linear:
    """GELU: Lin(d, f); SwiGLU: gate and up fused, Lin(d, 2f) (model_notes §2.5)."""
    parts = (("gate", ffn), ("up", ffn)) if c.dm.swiglu else ()
    return Linear(name="fc1", stream=stream, in_features=width, out_features=ffn * (1 + c.dm.swiglu),
                  bias=c.opts.ffn_bias, tp="column", role="fc1", parts=parts)  # fmt: skip


def mlp_sublayer(c: Ctx, *, name: str, stream: Stream, width: int, ffn: int) -> Sublayer:
    fc2 = Linear(name="fc2", stream=stream, in_features=ffn, out_features=width,
                 bias=c.opts.ffn_bias, tp="row", role="fc2")  # fmt: skip
    steps = (*pre_ops(c, stream, width), fc1_linear(c, stream, width, ffn),
             *activation(c, stream, ffn), fc2, *post_ops(c, stream, width, "fc2"))  # fmt: skip
    return Sublayer(name=name, steps=steps)


def modulation_sublayer(
    c: Ctx, *, width: int, chunks: int, linears: int = 1, name: str = "modulation"
) -> tuple[Sublayer, ...]:
    """adaLN: per_block Lin(mod_in, chunks·width) once per sample (DiT adaLN-Zero; CogVideoX's
    expert adaLN has two), single: a chunks·width table (PixArt/Wan adaLN-single), none."""
    if c.opts.modulation == "per_block":
        lins = tuple(
            Linear(name=f"linear{i or ''}", stream="sample", in_features=c.dm.mod_in,
                   out_features=chunks * width, bias=True, tp="replicated", role="modulation",
                   saves_input=False)
            for i in range(linears)
        )  # fmt: skip
        return (Sublayer(name=name, steps=lins),)
    if c.opts.modulation == "single":
        return (Sublayer(name=name, params=(ParamTensor(name="table", numel=chunks * width),)),)
    return ()


def affine_norms(c: Ctx, *, count: int) -> tuple[ParamTensor, ...]:
    numel = norm_params(count=count, width=c.dm.d, norm=c.opts.norm)
    return (ParamTensor(name="norms", numel=numel),) if numel else ()


# ------------------------------------------------------------------------- block types


def standard_block(c: Ctx, block_type: str) -> BlockAnatomy:
    """`full`/`spatial`/`temporal`: self-attention (+ cross-attention) + MLP, adaLN (§2.1, §2.3);
    `spatial_temporal` (STDiT): a spatial and a temporal self-attention, one cross, one MLP."""
    o, d = c.opts, c.dm.d
    stream: Stream = "sequence" if block_type == "full" else "visual"
    overs = {"full": ("sequence",), "spatial": ("frames",), "temporal": ("positions",),
             "spatial_temporal": ("frames", "positions")}[block_type]  # fmt: skip
    names = ("attn", "attn_temporal")
    subs = [*modulation_sublayer(c, width=d, chunks=o.modulation_chunks, linears=o.modulation_linears)]
    subs += [attention_sublayer(c, name=names[i], stream=stream, over=over)
             for i, over in enumerate(overs)]  # fmt: skip
    if c.model.cross_attention:
        subs.append(cross_sublayer(c, stream))
    subs.append(mlp_sublayer(c, name="mlp", stream=stream, width=d, ffn=c.dm.ffn))
    return BlockAnatomy(block_type=block_type, sublayers=tuple(subs),
                        params=affine_norms(c, count=o.affine_norms_per_block))  # fmt: skip


def parallel_block(c: Ctx, block_type: str) -> BlockAnatomy:
    """FLUX single-stream block (model_notes §2.4; black-forest-labs/flux SingleStreamBlock,
    HunyuanVideo hyvideo/modules/models.py MMSingleStreamBlock): one modulated norm feeds
    linear1 = [q, k, v, mlp] fused (one bias, set by qkv_bias); attention and GELU outputs are
    concatenated (a copy) into linear2 = Lin(d + f, d); one gate, one residual; modulation
    Lin(d, 3d)."""
    dm, o, stream = c.dm, c.opts, "sequence"
    qkv = qkv_linear(c, stream, dm.d)
    mlp = fc1_linear(c, stream, dm.d, dm.ffn)
    mlp_parts = mlp.parts or (("mlp", mlp.out_features),)
    linear1 = qkv.model_copy(update={"name": "linear1", "parts": qkv.parts + mlp_parts,
                                     "out_features": qkv.out_features + mlp.out_features})  # fmt: skip
    linear2 = Linear(name="linear2", stream=stream, in_features=dm.q_out + dm.ffn,
                     out_features=dm.d, bias=o.out_bias or o.ffn_bias, tp="row", role="out")  # fmt: skip
    concat = op("concat", "copy", stream, dm.q_out + dm.ffn,
                 (("attention", "act", dm.q_out), ("a", "act", dm.ffn)), (("cat", "act"),),
                 tp_split=True)  # fmt: skip
    call = self_call(c, over=stream)
    qk = qk_ops(c, o.qk_norm, q=(stream, dm.q_out), k=(stream, dm.kv_out),
                rope=(stream, dm.q_out, dm.kv_out))  # fmt: skip
    steps = (*pre_ops(c, stream, dm.d), linear1, *qk, call, layout_copy(stream, dm.q_out),
             *activation(c, stream, dm.ffn, source="mlp"),
             concat, linear2, *post_ops(c, stream, dm.d, "linear2"))  # fmt: skip
    single = Sublayer(name="single", steps=steps,
                      params=qk_norm_params(o.qk_norm, head_dim=dm.head_dim, hidden=dm.d))  # fmt: skip
    mod = modulation_sublayer(c, width=dm.d, chunks=o.single_modulation_chunks)
    return BlockAnatomy(block_type=block_type, sublayers=(*mod, single))


def mmdit_stream(c: Ctx, *, prefix: str, stream: Stream, width: int, ffn: int,
                 pre_only: bool = False) -> tuple[Sublayer, ...]:  # fmt: skip
    """One stream of a double block (§2.4; Mochi §2.5: a narrower text stream): modulation,
    QKV into the joint attention, out-proj, FFN. pre_only: modulation + QKV (SD3/Mochi last)."""
    o, dm = c.opts, c.dm
    chunks = o.context_pre_only_modulation_chunks if pre_only else o.modulation_chunks
    mod = modulation_sublayer(c, width=width, chunks=chunks, name=f"{prefix}modulation")
    params = qk_norm_params(o.qk_norm, head_dim=dm.head_dim, hidden=dm.d)
    call = () if prefix else (self_call(c, over="sequence", kind="joint"),)
    # rotary runs on the joint sequence (FLUX / Open-Sora 2.0 `attention(q, k, v, pe)`)
    qk = qk_ops(c, o.qk_norm, q=(stream, dm.q_out), k=(stream, dm.kv_out),
                rope=("sequence", dm.q_out, dm.kv_out) if call else None)  # fmt: skip
    head = (*pre_ops(c, stream, width), qkv_linear(c, stream, width), *qk)
    if pre_only:
        return (*mod, Sublayer(name=f"{prefix}attn", steps=head, params=params))
    copy = (layout_copy("sequence", dm.q_out),) if call else ()
    steps = (*head, *call, *copy, out_linear(c, stream, width), *post_ops(c, stream, width, "out"))
    attn = Sublayer(name=f"{prefix}attn", steps=steps, params=params)
    return (*mod, attn, mlp_sublayer(c, name=f"{prefix}mlp", stream=stream, width=width, ffn=ffn))


def mmdit_block(c: Ctx, block_type: str, *, pre_only: bool = False) -> BlockAnatomy:
    """MM-DiT double block: image stream on the N tokens, text stream on the M text tokens, one
    joint attention over N + M (SD3, FLUX, HunyuanVideo double-stream)."""
    dm = c.dm
    image = mmdit_stream(c, prefix="", stream="visual", width=dm.d, ffn=dm.ffn)
    text = mmdit_stream(c, prefix="text_", stream="text", width=dm.text_d, ffn=dm.text_ffn,
                        pre_only=pre_only)  # fmt: skip
    return BlockAnatomy(block_type=block_type, sublayers=(*image, *text),
                        params=affine_norms(c, count=c.opts.affine_norms_per_block))  # fmt: skip


def causal_block(c: Ctx, block_type: str) -> BlockAnatomy:
    """GPT layer: 2 affine LayerNorms + causal attention (GQA) + MLP (Megatron-LM)."""
    d = c.dm.d
    attn = attention_sublayer(c, name="attn", stream="sequence", over="sequence", causal=True)
    mlp = mlp_sublayer(c, name="mlp", stream="sequence", width=d, ffn=c.dm.ffn)
    return BlockAnatomy(block_type=block_type, sublayers=(attn, mlp), params=affine_norms(c, count=2))


BUILDERS: dict[str, Callable[[Ctx, str], BlockAnatomy]] = {
    "full": standard_block,
    "spatial": standard_block,
    "temporal": standard_block,
    "spatial_temporal": standard_block,
    "mmdit": mmdit_block,
    "causal": causal_block,
}


@identity_memo
def block_anatomy(model: ModelSpec, block_type: str, *, pre_only: bool = False) -> BlockAnatomy:
    """The operators of one block of `block_type` (pre_only: an MM-DiT block whose text stream
    stops after QKV, the last block of SD3 and Mochi). Built once per model object."""
    opts = arch_options(model)
    c = Ctx(model=model, opts=opts, dm=dims(model, opts))
    if block_type == "mmdit":
        return mmdit_block(c, block_type, pre_only=pre_only)
    if block_type == "full" and is_parallel_full(model, opts):
        return parallel_block(c, block_type)
    return BUILDERS[block_type](c, block_type)


def clear_cache() -> None:
    """Forget built anatomies (after changing `BUILDERS`)."""
    block_anatomy.cache_clear()  # type: ignore[attr-defined]
