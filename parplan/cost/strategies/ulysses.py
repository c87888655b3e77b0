"""DeepSpeed-Ulysses: all-to-all of q, k, v before attention and of the output after it.

Source: microsoft/DeepSpeed deepspeed/sequence/layer.py (`DistributedAttention`, three q/k/v
all-to-alls plus one on the output; the backward mirrors them); Jacobs et al. 2023,
arXiv 2309.14509. Per-GPU forward bytes sent per attention: 4·X·(p−1)/p² for MHA
(sequence_parallel.md §1). Needs heads % p == 0.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall, GroupDim
from parplan.cost.strategies.base import BlockShape


def ulysses_calls(
    shape: BlockShape, *, degree: int, dim: GroupDim = "ulysses", shard: int | None = None
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """(fwd, bwd) all-to-alls of one block; `shard` is how many ranks split the sequence
    before the all-to-all (the whole SP degree; for USP larger than the Ulysses group)."""
    if degree <= 1:
        return [], []
    shard = shard or degree
    n = shape.self_attentions
    calls = [
        CollectiveCall(op="all_to_all", dim=dim, buffer_bytes=shape.x_bytes / shard,
                       count=2 * n, label="ulysses.q+out"),
        CollectiveCall(op="all_to_all", dim=dim, buffer_bytes=shape.x_kv_bytes / shard,
                       count=2 * n, label="ulysses.kv"),
    ]
    return calls, [c.model_copy(update={"phase": "bwd"}) for c in calls]
