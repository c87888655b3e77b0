"""Where each collective algorithm puts its bytes: per-unit-byte loads on a `Topology`'s link
classes (GPU ports into the node switch, NIC ports, leaf uplinks) for one batch of equal-sized
process groups, and the algorithm's latency term. cluster/collectives.py picks the algorithms,
sums the loads of all groups that run at once and turns the slowest link into time.

Algorithms as NCCL runs them (docs/collectives.md): rings with one inter-node hop per node per
rail, the hierarchical all-reduce (ring or double binary tree between nodes), pairwise
all-to-all (PXN on rail-optimized fabrics), and point-to-point rings (ring attention, pipelines).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from parplan.cluster.topology import Topology


@dataclass
class Loads:
    """Bytes per unit buffer byte on each directed link class (outgoing direction)."""

    intra: np.ndarray  # per GPU: its port into the node's switch
    nic: np.ndarray  # per (node, rail): the NIC port
    uplink: np.ndarray  # per leaf: its aggregated uplinks to the spine

    @classmethod
    def zeros(cls, topo: Topology) -> Loads:
        return cls(
            intra=np.zeros(topo.num_gpus),
            nic=np.zeros(topo.num_nodes * topo.nics_per_node),
            uplink=np.zeros(topo.num_leaves),
        )


@dataclass
class Batch:
    """Groups of one size p, flattened: member arrays plus per (group, node) pair counts."""

    p: int
    num_groups: int
    members: np.ndarray  # [G*p] global ranks, group-major
    group: np.ndarray  # [G*p] group index of each member
    pair: np.ndarray  # [G*p] index of the member's (group, node) pair
    k: np.ndarray  # [G*p] members of its group on its node (float)
    m: np.ndarray  # [G*p] distinct nodes of its group
    pair_group: np.ndarray  # [pairs] group of each (group, node) pair, sorted by group, node
    pair_node: np.ndarray  # [pairs] node of each pair
    pair_count: np.ndarray  # [pairs] members in each pair


# ------------------------------------------------------------------------- link loaders
# Each loader adds one batch's per-unit-byte loads and returns its (largest) latency term.


def _rails(topo: Topology, members: np.ndarray) -> np.ndarray:
    return (members % topo.gpus_per_node) * topo.nics_per_node // topo.gpus_per_node


def _nic_index(topo: Topology, members: np.ndarray, rails: np.ndarray) -> np.ndarray:
    return (members // topo.gpus_per_node) * topo.nics_per_node + rails


def _ring_factor(op: str, p: int) -> float:
    """Bytes each ring link carries per buffer byte (Thakur et al. 2005, ring algorithms)."""
    if op == "all_reduce":
        return 2 * (p - 1) / p
    if op == "broadcast":
        return 1.0  # pipelined ring: the whole buffer crosses every link once
    return (p - 1) / p  # all_gather, reduce_scatter


def _ring_latency_s(topo: Topology, *, steps: float, inter_steps: np.ndarray) -> float:
    """NCCL's ring latency: intra-node steps at the NVLink latency, inter-node steps at the
    network latency (src/graph/tuning.cc: (nsteps - nInterSteps)*intraLat + nInterSteps*interLat)."""
    worst = float(inter_steps.max())
    return (steps - worst) * topo.intra_latency_s + worst * topo.inter_latency_s


def load_ring(topo: Topology, loads: Loads, b: Batch, *, op: str) -> float:
    """NCCL ring: ranks of one node consecutive, one inter-node hop per node per channel.

    NCCL runs one channel per NIC (rail) and rotates which local GPU makes the inter-node hop, so
    a node with k members sends f*(k-1)/k per GPU over NVLink and f/k per member over its rail
    (a single-node group: f per GPU over NVLink, where k = p).
    """
    f = _ring_factor(op, b.p)
    loads.intra[b.members] += np.where(b.m > 1, f * (b.k - 1) / b.k, f)
    multi = b.m > 1
    if multi.any():
        members = b.members[multi]
        np.add.at(loads.nic, _nic_index(topo, members, _rails(topo, members)), f / b.k[multi])
        _load_leaf_crossings(topo, loads, b, np.where(multi, f / b.k, 0.0))
    rounds = 2 if op == "all_reduce" else 1
    return _ring_latency_s(topo, steps=rounds * (b.p - 1), inter_steps=rounds * (b.m - 1))


def _load_leaf_crossings(topo: Topology, loads: Loads, b: Batch, per_member: np.ndarray) -> None:
    """A ring over each group's nodes (sorted) leaves a leaf group where the next node is elsewhere;
    each member of the node before the crossing sends `per_member` up its leaf's uplinks."""
    if topo.num_leaf_groups == 1:
        return
    n = b.pair_group.size
    nxt = np.arange(1, n + 1)
    first = np.searchsorted(b.pair_group, b.pair_group)
    wrap = (nxt == n) | (b.pair_group[nxt % n] != b.pair_group)
    nxt = np.where(wrap, first, nxt % n)
    leaf_group = b.pair_node // topo.nodes_per_leaf
    crossing = (leaf_group != leaf_group[nxt])[b.pair]
    if not crossing.any():
        return
    rails = _rails(topo, b.members) if topo.rail_optimized else np.zeros_like(b.members)
    leaves = _leaf_ids(topo, leaf_group[b.pair], rails)
    np.add.at(loads.uplink, leaves[crossing], per_member[crossing])


