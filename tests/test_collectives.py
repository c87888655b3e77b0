"""Collective estimates: textbook bytes, link-bound times, concurrency, monotonicity, nccl-tests."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parplan.cluster.collectives import (
    NCCL_NIC_EFFICIENCY,
    NCCL_NVLINK_EFFICIENCY,
    OPS,
    estimate_collective,
)
from parplan.cluster.comm_ops import CollectiveCall, sent_bytes
from parplan.cluster.placement import rank_groups
from parplan.cluster.topology import Topology
from parplan.errors import SpecError
from parplan.specs import load_cluster

GIB = 2**30
H100 = load_cluster("h100-dgx-ndr400")


def topo_of(name: str = "h100-dgx-ndr400", **changes) -> Topology:
    data = load_cluster(name).model_dump()
    inter = changes.pop("inter_node", {})
    intra = changes.pop("intra_node", {})
    data.update(changes)
    data["inter_node"].update(inter)
    data["intra_node"].update(intra)
    return Topology.from_cluster(load_cluster(data))


H100_TOPO = topo_of()

# Group shapes: one node, two whole nodes, one GPU per node (stride 8), 4 + 4 over two nodes,
# and 32 nodes (spanning leaves is not needed for byte counts).
SHAPES = {
    "node": [list(range(8))],
    "two_nodes": [list(range(16))],
    "strided": [list(range(0, 64, 8))],
    "split": [[0, 1, 2, 3, 8, 9, 10, 11]],
    "pair": [[0, 8]],
    "wide": [list(range(256))],
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", SHAPES)
def test_bytes_sent_per_gpu_are_textbook(op: str, shape: str) -> None:
    """Ring AG/RS (p-1)/p S, ring AR 2(p-1)/p S (hierarchical sends the same), A2A (p-1)/p S,
    broadcast S, P2P ring S per step (../shared/reference/sequence_parallel.md §0)."""
    groups = SHAPES[shape]
    est = estimate_collective(H100_TOPO, op=op, groups=groups, buffer_bytes=GIB, steps=3)
    call = CollectiveCall(op=op, dim="dp", buffer_bytes=GIB, steps=3)
    assert est.algorithm != "hierarchical_tree"  # the tree sends 2/k, not 2(m-1)/(mk)
    assert est.bytes_sent_per_gpu == pytest.approx(sent_bytes(call, len(groups[0])), rel=1e-12)


def test_all_gather_in_one_dgx_h100() -> None:
    """1 GiB all-gather on 8 H100s: (7/8)·1 GiB / (450 GB/s · 0.82) + 7 ring hops of 2 µs."""
    est = estimate_collective(H100_TOPO, op="all_gather", groups=[list(range(8))], buffer_bytes=GIB)
    expected_s = 7 / 8 * GIB / (450e9 * NCCL_NVLINK_EFFICIENCY) + 7 * 2e-6
    assert est.time_s == pytest.approx(expected_s, rel=1e-9)
    assert NCCL_NVLINK_EFFICIENCY == 0.82
    assert est.bottleneck.tier == "nvlink" and est.algorithm == "ring"
    assert est.bottleneck.edge == "gpu0->nvswitch0"


def test_all_gather_across_two_nodes_is_nic_bound() -> None:
    """16 ranks, 2 nodes: each node sends (15/16)·S over 8 rails: S·15/128 per 400G NIC."""
    est = estimate_collective(
        H100_TOPO, op="all_gather", groups=[list(range(16))], buffer_bytes=GIB
    )
    assert est.bottleneck.tier == "nic" and est.algorithm == "rail_ring"
    latency_s = 14 * 2e-6 + 1 * 5e-6  # NCCL: 14 NVLink steps, 1 inter-node step
    expected_s = 15 / 16 / 8 * GIB / (50e9 * NCCL_NIC_EFFICIENCY) + latency_s
    assert est.time_s == pytest.approx(expected_s, rel=1e-9)


def test_all_to_all_across_two_nodes_is_several_times_slower() -> None:
    inside = estimate_collective(
        H100_TOPO, op="all_to_all", groups=SHAPES["node"], buffer_bytes=GIB
    )
    across = estimate_collective(
        H100_TOPO, op="all_to_all", groups=SHAPES["split"], buffer_bytes=GIB
    )
    assert across.time_s > 3 * inside.time_s
    assert across.bottleneck.tier == "nic"


def test_eight_dp_groups_sharing_nics_are_slower_than_one() -> None:
    """4 NICs for 8 GPUs (GPUs 2r, 2r+1 share NIC r): 8 stride-8 DP groups put 2x load per NIC."""
    topo = topo_of(inter_node={"nics_per_node": 4, "topology": "fat_tree"})
    dp = rank_groups(degrees={"tp": 8, "dp": 4}, order=["tp", "dp"])["dp"]
    one = estimate_collective(topo, op="all_reduce", groups=dp[:1], buffer_bytes=GIB)
    eight = estimate_collective(topo, op="all_reduce", groups=dp, buffer_bytes=GIB)
    assert eight.time_s > 1.9 * one.bandwidth_time_s
    assert eight.bottleneck.tier == "nic"


def test_rail_groups_do_not_share_nics() -> None:
    """DGX H100: one NIC per GPU, so 8 stride-8 DP groups each own a rail: no slowdown."""
    dp = rank_groups(degrees={"tp": 8, "dp": 4}, order=["tp", "dp"])["dp"]
    one = estimate_collective(H100_TOPO, op="all_reduce", groups=dp[:1], buffer_bytes=GIB)
    eight = estimate_collective(H100_TOPO, op="all_reduce", groups=dp, buffer_bytes=GIB)
    assert eight.time_s == pytest.approx(one.time_s)


def test_oversubscribed_spine_is_the_bottleneck_for_wide_all_to_all() -> None:
    groups = [list(range(512))]  # 64 nodes over 2 leaf groups of 32
    plain = estimate_collective(H100_TOPO, op="all_to_all", groups=groups, buffer_bytes=GIB)
    over = estimate_collective(
        topo_of(inter_node={"oversubscription": 4.0}),
        op="all_to_all",
        groups=groups,
        buffer_bytes=GIB,
    )
    assert over.bottleneck.tier == "spine" and over.time_s > 1.5 * plain.time_s


def test_time_is_affine_in_bytes() -> None:
    groups = [list(range(64))]
    t0, t1, t2 = (
        estimate_collective(H100_TOPO, op="all_gather", groups=groups, buffer_bytes=b).time_s
        for b in (0, GIB, 2 * GIB)
    )
    assert t2 - t1 == pytest.approx(t1 - t0, rel=1e-9)
    assert t0 == pytest.approx(56 * 2e-6 + 7 * 5e-6)  # 8 nodes: 56 NVLink, 7 network steps


def test_all_reduce_switches_to_tree_for_small_buffers_on_many_nodes() -> None:
    groups = [list(range(1024))]
    small = estimate_collective(H100_TOPO, op="all_reduce", groups=groups, buffer_bytes=1e3)
    large = estimate_collective(H100_TOPO, op="all_reduce", groups=groups, buffer_bytes=8 * GIB)
    assert small.algorithm == "hierarchical_tree" and large.algorithm == "hierarchical_ring"


def test_singleton_groups_cost_nothing() -> None:
    est = estimate_collective(H100_TOPO, op="all_reduce", groups=[[0], [1]], buffer_bytes=GIB)
    assert est.time_s == 0 and est.bottleneck.tier == "none"


def test_loopback_tier_and_calibrated_efficiency() -> None:
    """Two ranks on one host: ring all-reduce = 2 steps of latency + S / bandwidth (the spec's own
    numbers, since `parplan calibrate` rewrites cpu-local.yaml)."""
    loopback = {"gbyte_per_s_per_gpu": 2.0, "latency_us": 50.0}
    plain = topo_of("cpu-local", intra_node=loopback, efficiency=None)
    est = estimate_collective(plain, op="all_reduce", groups=[[0, 1]], buffer_bytes=1e9)
    assert est.bottleneck.tier == "loopback"
    assert est.time_s == pytest.approx(1e9 / 2e9 + 2 * 50e-6)
    calibrated = topo_of("cpu-local", intra_node=loopback, efficiency={"collective_bus": 0.5})
    slower = estimate_collective(calibrated, op="all_reduce", groups=[[0, 1]], buffer_bytes=1e9)
    assert slower.bandwidth_time_s == pytest.approx(2 * est.bandwidth_time_s)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"op": "gather", "groups": [[0, 1]], "buffer_bytes": 1.0}, "op='gather'"),
        ({"op": "all_reduce", "groups": [[0, 1]], "buffer_bytes": -1.0}, "bytes=-1"),
        ({"op": "all_reduce", "groups": [[0, 50000]], "buffer_bytes": 1.0}, "groups: rank 50000"),
        ({"op": "all_reduce", "groups": [[3, 3]], "buffer_bytes": 1.0}, "repeats a rank"),
    ],
)
def test_bad_input_is_spec_error(kwargs: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        estimate_collective(H100_TOPO, **kwargs)


def test_cached_estimate_is_fast_and_equal() -> None:
    big = topo_of(nodes=2048)
    dp = rank_groups(degrees={"tp": 8, "dp": 2048}, order=["tp", "dp"])["dp"]
    cold = estimate_collective(big, op="all_reduce", groups=dp, buffer_bytes=GIB)
    copy = [list(g) for g in dp]
    assert estimate_collective(big, op="all_reduce", groups=copy, buffer_bytes=GIB) == cold
    start = time.perf_counter()
    for _ in range(200):
        estimate_collective(big, op="all_reduce", groups=dp, buffer_bytes=GIB)
    assert (time.perf_counter() - start) / 200 < 200e-6


# ------------------------------------------------------------------- monotonicity (hypothesis)

layouts = st.sampled_from(
    [
        [list(range(8))],
        [list(range(32))],
        [list(range(0, 64, 8))],
        [list(range(0, 128, 2)), list(range(1, 128, 2))],
        [list(range(i, 256, 4)) for i in range(4)],
        [list(range(256))],
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    op=st.sampled_from(OPS),
    groups=layouts,
    tier=st.sampled_from(["intra", "nic"]),
    factor=st.floats(1.0, 8.0),
    size=st.floats(1e3, 1e10),
)
def test_more_bandwidth_is_never_slower(op, groups, tier, factor, size) -> None:
    base = topo_of(nodes=32, inter_node={"nodes_per_leaf": 4})
    if tier == "intra":
        faster = topo_of(
            nodes=32,
            inter_node={"nodes_per_leaf": 4},
            intra_node={"gbyte_per_s_per_gpu": 450 * factor},
        )
    else:
        faster = topo_of(
            nodes=32, inter_node={"nodes_per_leaf": 4, "gbit_per_s_per_nic": 400 * factor}
        )
    t_base = estimate_collective(base, op=op, groups=groups, buffer_bytes=size).time_s
    t_fast = estimate_collective(faster, op=op, groups=groups, buffer_bytes=size).time_s
    assert t_fast <= t_base * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(OPS), groups=layouts, size=st.floats(0, 1e10), extra=st.floats(0, 1e10))
def test_more_bytes_are_never_faster(op, groups, size, extra) -> None:
    t = [
        estimate_collective(H100_TOPO, op=op, groups=groups, buffer_bytes=b).time_s
        for b in (size, size + extra)
    ]
    assert t[1] >= t[0]


@settings(max_examples=40, deadline=None)
@given(
    op=st.sampled_from(OPS),
    groups=layouts,
    ratio=st.floats(1.0, 8.0),
    topology=st.sampled_from(["rail_optimized", "fat_tree"]),
)
def test_oversubscription_never_helps(op, groups, ratio, topology) -> None:
    inter = {"nodes_per_leaf": 2, "topology": topology}
    flat = topo_of(nodes=32, inter_node=inter)
    over = topo_of(nodes=32, inter_node=inter | {"oversubscription": ratio})
    t_flat = estimate_collective(flat, op=op, groups=groups, buffer_bytes=GIB).time_s
    t_over = estimate_collective(over, op=op, groups=groups, buffer_bytes=GIB).time_s
    assert t_over >= t_flat * (1 - 1e-12)


# ------------------------------------------------------------------ published nccl-tests numbers

# (case, cluster, op, ranks, published busbw GB/s, tolerance, source). Peak-size (8 GiB) runs.
NCCL_TESTS = [
    (
        "H100x8 all_gather",
        "h100-dgx-ndr400",
        "all_gather",
        8,
        370.0,
        0.05,
        "github.com/NVIDIA/nccl-tests/issues/212: ring/non-allreduce busbw ~370 GB/s on H100",
    ),
    (
        "H100x8 all_reduce ring",
        "h100-dgx-ndr400",
        "all_reduce",
        8,
        367.5,
        0.05,
        "github.com/NVIDIA/nccl/issues/1455: NCCL_ALGO=RING busbw 365-370 GB/s, 2..8 H100",
    ),
    (
        "A100x8 all_reduce",
        "a100-selene",
        "all_reduce",
        8,
        232.5,
        0.10,
        "github.com/NVIDIA/nccl-tests/issues/175: 232.54 GB/s; issues/149: ~230 GB/s (sjeaugey)",
    ),
    (
        "H100 2 nodes all_gather",
        "h100-dgx-ndr400",
        "all_gather",
        16,
        8 * 47.0,
        0.05,
        "github.com/NVIDIA/nccl-tests/issues/290: NDR 400G gives 46-48 GB/s per NIC (x8 NICs)",
    ),
    (
        "DGX-A100 16 nodes all_reduce",
        "a100-selene",
        "all_reduce",
        128,
        192.0,
        0.10,
        "github.com/NVIDIA/nccl/issues/1576 quoting #812: DGX-A100 8x200G IB, 192 GB/s busbw",
    ),
    (
        "DGX-A100 64 nodes all_reduce",
        "a100-selene",
        "all_reduce",
        512,
        192.0,
        0.10,
        "same; node count not stated in the source, so checked at 16 and 64 nodes",
    ),
]


@pytest.mark.parametrize("case", NCCL_TESTS, ids=[c[0] for c in NCCL_TESTS])
def test_against_published_nccl_tests_busbw(case) -> None:
    """Errors at the time of writing (docs/collectives.md): H100 AG -0.3%, H100 AR ring +0.3%,
    A100 AR +5.8%, H100 2-node AG -0.3% (calibration point of the NIC constant, not a check),
    DGX-A100 16 nodes +3.4%, 64 nodes -1.4%."""
    _, cluster, op, ranks, published, tolerance, _source = case
    topo = topo_of(cluster)
    est = estimate_collective(topo, op=op, groups=[list(range(ranks))], buffer_bytes=8 * GIB)
    assert est.bus_bandwidth_bytes_per_s / 1e9 == pytest.approx(published, rel=tolerance)


def test_nvls_all_reduce_is_a_known_underestimate() -> None:
    """H100 all-reduce with NVLink SHARP reaches ~480 GB/s busbw (nccl-tests#212, #290: 476);
    parplan models the ring (~369), 23% low. Kept as a test so a change is noticed."""
    est = estimate_collective(
        H100_TOPO, op="all_reduce", groups=[list(range(8))], buffer_bytes=8 * GIB
    )
    error = est.bus_bandwidth_bytes_per_s / 480e9 - 1
    assert -0.25 < error < -0.2
