"""Time of a strategy's collectives on the cluster graph, with all groups of a dimension at once.

Binds a strategy's process groups (placement by rank order) to the topology, then asks the
collective model for each `CollectiveCall`. Topologies and groups are cached because the planner
evaluates thousands of strategies on the same cluster.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict

from parplan.cluster.collectives import estimate_collective
from parplan.cluster.comm_ops import CollectiveCall
from parplan.cluster.placement import strategy_group_arrays
from parplan.cluster.topology import Topology
from parplan.specs import ClusterSpec, StrategySpec


class CallTime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call: CollectiveCall
    group_size: int
    time_s: float  # all `count` calls
    tier: str
    edge: str


@lru_cache(maxsize=64)
def _topology(cluster_json: str, num_gpus: int) -> Topology:
    return Topology.from_cluster(ClusterSpec.model_validate_json(cluster_json), num_gpus)


@lru_cache(maxsize=256)
def _groups(key: tuple) -> dict[str, np.ndarray]:
    dp, tp, sp, pp, order, sp_method, ulysses, ring = key
    strategy = StrategySpec(dp=dp, tp=tp, sp=sp, pp=pp, order=list(order), sp_method=sp_method,
                            ulysses=ulysses, ring=ring)  # fmt: skip
    return strategy_group_arrays(strategy)


def _group_key(s: StrategySpec) -> tuple:
    """Only what placement depends on: ZeRO stage, micro-batch or checkpointing don't move ranks,
    so the planner's thousands of candidates share a few hundred group layouts. The SP method
    matters only through USP's ulysses/ring sub-groups (no other method issues calls on those
    dims), so every other method shares one layout."""
    method = "usp" if s.sp_method == "usp" else ("ring" if s.sp > 1 else "none")
    return (s.dp, s.tp, s.sp, s.pp, tuple(s.order), method, s.ulysses, s.ring)


class CommModel:
    """Collective times for one (cluster, strategy)."""

    def __init__(self, cluster: ClusterSpec, strategy: StrategySpec, num_gpus: int) -> None:
        self.topology = _topology(cluster.model_dump_json(), num_gpus)
        self.groups = _groups(_group_key(strategy))

    def group_size(self, dim: str) -> int:
        groups = self.groups.get(dim)
        return 1 if groups is None else int(groups.shape[1])

    def time(self, call: CollectiveCall) -> CallTime:
        size = self.group_size(call.dim)
        if size <= 1 or call.count == 0 or call.buffer_bytes == 0:
            return CallTime(call=call, group_size=size, time_s=0.0, tier="-", edge="-")
        groups = self.groups[call.dim]
        # the planner times the same call on the same groups under every ZeRO stage and SP
        # mix: one estimate per (op, groups, bytes, steps); `groups` is kept to check identity
        key = ("call", call.op, id(groups), call.buffer_bytes, call.steps)
        hit = self.topology.cache.get(key)
        if hit is None or hit[0] is not groups:
            est = estimate_collective(self.topology, op=call.op, groups=groups,
                                      buffer_bytes=call.buffer_bytes, steps=call.steps)  # fmt: skip
            hit = (groups, est.time_s, est.bottleneck.tier, est.bottleneck.edge)
            self.topology.cache[key] = hit
        _groups_kept, time_s, tier, edge = hit
        return CallTime(call=call, group_size=size, time_s=time_s * call.count, tier=tier, edge=edge)
