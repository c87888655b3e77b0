"""Exact trainable-parameter counts of DiT-family models (and GPT baselines) from a ModelSpec.

Blocks are counted from their anatomy (parplan/model/blocks.py: every linear's weight and bias,
norms, modulation tables); the embedders outside the blocks here. A plain SPEC_FORMAT model is
counted as a DiT (adaLN-Zero per block, class-label embedder, learn-sigma output); the ways real
models differ are switches in `ModelSpec.extras` (parplan/model/options.py,
docs/spec_extensions.md). Formulas: ../shared/reference/model_notes.md §2, sub-section named at
each function. `Lin(i, o) = i*o (+ o with bias)`.
"""

from __future__ import annotations

from parplan.model.anatomy import ParamSplit, param_split
from parplan.model.blocks import block_anatomy
from parplan.model.options import ArchOptions, Dims, arch_options, dims, norm_params
from parplan.specs import ModelSpec

__all__ = ["ParamSplit", "arch_options", "block_params", "caption_params", "dims", "param_count"]


# ------------------------------------------------------------------------- small helpers


def lin(i: int, o: int, *, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def mlp2(i: int, h: int, o: int) -> int:
    """Two biased linears (model_notes §2 `MLP(i, h, o)`)."""
    return lin(i, h) + lin(h, o)


def timestep_embedder(*, freq: int, width: int) -> int:
    """TE(d) = MLP(256, d, d): sinusoid -> Linear -> SiLU -> Linear (DiT models.py)."""
    return mlp2(freq, width, width)


# ------------------------------------------------------------------------- blocks


def block_params(model: ModelSpec, block_type: str) -> ParamSplit:
    """Trainable parameters of one block of `block_type`, from its anatomy."""
    return param_split(block_anatomy(model, block_type))


def has_pre_only_block(model: ModelSpec, opts: ArchOptions) -> bool:
    """SD3 / Mochi: the last MM-DiT block's text stream stops after QKV."""
    return opts.last_block_context_pre_only and any(g.type == "mmdit" for g in model.blocks)


def block_params_adjustment(model: ModelSpec, opts: ArchOptions | None = None) -> int:
    """Params the last mmdit block lacks when it is context_pre_only (SD3, Mochi): <= 0."""
    opts = opts or arch_options(model)
    if not has_pre_only_block(model, opts):
        return 0
    pre_only = block_anatomy(model, "mmdit", pre_only=True)
    return param_split(pre_only).total - block_params(model, "mmdit").total


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
    blocks = sum(g.count * block_params(model, g.type).total for g in model.blocks)
    return blocks + block_params_adjustment(model, opts) + embed_params(model, opts)
