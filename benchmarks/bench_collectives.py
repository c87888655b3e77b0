"""Time per `estimate_collective` call at 16,384 GPUs (2048 DGX H100 nodes), cold and cached.

Run: python benchmarks/bench_collectives.py
Cold = first estimate for an (op, groups) pair: link loads computed from the groups. Cached (same
list object) = dictionary hit on identity, the evaluator's case. Cached (equal copy) = a new list
with the same contents: the groups are hashed.
"""

from __future__ import annotations

import time

from parplan.cluster.collectives import estimate_collective
from parplan.cluster.placement import rank_groups
from parplan.cluster.topology import Topology
from parplan.specs import load_cluster

GIB = 2**30
REPEATS = 200


def build_topology(nodes: int) -> tuple[Topology, float]:
    spec = load_cluster(load_cluster("h100-dgx-ndr400").model_dump() | {"nodes": nodes})
    start = time.perf_counter()
    topology = Topology.from_cluster(spec)
    return topology, time.perf_counter() - start


def layouts() -> dict[str, list[list[int]]]:
    """tp=8 inside nodes, then the named group over the rest of the 16,384 ranks."""
    grid = rank_groups(degrees={"tp": 8, "sp": 8, "dp": 256}, order=["tp", "sp", "dp"])
    wide = rank_groups(degrees={"tp": 8, "dp": 2048}, order=["tp", "dp"])
    return {
        "tp8 (2048 groups of 8)": grid["tp"],
        "sp8 stride 8 (2048 groups)": grid["sp"],
        "dp256 (64 groups of 256)": grid["dp"],
        "dp2048 (8 groups of 2048)": wide["dp"],
        "world (1 group of 16384)": [list(range(16384))],
    }


def time_call(topology: Topology, op: str, groups: list[list[int]]) -> float:
    start = time.perf_counter()
    for _ in range(REPEATS):
        estimate_collective(topology, op=op, groups=groups, buffer_bytes=GIB)
    return (time.perf_counter() - start) / REPEATS


def main() -> None:
    topology, build_s = build_topology(2048)
    print(f"Topology.from_cluster, 16,384 GPUs: {build_s * 1e3:.2f} ms (graph built lazily)")
    print(
        f"{'layout':28} {'op':15} {'cold ms':>9} {'cached us':>10} {'copy us':>9} "
        f"{'est. time ms':>12}  bottleneck"
    )
    for name, groups in layouts().items():
        for op in ("all_reduce", "all_gather", "all_to_all", "p2p_ring"):
            start = time.perf_counter()
            est = estimate_collective(topology, op=op, groups=groups, buffer_bytes=GIB)
            cold_s = time.perf_counter() - start
            cached_s = time_call(topology, op, groups)
            copy = [list(g) for g in groups]
            start = time.perf_counter()
            estimate_collective(topology, op=op, groups=copy, buffer_bytes=GIB)
            copy_s = time.perf_counter() - start
            print(
                f"{name:28} {op:15} {cold_s * 1e3:9.2f} {cached_s * 1e6:10.1f} "
                f"{copy_s * 1e6:9.1f} {est.time_s * 1e3:12.3f}  {est.bottleneck.tier} "
                f"{est.bottleneck.edge} ({est.algorithm})"
            )


if __name__ == "__main__":
    main()
