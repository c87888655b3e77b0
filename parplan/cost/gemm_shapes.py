"""The linear layers of one block, as (in, out, rows) records: the GEMM shapes that
`parplan kernels measure` times and the weight tensors a ZeRO-3 implementation gathers.

Kept small and on its own on purpose: the block anatomy (parplan/model/) will list the same
layers; switching to it means replacing `block_linears` and nothing else. It follows
cost/block.py `_gemm_widths` (a test checks that both give the same token-row MACs): a fused QKV
projection per self-attention (timm/DiT, Open-Sora, Megatron `linear_qkv`), the attention output,
cross-attention's query, text key/value and output projections (PixArt-alpha `q_linear`,
`kv_linear`, `proj`), FC1 (SwiGLU's gate and up fused, as Megatron's `linear_fc1`) and FC2, and
the adaLN modulation linear (DiT §3.2: one Linear(d, 6d) per block on the conditioning vector).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from parplan.specs import ModelSpec

ADALN_CHUNKS = 6  # shift, scale, gate for attention and MLP (DiT §3.2)


class Linear(BaseModel):
    """One weight matrix: y[rows, out] = x[rows, in] @ W[in, out]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    in_features: int
    out_features: int
    rows: Literal["tokens", "text", "sample"]  # latent tokens, text tokens, or one per sample
    parallel: Literal["column", "row", "replicated"]  # Megatron TP role

    @property
    def weight_elements(self) -> int:
        return self.in_features * self.out_features


def block_linears(model: ModelSpec, block_type: str) -> list[Linear]:
    """Every linear layer of one block of `block_type` (mmdit: both streams' weights)."""
    h, kv = model.hidden, model.n_kv_heads * model.d_head
    selfs = 2 if block_type == "spatial_temporal" else 1
    layers: list[Linear] = []
    for k in range(selfs):
        tag = "" if selfs == 1 else f"{k}."
        layers += [
            Linear(name=f"{tag}qkv", in_features=h, out_features=h + 2 * kv, rows="tokens",
                   parallel="column"),
            Linear(name=f"{tag}attn_out", in_features=h, out_features=h, rows="tokens",
                   parallel="row"),
        ]  # fmt: skip
    if model.family == "dit" and model.cross_attention and block_type != "mmdit":
        layers += _cross_attention(h)
    layers += _mlp(model)
    if model.family == "dit":
        layers.append(Linear(name="adaln", in_features=h, out_features=ADALN_CHUNKS * h,
                             rows="sample", parallel="replicated"))  # fmt: skip
    if block_type == "mmdit":  # the text stream has its own copy of every weight
        layers += [x.model_copy(update={"name": f"text.{x.name}", "rows": _text_rows(x)})
                   for x in layers]  # fmt: skip
    return layers


def _cross_attention(h: int) -> list[Linear]:
    return [
        Linear(name="cross_q", in_features=h, out_features=h, rows="tokens", parallel="column"),
        Linear(name="cross_kv", in_features=h, out_features=2 * h, rows="text", parallel="column"),
        Linear(name="cross_out", in_features=h, out_features=h, rows="tokens", parallel="row"),
    ]


def _mlp(model: ModelSpec) -> list[Linear]:
    h, f = model.hidden, model.ffn
    up = (2 if model.mlp == "swiglu" else 1) * f
    return [
        Linear(name="fc1", in_features=h, out_features=up, rows="tokens", parallel="column"),
        Linear(name="fc2", in_features=f, out_features=h, rows="tokens", parallel="row"),
    ]


def _text_rows(layer: Linear) -> str:
    return "text" if layer.rows == "tokens" else layer.rows
