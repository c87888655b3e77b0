"""Time and link load of NCCL-style collectives on a `Topology`, for concurrent process groups.

Why this module exists: a two-constant (intra/inter bandwidth) model cannot say which link a
collective waits on, nor see that eight DP groups share one node's NICs. Here every group's
flows are put on the links they take (the algorithm NCCL uses, docs/collectives.md), loads of all
groups that run at once are summed per link, and

    time = latency (alpha) term + max over links of bytes_on_link / (bandwidth * efficiency(tier))

(the alpha-beta model of Thakur, Rabenseifner & Gropp 2005, "Optimization of collective
communication operations in MPICH", IJHPCA 19(1), with beta taken per link).

Where each algorithm puts its bytes lives in link_loads.py; here: the public API, the choice
of algorithm, batching groups of equal size, and the cache. For one (op, groups) the loads are linear in the buffer size, so they are computed once per unit
byte and cached on the topology; a later estimate is a dictionary lookup and a few flops.

Byte convention: `buffer_bytes` as in comm_ops.py (all-gather output, all-reduce and
reduce-scatter input, each rank's all-to-all buffer, broadcast buffer, p2p_ring: the block one
rank sends per step, `steps` steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from parplan.cluster.comm_ops import CollectiveCall, sent_bytes
from parplan.cluster.link_loads import (
    Batch,
    Loads,
    load_all_to_all,
    load_hier_all_reduce,
    load_p2p_ring,
    load_ring,
)
from parplan.cluster.topology import Topology
from parplan.errors import SpecError

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "p2p_ring")
Groups = np.ndarray | list[list[int]]  # process groups of global ranks; an array is (groups, size)

# Achieved fraction of link rate (named per tier, never fitted per case; docs/collectives.md).
# NVLink: "450GB/s is the line rate. With the protocol overhead (~20%) NCCL can get an effective
# NVLink bandwidth of 370GB/s" (S. Jeaugey, NCCL team, github.com/NVIDIA/nccl-tests/issues/212);
# 370 / 450 = 0.82. The overhead is NCCL's protocol (SM copies, 128 B payloads), so PCIe gets it too.
NCCL_NVLINK_EFFICIENCY = 0.82
NCCL_PCIE_EFFICIENCY = 0.82
# NIC: "For NDR @ 400Gbps you should see 46-48GB/s per NIC" (NCCL team,
# github.com/NVIDIA/nccl-tests/issues/290); 47 / 50 = 0.94. The spine carries the same IB links.
NCCL_NIC_EFFICIENCY = 0.94
# Processes on one host (gloo over loopback): the spec's bandwidth is already what calibrate measured.
LOOPBACK_EFFICIENCY = 1.0
# NCCL's own cost model derates the (double binary) tree all-reduce: `busBw*.92`
# (NVIDIA/nccl src/graph/tuning.cc, ncclTopoTuneModel). Without it the tree, with its log2(m)
# latency, would beat the ring at every size; with it NCCL's large-message choice (ring) returns.
NCCL_TREE_ALLREDUCE_BANDWIDTH_FACTOR = 0.92

TIER_EFFICIENCY = {
    "nvlink": NCCL_NVLINK_EFFICIENCY,
    "pcie": NCCL_PCIE_EFFICIENCY,
    "loopback": LOOPBACK_EFFICIENCY,
    "nic": NCCL_NIC_EFFICIENCY,
    "spine": NCCL_NIC_EFFICIENCY,
}
CACHE_MAX_ENTRIES = 1024  # at 16,384 ranks an entry holds ~1 MB of group keys and loads


class Bottleneck(BaseModel):
    """The slowest link: its tier, its name in `Topology.graph`, and how busy it is.

    `utilization` = bandwidth_time_s / time_s: the share of the collective's duration that this
    link spends transmitting at its achievable rate (the rest is latency).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str
    edge: str
    utilization: float


class CollectiveEstimate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str
    group_size: int
    groups: int
    algorithm: str
    time_s: float
    latency_s: float
    bandwidth_time_s: float
    bus_bandwidth_bytes_per_s: float  # nccl-tests busbw: textbook bytes sent per rank / time
    bytes_sent_per_gpu: float  # mean over ranks, as the modelled algorithm sends them
    bottleneck: Bottleneck


@dataclass(frozen=True)
class _Plan:
    """Cost of one algorithm per unit buffer byte (one call, one step)."""

    algorithm: str
    latency_s: float
    seconds_per_byte: float
    tier: str
    edge: str
    sent_per_byte: float


# ----------------------------------------------------------------------------- public API


