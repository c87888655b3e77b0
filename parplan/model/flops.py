"""True forward FLOPs (multiply-add = 2 FLOP) of a DiT-family model, per block type, per sample.

The cost model, memory model and smoke runs all read `model_cost`: one `BlockCost` per entry of
`model.blocks` (same order, `blocks[i]` <-> `model.blocks[i]`), plus the embedders.
Sources: DESIGN.md "Cost model essentials"; model_notes.md §4 (per-block MAC table; DiT Table 4
reproduction `G = L(12d²N + 2N²d + 6d²) + NCp²d + 256d + d² + 2d² + Nd p² C_out` MACs);
Narayanan et al. 2021 (arXiv 2104.04473) eq. 3 for GPT blocks and the vocabulary head.
"""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parplan.model.geometry import TokenGeometry, effective_vae, token_geometry
from parplan.model.params import (
    ArchOptions,
    Dims,
    arch_options,
    block_params,
    block_params_adjustment,
    caption_kind,
    dims,
    embed_params,
    is_parallel_full,
    param_count,
)
from parplan.specs import ModelSpec, WorkloadSpec

# SD-VAE f8 encoder (block_out_channels 128/256/512/512, 2 ResNets per level, mid attention):
# ~2.1e6 MAC = 4.2e6 FLOP per pixel per frame. Collector's own count, unverified
# (../shared/validation/public_cases.yaml, fast-DiT case notes). Used only when no
# vae.encoder_flops_per_pixel is given, and then recorded in ModelCost.assumptions.
DEFAULT_VAE_ENCODER_FLOPS_PER_PIXEL = 4.2e6


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class AttentionShape(_Record):
    """One attention call in one block, per sample."""

    kind: Literal["self", "cross", "joint"]
    sequences: int  # independent attention problems per sample (latent frames for spatial)
    q_len: int
    kv_len: int
    heads: int
    kv_heads: int
    head_dim: int
    causal: bool = False

    @property
    def score_elements(self) -> int:
        """Entries of the s x s score matrices per sample (all of them: an unfused kernel
        computes the masked half of a causal matrix too)."""
        return self.sequences * self.q_len * self.kv_len * self.heads

    @property
    def flops(self) -> float:
        """QK^T and AV: 2 matmuls x 2 FLOP per MAC (DESIGN.md); causal halves the work."""
        full = 4.0 * self.sequences * self.q_len * self.kv_len * self.heads * self.head_dim
        return full / 2 if self.causal else full


class BlockCost(_Record):
    """One block of a block group, per sample, forward."""

    block_type: str
    count: int
    gemm_flops: float  # all linear layers incl. modulation and cross-attn projections
    gemm_rows: int  # tokens through the main GEMMs (N, or N+M for joint blocks)
    attention: list[AttentionShape]
    attention_flops: float
    params: int
    params_tp_sharded: int
    params_replicated: int

    @property
    def forward_flops(self) -> float:
        return self.gemm_flops + self.attention_flops


class ModelCost(_Record):
    blocks: list[BlockCost]
    embed_flops: float  # patch embed, timestep/text embedders, final layer, vocab head
    embed_params: int
    params: int  # total trainable
    forward_flops: float  # per sample
    train_flops: float  # 3 x forward (fwd + bwd)
    recompute_flops_full: float  # one extra forward of the blocks (HFU with full ckpt)
    encoder_flops: float  # online VAE/text encoders per sample (0 when pre-extracted)
    block_params_adjustment: int = 0  # last block context_pre_only (SD3, Mochi): <= 0
    block_flops_adjustment: float = 0.0  # its forward FLOPs, likewise (already in forward_flops)
    assumptions: list[str] = Field(default_factory=list)

    @property
    def block_flops(self) -> float:
        total = sum(b.count * b.forward_flops for b in self.blocks)
        return total + self.block_flops_adjustment


# ----------------------------------------------------------------------- GEMM pieces


def qkvo_flops(*, rows: int, width: int, dm: Dims, kv_rows: int | None = None) -> float:
    """q (H heads), k/v (KV heads, on kv_rows), out-proj: 2 FLOP per MAC."""
    q_out, kv_out = dm.heads * dm.head_dim, dm.kv_heads * dm.head_dim
    kv_rows = rows if kv_rows is None else kv_rows
    return 2.0 * (rows * width * q_out * 2 + kv_rows * width * 2 * kv_out)


def mlp_flops(*, rows: int, width: int, ffn: int, swiglu: bool) -> float:
    """GELU: 2 matrices; SwiGLU: 3 (DESIGN.md)."""
    return 2.0 * rows * width * ffn * (3 if swiglu else 2)


