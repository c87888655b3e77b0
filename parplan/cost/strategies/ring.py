"""Ring attention / P2P context parallelism: K and V circulate around the ring.

Sources: zhuzilin/ring-flash-attention and feifeibear/long-context-attention
`yunchang/ring/ring_flash_attn.py`; Liu et al. 2023 (arXiv 2310.01889). Forward: p−1 P2P steps
each sending the local K,V block 2·X_kv/p (per-GPU 2·X_kv·(p−1)/p, sequence_parallel.md §2a);
backward: K,V again (p−1 steps) and dK,dV, which travel with them and make one final hop home
(p steps), in fp32: both implementations accumulate dk, dv in fp32 and send the accumulators
(`dk = block_dk_buffer.to(torch.float32)` ... `send_recv(dk)`). Each step overlaps with the
blockwise attention of the block already present.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall, GroupDim
from parplan.cost.strategies.base import BlockShape

DKV_BYTES = 4  # fp32 dK, dV accumulators travel the ring


def ring_calls(
    shape: BlockShape, *, degree: int, dim: GroupDim = "ring", shard: int | None = None
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    """(fwd, bwd) P2P ring calls of one block; the K,V block is 2·X_kv/shard bytes."""
    if degree <= 1:
        return [], []
    shard = shard or degree
    n = shape.self_attentions
    block = 2 * shape.x_kv_bytes / shard
    grads = block * max(DKV_BYTES, shape.element_bytes) / shape.element_bytes
    fwd = [CollectiveCall(op="p2p_ring", dim=dim, buffer_bytes=block, count=n,
                          steps=degree - 1, label="ring.kv")]
    bwd = [
        CollectiveCall(op="p2p_ring", dim=dim, buffer_bytes=block, count=n,
                       steps=degree - 1, phase="bwd", label="ring.kv"),
        CollectiveCall(op="p2p_ring", dim=dim, buffer_bytes=grads, count=n,
                       steps=degree, phase="bwd", label="ring.dkv"),
    ]
    return fwd, bwd


def ring_kv_buffer_bytes(shape: BlockShape, *, shard: int) -> float:
    """Double-buffered K,V receive blocks held during a ring step (sequence_parallel.md §2a)."""
    return 2 * (2 * shape.x_kv_bytes / shard)
