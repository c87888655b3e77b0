"""Tables of a recipe (`parplan estimate --recipe`, `parplan plan --recipe`): every stage's plan,
step, goodput, days and cost with the total, and every bucket's layout."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from parplan.commands.tables import ckpt_text, fixed_columns, layout_text, new_table
from parplan.estimate.recipe import RecipeEstimate
from parplan.specs import StrategySpec


def recipe_json(e: RecipeEstimate) -> dict[str, Any]:
    """{"stages": [...], "total": {...}}: the sizing rounds of --deadline-days stay in the table."""
    return e.model_dump(mode="json", exclude={"sizing"})


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.0f}"


def _interval(g: dict[str, Any]) -> str:
    seconds = g["checkpoint_interval_s"]
    return "-" if seconds is None else f"{seconds / 60:,.0f} min"


def stage_table(e: RecipeEstimate) -> Table:
    rows = [[s.name, f"{s.gpus:,}", f"{s.iterations:,.0f}", f"{s.samples:.3g}",
             f"{s.step_time_s:.2f}", f"{s.plan['mfu']:.1%}", f"{s.wall_days:,.2f}",
             f"{s.gpu_days:,.0f}", _money(s.cost)] for s in e.stages]  # fmt: skip
    t = e.total
    rows.append(["total", "", "", "", "", "", f"{t.wall_days:,.2f}", f"{t.gpu_days:,.0f}",
                 _money(t.cost)])  # fmt: skip
    columns = ["stage", "GPUs", "iters", "samples", "step s", "MFU", "days", "GPU-days", "cost"]
    return fixed_columns(new_table("recipe: stages one after another (days: wall clock, with "
                                   "goodput)", gap=1), columns, rows, left=("stage",))  # fmt: skip


def goodput_table(e: RecipeEstimate) -> Table:
    rows = []
    for s in e.stages:
        g = s.goodput
        rows.append([s.name, f"{g.fraction:.1%}", f"{g.checkpoint_bytes / 1e9:,.0f}",
                     f"{g.checkpoint_write_s:,.1f}", _interval(g.model_dump()),
                     f"{g.interruptions_per_day:.2f}", f"{g.lost_per_failure_s / 60:,.1f}"])  # fmt: skip
    columns = ["stage", "goodput", "ckpt GB", "write s", "every", "fails/day", "lost min"]
    return fixed_columns(new_table("goodput: failures, restarts, checkpoints (the "
                                   "cluster's reliability: section)"), columns, rows, left=("stage",))  # fmt: skip


def bottleneck_lines(e: RecipeEstimate) -> list[str]:
    return [f"{s.name}: {s.bottleneck.get('dim', '?')}: {s.bottleneck.get('advice', '')}"
            for s in e.stages]  # fmt: skip


def bucket_tables(e: RecipeEstimate) -> list[Table]:
    """One table per stage: each bucket on its layout (draws: its share of the micro-batches,
    or of the steps where buckets run one per step; the recipe's sample weights are in --json)."""
    columns = ["bucket", "draws", "batch", "layout", "zero", "mb", "ckpt", "step s", "MFU", "GiB"]
    tables = []
    for s in e.stages:
        rows = [_bucket_row(b) for b in s.plan["buckets"]]
        table = new_table(f"stage {s.name} · {s.gpus:,} GPUs · buckets", gap=1,
                          caption="draws: the bucket's share of micro-batches (or steps)")  # fmt: skip
        tables.append(fixed_columns(table, columns, rows, text=("ckpt",),
                                    left=("bucket", "layout")))  # fmt: skip
    return tables


def _bucket_row(b: dict[str, Any]) -> list[str]:
    s = StrategySpec.model_validate(b["strategy"])
    return [b["bucket"], f"{b['draw_share']:.3f}", f"{b['batch']:,.0f}",
            layout_text(s), str(s.zero), str(s.micro_batch), ckpt_text(s.ckpt),
            f"{b['step_time_s']:.2f}", f"{b['mfu']:.1%}", f"{b['memory_gib_per_gpu']:.1f}"]  # fmt: skip


def sizing_table(e: RecipeEstimate) -> Table | None:
    if e.sizing is None:
        return None
    rows = [[f"{r.gpus:,}", "-" if r.mfu is None else f"{r.mfu:.1%}",
             "-" if r.gpus_needed is None else f"{r.gpus_needed:,.0f}", r.infeasible or ""]
            for r in e.sizing.rounds]  # fmt: skip
    columns = ["GPUs", "MFU x goodput", "GPUs needed", "note"]
    if not any(row[-1] for row in rows):
        columns, rows = columns[:-1], [row[:-1] for row in rows]
    table = new_table("--deadline-days: sizes tried for the stages without their own gpus")
    return fixed_columns(table, columns, rows, text=("note",))


def recipe_table(e: RecipeEstimate) -> Group:
    tables = [stage_table(e), goodput_table(e), *bottleneck_lines(e), *bucket_tables(e),
              sizing_table(e)]  # fmt: skip
    return Group(*[t for t in tables if t is not None])


def layouts_table(e: RecipeEstimate) -> Group:
    """`plan --recipe`: the layouts, then the stage summary."""
    return Group(*bucket_tables(e), stage_table(e), goodput_table(e), *bottleneck_lines(e))