def cross_flops(*, rows: int, text_tokens: int, dm: Dims) -> float:
    """q and out-proj on N rows; k, v on the M text rows (width d, already projected)."""
    q_out = dm.heads * dm.head_dim
    return 2.0 * (2 * rows * dm.d * q_out + 2 * text_tokens * dm.d * q_out)


def modulation_flops(*, opts: ArchOptions, dm: Dims, width: int, chunks: int) -> float:
    """Per-block adaLN Lin(mod_in, chunks*width): once per sample, not per token (DiT §3)."""
    return 2.0 * dm.mod_in * chunks * width if opts.modulation == "per_block" else 0.0


# ----------------------------------------------------------------------- attention shapes


def _self_shape(
    *, kind: str, sequences: int, length: int, dm: Dims, causal: bool = False
) -> AttentionShape:
    return AttentionShape(
        kind=kind, sequences=sequences, q_len=length, kv_len=length, heads=dm.heads,
        kv_heads=dm.kv_heads, head_dim=dm.head_dim, causal=causal,
    )  # fmt: skip


def _cross_shape(geo: TokenGeometry, dm: Dims) -> AttentionShape:
    return AttentionShape(
        kind="cross", sequences=1, q_len=geo.tokens, kv_len=geo.text_tokens, heads=dm.heads,
        kv_heads=dm.heads, head_dim=dm.head_dim,
    )  # fmt: skip


