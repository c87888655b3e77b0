"""The cluster as a graph: GPUs, the intra-node fabric, NICs on rails, leaf and spine switches.

Why this module exists: collectives are costed by loading every link with the flows of all groups
that run at once (DESIGN.md, "Collectives on the graph"). That needs named links with a bandwidth,
a latency and a tier, and a fixed rule for which NIC, leaf and uplink a flow takes.

Two views of the same fabric:
* a compact, arithmetic view (`node_of`, `rail_of`, `leaf_of`, per-tier bandwidths) that
  `collectives.py` uses to load links in O(group size), so 16,384 GPUs cost milliseconds;
* `Topology.graph`, a networkx graph built on first use, for inspection and the CLI summary.
Both name links the same way (`edge_name`), so a bottleneck reported by the estimator is an edge
of the graph.

Fabric model (per direction, full duplex):
* `gpu{g} -> {fabric}{n}`: GPU g's port into its node's switch (NVSwitch is a full crossbar, so
  the per-GPU port is the only intra-node limit; DGX H100 user guide). Tier `nvlink` for
  nvswitch/nvlink, `pcie`, or `loopback` (processes on one host).
* `gpu{g} -> nic{n}.{r}`: PCIe from a GPU to its NIC (tier `pcie`, not a bottleneck: PCIe Gen5
  x16 is ~64 GB/s > one 400G NIC); NIC r serves local GPUs r*gpn/nics .. (r+1)*gpn/nics - 1.
* `nic{n}.{r} -> leaf...`: the NIC port (tier `nic`).
* `leaf... -> spine`: the leaf's uplinks, aggregated: NIC ports under the leaf * NIC rate /
  oversubscription (tier `spine`). The spine layer itself is non-blocking.
Rail-optimized (DGX SuperPOD reference architecture, https://docs.nvidia.com/dgx-superpod/
reference-architecture-scalable-infrastructure-h100/latest/network-fabrics.html): NIC r of every
node in a scalable unit goes to rail-leaf r; `nodes_per_leaf` defaults to 32 (QM9700 has 64 NDR
ports: 32 down, 32 up). Fat tree: all NICs of a node go to one leaf with 32 down ports.
"""

from __future__ import annotations

from functools import cached_property

import networkx as nx
from pydantic import BaseModel, ConfigDict

from parplan.errors import SpecError
from parplan.specs import ClusterSpec

# NVIDIA QM9700 NDR switch: 64 ports of 400 Gb/s; half face down in a non-blocking leaf.
# https://docs.nvidia.com/networking/display/qm97x0pub
LEAF_DOWN_PORTS = 32
# PCIe Gen5 x16: 32 GT/s * 16 lanes * 128/130 / 8 ≈ 63 GB/s per direction (PCI-SIG Gen5 spec).
PCIE_GEN5_X16_BYTES_PER_S = 63e9

INTRA_TIER = {"nvswitch": "nvlink", "nvlink": "nvlink", "pcie": "pcie", "loopback": "loopback"}
HUB_NAME = {"nvswitch": "nvswitch", "nvlink": "nvlink", "pcie": "pcie", "loopback": "host"}


