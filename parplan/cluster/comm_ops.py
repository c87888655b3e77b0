"""The record of one collective a parallel strategy issues, shared by the cost model and smoke.

Byte convention (the same as `parplan collective --bytes`): `buffer_bytes` is the full buffer:
the all-gather output, the all-reduce / reduce-scatter input, each rank's all-to-all buffer, the
broadcast buffer, and for `p2p_ring` the block one rank sends per step (`steps` steps).
`payload_bytes` is what one rank hands to torch.distributed (the c10d op's input tensors; for
P2P the sent tensors): the quantity `parplan smoke` measures at the c10d boundary.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CollectiveOp = Literal[
    "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "p2p_ring"
]
GroupDim = Literal["dp", "tp", "sp", "pp", "ulysses", "ring", "dp_sp"]
Phase = Literal["fwd", "bwd", "recompute", "step"]


class CollectiveCall(BaseModel):
    """`count` identical calls of `op` over every group of dimension `dim`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: CollectiveOp
    dim: GroupDim
    buffer_bytes: float = Field(ge=0)
    count: int = Field(default=1, ge=0)
    steps: int = Field(default=1, ge=0)  # p2p_ring only: sends per call
    phase: Phase = "fwd"
    label: str = ""  # e.g. "ulysses.qkv", "tp.attn_out", "dp.grad"


def payload_bytes(call: CollectiveCall, group_size: int) -> float:
    """Bytes one rank passes into the c10d op(s) of `call` (all `count` calls)."""
    if group_size <= 1:
        return 0.0
    per_call = {
        "all_reduce": call.buffer_bytes,
        "reduce_scatter": call.buffer_bytes,
        "all_to_all": call.buffer_bytes,
        "broadcast": call.buffer_bytes,
        "all_gather": call.buffer_bytes / group_size,
        "p2p_ring": call.buffer_bytes * call.steps,
    }[call.op]
    return per_call * call.count


def sent_bytes(call: CollectiveCall, group_size: int) -> float:
    """Bytes one rank sends on the wire with the bandwidth-optimal algorithm (one call).

    Textbook volumes (../shared/reference/sequence_parallel.md §0; Thakur et al. 2005): ring
    all-gather and reduce-scatter (p-1)/p·S, ring all-reduce 2(p-1)/p·S, all-to-all (p-1)/p of
    each rank's buffer, pipelined-ring broadcast S, P2P ring: the block once per step.
    """
    p = group_size
    if p <= 1:
        return 0.0
    s = call.buffer_bytes
    return {
        "all_reduce": 2 * (p - 1) / p * s,
        "all_gather": (p - 1) / p * s,
        "reduce_scatter": (p - 1) / p * s,
        "all_to_all": (p - 1) / p * s,
        "broadcast": s,
        "p2p_ring": s * call.steps,
    }[call.op]
