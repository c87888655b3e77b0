"""Exact trainable-parameter counts of DiT-family models (and GPT baselines) from a ModelSpec.

A plain SPEC_FORMAT model is counted as a DiT (adaLN-Zero per block, class-label embedder,
learn-sigma output). The many ways real models differ (modulation placement, caption projection,
qk-norm, biases...) are switches in `ModelSpec.extras`, parsed here into `ArchOptions`
(docs/spec_extensions.md). Formulas: ../shared/reference/model_notes.md §2, sub-section named at
each function. `Lin(i, o) = i*o (+ o with bias)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from parplan.specs import ModelSpec, parse_spec

QkNorm = Literal["none", "rms_head", "ln_head", "rms_across", "ln_across"]


class ArchOptions(BaseModel):
    """Extension keys of `ModelSpec.extras` (docs/spec_extensions.md); None = derived default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # conditioning embedders
    label_classes: int | None = None  # class-label table rows-1 (DiT: 1000 + 1 null row)
    out_channels: int | None = None  # default 2*in_channels (DiT learn_sigma)
    timestep_mlp: bool = True  # TE = Lin(freq, te) + Lin(te, te)
    timestep_freq_dim: int = 256
    time_embed_dim: int | None = None  # te; default hidden
    guidance_embed: bool = False  # FLUX-dev / HunyuanVideo: a second TE
    fps_embed: bool = False  # Open-Sora 1.2: a second TE
    text_dim: int = 4096  # text-encoder width fed to the caption projection (T5-XXL)
    caption_projection: Literal["mlp", "linear", "refiner", "none"] | None = None
    refiner_layers: int = 2  # HunyuanVideo token refiner
    pooled_text_dim: int = 0  # pooled-text MLP into the modulation vector (SD3, FLUX)
    position_embedding_rows: int = 0  # learned absolute positions (U-ViT, GPT-2/3)
    embed_params_extra: int = 0  # odd embedders, formula in the preset's comment
    long_skip_linears: int = 0  # U-ViT Lin(2d, d) skips
    # modulation (adaLN)
    modulation: Literal["per_block", "single", "none"] = "per_block"
    modulation_in: int | None = None  # input width of per-block modulation linears; default te
    modulation_chunks: int = 6  # shift/scale/gate x 2
    modulation_linears: int = 1  # per non-mmdit block (CogVideoX: 2)
    single_modulation_chunks: int = 3  # FLUX single-stream block
    final_norm_params: int = 0
    # attention / MLP details
    qkv_bias: bool = True
    out_bias: bool = True
    ffn_bias: bool = True
    qk_norm: QkNorm = "none"
    cross_qk_norm: QkNorm | None = None  # default: qk_norm
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    affine_norms_per_block: int = 0
    joint_attention: bool | None = None  # default: any mmdit block
    parallel_full_blocks: bool | None = None  # FLUX single-stream; default: any mmdit block
    text_hidden: int | None = None  # mmdit text-stream width (Mochi); default hidden
    text_ffn_hidden: int | None = None  # mmdit text-stream FFN; default ffn_hidden
    last_block_context_pre_only: bool = False  # SD3 / Mochi: last block leaves text unchanged
    context_pre_only_modulation_chunks: int = 2
    # non-parameter keys owned by other modules (kept here so typos are still caught)
    vae_chunk_frames: int | None = None
    vae_chunk_latents: int | None = None
    vae_chunk_tail: Literal["pad", "drop"] = "pad"
    attention_sparse_groups: list[int] = []  # indices into `blocks` with sparse attention
    attention_sparse_k: int = 1  # Skiparse (Open-Sora-Plan v1.3): each token attends to N/k


def arch_options(model: ModelSpec) -> ArchOptions:
    """Parse `model.extras` (unknown keys are a SpecError naming the key)."""
    return parse_spec(ArchOptions, model.extras, f"model {model.name!r} extras")


# ------------------------------------------------------------------------- small helpers


