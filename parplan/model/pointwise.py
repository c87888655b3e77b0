"""The memory-bound ops of a block as the code of each family runs them (parplan/model/blocks.py
places them between its linears and attention calls; traffic.py prices them, eager or fused):
* DiT blocks: eager PyTorch under torch.autocast (facebookresearch/DiT models.py DiTBlock,
  PixArt, Open-Sora, Latte): LayerNorm and the residual stream in fp32, modulate as mul + add,
  a 16-bit copy of each GEMM input, the gate on 16-bit operands;
* GPT blocks: Megatron's LayerNorm (inside TE's LayerNormLinear) and bias-dropout-add at the
  activation precision; with SwiGLU the Llama reference code (meta-llama/llama3 model.py, as
  torchtitan's eager model): RMSNorm upcast to fp32 over separate kernels, rotary through
  complex fp32;
* SwiGLU runs silu, then the multiply (Llama `w2(F.silu(w1(x)) * w3(x))`, genmo Mochi
  FeedForward `w2(F.silu(x) * gate)`);
* qk-norm and rotary embeddings as the `qk_norm_kernel` / `rope` extras say (`qk_ops`).
tests/test_elementwise_traffic.py traces these blocks and counts their bytes op by op, eager and
with every run of ops between two GEMM/attention calls fused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.anatomy import Dtype, Operand, Pointwise, PointwiseKind, Stream
from parplan.model.options import ArchOptions, Dims, QkNorm, rope_kind
from parplan.specs import ModelSpec


class Ctx(BaseModel):
    """What a builder reads: the spec, its extras and the resolved widths."""

    model_config = ConfigDict(frozen=True)

    model: ModelSpec
    opts: ArchOptions
    dm: Dims

    @property
    def eager(self) -> bool:
        """DiT code runs eager under autocast; GPT code is Megatron's or Llama's."""
        return self.model.family == "dit"

    @property
    def llama(self) -> bool:
        """A GPT block with SwiGLU is written like Llama (RMSNorm over fp32 kernels)."""
        return not self.eager and self.dm.swiglu

    @property
    def modulated(self) -> bool:
        return self.eager and self.opts.modulation != "none"


def op(name: str, kind: PointwiseKind, stream: Stream, width: int, reads: tuple[Operand, ...],
        writes: tuple[Operand, ...] = (), **flags) -> Pointwise:  # fmt: skip
    return Pointwise(name=name, kind=kind, stream=stream, elements=width, reads=reads,
                     writes=writes, **flags)  # fmt: skip


def rms_norm_ops(prefix: str, stream: Stream, width: int, src: str, dst: str, *, weight: Dtype,
                 kind: PointwiseKind = "norm", tp_split: bool = False, saves: tuple[str, ...] = (),
                 fusion_break: bool = False) -> tuple[Pointwise, ...]:  # fmt: skip
    """RMSNorm as reference code writes it: x.float(), pow, mean, x·rsqrt, cast back, ·weight
    (Llama `self._norm(x.float()).type_as(x) * self.weight`; FLUX / HunyuanVideo the same
    order). `weight`: the product's dtype (fp32 under autocast with fp32 parameters)."""
    f32 = lambda name: ((name, "f32"),)  # noqa: E731
    return (
        op(f"{prefix}float", "cast", stream, width, ((src, "act"),), f32("xf"), tp_split=tp_split,
            saves=saves, fusion_break=fusion_break),
        op(f"{prefix}pow", kind, stream, width, f32("xf"), f32("sq"), tp_split=tp_split),
        op(f"{prefix}mean", kind, stream, width, f32("sq"), tp_split=tp_split),
        op(f"{prefix}scale", kind, stream, width, f32("xf"), f32("xn"), tp_split=tp_split),
        op(f"{prefix}type_as", "cast", stream, width, f32("xn"), (("xn", "act"),),
            tp_split=tp_split),
        op(f"{prefix}weight", kind, stream, width, (("xn", "act"),), ((dst, weight),),
            tp_split=tp_split),
    )  # fmt: skip


def pre_ops(c: Ctx, stream: Stream, width: int, *, norm: bool = True) -> tuple[Pointwise, ...]:
    """Before a sublayer's GEMMs. Eager DiT: LayerNorm r+w at fp32, modulate x·(1+scale) +
    shift (mul, add: r+w each at fp32), the GEMM input's 16-bit copy. Megatron: LayerNorm r+w;
    Llama: rms_norm_ops. A GPT norm starts a new kernel under a fused stack (fusion_break)."""
    if c.llama:
        return rms_norm_ops("norm_", stream, width, "x", "h", weight="act", saves=("x",),
                            fusion_break=True)  # fmt: skip
    if not c.eager:
        return (op("norm", "norm", stream, width, (("x", "act"),), (("h", "act"),),
                    saves=("x",), fusion_break=True),)  # fmt: skip
    ops = []
    src = "x"
    if norm:
        ops.append(op("norm", "norm", stream, width, (("x", "stream"),), (("h", "stream"),),
                       saves=("x",)))  # fmt: skip
        if c.modulated:
            ops += [op(f"modulate_{x}", "modulate", stream, width, (("h", "stream"),),
                        (("h", "stream"),)) for x in ("scale", "shift")]  # fmt: skip
        src = "h"
    return (*ops, op("cast", "cast", stream, width, ((src, "stream"),), (("h", "act"),)))


