"""`parplan clusters`, `parplan cluster NAME` and `parplan collective`: the cluster specs, their
graph summary, and one collective's time on a cluster. Thin layer over `parplan.cluster.topology` and
`parplan.cluster.collectives`; `--json` for scripts, a rich table for people."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from parplan.cluster.collectives import OPS, estimate_collective
from parplan.cluster.placement import groups_over
from parplan.cluster.topology import Topology
from parplan.commands.checks import require_positive
from parplan.commands.common import CLUSTER_HELP, JSON_OPT
from parplan.commands.tables import fixed_columns, new_table
from parplan.errors import SpecError
from parplan.specs import GB, cluster_presets, load_cluster


def clusters_table() -> list[dict]:
    """One row per cluster spec: GPUs, fabric, per-GPU intra and NIC bandwidth (GB/s)."""
    rows = []
    for name in cluster_presets():
        c = load_cluster(name)
        rows.append({
            "name": name, "gpu": c.gpu.name, "num_gpus": c.num_gpus, "nodes": c.nodes,
            "gpus_per_node": c.gpus_per_node, "intra_fabric": c.intra_node.fabric,
            "intra_gbyte_per_s_per_gpu": c.intra_node.gbyte_per_s_per_gpu,
            "nics_per_node": c.inter_node.nics_per_node,
            "gbit_per_s_per_nic": c.inter_node.gbit_per_s_per_nic,
            "topology": c.inter_node.topology,
        })  # fmt: skip
    return rows


def cluster_summary(name: str, num_gpus: int | None = None) -> dict:
    spec = load_cluster(name)
    if num_gpus is not None and num_gpus > spec.num_gpus:
        raise SpecError(f"--gpus {num_gpus} exceeds cluster '{spec.name}': nodes*gpus_per_node = "
                        f"{spec.nodes}*{spec.gpus_per_node} = {spec.num_gpus}")  # fmt: skip
    return Topology.from_cluster(spec, num_gpus).summary().model_dump()


def concurrent_groups(*, group_size: int, stride: int, concurrent: int) -> list[list[int]]:
    """`concurrent` groups of `group_size` ranks spaced `stride` apart, tiled like `rank_groups`:
    group j starts at j (j < stride) and the next block of stride*group_size ranks follows."""
    for flag, value in (
        ("--group-size", group_size),
        ("--stride", stride),
        ("--concurrent-groups", concurrent),
    ):
        if value < 1:
            raise SpecError(f"{flag}={value} must be >= 1")
    outer = -(-concurrent // stride)
    degrees = {"inner": stride, "g": group_size, "outer": outer}
    groups = groups_over(dims=["g"], degrees=degrees, order=["inner", "g", "outer"])
    return groups[:concurrent]


def collective(
    *,
    cluster: str,
    op: str,
    group_size: int,
    buffer_bytes: float,
    stride: int = 1,
    concurrent: int = 1,
) -> dict:
    """Estimate `op` on the cluster for the groups described by the flags; a JSON-ready dict."""
    spec = load_cluster(cluster)
    # disjoint groups need group_size x concurrent ranks, and one group spans stride*(g-1)+1:
    # checked before the rank lists are built (a million ranks would fill the memory)
    lower = max(group_size * concurrent, stride * (group_size - 1) + 1)
    groups = [] if lower > spec.num_gpus else concurrent_groups(
        group_size=group_size, stride=stride, concurrent=concurrent)  # fmt: skip
    needed = max(max(g) for g in groups) + 1 if groups else lower
    if needed > spec.num_gpus:
        raise SpecError(
            f"--group-size {group_size} x --stride {stride} x --concurrent-groups {concurrent} "
            f"needs {needed} GPUs, but cluster '{spec.name}' has nodes*gpus_per_node = "
            f"{spec.nodes}*{spec.gpus_per_node} = {spec.num_gpus}"
        )
    topology = Topology.from_cluster(spec)
    est = estimate_collective(topology, op=op, groups=groups, buffer_bytes=buffer_bytes)
    record = est.model_dump()
    record.update(
        cluster=spec.name,
        buffer_bytes=buffer_bytes,
        stride=stride,
        bus_bandwidth_gbyte_per_s=est.bus_bandwidth_bytes_per_s / GB,
    )
    return record


def register(app: typer.Typer) -> None:
    app.command("clusters")(clusters_cmd)
    app.command("cluster")(cluster_cmd)
    app.command("collective")(collective_cmd)


def clusters_cmd(as_json: bool = JSON_OPT) -> None:
    """List the cluster specs in cluster_specs/."""
    rows = clusters_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    cells = [[r["name"], r["gpu"], f"{r['nodes']:,}x{r['gpus_per_node']}",
              f"{r['intra_gbyte_per_s_per_gpu']:g}", f"{r['nics_per_node']}x{r['gbit_per_s_per_nic']:g}",
              f"{r['intra_fabric']}, {r['topology']}"] for r in rows]  # fmt: skip
    columns = ["name", "gpu", "GPUs", "GB/s", "NIC Gb/s", "network"]
    caption = ("GPUs: nodes x GPUs per node; GB/s: per GPU inside a node, over the first network "
               "named; NIC Gb/s: NICs per node x Gb/s each")  # fmt: skip
    table = fixed_columns(new_table("parplan cluster specs", caption=caption), columns, cells,
                          text=("gpu", "network"), left=("name",))  # fmt: skip
    Console().print(table)


def cluster_cmd(
    name: str = typer.Argument(..., help=CLUSTER_HELP),
    gpus: int = typer.Option(None, "--gpus", help="Use only the first N GPUs.",
                             show_default="all of them"),  # fmt: skip
    as_json: bool = JSON_OPT,
) -> None:
    """Graph summary of a cluster: nodes, links per tier, bisection bandwidth."""
    require_positive(gpus=gpus)
    rec = cluster_summary(name, gpus)
    if as_json:
        print(json.dumps(rec, indent=2))
        return
    console = Console()
    console.print(f"[bold]{rec['cluster']}[/]: {rec['num_gpus']} GPUs on {rec['num_nodes']} nodes, "
                  f"{rec['topology']}, {rec['num_leaves']} leaves, {rec['graph_nodes']} graph nodes, "
                  f"bisection {rec['bisection_bytes_per_s'] / GB:,.0f} GB/s")  # fmt: skip
    cells = [[tier, str(count), f"{rec['bandwidth_bytes_per_s_per_tier'].get(tier, 0.0) / GB:,.1f}"]
             for tier, count in rec["edges_per_tier"].items()]  # fmt: skip
    table = fixed_columns(new_table(), ["tier", "links", "GB/s per direction"], cells,
                          left=("tier",))  # fmt: skip
    console.print(table)


def collective_cmd(
    cluster: str = typer.Option(..., "--cluster", help=CLUSTER_HELP),
    op: str = typer.Option(..., "--op", help=" | ".join(OPS)),
    group_size: int = typer.Option(..., "--group-size", help="Ranks per group."),
    buffer_bytes: float = typer.Option(
        ..., "--bytes", help="Buffer bytes (comm_ops.py convention)."
    ),
    stride: int = typer.Option(1, "--stride", help="Rank distance between group members."),
    concurrent: int = typer.Option(1, "--concurrent-groups", help="Groups running at once."),
    as_json: bool = JSON_OPT,
) -> None:
    """Time, bus bandwidth and bottleneck link of one collective."""
    require_positive(bytes=buffer_bytes)
    rec = collective(
        cluster=cluster,
        op=op,
        group_size=group_size,
        buffer_bytes=buffer_bytes,
        stride=stride,
        concurrent=concurrent,
    )
    if as_json:
        print(json.dumps(rec, indent=2))
        return
    b = rec["bottleneck"]
    Console().print(
        f"{rec['op']} on {rec['groups']} x {rec['group_size']} ranks of {rec['cluster']} "
        f"({rec['algorithm']}): {rec['time_s'] * 1e3:,.3f} ms "
        f"(latency {rec['latency_s'] * 1e6:,.1f} us), busbw {rec['bus_bandwidth_gbyte_per_s']:,.1f} GB/s; "
        f"bottleneck {b['tier']} {b['edge']} ({b['utilization']:.0%} busy)"
    )