def _sparse(shape: AttentionShape, k: int) -> AttentionShape:
    """Skiparse (Open-Sora-Plan v1.3 report): k groups of N/k tokens attend within a group."""
    if k <= 1:
        return shape
    length = -(-shape.q_len // k)
    return shape.model_copy(
        update={"sequences": shape.sequences * k, "q_len": length, "kv_len": length}
    )


def self_attention_shapes(block_type: str, geo: TokenGeometry, dm: Dims) -> list[AttentionShape]:
    """full: all tokens (N, or N+M joint); spatial: within a frame; temporal: across frames."""
    if block_type == "spatial":
        return [_self_shape(kind="self", sequences=geo.frames, length=geo.tokens_per_frame, dm=dm)]
    if block_type == "temporal":
        return [_self_shape(kind="self", sequences=geo.tokens_per_frame, length=geo.frames, dm=dm)]
    if block_type == "spatial_temporal":
        return self_attention_shapes("spatial", geo, dm) + self_attention_shapes(
            "temporal", geo, dm
        )
    if block_type == "causal":
        return [_self_shape(kind="self", sequences=1, length=geo.tokens, dm=dm, causal=True)]
    kind = "joint" if geo.joint else "self"
    return [_self_shape(kind=kind, sequences=1, length=geo.attention_tokens, dm=dm)]


# ----------------------------------------------------------------------- blocks


def _standard_gemm(
    block_type: str, geo: TokenGeometry, dm: Dims, opts: ArchOptions, model: ModelSpec
) -> float:
    rows = geo.attention_tokens if block_type == "full" else geo.tokens
    attentions = 2 if block_type == "spatial_temporal" else 1
    gemm = attentions * qkvo_flops(rows=rows, width=dm.d, dm=dm)
    gemm += mlp_flops(rows=rows, width=dm.d, ffn=dm.ffn, swiglu=dm.swiglu)
    if model.cross_attention and geo.text_tokens and block_type != "causal":
        gemm += cross_flops(rows=geo.tokens, text_tokens=geo.text_tokens, dm=dm)
    chunks = opts.modulation_chunks
    if block_type == "full" and is_parallel_full(model, opts):
        chunks = opts.single_modulation_chunks
    if block_type != "causal":
        gemm += opts.modulation_linears * modulation_flops(
            opts=opts, dm=dm, width=dm.d, chunks=chunks
        )
    return gemm


def mmdit_gemm(geo: TokenGeometry, dm: Dims, opts: ArchOptions, *, pre_only: bool = False) -> float:
    """Two streams with their own weights: image on N rows, text on M rows (model_notes §4)."""
    image = qkvo_flops(rows=geo.tokens, width=dm.d, dm=dm)
    image += mlp_flops(rows=geo.tokens, width=dm.d, ffn=dm.ffn, swiglu=dm.swiglu)
    image += modulation_flops(opts=opts, dm=dm, width=dm.d, chunks=opts.modulation_chunks)
    m, w = geo.text_tokens, dm.text_d
    q_out, kv_out = dm.heads * dm.head_dim, dm.kv_heads * dm.head_dim
    text = 2.0 * m * w * (q_out + 2 * kv_out)  # q, k, v of the text stream
    if pre_only:
        chunks = opts.context_pre_only_modulation_chunks
        return image + text + modulation_flops(opts=opts, dm=dm, width=w, chunks=chunks)
    text += 2.0 * m * q_out * w + mlp_flops(rows=m, width=w, ffn=dm.text_ffn, swiglu=dm.swiglu)
    return image + text + modulation_flops(opts=opts, dm=dm, width=w, chunks=opts.modulation_chunks)


def block_cost(
    *, model: ModelSpec, index: int, geo: TokenGeometry, opts: ArchOptions, dm: Dims
) -> BlockCost:
    group = model.blocks[index]
    btype = group.type
    cross = bool(model.cross_attention and geo.text_tokens and btype not in ("causal", "mmdit"))
    if btype == "mmdit":
        gemm, rows = mmdit_gemm(geo, dm, opts), geo.attention_tokens
        shapes = [_self_shape(kind="joint", sequences=1, length=geo.attention_tokens, dm=dm)]
    else:
        gemm = _standard_gemm(btype, geo, dm, opts, model)
        rows = geo.attention_tokens if btype == "full" else geo.tokens
        shapes = self_attention_shapes(btype, geo, dm)
    if index in opts.attention_sparse_groups:
        shapes = [_sparse(s, opts.attention_sparse_k) for s in shapes]
    if cross:
        shapes.append(_cross_shape(geo, dm))
    split = block_params(model, btype, opts)
    return BlockCost(
        block_type=btype, count=group.count, gemm_flops=gemm, gemm_rows=rows, attention=shapes,
        attention_flops=sum(s.flops for s in shapes), params=split.total,
        params_tp_sharded=split.sharded, params_replicated=split.replicated,
    )  # fmt: skip


def pre_only_flops_adjustment(
    model: ModelSpec, geo: TokenGeometry, opts: ArchOptions, dm: Dims
) -> float:
    """The last mmdit block of SD3/Mochi skips the text out-proj and FFN: negative FLOPs."""
    if not opts.last_block_context_pre_only or not any(g.type == "mmdit" for g in model.blocks):
        return 0.0
    return mmdit_gemm(geo, dm, opts, pre_only=True) - mmdit_gemm(geo, dm, opts)


# ----------------------------------------------------------------------- embedders


def caption_flops(model: ModelSpec, geo: TokenGeometry, opts: ArchOptions, dm: Dims) -> float:
    """Text projection over the M tokens (model_notes §2.3/§2.4); the HunyuanVideo refiner adds
    its self-attention layers (4d² + 2*4d² per token, 4M²d attention each)."""
    kind, m, dt, w = caption_kind(model, opts), geo.text_tokens, opts.text_dim, dm.text_d
    if kind == "mlp":
        return 2.0 * m * (dt * w + w * w)
    if kind == "linear":
        return 2.0 * m * dt * w
    if kind == "refiner":
        per_layer = 2.0 * m * (4 * w * w + 8 * w * w) + 4.0 * m * m * w
        return 2.0 * m * dt * w + opts.refiner_layers * per_layer
    return 0.0


def dit_embed_flops(model: ModelSpec, geo: TokenGeometry, opts: ArchOptions, dm: Dims) -> float:
    """Patch embed + timestep MLPs + adaLN-single + caption + final layer (model_notes §4:
    `N C p² d + (256 d + d²) + 2d² + N d p² C_out` MACs for DiT)."""
    n = geo.tokens
    flops = 2.0 * n * model.in_channels * dm.patch_volume * dm.d
    if opts.timestep_mlp:
        te = 2.0 * (opts.timestep_freq_dim * dm.te + dm.te * dm.te)
        flops += te * (1 + opts.guidance_embed + opts.fps_embed)
    if opts.modulation == "single":
        flops += 2.0 * dm.te * 6 * dm.d
    if opts.pooled_text_dim:
        flops += 2.0 * (opts.pooled_text_dim * dm.d + dm.d * dm.d)
    flops += caption_flops(model, geo, opts, dm)
    flops += opts.long_skip_linears * 2.0 * geo.attention_tokens * 2 * dm.d * dm.d
    if opts.modulation == "per_block":
        flops += 2.0 * dm.mod_in * 2 * dm.d
    flops += 2.0 * n * dm.d * dm.patch_volume * dm.out_channels
    return flops + 2.0 * opts.embed_params_extra  # odd embedders: once per sample


def gpt_embed_flops(model: ModelSpec, geo: TokenGeometry) -> float:
    """Vocabulary head 2 * s * d * V (Narayanan 2021 eq. 3); the embedding lookup is free."""
    return 2.0 * geo.tokens * model.hidden * model.vocab


# ----------------------------------------------------------------------- encoders


def encoder_flops(model: ModelSpec, workload: WorkloadSpec | None, notes: list[str]) -> float:
    """Online VAE encoder (FLOP/pixel x pixels x frames) and text encoder (2 x params x tokens)."""
    if workload is None or not workload.online_encoding or workload.kind == "text":
        return 0.0
    total = 0.0
    if "vae" in workload.online_encoding:
        per_pixel = effective_vae(model, workload).encoder_flops_per_pixel
        if per_pixel is None:
            per_pixel = DEFAULT_VAE_ENCODER_FLOPS_PER_PIXEL
            notes.append(
                f"VAE encoder: assumed {per_pixel:.1e} FLOP/pixel/frame (SD-VAE f8 estimate, "
                "unverified; set vae.encoder_flops_per_pixel)"
            )
        total += per_pixel * (workload.height or 0) * (workload.width or 0) * workload.frames
    if "text" in workload.online_encoding:
        if model.text_encoder is None:
            notes.append("text encoder requested online but the model has no text_encoder: 0 FLOPs")
        else:
            total += 2.0 * model.text_encoder.params * model.text_encoder.tokens
    return total


# ----------------------------------------------------------------------- model


def model_cost(
    model: ModelSpec, geometry: TokenGeometry, workload: WorkloadSpec | None = None
) -> ModelCost:
    """Per-sample forward/training FLOPs and parameters of `model` on `geometry`."""
    opts = arch_options(model)
    dm = dims(model, opts)
    blocks = [
        block_cost(model=model, index=i, geo=geometry, opts=opts, dm=dm)
        for i in range(len(model.blocks))
    ]
    if model.family == "gpt":
        embed = gpt_embed_flops(model, geometry)
    else:
        embed = dit_embed_flops(model, geometry, opts, dm)
    flops_adj = pre_only_flops_adjustment(model, geometry, opts, dm)
    params_adj = block_params_adjustment(model, opts)
    block_flops = sum(b.count * b.forward_flops for b in blocks) + flops_adj
    e_params = embed_params(model, opts)
    notes = list(geometry.warnings)
    forward = block_flops + embed
    return ModelCost(
        blocks=blocks, embed_flops=embed, embed_params=e_params,
        params=sum(b.count * b.params for b in blocks) + params_adj + e_params,
        forward_flops=forward, train_flops=3.0 * forward, recompute_flops_full=block_flops,
        encoder_flops=encoder_flops(model, workload, notes), block_params_adjustment=params_adj,
        block_flops_adjustment=flops_adj, assumptions=notes,
    )  # fmt: skip


# ----------------------------------------------------------------------- summaries


def model_summary(
    model: ModelSpec, workload: WorkloadSpec | None, geometry: TokenGeometry | None = None
) -> dict:
    """The `parplan model --json` record: params, tokens, FLOPs per sample, per-block-type rows."""
    record: dict = {"name": model.name, "params": param_count(model),
                    "params_exact": model.params_exact}  # fmt: skip
    if workload is None:
        return record | {
            "workload": None,
            "tokens_per_sample": None,
            "forward_flops_per_sample": None,
            "train_flops_per_sample": None,
        }
    geo = geometry or token_geometry_quiet(model, workload)
    cost = model_cost(model, geo, workload)
    rows = [
        {"block_type": b.block_type, "count": b.count, "params_per_block": b.params,
         "gemm_flops_per_block": b.gemm_flops, "attention_flops_per_block": b.attention_flops,
         "forward_flops_total": b.count * b.forward_flops,
         "attention": [s.model_dump() for s in b.attention]}
        for b in cost.blocks
    ]  # fmt: skip
    return record | {
        "workload": workload.name,
        "geometry": geo.model_dump(),
        "tokens_per_sample": geo.tokens,
        "text_tokens": geo.text_tokens,
        "attention_tokens": geo.attention_tokens,
        "forward_flops_per_sample": cost.forward_flops,
        "train_flops_per_sample": cost.train_flops,
        "embed_flops_per_sample": cost.embed_flops,
        "encoder_flops_per_sample": cost.encoder_flops,
        "embed_params": cost.embed_params,
        "blocks": rows,
        "assumptions": cost.assumptions,
    }


def token_geometry_quiet(model: ModelSpec, workload: WorkloadSpec) -> TokenGeometry:
    """token_geometry without Python warnings (the padding notes stay in .warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return token_geometry(model, workload)
