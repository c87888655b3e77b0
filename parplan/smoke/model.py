"""A small, real DiT in torch: adaLN-Zero blocks with full / spatial / temporal self-attention.

Block (Peebles & Xie 2023, DiT §3.2 "adaLN-Zero"; cross-attention as PixArt-α §2.3):
    shift1, scale1, gate1, shift2, scale2, gate2 = Linear(d, 6d)(SiLU(c))
    x = x + gate1 * SelfAttn(LN(x) * (1 + scale1) + shift1)
    x = x + CrossAttn(x, text)                                    (optional)
    x = x + gate2 * MLP(LN(x) * (1 + scale2) + shift2)            (GELU, 4d)
Each block's linears are built from its anatomy (parplan/model/blocks.py, for the ModelSpec
`parplan.smoke.config.to_specs` gives the cost model), so the cost model prices exactly these
layers. Around the blocks, DiT's patch embedding and final layer kept trivial (patch 1): x (b,
N, C) latent tokens -> Linear(C, d); final adaLN Linear(d, 2d) + LN + Linear(d, C). The
conditioning c (b, d) is given (no timestep MLP); the extras of `SMOKE_EXTRAS` count exactly
these embedders.
Tokens are frame-major: N = T * S; spatial blocks attend within a frame, temporal ones across
frames at one position. Weights are random (fixed seed), the modulation included: with the
paper's zero init every block would be the identity and the gradient check would test nothing.

The parallel layouts change *how* a block computes, not *what*: a block delegates its three
sub-layers to a `Mixer` (`LocalMixer` here; parallel ones in parplan/smoke/parallel.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from parplan.model.anatomy import BlockAnatomy, Linear, Sublayer
from parplan.model.blocks import block_anatomy
from parplan.smoke.config import IN_CHANNELS, SmokeConfig, to_specs


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_type: str, frames: int
) -> torch.Tensor:
    """Softmax attention of (b, n, h, dh) tensors laid out frame-major with `frames` frames."""
    b, n, h, dh = q.shape
    if block_type == "full":
        groups = [t.transpose(1, 2) for t in (q, k, v)]  # (b, h, n, dh)
        out = F.scaled_dot_product_attention(*groups)
        return out.transpose(1, 2)
    qs, ks, vs = (_to_groups(t, block_type, frames) for t in (q, k, v))
    out = F.scaled_dot_product_attention(qs, ks, vs)
    return _from_groups(out, block_type, frames, b)


def _to_groups(t: torch.Tensor, block_type: str, frames: int) -> torch.Tensor:
    """(b, T*S, h, dh) -> (groups, h, len, dh): frames for spatial, positions for temporal."""
    b, n, h, dh = t.shape
    t = t.reshape(b, frames, n // frames, h, dh)
    if block_type == "temporal":
        t = t.transpose(1, 2)  # (b, S, T, h, dh)
    return t.reshape(-1, t.shape[2], h, dh).transpose(1, 2)


def _from_groups(t: torch.Tensor, block_type: str, frames: int, b: int) -> torch.Tensor:
    g, h, length, dh = t.shape
    t = t.transpose(1, 2).reshape(b, g // b, length, h, dh)
    if block_type == "temporal":
        t = t.transpose(1, 2)
    return t.reshape(b, -1, h, dh)


def torch_linear(lin: Linear, out_features: int | None = None) -> nn.Linear:
    """The nn.Linear an anatomy linear describes (one part of a fused one: `out_features`),
    tagged with its Megatron TP role for parplan/smoke/parallel.py."""
    layer = nn.Linear(lin.in_features, out_features or lin.out_features, bias=lin.bias)
    layer.tp_role = lin.tp
    return layer


def _linear(sub: Sublayer, name: str) -> Linear:
    return next(lin for lin in sub.linears if lin.name == name)


def _parts(lin: Linear) -> tuple[nn.Linear, ...]:
    """A fused projection as one nn.Linear per part (same weights count; q, k, v stay separate
    so TP and FastSeq can slice each by heads)."""
    return tuple(torch_linear(lin, width) for _, width in lin.parts)


class SelfAttention(nn.Module):
    def __init__(self, sub: Sublayer, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = _parts(_linear(sub, "qkv"))
        self.out = torch_linear(_linear(sub, "out"))


class CrossAttention(nn.Module):
    """Queries from the latent tokens, keys/values from the (replicated) text tokens."""

    def __init__(self, sub: Sublayer, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = torch_linear(_linear(sub, "q"))
        self.k, self.v = _parts(_linear(sub, "kv"))
        self.out = torch_linear(_linear(sub, "out"))


class Mlp(nn.Module):
    def __init__(self, sub: Sublayer) -> None:
        super().__init__()
        self.fc1, self.fc2 = (torch_linear(_linear(sub, name)) for name in ("fc1", "fc2"))


class DiTBlock(nn.Module):
    """One block built from its anatomy (parplan/model/blocks.py): modulation, self-attention,
    optional cross-attention, GELU MLP, each linear as the anatomy gives it."""

    def __init__(self, anatomy: BlockAnatomy, heads: int) -> None:
        super().__init__()
        self.block_type = anatomy.block_type
        subs = {sub.name: sub for sub in anatomy.sublayers}
        self.modulation = torch_linear(_linear(subs["modulation"], "linear"))
        self.attn = SelfAttention(subs["attn"], heads)
        self.cross = CrossAttention(subs["cross"], heads) if "cross" in subs else None
        self.mlp = Mlp(subs["mlp"])

    def forward(self, x, c, text, mixer: Mixer) -> torch.Tensor:
        mod = self.modulation(F.silu(c)).unsqueeze(1).chunk(6, dim=-1)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod
        h = modulate(x, shift1, scale1)
        x = x + gate1 * mixer.self_attention(self, h)
        if self.cross is not None:
            x = x + mixer.cross_attention(self, x, text)
        h = modulate(x, shift2, scale2)
        return x + gate2 * mixer.mlp(self, h)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale) + shift


class SmokeDiT(nn.Module):
    def __init__(self, cfg: SmokeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        self.embed = nn.Linear(IN_CHANNELS, d)
        spec = to_specs(cfg)[0]
        blocks = [DiTBlock(block_anatomy(spec, b), cfg.heads) for b in cfg.blocks]
        self.blocks = nn.ModuleList(blocks)
        self.final_modulation = nn.Linear(d, 2 * d)
        self.final = nn.Linear(d, IN_CHANNELS)

    def forward(self, x, c, text, mixer: Mixer | None = None) -> torch.Tensor:
        mixer = mixer or LocalMixer(frames=self.cfg.frames)
        x = self.embed(x)
        for index, block in enumerate(self.blocks):
            x = mixer.enter_block(index, block.block_type, x)
            x = block(x, c, text, mixer)
        x = mixer.leave_blocks(x)
        shift, scale = self.final_modulation(F.silu(c)).unsqueeze(1).chunk(2, dim=-1)
        return self.final(modulate(x, shift, scale))


def heads_view(t: torch.Tensor, heads: int) -> torch.Tensor:
    return t.reshape(*t.shape[:2], heads, -1)


class Mixer:
    """How a block's sub-layers run; this base is the single-process computation."""

    def __init__(self, frames: int) -> None:
        self.frames = frames  # frames in the local (b, n, d) layout

    def enter_block(self, index: int, block_type: str, x: torch.Tensor) -> torch.Tensor:
        return x

    def leave_blocks(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def self_attention(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        a = blk.attn
        q, k, v = (heads_view(lin(h), a.heads) for lin in (a.q, a.k, a.v))
        out = attend(q, k, v, blk.block_type, self.frames)
        return a.out(out.flatten(2))

    def cross_attention(self, blk: DiTBlock, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        a = blk.cross
        q = heads_view(a.q(x), a.heads)
        k, v = (heads_view(lin(text), a.heads) for lin in (a.k, a.v))
        return a.out(attend(q, k, v, "full", 1).flatten(2))

    def mlp(self, blk: DiTBlock, h: torch.Tensor) -> torch.Tensor:
        return blk.mlp.fc2(F.gelu(blk.mlp.fc1(h)))


class LocalMixer(Mixer):
    """Reference and pure data parallelism: every sub-layer on the whole local sequence."""


def build_model(cfg: SmokeConfig) -> SmokeDiT:
    """The same fp32 weights on every rank: seeded init, Linear weights ~ U(±1/sqrt(fan_in))."""
    torch.manual_seed(cfg.seed)
    return SmokeDiT(cfg).to(torch.float32)


def make_batch(cfg: SmokeConfig) -> dict[str, torch.Tensor]:
    """The global batch (dp * micro_batch samples) and the regression target, seeded."""
    g = torch.Generator().manual_seed(cfg.seed + 1)
    b = cfg.strategy.dp * cfg.strategy.micro_batch
    d = cfg.hidden
    return {
        "x": torch.randn(b, cfg.tokens, IN_CHANNELS, generator=g),
        "c": torch.randn(b, d, generator=g),
        "text": torch.randn(b, max(cfg.text_tokens, 1), d, generator=g),
        "target": torch.randn(b, cfg.tokens, IN_CHANNELS, generator=g),
    }


def loss_fn(out: torch.Tensor, target: torch.Tensor, total_elements: int) -> torch.Tensor:
    """Sum of squared errors over the global output size: local losses add up to the global one."""
    return ((out - target) ** 2).sum() / total_elements


def reference_run(cfg: SmokeConfig, model: SmokeDiT, batch: dict) -> tuple[torch.Tensor, dict]:
    """Output and parameter gradients of one forward/backward on the full batch, one process."""
    model.zero_grad(set_to_none=True)
    out = model(batch["x"], batch["c"], batch["text"])
    loss_fn(out, batch["target"], out.numel()).backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return out.detach(), grads