def _leaf_ids(topo: Topology, leaf_groups: np.ndarray, rails: np.ndarray) -> np.ndarray:
    if topo.rail_optimized:
        return rails * topo.num_leaf_groups + leaf_groups
    return leaf_groups


def load_hier_all_reduce(topo: Topology, loads: Loads, b: Batch, *, inter: str) -> float:
    """Intra-node reduce-scatter, inter-node all-reduce of each GPU's 1/k shard over its rail,
    intra-node all-gather (NCCL's ring/tree with NVLink inside a node; Jeaugey, "Massively scale
    your deep learning training with NCCL 2.4", NVIDIA blog 2019, for the double binary tree).

    Ring inter-node: 2(m-1)/m of the shard per NIC, latency 2(k-1) intra + 2(m-1) inter hops
    (the hierarchical algorithm's own; NCCL's flat ring would pay 2(p-1) hops). Double binary tree:
    about 2x the shard per NIC (each node is interior in one tree), latency
    2((k-1) intraLat + log2(m) interLat) (src/graph/tuning.cc).
    """
    loads.intra[b.members] += 2 * (b.k - 1) / b.k
    ring_factor = 2 * (b.m - 1) / b.m
    factor = ring_factor if inter == "ring" else np.where(b.m > 1, 2.0, 0.0)
    per_member = factor / b.k
    np.add.at(loads.nic, _nic_index(topo, b.members, _rails(topo, b.members)), per_member)
    _load_leaf_crossings(topo, loads, b, per_member)
    intra_s = 2 * (b.k - 1) * topo.intra_latency_s
    if inter == "ring":
        return float(np.max(intra_s + 2 * (b.m - 1) * topo.inter_latency_s))
    tree_hops = 2 * np.ceil(np.log2(np.maximum(b.m, 1)))
    return float(np.max(intra_s + tree_hops * topo.inter_latency_s))


