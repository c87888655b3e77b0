"""USP: Ulysses inside (contiguous ranks, NVLink) × ring outside, on a 2-D SP mesh.

Source: feifeibear/long-context-attention `yunchang/hybrid/attn_layer.py` (LongContextAttention)
and `yunchang/globals.py` (set_seq_parallel_pg, use_ulysses_low=True); Fang & Zhao 2024,
arXiv 2405.07719; sequence_parallel.md §5. Ulysses all-to-alls on X/p buffers within the
Ulysses group, then ring P2P of 2·X_kv/p blocks within the ring group.
"""

from __future__ import annotations

from parplan.cluster.comm_ops import CollectiveCall
from parplan.cost.strategies.base import BlockShape
from parplan.cost.strategies.ring import ring_calls
from parplan.cost.strategies.ulysses import ulysses_calls


def usp_calls(
    shape: BlockShape, *, ulysses: int, ring: int
) -> tuple[list[CollectiveCall], list[CollectiveCall]]:
    p = ulysses * ring
    u_fwd, u_bwd = ulysses_calls(shape, degree=ulysses, dim="ulysses", shard=p)
    r_fwd, r_bwd = ring_calls(shape, degree=ring, dim="ring", shard=p)
    return u_fwd + r_fwd, u_bwd + r_bwd