def post_ops(c: Ctx, stream: Stream, width: int, branch: str, *,
             gate: bool = True) -> tuple[Pointwise, ...]:  # fmt: skip
    """After the sublayer's last GEMM (`branch`: its output). Eager DiT: gate (16-bit GEMM
    output x 16-bit gate), residual add (fp32 stream + 16-bit branch -> fp32). GPT: the
    residual (Megatron's fused bias-dropout-add) r 2d, w d at 16 bit."""
    if not c.eager:
        return (op("residual", "residual", stream, width, (("x", "act"), (branch, "act")),
                    (("x", "act"),)),)  # fmt: skip
    if gate and c.modulated:
        gated = op("gate", "gate", stream, width, ((branch, "act"),), (("g", "act"),),
                    saves=(branch,))  # fmt: skip
        branch = "g"
    residual = op("residual", "residual", stream, width, (("x", "stream"), (branch, "act")),
                   (("x", "stream"),))  # fmt: skip
    return (gated, residual) if gate and c.modulated else (residual,)


def layout_copy(stream: Stream, width: int) -> Pointwise:
    """An unfused (math) attention returns heads-major output; `.transpose(1, 2).reshape` then
    copies it (a fused kernel writes tokens-major and the reshape is a view)."""
    return op("layout_copy", "copy", stream, width, (("attention", "act"),),
               (("attention", "act"),), tp_split=True, unfused_only=True)  # fmt: skip


def activation(c: Ctx, stream: Stream, ffn: int, *, source: str = "fc1") -> tuple[Pointwise, ...]:
    """GELU r+w f on FC1's output (`source`); SwiGLU silu r+w f, then the multiply r 2f, w f;
    16-bit, split by TP."""
    if not c.dm.swiglu:
        return (op("activation", "activation", stream, ffn, ((source, "act"),), (("a", "act"),),
                    tp_split=True, saves=(source,)),)  # fmt: skip
    return (
        op("silu", "activation", stream, ffn, (("gate", "act"),), (("s", "act"),),
            tp_split=True, saves=("gate",)),
        op("multiply", "activation", stream, ffn, (("s", "act"), ("up", "act")),
            (("a", "act"),), tp_split=True, saves=("up",)),
    )  # fmt: skip


def qk_ops(c: Ctx, kind: QkNorm, *, q: tuple[Stream, int], k: tuple[Stream, int],
           rope: tuple[Stream, int, int] | None) -> tuple[Pointwise, ...]:  # fmt: skip
    """qk-norm on q and k ((stream, width) each), then rotary on q, k ((stream, q width, k
    width)), between the QKV projection and attention, split by TP:
    * qk-norm `fp32` (BFL flux src/flux/modules/layers.py RMSNorm + QKNorm `q.to(v)`; HunyuanVideo
      hyvideo/modules/models.py `self.img_attn_q_norm(img_q).to(img_v)`): rms_norm_ops with an
      fp32 weight under autocast, cast back to 16 bit; LayerNorm (CogVideoX): autocast's fp32
      copy, LayerNorm at fp32, the cast back; `fused` (Open-Sora 2.0 layers.py FusedRMSNorm,
      Liger): one kernel r+w at 16 bit;
    * rope `complex_fp32` (meta-llama/llama3 model.py apply_rotary_emb): x.float(), complex
      multiply, type_as; `fused` (Open-Sora 2.0 math.py LigerRopeFunction; TE fused RoPE): one
      kernel r+w at 16 bit."""
    ops: list[Pointwise] = []
    if kind != "none":
        for name, (stream, width) in (("q", q), ("k", k)):
            ops += _norm_one(c, kind, name, stream, width)
    style = rope_kind(c.model, c.opts)
    if rope is not None and style != "none":
        stream, q_width, k_width = rope
        for name, width in (("q", q_width), ("k", k_width)):
            ops += _rope_one(style, name, stream, width)
    return tuple(ops)


def _norm_one(c: Ctx, kind: QkNorm, name: str, stream: Stream, width: int) -> tuple[Pointwise, ...]:
    pre = f"{name}_norm_"
    if c.opts.qk_norm_kernel == "fused":
        return (op(f"{pre}fused", "qk_norm", stream, width, ((name, "act"),), ((name, "act"),),
                    tp_split=True),)  # fmt: skip
    if kind.startswith("rms"):
        ops = rms_norm_ops(pre, stream, width, name, name, weight="stream", kind="qk_norm",
                           tp_split=True)  # fmt: skip
        return (*ops, op(f"{pre}to_v", "cast", stream, width, ((name, "stream"),),
                          ((name, "act"),), tp_split=True))  # fmt: skip
    return (
        op(f"{pre}autocast", "cast", stream, width, ((name, "act"),), (("xf", "f32"),), tp_split=True),
        op(f"{pre}layer_norm", "qk_norm", stream, width, (("xf", "f32"),), (("xn", "f32"),),
            tp_split=True),
        op(f"{pre}cast", "cast", stream, width, (("xn", "f32"),), ((name, "act"),), tp_split=True),
    )  # fmt: skip


def _rope_one(style: str, name: str, stream: Stream, width: int) -> tuple[Pointwise, ...]:
    pre = f"{name}_rope_"
    if style == "fused":
        return (op(f"{pre}fused", "rope", stream, width, ((name, "act"),), ((name, "act"),),
                    tp_split=True),)  # fmt: skip
    return (
        op(f"{pre}float", "cast", stream, width, ((name, "act"),), (("xf", "f32"),), tp_split=True),
        op(f"{pre}multiply", "rope", stream, width, (("xf", "f32"),), (("xr", "f32"),),
            tp_split=True),
        op(f"{pre}type_as", "cast", stream, width, (("xr", "f32"),), ((name, "act"),),
            tp_split=True),
    )  # fmt: skip