class TopologySummary(BaseModel):
    """What `parplan cluster NAME` prints: sizes, links per tier, bisection bandwidth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str
    topology: str
    num_gpus: int
    num_nodes: int
    gpus_per_node: int
    nics_per_node: int
    num_leaves: int
    num_spines: int
    graph_nodes: int
    edges_per_tier: dict[str, int]
    bandwidth_bytes_per_s_per_tier: dict[str, float]
    bisection_bytes_per_s: float


class Topology:
    """A cluster (or its first `num_gpus` GPUs) as links with bandwidth, latency and tier."""

    def __init__(self, cluster: ClusterSpec, num_gpus: int) -> None:
        self.cluster = cluster
        self.num_gpus = num_gpus
        self.gpus_per_node = cluster.gpus_per_node
        self.num_nodes = -(-num_gpus // cluster.gpus_per_node)
        inter = cluster.inter_node
        self.nics_per_node = inter.nics_per_node
        self.rail_optimized = inter.topology == "rail_optimized"
        self.nodes_per_leaf = inter.nodes_per_leaf or self._default_nodes_per_leaf()
        self.num_leaf_groups = -(-self.num_nodes // self.nodes_per_leaf)
        self.rails_per_leaf_group = self.nics_per_node if self.rail_optimized else 1
        self.num_leaves = self.num_leaf_groups * self.rails_per_leaf_group
        self.intra_tier = INTRA_TIER[cluster.intra_node.fabric]
        self.intra_bytes_per_s = cluster.intra_node.bytes_per_s
        self.nic_bytes_per_s = inter.nic_bytes_per_s
        self.intra_latency_s = cluster.intra_node.latency_s
        self.inter_latency_s = inter.latency_s
        self.oversubscription = inter.oversubscription
        self.cache: dict = {}  # collectives.py: (op, groups) -> per-unit-byte costs

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_cluster(cls, cluster: ClusterSpec, num_gpus: int | None = None) -> Topology:
        """The topology of `cluster`, or of its first `num_gpus` GPUs (whole nodes first)."""
        total = cluster.num_gpus
        if num_gpus is None:
            num_gpus = total
        if num_gpus <= 0:
            raise SpecError(f"num_gpus={num_gpus} must be > 0")
        if num_gpus > total:
            raise SpecError(
                f"num_gpus={num_gpus} exceeds cluster '{cluster.name}': nodes*gpus_per_node = "
                f"{cluster.nodes}*{cluster.gpus_per_node} = {total}"
            )
        return cls(cluster, num_gpus)

    def _default_nodes_per_leaf(self) -> int:
        if self.rail_optimized:
            return LEAF_DOWN_PORTS  # one NIC per node per rail-leaf
        return max(1, LEAF_DOWN_PORTS // self.nics_per_node)

    # ------------------------------------------------------------- compact addressing

    def node_of(self, gpu: int) -> int:
        return gpu // self.gpus_per_node

    def rail_of(self, gpu: int) -> int:
        """The NIC (rail) nearest to `gpu`: GPUs are spread evenly over the node's NICs."""
        return (gpu % self.gpus_per_node) * self.nics_per_node // self.gpus_per_node

    def leaf_group_of(self, node: int) -> int:
        return node // self.nodes_per_leaf

    def leaf_index(self, *, leaf_group: int, rail: int) -> int:
        """Dense leaf id: rail-optimized leaves are (rail, leaf group); fat-tree leaves are groups."""
        return rail * self.num_leaf_groups + leaf_group if self.rail_optimized else leaf_group

    def nics_under_leaf(self, leaf: int) -> int:
        group = leaf % self.num_leaf_groups
        nodes = min(self.nodes_per_leaf, self.num_nodes - group * self.nodes_per_leaf)
        return nodes * (1 if self.rail_optimized else self.nics_per_node)

    def uplink_bytes_per_s(self, leaf: int) -> float:
        """Aggregate leaf->spine capacity: its NIC ports' rate / oversubscription."""
        return self.nics_under_leaf(leaf) * self.nic_bytes_per_s / self.oversubscription

    # --------------------------------------------------------------------- naming

    def gpu_name(self, gpu: int) -> str:
        return f"gpu{gpu}"

    def hub_name(self, node: int) -> str:
        return f"{HUB_NAME[self.cluster.intra_node.fabric]}{node}"

    def nic_name(self, node: int, rail: int) -> str:
        return f"nic{node}.{rail}"

    def leaf_name(self, leaf: int) -> str:
        group = leaf % self.num_leaf_groups
        if self.rail_optimized:
            return f"leaf.rail{leaf // self.num_leaf_groups}.{group}"
        return f"leaf{group}"

    def edge_name(self, kind: str, index: int) -> str:
        """`kind` is intra (index = GPU), nic (index = node*nics + rail) or uplink (leaf id)."""
        if kind == "intra":
            return f"{self.gpu_name(index)}->{self.hub_name(self.node_of(index))}"
        if kind == "nic":
            node, rail = divmod(index, self.nics_per_node)
            leaf = self.leaf_index(leaf_group=self.leaf_group_of(node), rail=rail)
            return f"{self.nic_name(node, rail)}->{self.leaf_name(leaf)}"
        if kind == "uplink":
            return f"{self.leaf_name(index)}->spine"
        raise ValueError(f"unknown edge kind {kind!r}")

    # ---------------------------------------------------------------------- graph

    @cached_property
    def graph(self) -> nx.Graph:
        """The networkx graph (built on first use: ~0.5 s at 16,384 GPUs)."""
        g = nx.Graph(name=self.cluster.name)
        for node in range(self.num_nodes):
            self._add_node_links(g, node)
        if self.num_nodes > 1:
            for leaf in range(self.num_leaves):
                g.add_node(self.leaf_name(leaf), kind="leaf")
            if self.num_leaf_groups > 1:
                g.add_node("spine", kind="spine")
                for leaf in range(self.num_leaves):
                    self._add_edge(
                        g,
                        self.leaf_name(leaf),
                        "spine",
                        tier="spine",
                        bandwidth=self.uplink_bytes_per_s(leaf),
                    )
        return g

    def _add_edge(self, g: nx.Graph, a: str, b: str, *, tier: str, bandwidth: float) -> None:
        latency = self.intra_latency_s if tier == self.intra_tier else self.inter_latency_s
        g.add_edge(a, b, tier=tier, bandwidth_bytes_per_s=bandwidth, latency_s=latency)

    def _add_node_links(self, g: nx.Graph, node: int) -> None:
        hub = self.hub_name(node)
        g.add_node(hub, kind="intra_switch", node=node)
        first = node * self.gpus_per_node
        for gpu in range(first, min(first + self.gpus_per_node, self.num_gpus)):
            g.add_node(self.gpu_name(gpu), kind="gpu", node=node)
            self._add_edge(
                g, self.gpu_name(gpu), hub, tier=self.intra_tier, bandwidth=self.intra_bytes_per_s
            )
            if self.num_nodes > 1:
                nic = self.nic_name(node, self.rail_of(gpu))
                self._add_edge(
                    g, self.gpu_name(gpu), nic, tier="pcie", bandwidth=PCIE_GEN5_X16_BYTES_PER_S
                )
        if self.num_nodes > 1:
            for rail in range(self.nics_per_node):
                leaf = self.leaf_index(leaf_group=self.leaf_group_of(node), rail=rail)
                g.add_node(self.nic_name(node, rail), kind="nic", node=node, rail=rail)
                self._add_edge(
                    g,
                    self.nic_name(node, rail),
                    self.leaf_name(leaf),
                    tier="nic",
                    bandwidth=self.nic_bytes_per_s,
                )

    # -------------------------------------------------------------------- summary

    def bisection_bytes_per_s(self) -> float:
        """Capacity across a cut through the middle of the node list (per direction).

        One node: half the GPUs' NVSwitch ports (a full crossbar). Several nodes: half the nodes'
        NIC ports, divided by the oversubscription when the halves sit under different leaves.
        """
        if self.num_nodes == 1:
            return (self.num_gpus // 2) * self.intra_bytes_per_s
        ports = (self.num_nodes // 2) * self.nics_per_node * self.nic_bytes_per_s
        return ports / self.oversubscription if self.num_leaf_groups > 1 else ports

    def summary(self) -> TopologySummary:
        """Counts computed arithmetically (equal to `graph`'s; tests check) so they are instant."""
        multi = self.num_nodes > 1
        edges = {self.intra_tier: self.num_gpus}
        if multi:
            edges["pcie"] = edges.get("pcie", 0) + self.num_gpus
            edges["nic"] = self.num_nodes * self.nics_per_node
        spines = 1 if multi and self.num_leaf_groups > 1 else 0
        if spines:
            edges["spine"] = self.num_leaves
        leaves = self.num_leaves if multi else 0
        nics = self.num_nodes * self.nics_per_node if multi else 0
        bandwidths = {self.intra_tier: self.intra_bytes_per_s}
        if multi:
            bandwidths.update(pcie=PCIE_GEN5_X16_BYTES_PER_S, nic=self.nic_bytes_per_s)
        if spines:
            bandwidths["spine"] = self.uplink_bytes_per_s(0)
        if self.intra_tier == "pcie" and multi:
            bandwidths["pcie"] = self.intra_bytes_per_s
        return TopologySummary(
            cluster=self.cluster.name,
            topology=self.cluster.inter_node.topology,
            num_gpus=self.num_gpus,
            num_nodes=self.num_nodes,
            gpus_per_node=self.gpus_per_node,
            nics_per_node=self.nics_per_node,
            num_leaves=leaves,
            num_spines=spines,
            graph_nodes=self.num_gpus + self.num_nodes + nics + leaves + spines,
            edges_per_tier=edges,
            bandwidth_bytes_per_s_per_tier=bandwidths,
            bisection_bytes_per_s=self.bisection_bytes_per_s(),
        )