def lin(i: int, o: int, *, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def mlp2(i: int, h: int, o: int) -> int:
    """Two biased linears (model_notes §2 `MLP(i, h, o)`)."""
    return lin(i, h) + lin(h, o)


def timestep_embedder(*, freq: int, width: int) -> int:
    """TE(d) = MLP(256, d, d): sinusoid -> Linear -> SiLU -> Linear (DiT models.py)."""
    return mlp2(freq, width, width)


def qk_norm_params(kind: QkNorm, *, head_dim: int, hidden: int) -> int:
    """model_notes §2.3: RMSNorm(hd) 2hd, LayerNorm(hd) 4hd, RMSNorm(d) 2d (q and k)."""
    return {"none": 0, "rms_head": 2 * head_dim, "ln_head": 4 * head_dim,
            "rms_across": 2 * hidden, "ln_across": 4 * hidden}[kind]  # fmt: skip


class ParamSplit(BaseModel):
    """Parameters of one block, split the way Megatron tensor parallelism shards them."""

    model_config = ConfigDict(frozen=True)

    sharded: int = 0  # column/row-parallel weights + column-parallel biases
    replicated: int = 0  # norms, modulation, row-parallel output biases

    @property
    def total(self) -> int:
        return self.sharded + self.replicated

    def __add__(self, other: ParamSplit) -> ParamSplit:
        return ParamSplit(
            sharded=self.sharded + other.sharded, replicated=self.replicated + other.replicated
        )

    def times(self, n: int) -> ParamSplit:
        return ParamSplit(sharded=n * self.sharded, replicated=n * self.replicated)


ZERO = ParamSplit()


# ------------------------------------------------------------------------- block pieces


def attention_params(
    *, width: int, q_heads: int, kv_heads: int, head_dim: int, qkv_bias: bool, out_bias: bool,
    qk: int, kv_width: int | None = None, with_out: bool = True,
) -> ParamSplit:  # fmt: skip
    """q, k, v (GQA: kv_heads), out-proj; K/V may read another width (cross-attention)."""
    kv_in = kv_width or width
    q_out, kv_out = q_heads * head_dim, kv_heads * head_dim
    sharded = width * q_out + 2 * kv_in * kv_out + (q_out + 2 * kv_out) * qkv_bias
    replicated = qk
    if with_out:
        sharded += q_out * width
        replicated += width * out_bias
    return ParamSplit(sharded=sharded, replicated=replicated)


def mlp_params(*, width: int, ffn: int, swiglu: bool, bias: bool) -> ParamSplit:
    """GELU: Lin(d,f)+Lin(f,d); SwiGLU: 3 matrices d*2f + f*d (model_notes §2.5)."""
    fc1_out = 2 * ffn if swiglu else ffn
    return ParamSplit(
        sharded=width * fc1_out + ffn * width + fc1_out * bias, replicated=width * bias
    )


def norm_params(*, count: int, width: int, norm: str) -> int:
    return count * width * (2 if norm == "layernorm" else 1)


class Dims(BaseModel):
    """Resolved widths of a model, shared by params and flops."""

    model_config = ConfigDict(frozen=True)

    d: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    swiglu: bool
    text_d: int
    text_ffn: int
    te: int
    mod_in: int
    out_channels: int
    patch_volume: int


def dims(model: ModelSpec, opts: ArchOptions) -> Dims:
    te = opts.time_embed_dim or model.hidden
    return Dims(
        d=model.hidden, heads=model.heads, kv_heads=model.n_kv_heads, head_dim=model.d_head,
        ffn=model.ffn, swiglu=model.mlp == "swiglu", text_d=opts.text_hidden or model.hidden,
        text_ffn=opts.text_ffn_hidden or model.ffn, te=te, mod_in=opts.modulation_in or te,
        out_channels=opts.out_channels or 2 * model.in_channels,
        patch_volume=model.patch[0] * model.patch[1] * model.patch[2],
    )  # fmt: skip


def modulation_params(*, opts: ArchOptions, dm: Dims, width: int, chunks: int) -> int:
    """Per-block adaLN: Lin(mod_in, chunks*width) (DiT adaLN-Zero), or a chunks*width table
    (adaLN-single: PixArt/Wan, model_notes §2.3/§2.6), or nothing (U-ViT)."""
    if opts.modulation == "per_block":
        return lin(dm.mod_in, chunks * width)
    if opts.modulation == "single":
        return chunks * width
    return 0


# ------------------------------------------------------------------------- blocks


def _self_attn(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    qk = qk_norm_params(opts.qk_norm, head_dim=dm.head_dim, hidden=dm.d)
    return attention_params(
        width=dm.d, q_heads=dm.heads, kv_heads=dm.kv_heads, head_dim=dm.head_dim,
        qkv_bias=opts.qkv_bias, out_bias=opts.out_bias, qk=qk,
    )  # fmt: skip


def _cross_attn(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    """Cross-attention to already-projected text tokens (width d): model_notes §2.3."""
    if not model.cross_attention:
        return ZERO
    kind = opts.cross_qk_norm or opts.qk_norm
    qk = qk_norm_params(kind, head_dim=dm.head_dim, hidden=dm.d)
    return attention_params(
        width=dm.d, q_heads=dm.heads, kv_heads=dm.heads, head_dim=dm.head_dim,
        qkv_bias=opts.qkv_bias, out_bias=opts.out_bias, qk=qk,
    )  # fmt: skip


def _mlp(opts: ArchOptions, dm: Dims) -> ParamSplit:
    return mlp_params(width=dm.d, ffn=dm.ffn, swiglu=dm.swiglu, bias=opts.ffn_bias)


def _block_common(opts: ArchOptions, dm: Dims, *, linears: int) -> ParamSplit:
    """Modulation linears/tables and affine norms of one block (all replicated)."""
    mod = linears * modulation_params(opts=opts, dm=dm, width=dm.d, chunks=opts.modulation_chunks)
    norms = norm_params(count=opts.affine_norms_per_block, width=dm.d, norm=opts.norm)
    return ParamSplit(replicated=mod + norms)


def standard_block(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    """`full`/`spatial`/`temporal`: self-attn (+ cross-attn) + MLP + modulation (§2.1, §2.3)."""
    common = _block_common(opts, dm, linears=opts.modulation_linears)
    return _self_attn(model, opts, dm) + _cross_attn(model, opts, dm) + _mlp(opts, dm) + common


def parallel_block(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    """FLUX single-stream block: Lin(d, 3d + f) and Lin(d + f, d), modulation Lin(d, 3d) (§2.4)."""
    attn = _self_attn(model, opts, dm)
    mlp = mlp_params(width=dm.d, ffn=dm.ffn, swiglu=dm.swiglu, bias=opts.ffn_bias)
    mod = modulation_params(opts=opts, dm=dm, width=dm.d, chunks=opts.single_modulation_chunks)
    # the fused out-proj/fc2 linear has one bias (d), not two
    out_bias_shared = dm.d * (opts.out_bias and opts.ffn_bias)
    return attn + mlp + ParamSplit(replicated=mod - out_bias_shared)


def spatial_temporal_block(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    """STDiT (Open-Sora 1.0): two self-attentions sharing one cross-attn, one MLP, one adaLN."""
    attn = _self_attn(model, opts, dm)
    return (
        attn
        + attn
        + _cross_attn(model, opts, dm)
        + _mlp(opts, dm)
        + _block_common(opts, dm, linears=opts.modulation_linears)
    )


def mmdit_stream(
    opts: ArchOptions, dm: Dims, *, width: int, ffn: int, pre_only: bool = False
) -> ParamSplit:
    """One stream of a double block: modulation, qkv (width -> attention width), out, FFN (§2.4,
    Mochi §2.5 with a narrower text stream). pre_only: modulation + qkv only (SD3/Mochi last)."""
    chunks = opts.context_pre_only_modulation_chunks if pre_only else opts.modulation_chunks
    mod = ParamSplit(replicated=modulation_params(opts=opts, dm=dm, width=width, chunks=chunks))
    qk = qk_norm_params(opts.qk_norm, head_dim=dm.head_dim, hidden=dm.d)
    qkv = attention_params(
        width=width, q_heads=dm.heads, kv_heads=dm.kv_heads, head_dim=dm.head_dim,
        qkv_bias=opts.qkv_bias, out_bias=opts.out_bias, qk=qk, with_out=not pre_only,
    )  # fmt: skip
    if pre_only:
        return mod + qkv
    return mod + qkv + mlp_params(width=width, ffn=ffn, swiglu=dm.swiglu, bias=opts.ffn_bias)


def mmdit_block(
    model: ModelSpec, opts: ArchOptions, dm: Dims, *, pre_only: bool = False
) -> ParamSplit:
    image = mmdit_stream(opts, dm, width=dm.d, ffn=dm.ffn)
    text = mmdit_stream(opts, dm, width=dm.text_d, ffn=dm.text_ffn, pre_only=pre_only)
    return image + text + ParamSplit(replicated=norm_params(
        count=opts.affine_norms_per_block, width=dm.d, norm=opts.norm))  # fmt: skip


def causal_block(model: ModelSpec, opts: ArchOptions, dm: Dims) -> ParamSplit:
    """GPT block: 2 affine LayerNorms + attention (GQA) + MLP (Megatron-LM; Narayanan 2021)."""
    norms = ParamSplit(replicated=norm_params(count=2, width=dm.d, norm=opts.norm))
    return _self_attn(model, opts, dm) + _mlp(opts, dm) + norms


def is_parallel_full(model: ModelSpec, opts: ArchOptions) -> bool:
    if opts.parallel_full_blocks is not None:
        return opts.parallel_full_blocks
    return any(group.type == "mmdit" for group in model.blocks)


def block_params(model: ModelSpec, block_type: str, opts: ArchOptions | None = None) -> ParamSplit:
    """Trainable parameters of one block of `block_type`."""
    opts = opts or arch_options(model)
    dm = dims(model, opts)
    if block_type == "causal":
        return causal_block(model, opts, dm)
    if block_type == "mmdit":
        return mmdit_block(model, opts, dm)
    if block_type == "spatial_temporal":
        return spatial_temporal_block(model, opts, dm)
    if block_type == "full" and is_parallel_full(model, opts):
        return parallel_block(model, opts, dm)
    return standard_block(model, opts, dm)


def block_params_adjustment(model: ModelSpec, opts: ArchOptions | None = None) -> int:
    """Params the last mmdit block lacks when it is context_pre_only (SD3, Mochi): <= 0."""
    opts = opts or arch_options(model)
    if not opts.last_block_context_pre_only or not any(g.type == "mmdit" for g in model.blocks):
        return 0
    dm = dims(model, opts)
    return mmdit_block(model, opts, dm, pre_only=True).total - mmdit_block(model, opts, dm).total


# ------------------------------------------------------------------------- embedders


def label_rows(model: ModelSpec, opts: ArchOptions) -> int:
    """DiT class embedding: num_classes + 1 CFG null row; default 1000 classes for a plain
    class-conditional DiT (no text conditioning)."""
    classes = opts.label_classes
    if classes is None:
        text = model.cross_attention or model.text_tokens > 0
        classes = 0 if (text or model.family != "dit") else 1000
    return classes + 1 if classes else 0


def caption_kind(model: ModelSpec, opts: ArchOptions) -> str:
    if opts.caption_projection is not None:
        return opts.caption_projection
    if model.cross_attention:
        return "mlp"
    return "linear" if model.text_tokens > 0 else "none"


def caption_params(model: ModelSpec, opts: ArchOptions, dm: Dims) -> int:
    """Text projection into the model width (model_notes §2.3 MLP, §2.4 Lin / token refiner)."""
    kind, dt, width = caption_kind(model, opts), opts.text_dim, dm.text_d
    if kind == "mlp":
        return mlp2(dt, width, width)
    if kind == "linear":
        return lin(dt, width)
    if kind == "refiner":  # HunyuanVideo SingleTokenRefiner (§2.4): = 309,175,296 at d=3072
        layer = 2 * 2 * width + 4 * lin(width, width) + mlp2(width, 4 * width, width)
        layer += lin(width, 2 * width)
        te = timestep_embedder(freq=opts.timestep_freq_dim, width=width)
        return te + mlp2(dt, width, width) + lin(dt, width) + opts.refiner_layers * layer
    return 0


def final_layer_params(opts: ArchOptions, dm: Dims) -> int:
    """Final adaLN (Lin(mod_in, 2d) or a 2d table) + Lin(d, P*C_out) (§2.1-§2.7)."""
    mod = {"per_block": lin(dm.mod_in, 2 * dm.d), "single": 2 * dm.d, "none": 0}[opts.modulation]
    return mod + lin(dm.d, dm.patch_volume * dm.out_channels) + opts.final_norm_params


def dit_embed_params(model: ModelSpec, opts: ArchOptions) -> int:
    """Everything outside the blocks of a DiT-family model."""
    dm = dims(model, opts)
    total = lin(model.in_channels * dm.patch_volume, dm.d)  # patch embed (conv == linear count)
    te = timestep_embedder(freq=opts.timestep_freq_dim, width=dm.te) if opts.timestep_mlp else 0
    total += te * (1 + opts.guidance_embed + opts.fps_embed)
    if opts.modulation == "single":
        total += lin(dm.te, 6 * dm.d)  # adaLN-single global t_block (PixArt §2.3, Wan §2.6)
    total += label_rows(model, opts) * dm.d + caption_params(model, opts, dm)
    if opts.pooled_text_dim:
        total += mlp2(opts.pooled_text_dim, dm.d, dm.d)
    total += opts.position_embedding_rows * dm.d + opts.long_skip_linears * lin(2 * dm.d, dm.d)
    return total + final_layer_params(opts, dm) + opts.embed_params_extra


def gpt_embed_params(model: ModelSpec, opts: ArchOptions) -> int:
    """Token embedding V*d, output head V*d unless tied, final LayerNorm, learned positions."""
    d = model.hidden
    head = 0 if model.tied_embeddings else model.vocab * d
    final_norm = norm_params(count=1, width=d, norm=opts.norm)
    return model.vocab * d + head + final_norm + opts.position_embedding_rows * d


def embed_params(model: ModelSpec, opts: ArchOptions | None = None) -> int:
    opts = opts or arch_options(model)
    if model.family == "gpt":
        return gpt_embed_params(model, opts)
    return dit_embed_params(model, opts)


def param_count(model: ModelSpec) -> int:
    """Total trainable parameters of `model`."""
    opts = arch_options(model)
    blocks = sum(g.count * block_params(model, g.type, opts).total for g in model.blocks)
    return blocks + block_params_adjustment(model, opts) + embed_params(model, opts)
