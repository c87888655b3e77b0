"""Memory-bound bytes and saved activations of one block, from its anatomy's ops.

Bytes: each pointwise op moves `elements` values per row for every operand it reads and writes,
at its dtype's width: `act` the 16-bit activation (the workload's element bytes), `stream` the
residual stream, which eager PyTorch keeps in fp32 under torch.autocast (PyTorch "Autocast Op
Reference": layer_norm is an fp32 op; mul/add follow type promotion). A cast between two equal
widths does not happen. tests/test_elementwise_traffic.py counts these bytes op by op on a DiT
block and requires equality.

Saved activations (elements per sample, Korthikanti et al. 2022 §4 accounting, priced at the
activation precision by cost/memory.py): what each op keeps for backward (anatomy.py flags).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parplan.model.anatomy import (
    BlockAnatomy,
    Dtype,
    Pointwise,
    Stream,
    identity_memo,
    stream_rows,
)
from parplan.model.geometry import TokenGeometry

AUTOCAST_STREAM_BYTES = 4  # fp32 residual stream and norms under torch.autocast


def dtype_bytes(dtype: Dtype, element_bytes: int) -> int:
    return max(element_bytes, AUTOCAST_STREAM_BYTES) if dtype == "stream" else element_bytes


def op_bytes_per_row(op: Pointwise, element_bytes: int) -> int:
    widths = [dtype_bytes(d, element_bytes) for d in (*op.reads, *op.writes)]
    if op.kind == "cast" and len(set(widths)) == 1:
        return 0
    return op.elements * sum(widths)


class RowBytes(BaseModel):
    """Forward memory-bound bytes per row of one stream: whole on every TP rank (residual
    stream, norms, casts, gates) and split by TP (head-split copies, the FFN activation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: Stream
    whole: int = 0
    split: int = 0


@identity_memo
def pointwise_bytes(block: BlockAnatomy, *, element_bytes: int, unfused: bool) -> list[RowBytes]:
    """Per stream, in the order the streams first appear; `unfused`: the attention kernel is
    unfused (its heads-major output is copied back to tokens-major)."""
    out: dict[Stream, list[int]] = {}
    for op in block.pointwise():
        if op.unfused_only and not unfused:
            continue
        whole_split = out.setdefault(op.stream, [0, 0])
        whole_split[op.tp_split] += op_bytes_per_row(op, element_bytes)
    return [RowBytes(stream=s, whole=w, split=p) for s, (w, p) in out.items()]


class SavedElements(BaseModel):
    """Activation elements one block keeps for backward, per sample, before any split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    whole: int  # whole on every TP rank (split by TP only with Megatron-SP)
    split: int  # split by TP
    attention_out: int  # part of `split` that selective recompute drops


@identity_memo
def saved_elements(block: BlockAnatomy, geo: TokenGeometry) -> SavedElements:
    """Linears keep their input (split when row-parallel), the attention core Q, K, V and its
    output, flagged pointwise ops what they read."""
    whole, split, attn_out = 0, 0, 0
    for lin in block.linears():
        if lin.saves_input:
            n = stream_rows(lin.stream, geo) * lin.in_features
            whole, split = (whole, split + n) if lin.tp == "row" else (whole + n, split)
    for call in block.attention_calls():
        a = call.shape(geo)
        if not (a.q_len and a.kv_len):
            continue
        q_rows, kv_rows = a.sequences * a.q_len, a.sequences * a.kv_len
        out = q_rows * a.heads * a.head_dim
        split += 2 * out + 2 * kv_rows * a.kv_heads * a.head_dim
        attn_out += out
    for op in block.pointwise():
        if op.saves_input:
            n = stream_rows(op.stream, geo) * op.elements * len(op.reads)
            whole, split = (whole, split + n) if op.tp_split else (whole + n, split)
    return SavedElements(whole=whole, split=split, attention_out=attn_out)
