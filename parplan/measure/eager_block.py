"""One block of the model as eager PyTorch runs it (DiT / Open-Sora style code: adaLN-Zero
modulation, LayerNorm, SDPA, GELU or SwiGLU), sized by the model's widths on one GPU of the
split, for `parplan kernels measure` to time a forward and a backward.

Self-attention runs over the block's sequences (frames for spatial, positions for temporal,
the whole sample for full); mmdit blocks run one weight set over the joint visual + text rows
and FLUX single-stream blocks run as this standard block (their own linears are timed in the
GEMM table, measure/shapes.py, from the block anatomy). Widths from the model spec.
"""

from __future__ import annotations

from typing import Any

from parplan.measure.shapes import Split
from parplan.model.flops import AttentionShape
from parplan.specs import ModelSpec


def build_block(torch: Any, model: ModelSpec, split: Split) -> Any:
    """An nn.Module: forward(x (b, tokens, d), c (b, d), text (b, M, d)) -> x."""
    nn, functional = torch.nn, torch.nn.functional
    h, d_head = model.hidden, model.d_head
    heads = max(model.heads // (split.tp * split.ulysses), 1)
    kv_heads = max(model.n_kv_heads // (split.tp * split.ulysses), 1)
    ffn = model.ffn // split.tp
    swiglu, cross = model.mlp == "swiglu", model.cross_attention and model.family == "dit"

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(h), nn.LayerNorm(h)
            self.adaln = nn.Linear(h, 6 * h)
            self.qkv = nn.Linear(h, (heads + 2 * kv_heads) * d_head)
            self.attn_out = nn.Linear(heads * d_head, h)
            self.fc1 = nn.Linear(h, (2 if swiglu else 1) * ffn)
            self.fc2 = nn.Linear(ffn, h)
            if cross:
                self.cross_q = nn.Linear(h, heads * d_head)
                self.cross_kv = nn.Linear(h, 2 * heads * d_head)
                self.cross_out = nn.Linear(heads * d_head, h)

        def attend(self, q: Any, k: Any, v: Any, seqs: int) -> Any:
            """(b, n, heads*d) tensors as `seqs` independent sequences per sample."""
            b, n, _ = q.shape
            q, k, v = (t.reshape(b * seqs, t.shape[1] // seqs, -1, d_head).transpose(1, 2)
                       for t in (q, k, v))  # fmt: skip
            out = functional.scaled_dot_product_attention(q, k, v, enable_gqa=heads != kv_heads)
            return out.transpose(1, 2).reshape(b, n, heads * d_head)

        def forward(self, x: Any, c: Any, text: Any, seqs: int) -> Any:
            shift1, scale1, gate1, shift2, scale2, gate2 = (
                self.adaln(functional.silu(c)).unsqueeze(1).chunk(6, dim=-1)
            )
            y = self.norm1(x) * (1 + scale1) + shift1
            q, k, v = self.qkv(y).split([heads * d_head, kv_heads * d_head, kv_heads * d_head], -1)
            x = x + gate1 * self.attn_out(self.attend(q, k, v, seqs))
            if cross:
                kv = self.cross_kv(text)
                ck, cv = kv.chunk(2, dim=-1)
                x = x + self.cross_out(self.attend(self.cross_q(x), ck, cv, 1))
            y = self.norm2(x) * (1 + scale2) + shift2
            hidden = self.fc1(y)
            if swiglu:
                gate, up = hidden.chunk(2, dim=-1)
                hidden = functional.silu(gate) * up
            else:
                hidden = functional.gelu(hidden, approximate="tanh")
            return x + gate2 * self.fc2(hidden)

    return Block()


def self_attention_of(attention: list[AttentionShape]) -> AttentionShape:
    """The block's (first) self or joint attention: its sequences and length set the tokens."""
    return next(a for a in attention if a.kind != "cross")
