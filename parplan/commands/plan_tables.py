"""Tables of `parplan plan`: the plans, the search summary, and deadline mode's size curve."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from parplan.commands.tables import (
    ckpt_text,
    fixed_columns,
    layout_text,
    min_width,
    new_table,
    stack_text,
)
from parplan.cost.goodput import Goodput
from parplan.plan.results import Plan, PlanResult, SearchStats
from parplan.specs import StackSpec


def plan_notes(best: Plan) -> list[str]:
    return [
        f"parplan plan: step {best.step_time_s:.3f} s, MFU {best.mfu:.1%}, "
        f"{best.memory_gib_per_gpu:.1f} GiB per GPU"
    ]


def sp_types_note(plans: list[Plan]) -> str | None:
    """The line that reads a per-type mix (`fastseq/ulysses` in a layout); None without one."""
    mixes = {tuple(sorted(p.strategy.sp_methods)) for p in plans if p.strategy.sp_methods}
    if not mixes:
        return None
    types = "; ".join("/".join(m) + "/others" for m in sorted(mixes))
    return f"a/b in a layout: an SP method per block type ({types})"


def goodput_json(goodput: Goodput | None) -> dict:
    """Deadline mode's JSON gains the best plan's goodput (cost/goodput.py)."""
    return {} if goodput is None else {"goodput": goodput.model_dump(mode="json")}


def goodput_line(g: Goodput, days: float | None) -> str:
    every = "-" if g.checkpoint_interval_s is None else f"{g.checkpoint_interval_s / 60:,.0f} min"
    wall = "" if days is None else f"; {days / max(g.fraction, 1e-9):.1f} wall days with it"
    return (f"goodput {g.fraction:.1%}: checkpoint ({g.checkpoint_bytes / 1e9:,.0f} GB) every "
            f"{every}, {g.interruptions_per_day:.2f} interruptions/day{wall}")  # fmt: skip


def print_result(
    result: PlanResult, *, title: str, stack: StackSpec, goodput: Goodput | None = None
) -> None:
    console = Console()
    console.print(stack_text(stack))
    if result.curve:
        console.print(curve_table(result))
        if result.plans:
            console.print(deadline_sentence(result))
    if not result.plans:
        bad = result.infeasible or {}
        console.print(f"[bold red]no plan fits[/] ({bad.get('binding')}): {bad.get('detail')}")
        return
    console.print(f"{title} · {result.gpus} GPUs · global batch {result.global_batch}",
                  style="bold", highlight=False)  # fmt: skip
    table = plans_table(result)
    if min_width(console, table) > console.width:  # narrow: bottlenecks under the table
        table = plans_table(result, bottleneck=False)
        console.print(table)
        console.print(bottlenecks_line(result.plans))
    else:
        console.print(table)
    note = sp_types_note(result.plans)
    if note:
        console.print(note)
    if goodput is not None:
        console.print(goodput_line(goodput, result.plans[0].time_to_train_days))
    console.print(search_line(result.search))


def plans_table(result: PlanResult, *, bottleneck: bool = True) -> Table:
    with_days = any(p.time_to_train_days is not None for p in result.plans)
    columns = ["#", "layout", "zero", "mb", "ckpt", "order", "step s", "MFU", "GiB",
               "bottleneck", "days"]  # fmt: skip
    rows = [_plan_row(k, p) for k, p in enumerate(result.plans, start=1)]
    keep = [bottleneck, with_days]
    columns, rows = columns[:9] + [c for c, k in zip(columns[9:], keep, strict=True) if k], [
        row[:9] + [c for c, k in zip(row[9:], keep, strict=True) if k] for row in rows]
    return fixed_columns(new_table(gap=1), columns, rows, text=("ckpt", "bottleneck"),
                         left=("layout", "order"))  # fmt: skip


def bottlenecks_line(plans: list[Plan]) -> str:
    """`bottleneck: #1-3 compute; #4 sp on nvlink` (plans grouped by their bottleneck)."""
    groups: dict[str, list[int]] = {}
    for k, p in enumerate(plans, start=1):
        groups.setdefault(bottleneck_text(p), []).append(k)
    numbers = {text: ",".join(map(str, ks)) if ks != list(range(ks[0], ks[-1] + 1)) or len(ks) < 3
               else f"{ks[0]}-{ks[-1]}" for text, ks in groups.items()}  # fmt: skip
    return "bottleneck: " + "; ".join(f"#{numbers[text]} {text}" for text in groups)


def bottleneck_text(p: Plan) -> str:
    b = p.bottleneck
    return b.get("dim") if b.get("tier") in (None, "-") else f"{b.get('dim')} on {b.get('tier')}"


def search_line(s: SearchStats) -> str:
    """What the search did, in counts that add up: every layout searched (core x rank order) was
    either solved (block ILP, then `predict`) or pruned for one reason; `predictions` counts the
    `predict` calls, more than the layouts solved (re-solves under a tighter memory cap, one
    per SP-method mix)."""
    if s.candidates == 0:
        return f"deadline sizing in {s.seconds:.2f} s"
    solved = s.candidates - s.pruned
    reasons = ", ".join(f"{n:,} {PRUNE_REASONS.get(k, k)}" for k, n in
                        sorted(s.pruned_by.items(), key=lambda kv: -kv[1]) if n)  # fmt: skip
    return (f"searched {s.candidates:,} layouts in {s.seconds:.2f} s: {solved:,} solved + "
            f"{s.pruned:,} pruned ({reasons}); {s.evaluated:,} predict calls, {s.ilp_solves:,} "
            f"ILPs ({s.solver}); rank orders: {s.order_space}")  # fmt: skip


# plan/search.py's prune counters, as the summary line names them
PRUNE_REASONS = {
    "bound": "by bound",
    "order": "other orders of an infeasible layout",
    "memory": "memory",
    "divisibility": "divisibility",
    "batch": "global batch",
}


def _plan_row(k: int, p: Plan) -> list[str]:
    return [
        str(k),
        layout_text(p.strategy),
        str(p.strategy.zero),
        str(p.strategy.micro_batch),
        ckpt_text(p.strategy.ckpt, p.ckpt_blocks),
        ",".join(d for d in p.strategy.order if getattr(p.strategy, d) > 1) or "-",
        f"{p.step_time_s:.3f}",
        f"{p.mfu:.1%}",
        f"{p.memory_gib_per_gpu:.1f}",
        bottleneck_text(p),
        "-" if p.time_to_train_days is None else format_days(p.time_to_train_days),
    ]


def curve_table(result: PlanResult) -> Table:
    """Deadline mode's sizes: exact days where planned, the MFU lower bound, and why each size
    is or is not the answer."""
    rows = [[f"{p.nodes:,}", f"{p.gpus:,}", "-" if p.days is None else format_days(p.days),
             "-" if p.days_at_least is None else format_days(p.days_at_least),
             _STATUS.get(p.status or "", "")] for p in result.curve]  # fmt: skip
    table = new_table(f"cluster size vs days to train (deadline {result.deadline_days:g} days)")
    return fixed_columns(table, ["nodes", "GPUs", "days", "at least", "sizing"], rows,
                         text=("sizing",))  # fmt: skip


_STATUS = {
    "meets": "meets the deadline: the answer",
    "misses": "searched: no layout meets it",
    "bound": "cannot: the MFU bound",
    "above": "not needed (larger)",
    "no plan": "nothing fits",
}


def format_days(days: float) -> str:
    """Days with enough digits to compare sizes near a deadline."""
    return f"{days:,.3f}" if days < 1000 else f"{days:,.0f}"


def deadline_sentence(result: PlanResult) -> str:
    """The answer in one sentence: '1,536 GPUs meet 30 days: 25.250 days, dp32 sp16 ...' (a
    result with plans)."""
    best = result.plans[0]
    below = [p for p in result.curve if p.gpus < result.gpus]
    why = ""
    if below and below[-1].status == "bound" and result.mfu_bound:
        why = (f"; {below[-1].gpus:,} GPUs need at least {format_days(below[-1].days_at_least)} "
               f"days even at the best MFU any layout reaches ({result.mfu_bound:.1%})")
    elif below and below[-1].status == "misses":
        why = f"; no layout on {below[-1].gpus:,} GPUs is fast enough"
    return (f"{result.gpus:,} GPUs ({result.nodes:,} nodes) meet {result.deadline_days:g} days: "
            f"{format_days(best.time_to_train_days)} days, {layout_text(best.strategy)}, "
            f"zero {best.strategy.zero}, micro-batch {best.strategy.micro_batch}, step {best.step_time_s:.3f} s, "
            f"MFU {best.mfu:.1%}{why}")  # fmt: skip