def estimate_collective(
    topology: Topology,
    *,
    op: str,
    groups: Groups,
    buffer_bytes: float,
    steps: int = 1,
) -> CollectiveEstimate:
    """Time of `op` run at once by every group in `groups` (global ranks = GPU indices)."""
    if op not in OPS:
        raise SpecError(f"op={op!r} is not a collective; choose one of {', '.join(OPS)}")
    if buffer_bytes < 0:
        raise SpecError(f"bytes={buffer_bytes} must be >= 0")
    if steps < 0:
        raise SpecError(f"steps={steps} must be >= 0")
    plans, group_size = _cached_plans(topology, op, groups)
    repeats = steps if op == "p2p_ring" else 1
    plan = min(plans, key=lambda p: p.latency_s + p.seconds_per_byte * buffer_bytes)
    return _estimate(
        plan,
        op=op,
        group_size=group_size,
        groups=len(groups),
        buffer_bytes=buffer_bytes,
        repeats=repeats,
        steps=steps,
    )


def estimate_call(topology: Topology, *, call: CollectiveCall, groups: Groups) -> CollectiveEstimate:
    """One call of a `CollectiveCall` on `groups` (multiply `time_s` by `call.count` for all)."""
    return estimate_collective(
        topology, op=call.op, groups=groups, buffer_bytes=call.buffer_bytes, steps=call.steps
    )


def tier_efficiency(topology: Topology, tier: str) -> float:
    """Achieved fraction of link rate; a calibrated `efficiency.collective_bus` overrides all."""
    calibrated = topology.cluster.efficiency
    if calibrated is not None and calibrated.collective_bus is not None:
        return calibrated.collective_bus
    return TIER_EFFICIENCY[tier]


# ------------------------------------------------------------------------------ estimate


def _estimate(
    plan: _Plan,
    *,
    op: str,
    group_size: int,
    groups: int,
    buffer_bytes: float,
    repeats: int,
    steps: int,
) -> CollectiveEstimate:
    latency_s = plan.latency_s * repeats
    bandwidth_time_s = plan.seconds_per_byte * buffer_bytes * repeats
    time_s = latency_s + bandwidth_time_s
    call = CollectiveCall(op=op, dim="dp", buffer_bytes=buffer_bytes, steps=steps)
    textbook_bytes = sent_bytes(call, group_size)
    return CollectiveEstimate(
        op=op,
        group_size=group_size,
        groups=groups,
        algorithm=plan.algorithm,
        time_s=time_s,
        latency_s=latency_s,
        bandwidth_time_s=bandwidth_time_s,
        bus_bandwidth_bytes_per_s=textbook_bytes / time_s if time_s > 0 else 0.0,
        bytes_sent_per_gpu=plan.sent_per_byte * buffer_bytes * repeats,
        bottleneck=Bottleneck(
            tier=plan.tier,
            edge=plan.edge,
            utilization=bandwidth_time_s / time_s if time_s > 0 else 0.0,
        ),
    )


def _cached_plans(topology: Topology, op: str, groups: Groups) -> tuple[tuple[_Plan, ...], int]:
    """Plans per (op, groups). Fast path: the same `groups` object as last time (callers such as
    the evaluator reuse `strategy_group_arrays`; they must not mutate them afterwards), else a
    key of the groups' contents (an array's bytes hash in microseconds at 16,384 ranks)."""
    fast_key = ("id", op, id(groups))
    hit = topology.cache.get(fast_key)
    if hit is not None and hit[0] is groups:
        return hit[1]
    if isinstance(groups, np.ndarray):
        key = (op, groups.shape, groups.astype(np.int64, copy=False).tobytes())
    else:
        key = (op, tuple(map(tuple, groups)))
    entry = topology.cache.get(key)
    if entry is None:
        entry = (_plans(topology, op, _batches(topology, groups)), _largest_group(groups))
        if len(topology.cache) >= CACHE_MAX_ENTRIES:
            topology.cache.pop(next(iter(topology.cache)))
        topology.cache[key] = entry
    topology.cache[fast_key] = (groups, entry)
    return entry


# --------------------------------------------------------------------------------- batches


def _largest_group(groups: Groups) -> int:
    if isinstance(groups, np.ndarray):
        return int(groups.shape[1]) if groups.ndim == 2 and len(groups) else 0
    return max((len(g) for g in groups), default=0)


