"""The table of `parplan compare-sp`: one row per (workload, method, SP degree)."""

from __future__ import annotations

from rich.table import Table

from parplan.commands.tables import fixed_columns, new_table
from parplan.compare.sp import SpRow


def method_label(row: SpRow) -> str:
    """`usp 4x2` (Ulysses x ring) for USP, the method's name otherwise."""
    return f"usp {row.ulysses}x{row.ring}" if row.method == "usp" else row.method


def sp_table(rows: list[SpRow]) -> Table:
    several = len({r.workload for r in rows}) > 1
    columns = ["workload"] * several + ["method", "sp", "step s", "exp. comm s", "MB/layer",
                                        "GiB/GPU", "note"]  # fmt: skip
    cells = []
    for r in rows:
        head = [r.workload] * several + [method_label(r), str(r.sp)]
        if r.step_time_s is None:
            cells.append([*head, "-", "-", "-", "-", r.reason])
            continue
        cells.append([*head, f"{r.step_time_s:.4g}", f"{r.exposed_comm_s:.3g}",
                      f"{r.comm_bytes_per_gpu_per_layer_fwd / 1e6:.1f}",
                      f"{r.memory_gib_per_gpu:.1f}", r.reason])  # fmt: skip
    if not any(r.reason for r in rows):  # every row runs and fits: no note column
        columns, cells = columns[:-1], [row[:-1] for row in cells]
    caption = ("MB/layer: SP bytes sent per GPU per layer, forward; exp. comm: communication "
               "exposed per step")  # fmt: skip
    return fixed_columns(new_table(caption=caption), columns, cells,
                         text=("workload", "note"), left=("workload", "method"))  # fmt: skip