def load_all_to_all(topo: Topology, loads: Loads, b: Batch) -> float:
    """Direct pairwise flows: each rank sends buffer/p to every other rank at once.

    Inside a node they cross the NVSwitch; across nodes, rail-optimized fabrics use PXN (NCCL
    >= 2.12: data for rail r is first moved over NVLink to the local GPU on rail r, so it stays on
    rail r's leaf); fat trees send from the source GPU's own NIC. Latency: pairwise exchange,
    (p-1) alpha (Thakur et al. 2005, section 4.5), at the network latency for remote peers.
    """
    p = b.p
    loads.intra[b.members] += (b.k - 1) / p
    if b.m.max() > 1:
        _load_a2a_nics(topo, loads, b)
        if topo.num_leaf_groups > 1:
            _load_a2a_uplinks(topo, loads, b)
    remote = float((p - b.k).max())
    return (p - 1 - remote) * topo.intra_latency_s + remote * topo.inter_latency_s


def _load_a2a_nics(topo: Topology, loads: Loads, b: Batch) -> None:
    nics = topo.nics_per_node
    rails = _rails(topo, b.members)
    if not topo.rail_optimized:
        np.add.at(loads.nic, _nic_index(topo, b.members, rails), (b.p - b.k) / b.p)
        return
    per_pair_rail = np.bincount(b.pair * nics + rails, minlength=b.pair_group.size * nics)
    per_pair_rail = per_pair_rail.reshape(-1, nics)
    per_group_rail = np.bincount(b.group * nics + rails, minlength=b.num_groups * nics)
    per_group_rail = per_group_rail.reshape(-1, nics)
    remote_on_rail = per_group_rail[b.pair_group] - per_pair_rail  # [pairs, rails]
    sent = b.pair_count[:, None] * remote_on_rail / b.p
    index = b.pair_node[:, None] * nics + np.arange(nics)[None, :]
    np.add.at(loads.nic, index.ravel(), sent.ravel())


def _load_a2a_uplinks(topo: Topology, loads: Loads, b: Batch) -> None:
    lgs = topo.num_leaf_groups
    leaf_group = b.members // topo.gpus_per_node // topo.nodes_per_leaf
    per_group_leaf = np.bincount(b.group * lgs + leaf_group, minlength=b.num_groups * lgs)
    per_group_leaf = per_group_leaf.reshape(-1, lgs).astype(float)  # [G, leaf groups]
    if not topo.rail_optimized:
        loads.uplink += (per_group_leaf * (b.p - per_group_leaf) / b.p).sum(axis=0)
        return
    nics = topo.nics_per_node
    rails = _rails(topo, b.members)
    per_cell = np.bincount(
        (b.group * lgs + leaf_group) * nics + rails, minlength=b.num_groups * lgs * nics
    ).reshape(-1, lgs, nics)
    per_rail = per_cell.sum(axis=1)  # [G, rails]
    sent = per_group_leaf[:, :, None] * (per_rail[:, None, :] - per_cell) / b.p
    loads.uplink += sent.sum(axis=0).T.ravel()  # leaf id = rail * leaf groups + leaf group


def load_p2p_ring(topo: Topology, loads: Loads, b: Batch) -> float:
    """Ring attention / pipeline send-recv: rank i sends its block to rank i+1 (group order)."""
    grid = b.members.reshape(b.num_groups, b.p)
    src, dst = grid.ravel(), np.roll(grid, -1, axis=1).ravel()
    gpn = topo.gpus_per_node
    same_node = src // gpn == dst // gpn
    loads.intra[src[same_node]] += 1.0
    cross = ~same_node
    if not cross.any():
        return topo.intra_latency_s
    rail_gpu = dst if topo.rail_optimized else src  # PXN on rail-optimized fabrics
    rails = _rails(topo, rail_gpu[cross])
    np.add.at(loads.nic, _nic_index(topo, src[cross], rails), 1.0)
    if topo.num_leaf_groups > 1:
        src_group = src[cross] // gpn // topo.nodes_per_leaf
        leaves_differ = src_group != dst[cross] // gpn // topo.nodes_per_leaf
        ids = _leaf_ids(topo, src_group, rails if topo.rail_optimized else np.zeros_like(rails))
        np.add.at(loads.uplink, ids[leaves_differ], 1.0)
    return topo.inter_latency_s
