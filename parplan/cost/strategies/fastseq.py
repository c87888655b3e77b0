"""FastSeq (OpenDiT, Feb 2024): all-gather the layer input, project Q/K/V for a/p heads, one
all-to-all back.

Source: NUS-HPC-AI-Lab/OpenDiT commit 92407f9, opendit/utils/operation.py (`AllGather`,
`AsyncAllGatherForTwo`) and opendit/models/dit.py (sequence_parallel_type "longseq");
sequence_parallel.md §3. parplan runs the gather as an async ring of p−1 P2P steps whose chunks
feed the QKV GEMM as they arrive (OpenDiT overlaps only at p = 2); the backward reduce-scatters
dx the same way. Per-GPU forward bytes: X·(p−1)/p + X·(p−1)/p² = X·(p²−1)/p².
Extra activation memory: the gathered x is saved for the QKV weight gradient, X·(p−1)/p.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.strategies.base import BlockShape


def fastseq_calls(
    shape: BlockShape, *, degree: int, tp: int = 1
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """(fwd, bwd) calls of one block; under TP the attention output is a/tp heads wide."""
    if degree <= 1:
        return [], []
    p, n = degree, shape.self_attentions
    chunk = shape.x_bytes / p
    out = chunk / tp
    fwd = [
        CollectiveCall(op="p2p_ring", dim="sp", buffer_bytes=chunk, count=n, steps=p - 1,
                       label="fastseq.gather_x"),
        CollectiveCall(op="all_to_all", dim="sp", buffer_bytes=out, count=n,
                       label="fastseq.out"),
    ]
    bwd = [
        CollectiveCall(op="p2p_ring", dim="sp", buffer_bytes=chunk, count=n, steps=p - 1,
                       phase="bwd", label="fastseq.reduce_scatter_dx"),
        CollectiveCall(op="all_to_all", dim="sp", buffer_bytes=out, count=n, phase="bwd",
                       label="fastseq.out"),
    ]
    return fwd, bwd


def fastseq_extra_activation_bytes(shape: BlockShape, *, degree: int) -> float:
    """The gathered full-sequence input saved per self-attention (beyond the /p shard)."""
    return shape.self_attentions * shape.x_bytes * (degree - 1) / degree