def _batches(topo: Topology, groups: Groups) -> list[Batch]:
    if isinstance(groups, np.ndarray):  # equal-sized groups: one batch
        size = groups.shape[1] if groups.ndim == 2 else 0
        return [_batch(topo, groups.astype(np.int64, copy=False))] if size > 1 and len(groups) else []
    by_size: dict[int, list[list[int]]] = {}
    for group in groups:
        if len(group) > 1:
            by_size.setdefault(len(group), []).append(group)
    return [_batch(topo, np.asarray(gs, dtype=np.int64)) for gs in by_size.values()]


def _batch(topo: Topology, grid: np.ndarray) -> Batch:
    num_groups, p = grid.shape
    bad = grid[(grid < 0) | (grid >= topo.num_gpus)]
    if bad.size:
        raise SpecError(
            f"groups: rank {int(bad[0])} outside the {topo.num_gpus} GPUs of "
            f"'{topo.cluster.name}' (groups of {p}; the group is larger than the cluster "
            f"or misplaced)"
        )
    ordered = np.sort(grid, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        raise SpecError(f"groups: a group repeats a rank: {grid[0, :16].tolist()}")
    group = np.repeat(np.arange(num_groups), p)
    key = group * topo.num_nodes + grid.ravel() // topo.gpus_per_node
    pairs, pair, counts = np.unique(key, return_inverse=True, return_counts=True)
    pair_group = pairs // topo.num_nodes
    nodes_per_group = np.bincount(pair_group, minlength=num_groups)
    return Batch(
        p,
        num_groups,
        grid.ravel(),
        group,
        pair,
        counts[pair].astype(float),
        nodes_per_group[group].astype(float),
        pair_group,
        pairs % topo.num_nodes,
        counts,
    )


# ------------------------------------------------------------------------------- planning


def _plans(topo: Topology, op: str, batches: list[Batch]) -> tuple[_Plan, ...]:
    """Every algorithm NCCL might pick for `op` on these groups, costed per unit byte."""
    if not batches:
        return (_Plan("none", 0.0, 0.0, "none", "-", 0.0),)
    multi_node = any(b.m.max() > 1 for b in batches)
    if op == "all_reduce" and multi_node:
        return (
            _plan(topo, batches, "hierarchical_ring", load_hier_all_reduce, inter="ring"),
            _plan(topo, batches, "hierarchical_tree", load_hier_all_reduce, inter="tree"),
        )
    loader, name = {
        "all_reduce": (load_ring, "ring"),
        "all_gather": (load_ring, "ring"),
        "reduce_scatter": (load_ring, "ring"),
        "broadcast": (load_ring, "pipelined_ring"),
        "all_to_all": (load_all_to_all, "pairwise"),
        "p2p_ring": (load_p2p_ring, "p2p"),
    }[op]
    if name == "ring" and multi_node:
        name = "rail_ring"
    kwargs = {"op": op} if loader is load_ring else {}
    return (_plan(topo, batches, name, loader, **kwargs),)


def _plan(topo: Topology, batches: list[Batch], algorithm: str, loader, **kw) -> _Plan:
    loads = Loads.zeros(topo)
    latency_s = max(loader(topo, loads, batch, **kw) for batch in batches)
    members_total = sum(b.members.size for b in batches)
    sent = (loads.intra.sum() + loads.nic.sum()) / members_total
    seconds_per_byte, tier, edge = _slowest_link(topo, loads)
    if algorithm == "hierarchical_tree":
        seconds_per_byte /= NCCL_TREE_ALLREDUCE_BANDWIDTH_FACTOR
    return _Plan(algorithm, float(latency_s), seconds_per_byte, tier, edge, float(sent))


def _slowest_link(topo: Topology, loads: Loads) -> tuple[float, str, str]:
    """max over links of load / (bandwidth * efficiency): seconds per buffer byte, tier, name."""
    candidates = [
        ("intra", topo.intra_tier, loads.intra, topo.intra_bytes_per_s),
        ("nic", "nic", loads.nic, topo.nic_bytes_per_s),
        ("uplink", "spine", loads.uplink, _uplink_bandwidths(topo)),
    ]
    best = (0.0, "none", "-")
    for kind, tier, load, bandwidth in candidates:
        if load.size == 0 or not load.any():
            continue
        seconds = load / (bandwidth * tier_efficiency(topo, tier))
        index = int(np.argmax(seconds))
        if seconds[index] > best[0]:
            best = (float(seconds[index]), tier, topo.edge_name(kind, index))
    return best


def _uplink_bandwidths(topo: Topology) -> np.ndarray:
    bandwidths = topo.cache.get("uplink_bandwidths")
    if bandwidths is None:
        bandwidths = np.array([topo.uplink_bytes_per_s(i) for i in range(topo.num_leaves)])
        topo.cache["uplink_bandwidths"] = bandwidths
    return bandwidths


