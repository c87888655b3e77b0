"""The switches of `ModelSpec.extras` (docs/spec_extensions.md) and the widths they resolve to.

A plain SPEC_FORMAT model is a DiT (adaLN-Zero per block, class-label embedder, learn-sigma
output); the many ways real models differ (modulation placement, caption projection, qk-norm,
biases...) are switches here, read by the block anatomy (parplan/model/blocks.py) and the
embedders (parplan/model/params.py, flops.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from parplan.specs import ModelSpec, parse_spec

QkNorm = Literal["none", "rms_head", "ln_head", "rms_across", "ln_across"]
# how the code runs qk-norm and rotary embeddings (their memory-bound ops: model/blocks.py)
QkNormKernel = Literal["fp32", "fused"]
Rope = Literal["none", "complex_fp32", "fused"]


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
    qk_norm_kernel: QkNormKernel = "fp32"  # eager fp32 ops (FLUX, HunyuanVideo) | one kernel (Liger)
    rope: Rope | None = None  # rotary on q, k; default: complex_fp32 for SwiGLU GPTs, else none
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


class Dims(BaseModel):
    """Resolved widths of a model, read by the block anatomy and the embedders."""

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

    @property
    def q_out(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_out(self) -> int:
        return self.kv_heads * self.head_dim


def dims(model: ModelSpec, opts: ArchOptions) -> Dims:
    te = opts.time_embed_dim or model.hidden
    return Dims(
        d=model.hidden, heads=model.heads, kv_heads=model.n_kv_heads, head_dim=model.d_head,
        ffn=model.ffn, swiglu=model.mlp == "swiglu", text_d=opts.text_hidden or model.hidden,
        text_ffn=opts.text_ffn_hidden or model.ffn, te=te, mod_in=opts.modulation_in or te,
        out_channels=opts.out_channels or 2 * model.in_channels,
        patch_volume=model.patch[0] * model.patch[1] * model.patch[2],
    )  # fmt: skip


def rope_kind(model: ModelSpec, opts: ArchOptions) -> Rope:
    """The `rope` key, or its default: GPT blocks with SwiGLU are the Llama family (rotary on
    q and k through complex fp32, meta-llama/llama3 model.py apply_rotary_emb); DiT presets name
    theirs."""
    if opts.rope is not None:
        return opts.rope
    return "complex_fp32" if model.family == "gpt" and model.mlp == "swiglu" else "none"


def is_parallel_full(model: ModelSpec, opts: ArchOptions) -> bool:
    """`full` blocks are FLUX single-stream blocks: the default in models with mmdit blocks."""
    if opts.parallel_full_blocks is not None:
        return opts.parallel_full_blocks
    return any(group.type == "mmdit" for group in model.blocks)


def norm_params(*, count: int, width: int, norm: str) -> int:
    """Affine norm weights: LayerNorm 2·width (scale, shift), RMSNorm width."""
    return count * width * (2 if norm == "layernorm" else 1)
