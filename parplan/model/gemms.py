"""The GEMMs of one block on one GPU for one micro-batch, from its anatomy.

A linear `y = x W^T` on m rows is one GEMM C[M, N] = A[M, K] · B[K, N] with M = m, N = out,
K = in. Megatron tensor parallelism (Shoeybi et al. 2019 §3) splits a column-parallel weight's
outputs (N / tp) and a row-parallel weight's inputs (K / tp); replicated linears (adaLN) run
whole. Sequence parallelism splits the token rows (M / sp) of every linear on the block's
sequence; cross-attention's text keys are whole on every rank, and per-sample linears run on
the micro-batch's samples. FastSeq (OpenDiT; parplan/cost/strategies/fastseq.py) projects Q,
K, V of its heads / sp over the gathered sequence.
Backward runs two GEMMs per linear: dgrad (M, K, N) and wgrad (N, K, M) (`backward_shapes`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.anatomy import (
    BlockAnatomy,
    Linear,
    Stream,
    TpRole,
    identity_memo,
    stream_rows,
)
from parplan.model.geometry import TokenGeometry
from parplan.specs import ceil_div

TOKEN_STREAMS: tuple[Stream, ...] = ("sequence", "visual")


class GemmShape(BaseModel):
    """One GEMM C[m, n] = A[m, k] · B[k, n], run `count` times per block forward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # sublayer.linear, e.g. "attn.qkv"
    m: int
    n: int
    k: int
    count: int = 1
    tp_role: TpRole

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k * self.count


def _rows(lin: Linear, geo: TokenGeometry, *, micro_batch: int, sp: int, joint: bool) -> int:
    """Rows one GPU runs: token rows split by SP (the text too when it joins the sequence)."""
    rows = micro_batch * stream_rows(lin.stream, geo)
    if lin.stream == "sample" or (lin.stream == "text" and not joint):
        return rows
    return ceil_div(rows, sp)


def gemm_shapes(
    block: BlockAnatomy, geo: TokenGeometry, *, micro_batch: int, tp: int = 1, sp: int = 1,
    sp_method: str = "ulysses",
) -> list[GemmShape]:  # fmt: skip
    """Forward GEMMs of one block on one GPU for one micro-batch, in the order they run."""
    joint = any(call.kind == "joint" for call in block.attention_calls()) or geo.joint
    shapes = []
    for sub in block.sublayers:
        for lin in sub.linears:
            m = _rows(lin, geo, micro_batch=micro_batch, sp=sp, joint=joint)
            n, k = lin.out_features, lin.in_features
            if lin.tp == "column":
                n = ceil_div(n, tp)
            elif lin.tp == "row":
                k = ceil_div(k, tp)
            if sp_method == "fastseq" and lin.role == "qkv" and sp > 1:
                m, n = m * sp, ceil_div(n, sp)  # a/sp heads over the whole gathered sequence
            shapes.append(GemmShape(name=f"{sub.name}.{lin.name}", m=m, n=n, k=k, tp_role=lin.tp))
    return shapes


def backward_shapes(shape: GemmShape) -> tuple[GemmShape, GemmShape]:
    """dX = dY · W: (m, k, n); dW = dY^T · X: (n, k, m)."""
    dgrad = shape.model_copy(update={"name": f"{shape.name}.dgrad", "n": shape.k, "k": shape.n})
    wgrad = shape.model_copy(
        update={"name": f"{shape.name}.wgrad", "m": shape.n, "n": shape.k, "k": shape.m}
    )
    return dgrad, wgrad


@identity_memo
def token_macs(block: BlockAnatomy) -> tuple[int, int, int]:
    """Per-token MACs of the linears on the block's token rows: (one self-attention's Q, K and
    V outputs, the column-parallel ones, all). Per-sample modulation and text-row projections are left
    out: the cost model uses the ratios as the QKV / column-parallel shares of GEMM time."""
    token = [lin for lin in block.linears() if lin.stream in TOKEN_STREAMS]
    first = next((lin for lin in token if lin.role == "qkv"), None)
    qkv = first.in_features * sum(w for p, w in first.parts if p in ("q", "k", "v")) if first else 0
    column = sum(lin.in_features * lin.out_features for lin in token if lin.tp == "column")
    return qkv, column, sum(lin.in_features * lin.out_features for lin in token)
