"""True forward FLOPs (multiply-add = 2 FLOP) of a DiT-family model, per block type, per sample.

The cost model, memory model and smoke runs all read `model_cost`: one `BlockCost` per entry of
`model.blocks` (same order, `blocks[i]` <-> `model.blocks[i]`), derived from the block's anatomy
(parplan/model/blocks.py), plus the embedders (counted here).
Sources: DESIGN.md "Cost model essentials"; model_notes.md §4 (per-block MAC table; DiT Table 4
reproduction `G = L(12d²N + 2N²d + 6d²) + NCp²d + 256d + d² + 2d² + Nd p² C_out` MACs);
Narayanan et al. 2021 (arXiv 2104.04473) eq. 3 for GPT blocks and the vocabulary head.
"""

from __future__ import annotations

import warnings

from pydantic import BaseModel, ConfigDict, Field

from parplan.model.anatomy import (
    AttentionShape,
    BlockAnatomy,
    attention_shapes,
    gemm_flops,
    gemm_rows,
    param_split,
)
from parplan.model.blocks import block_anatomy
from parplan.model.geometry import TokenGeometry, effective_vae, token_geometry
from parplan.model.options import ArchOptions, Dims, arch_options, dims
from parplan.model.params import (
    block_params_adjustment,
    caption_kind,
    embed_params,
    has_pre_only_block,
    param_count,
)
from parplan.model.traffic import SavedElements, saved_elements
from parplan.specs import ModelSpec, WorkloadSpec

__all__ = ["AttentionShape", "BlockCost", "ModelCost", "model_cost", "model_summary"]

# SD-VAE f8 encoder (block_out_channels 128/256/512/512, 2 ResNets per level, mid attention):
# ~2.1e6 MAC = 4.2e6 FLOP per pixel per frame. Collector's own count, unverified
# (../shared/validation/public_cases.yaml, fast-DiT case notes). Used only when no
# vae.encoder_flops_per_pixel is given, and then recorded in ModelCost.assumptions.
DEFAULT_VAE_ENCODER_FLOPS_PER_PIXEL = 4.2e6


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class BlockCost(_Record):
    """One block of a block group, per sample, forward; `anatomy` is what it was derived from."""

    block_type: str
    count: int
    gemm_flops: float  # all linear layers incl. modulation and cross-attn projections
    gemm_rows: int  # tokens through the QKV projections (N, or N+M for joint blocks)
    attention: list[AttentionShape]
    attention_flops: float
    params: int
    params_tp_sharded: int
    params_replicated: int
    activations: SavedElements  # kept for backward, per sample
    anatomy: BlockAnatomy

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


# ----------------------------------------------------------------------- blocks


def _sparse(shape: AttentionShape, k: int) -> AttentionShape:
    """Skiparse (Open-Sora-Plan v1.3 report): k groups of N/k tokens attend within a group."""
    if k <= 1 or shape.kind == "cross":
        return shape
    length = -(-shape.q_len // k)
    return shape.model_copy(
        update={"sequences": shape.sequences * k, "q_len": length, "kv_len": length}
    )


def block_cost(
    *, model: ModelSpec, index: int, geo: TokenGeometry, opts: ArchOptions, anatomy: BlockAnatomy
) -> BlockCost:
    """FLOPs and parameters of one block group's block, from its anatomy; attention calls with
    no keys (cross-attention without text tokens) are left out."""
    shapes = [s for s in attention_shapes(anatomy, geo) if s.q_len and s.kv_len]
    if index in opts.attention_sparse_groups:
        shapes = [_sparse(s, opts.attention_sparse_k) for s in shapes]
    split = param_split(anatomy)
    return BlockCost(
        block_type=anatomy.block_type, count=model.blocks[index].count,
        gemm_flops=gemm_flops(anatomy, geo), gemm_rows=gemm_rows(anatomy, geo), attention=shapes,
        attention_flops=sum(s.flops for s in shapes), params=split.total,
        params_tp_sharded=split.sharded, params_replicated=split.replicated,
        activations=saved_elements(anatomy, geo), anatomy=anatomy,
    )  # fmt: skip


def pre_only_flops_adjustment(model: ModelSpec, geo: TokenGeometry, opts: ArchOptions) -> float:
    """The last mmdit block of SD3/Mochi skips the text out-proj and FFN: negative FLOPs."""
    if not has_pre_only_block(model, opts):
        return 0.0
    pre_only = block_anatomy(model, "mmdit", pre_only=True)
    return gemm_flops(pre_only, geo) - gemm_flops(block_anatomy(model, "mmdit"), geo)


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
    anatomies = {t: block_anatomy(model, t) for t in dict.fromkeys(g.type for g in model.blocks)}
    blocks = [
        block_cost(model=model, index=i, geo=geometry, opts=opts, anatomy=anatomies[g.type])
        for i, g in enumerate(model.blocks)
    ]
    if model.family == "gpt":
        embed = gpt_embed_flops(model, geometry)
    else:
        embed = dit_embed_flops(model, geometry, opts, dm)
    flops_adj = pre_only_flops_adjustment(model, geometry, opts)
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
