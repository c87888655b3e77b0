"""Topology: sizes, naming, graph consistency with the compact view, and build time at scale."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from parplan.cluster.topology import Topology
from parplan.errors import SpecError
from parplan.specs import load_cluster

TIERS = {"nvlink", "pcie", "loopback", "nic", "leaf", "spine"}


def small_cluster(**inter) -> dict:
    base = load_cluster("h100-dgx-ndr400").model_dump()
    base.update(nodes=4)
    base["inter_node"].update(nodes_per_leaf=2, **inter)
    return base


def test_default_is_whole_cluster() -> None:
    topo = Topology.from_cluster(load_cluster("h100-dgx-ndr400"))
    assert (topo.num_gpus, topo.num_nodes) == (16384, 2048)


def test_subset_uses_first_nodes() -> None:
    topo = Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=12)
    assert topo.num_nodes == 2
    assert topo.node_of(11) == 1


@pytest.mark.parametrize("num_gpus", [0, -8])
def test_nonpositive_gpu_count_is_spec_error(num_gpus: int) -> None:
    with pytest.raises(SpecError, match=f"num_gpus={num_gpus} must be > 0"):
        Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=num_gpus)


def test_group_larger_than_cluster_names_the_key() -> None:
    with pytest.raises(SpecError, match=r"num_gpus=16392 exceeds .* 2048\*8 = 16384"):
        Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=16392)


def test_rails_one_nic_per_gpu_and_shared_nics() -> None:
    topo = Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=16)
    assert [topo.rail_of(g) for g in range(16)] == list(range(8)) * 2
    shared = Topology.from_cluster(load_cluster(small_cluster(nics_per_node=4)))
    assert [shared.rail_of(g) for g in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("topology", ["rail_optimized", "fat_tree"])
def test_summary_counts_equal_the_graph(topology: str) -> None:
    topo = Topology.from_cluster(load_cluster(small_cluster(topology=topology)))
    graph = topo.graph
    summary = topo.summary()
    tiers = Counter(data["tier"] for _, _, data in graph.edges(data=True))
    assert dict(tiers) == summary.edges_per_tier
    assert graph.number_of_nodes() == summary.graph_nodes
    assert set(tiers) <= TIERS


def test_edges_carry_bandwidth_latency_and_names_match_the_estimator() -> None:
    topo = Topology.from_cluster(load_cluster(small_cluster()))
    graph = topo.graph
    for _, _, data in graph.edges(data=True):
        assert data["bandwidth_bytes_per_s"] > 0 and data["latency_s"] >= 0
    for kind, index in (("intra", 9), ("nic", 13), ("uplink", 3)):
        a, b = topo.edge_name(kind, index).split("->")
        assert graph.has_edge(a, b)
    assert graph.edges["gpu9", "nvswitch1"]["bandwidth_bytes_per_s"] == 450e9
    assert graph.edges["nic1.5", "leaf.rail5.0"]["tier"] == "nic"


def test_oversubscription_divides_uplinks() -> None:
    plain = Topology.from_cluster(load_cluster(small_cluster()))
    over = Topology.from_cluster(load_cluster(small_cluster(oversubscription=2.0)))
    assert over.uplink_bytes_per_s(0) == pytest.approx(plain.uplink_bytes_per_s(0) / 2)
    assert plain.uplink_bytes_per_s(0) == pytest.approx(2 * 50e9)  # 2 nodes x one 400G NIC


def test_bisection_of_dgx_h100_superpod() -> None:
    """128 nodes x 8 x 400 Gb/s, non-blocking: half the NIC ports = 64 * 8 * 50 GB/s."""
    topo = Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=1024)
    assert topo.summary().bisection_bytes_per_s == pytest.approx(64 * 8 * 50e9)
    one_node = Topology.from_cluster(load_cluster("h100-dgx-ndr400"), num_gpus=8)
    assert one_node.summary().bisection_bytes_per_s == pytest.approx(4 * 450e9)


def test_gb200_is_one_nvlink_domain() -> None:
    topo = Topology.from_cluster(load_cluster("gb200-nvl72"), num_gpus=72)
    assert topo.num_nodes == 1 and topo.summary().edges_per_tier == {"nvlink": 72}


def test_16k_gpus_build_fast() -> None:
    spec = load_cluster(load_cluster("h100-dgx-ndr400").model_dump() | {"nodes": 2048})
    start = time.perf_counter()
    topo = Topology.from_cluster(spec)
    summary = topo.summary()
    assert time.perf_counter() - start < 0.1
    assert summary.num_gpus == 16384 and summary.num_leaves == 8 * 64
