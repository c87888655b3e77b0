"""One block as its operators: the linear layers, the attention calls, the norms and elementwise
ops, and the parameter tensors that are not linears. parplan/model/blocks.py writes one such
description per block type; everything else is derived from it here and in gemms.py / traffic.py:

* parameters (`param_split`): each linear's weight and bias, split the way Megatron tensor
  parallelism shards them (Shoeybi et al. 2019 §3: column-parallel weights and biases and
  row-parallel weights are split; row-parallel biases, norms and modulation are replicated);
* FLOPs (`gemm_flops`, `attention_shapes`): 2 per multiply-add, each linear on the rows of its
  stream, each attention call on the sequences its geometry makes;
* GEMM shapes per GPU (gemms.py), memory-bound bytes eager and fused, kernel launches and saved
  activations (traffic.py), and the smoke model's torch modules (parplan/smoke/model.py).

A sublayer lists its steps in the order they run, so the memory-bound ops between two GEMM or
attention calls are known. Steps name the tensors they make and use, as program variables
scoped by stream: a linear writes its parts (or its name), an attention call its name, a
pointwise op its `writes`; a later write of the same name is a new tensor.
Rows are per sample and named by stream, resolved by `stream_rows` on a TokenGeometry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from parplan.model.geometry import TokenGeometry

F = TypeVar("F", bound=Callable)
Stream = Literal["sequence", "visual", "text", "sample"]
TpRole = Literal["column", "row", "replicated"]
# `stream`: fp32 under eager autocast (the residual stream, results promoted by an fp32 parameter),
# 16-bit under a fused stack; `act`: the 16-bit activation; `f32`: an explicit .float() upcast
Dtype = Literal["stream", "act", "f32"]
# (tensor name, its dtype) or (name, dtype, values per row when not the op's `elements`)
Operand = tuple[str, Dtype] | tuple[str, Dtype, int]
LinearRole = Literal["qkv", "q", "kv", "out", "fc1", "fc2", "modulation"]
PointwiseKind = Literal[
    "norm", "modulate", "cast", "gate", "residual", "activation", "copy", "qk_norm", "rope"
]
# how an attention call's sequences are cut from the block's tokens (TokenGeometry)
Over = Literal["sequence", "frames", "positions", "text"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityCache:
    """Results of pure functions of frozen inputs, keyed by the inputs' identity (the planner
    derives the same blocks thousands of times). Each entry keeps its input alive, so an id
    cannot be reused while its entry exists; the cache empties itself past `size` entries."""

    def __init__(self, size: int = 512) -> None:
        self._entries: dict[tuple, tuple[object, object]] = {}
        self._size = size

    def get(self, obj: object, key: tuple) -> object | None:
        hit = self._entries.get((id(obj), *key))
        return hit[1] if hit is not None else None

    def put(self, obj: object, key: tuple, value: object) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[(id(obj), *key)] = (obj, value)

    def clear(self) -> None:
        self._entries.clear()


def _key(arg: object) -> object:
    return geometry_key(arg) if isinstance(arg, TokenGeometry) else arg


def identity_memo(fn: F) -> F:
    """Memoize fn(obj, *args) on obj's identity and the other arguments' values (a geometry by
    `geometry_key`). Results are shared: callers must not mutate them."""
    cache = IdentityCache()

    @functools.wraps(fn)
    def memo(obj, *args, **kwargs):
        key = (*map(_key, args), *((k, _key(v)) for k, v in sorted(kwargs.items())))
        hit = cache.get(obj, key)
        if hit is None:
            hit = fn(obj, *args, **kwargs)
            cache.put(obj, key, hit)
        return hit

    memo.cache_clear = cache.clear  # type: ignore[attr-defined]
    return memo  # type: ignore[return-value]


def geometry_key(geo: TokenGeometry) -> tuple[int, ...]:
    """What stream rows and attention calls read from a geometry."""
    return (geo.tokens, geo.text_tokens, geo.frames, geo.tokens_per_frame, int(geo.joint))


def stream_rows(stream: Stream, geo: TokenGeometry) -> int:
    """Rows per sample: `sequence` the block's self-attention sequence (N, or N + M when the text
    joins it), `visual` the N latent tokens, `text` the M text tokens, `sample` one row."""
    rows = {"sequence": geo.attention_tokens, "visual": geo.tokens, "text": geo.text_tokens}
    return rows.get(stream, 1)


class ParamSplit(_Record):
    """Parameters of one block, split the way Megatron tensor parallelism shards them."""

    sharded: int = 0  # column/row-parallel weights + column-parallel biases
    replicated: int = 0  # norms, modulation, row-parallel output biases

    @property
    def total(self) -> int:
        return self.sharded + self.replicated

    def __add__(self, other: ParamSplit) -> ParamSplit:
        return ParamSplit(
            sharded=self.sharded + other.sharded, replicated=self.replicated + other.replicated
        )


class Linear(_Record):
    """y = x W^T (+ b) on every row of `stream`. A fused projection lists its outputs in `parts`
    (name, width); Megatron shards each part over TP. `saves_input`: the block keeps this input
    for the weight gradient (False when another op already keeps the same tensor)."""

    name: str
    stream: Stream
    in_features: int
    out_features: int
    bias: bool
    tp: TpRole
    role: LinearRole
    parts: tuple[tuple[str, int], ...] = ()
    saves_input: bool = True

    @property
    def params(self) -> ParamSplit:
        weight, bias = self.in_features * self.out_features, self.out_features * self.bias
        if self.tp == "column":
            return ParamSplit(sharded=weight + bias)
        if self.tp == "row":
            return ParamSplit(sharded=weight, replicated=bias)
        return ParamSplit(replicated=weight + bias)


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


class AttentionCall(_Record):
    """softmax(Q K^T / sqrt(hd)) V. `over`: `sequence` one sequence of the block's rows (joint
    when the text joins it), `frames` T sequences of S tokens (spatial), `positions` S
    sequences of T frames (temporal), `text` N queries against M text keys (cross)."""

    name: str
    kind: Literal["self", "joint", "cross"]
    over: Over
    heads: int
    kv_heads: int
    head_dim: int
    causal: bool = False
    stream: Stream | None = None  # the rows its queries and output live on; default by `over`

    def shape(self, geo: TokenGeometry) -> AttentionShape:
        n, seqs, kv_len = geo.attention_tokens, 1, None
        kind = "joint" if self.kind == "self" and geo.joint else self.kind
        if self.over == "frames":
            seqs, n = geo.frames, geo.tokens_per_frame
        elif self.over == "positions":
            seqs, n = geo.tokens_per_frame, geo.frames
        elif self.over == "text":
            n, kv_len = geo.tokens, geo.text_tokens
        return AttentionShape(
            kind=kind, sequences=seqs, q_len=n, kv_len=n if kv_len is None else kv_len,
            heads=self.heads, kv_heads=self.kv_heads, head_dim=self.head_dim, causal=self.causal,
        )  # fmt: skip

    @property
    def q_stream(self) -> Stream:
        if self.stream is not None:
            return self.stream
        return "visual" if self.over in ("frames", "positions", "text") else "sequence"


class Pointwise(_Record):
    """A memory-bound op on `elements` values per row of `stream`: it reads one value per entry
    of `reads` and writes one per entry of `writes`, each named and in its dtype. Values too
    narrow to matter (norm statistics, per-sample modulation, rotary tables) are not listed.
    A `cast` between two equal widths does not run (its output is its input). `tp_split`: its
    tensors are head- or FFN-split under TP. `saves`: the read operands the block keeps for
    backward. `unfused_only`: exists only with an unfused attention kernel. `fusion_break`: a
    fused stack starts a new kernel here (Megatron-Core runs the LayerNorm inside Transformer
    Engine's LayerNormLinear, apart from the bias-dropout-add before it)."""

    name: str
    kind: PointwiseKind
    stream: Stream
    elements: int
    reads: tuple[Operand, ...]
    writes: tuple[Operand, ...] = ()
    tp_split: bool = False
    saves: tuple[str, ...] = ()
    unfused_only: bool = False
    fusion_break: bool = False


class ParamTensor(_Record):
    """Parameters that are not a linear: affine norm weights, qk-norm, adaLN-single tables.
    Replicated under TP; no FLOPs and, where noted in blocks.py, no modelled traffic."""

    name: str
    numel: int


Step = Linear | AttentionCall | Pointwise


class Sublayer(_Record):
    """Ops that belong together: one attention (its projections and call), one MLP, one
    modulation, as `steps` in the order they run. The smoke model builds one torch submodule
    per sublayer (`name`)."""

    name: str
    steps: tuple[Step, ...] = ()
    params: tuple[ParamTensor, ...] = ()

    @property
    def linears(self) -> tuple[Linear, ...]:
        return tuple(s for s in self.steps if isinstance(s, Linear))

    @property
    def attention(self) -> tuple[AttentionCall, ...]:
        return tuple(s for s in self.steps if isinstance(s, AttentionCall))

    @property
    def pointwise(self) -> tuple[Pointwise, ...]:
        return tuple(s for s in self.steps if isinstance(s, Pointwise))


class BlockAnatomy(_Record):
    block_type: str
    sublayers: tuple[Sublayer, ...]
    params: tuple[ParamTensor, ...] = ()  # block-level affine norms

    def linears(self) -> Iterator[Linear]:
        return (lin for sub in self.sublayers for lin in sub.linears)

    def attention_calls(self) -> Iterator[AttentionCall]:
        return (call for sub in self.sublayers for call in sub.attention)

    def pointwise(self) -> Iterator[Pointwise]:
        return (op for sub in self.sublayers for op in sub.pointwise)

    def steps(self) -> Iterator[Step]:
        return (step for sub in self.sublayers for step in sub.steps)

    def param_tensors(self) -> Iterator[ParamTensor]:
        yield from self.params
        yield from (t for sub in self.sublayers for t in sub.params)

    def sublayer(self, name: str) -> Sublayer | None:
        return next((sub for sub in self.sublayers if sub.name == name), None)


# ------------------------------------------------------------------------- derived


@identity_memo
def param_split(block: BlockAnatomy) -> ParamSplit:
    """Trainable parameters of one block by TP role."""
    split = ParamSplit(replicated=sum(t.numel for t in block.param_tensors()))
    for lin in block.linears():
        split = split + lin.params
    return split


@identity_memo
def gemm_flops(block: BlockAnatomy, geo: TokenGeometry) -> float:
    """Forward FLOPs of every linear of one block per sample (2 per multiply-add)."""
    macs = sum(stream_rows(lin.stream, geo) * lin.in_features * lin.out_features
               for lin in block.linears())  # fmt: skip
    return 2.0 * macs


@identity_memo
def attention_shapes(block: BlockAnatomy, geo: TokenGeometry) -> list[AttentionShape]:
    """Self-attentions first, then cross-attention (the order the cost model reports)."""
    calls = sorted(block.attention_calls(), key=lambda call: call.kind == "cross")
    return [call.shape(geo) for call in calls]


@identity_memo
def gemm_rows(block: BlockAnatomy, geo: TokenGeometry) -> int:
    """Rows through the self-attention QKV projections per sample: N, or N + M when the text
    joins the sequence (an MM-DiT block's two streams together)."""
    streams = {lin.stream for lin in block.linears() if lin.role == "qkv"}
    return sum(stream_rows(stream, geo) for stream in streams)
