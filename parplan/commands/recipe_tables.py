"""Tables of a recipe (`parplan estimate --recipe`, `parplan plan --recipe`): every stage's plan,
step, goodput, days and cost with the total, and every bucket's layout."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from parplan.estimate.recipe import RecipeEstimate


def recipe_json(e: RecipeEstimate) -> dict[str, Any]:
    """{"stages": [...], "total": {...}}: the sizing rounds of --deadline-days stay in the table."""
    return e.model_dump(mode="json", exclude={"sizing"})


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.0f}"


def _layout(strategy: dict[str, Any]) -> str:
    s = strategy
    parts = [f"dp{s['dp']}"] + [f"{k}{s[k]}" for k in ("tp", "pp") if s[k] > 1]
    if s["sp"] > 1:
        parts.append(f"sp{s['sp']} {s['sp_method']}")
    ckpt = s["ckpt"] if isinstance(s["ckpt"], str) else _ckpt_counts(s["ckpt"])
    return " ".join(parts) + f" zero{s['zero']} ckpt {ckpt}"


def _ckpt_counts(modes: list[str]) -> str:
    return ",".join(f"{m}:{modes.count(m)}" for m in dict.fromkeys(modes))


def _interval(g: dict[str, Any]) -> str:
    seconds = g["checkpoint_interval_s"]
    return "-" if seconds is None else f"{seconds / 60:,.0f} min"


def _table(title: str, columns: list[str], rows: list[list[str]], text: tuple[str, ...] = ()) -> Table:
    """Numbers never wrap or shrink; the `text` columns give way."""
    t = Table(title=title)
    for i, column in enumerate(columns):
        width = max([len(column)] + [len(row[i]) for row in rows])
        t.add_column(column, no_wrap=column not in text,
                     min_width=None if column in text else width)  # fmt: skip
    for row in rows:
        t.add_row(*row)
    return t


def stage_table(e: RecipeEstimate) -> Table:
    rows = [[s.name, f"{s.gpus:,}", f"{s.iterations:,.0f}", f"{s.samples:.3g}",
             f"{s.step_time_s:.2f}", f"{s.plan['mfu']:.1%}", f"{s.goodput.fraction:.1%}",
             f"{s.wall_days:,.2f}", f"{s.gpu_days:,.0f}", _money(s.cost)] for s in e.stages]  # fmt: skip
    t = e.total
    rows.append(["total", "", "", "", "", "", "", f"{t.wall_days:,.2f}", f"{t.gpu_days:,.0f}",
                 _money(t.cost)])  # fmt: skip
    columns = ["stage", "GPUs", "iters", "samples", "step s", "MFU", "goodput", "days",
               "GPU-days", "cost"]  # fmt: skip
    return _table("recipe: stages one after another", columns, rows, text=("stage",))


def goodput_table(e: RecipeEstimate) -> Table:
    rows = []
    for s in e.stages:
        g = s.goodput
        rows.append([s.name, f"{g.checkpoint_bytes / 1e9:,.0f}", f"{g.checkpoint_write_s:,.1f}",
                     _interval(g.model_dump()), f"{g.interruptions_per_day:.2f}",
                     f"{g.lost_per_failure_s / 60:,.1f}", s.bottleneck.get("advice", "")])  # fmt: skip
    columns = ["stage", "ckpt GB", "write s", "ckpt every", "fails/day", "lost min/fail",
               "bottleneck"]  # fmt: skip
    return _table("goodput (cluster reliability:) and bottleneck", columns, rows,
                  text=("stage", "bottleneck"))  # fmt: skip


def bucket_table(e: RecipeEstimate) -> Table:
    rows = [[s.name, b["bucket"], f"{b['weight']:.3f}", f"{b['draw_share']:.3f}",
             f"{b['batch']:,.0f}", _layout(b["strategy"]), str(b["strategy"]["micro_batch"]),
             f"{b['step_time_s']:.2f}", f"{b['mfu']:.1%}", f"{b['memory_gib_per_gpu']:.1f}"]
            for s in e.stages for b in s.plan["buckets"]]  # fmt: skip
    columns = ["stage", "bucket", "weight", "draws", "batch", "layout", "mb", "step s", "MFU",
               "GiB"]  # fmt: skip
    return _table("buckets, each on its layout (draws: share of micro-batches or steps)",
                  columns, rows, text=("stage", "bucket", "layout"))  # fmt: skip


def sizing_table(e: RecipeEstimate) -> Table | None:
    if e.sizing is None:
        return None
    t = Table(title="--deadline-days: sizes tried for the stages without their own gpus")
    for column in ("GPUs", "MFU x goodput", "GPUs needed", "note"):
        t.add_column(column)
    for r in e.sizing.rounds:
        t.add_row(f"{r.gpus:,}", "-" if r.mfu is None else f"{r.mfu:.1%}",
                  "-" if r.gpus_needed is None else f"{r.gpus_needed:,.0f}", r.infeasible or "")  # fmt: skip
    return t


def recipe_table(e: RecipeEstimate) -> Group:
    tables = [stage_table(e), goodput_table(e), bucket_table(e), sizing_table(e)]
    return Group(*[t for t in tables if t is not None])


def layouts_table(e: RecipeEstimate) -> Group:
    """`plan --recipe`: the layouts, then the stage summary."""
    return Group(bucket_table(e), stage_table(e), goodput_table(e))
