"""Tables of `parplan plan`: the plans, the search summary, and deadline mode's size curve."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from parplan.commands.tables import stack_text
from parplan.cost.goodput import Goodput
from parplan.plan.results import Plan, PlanResult
from parplan.specs import StackSpec


def plan_notes(best: Plan) -> list[str]:
    return [
        f"parplan plan: step {best.step_time_s:.3f} s, MFU {best.mfu:.1%}, "
        f"{best.memory_gib_per_gpu:.1f} GiB per GPU"
    ]


def _strategy_text(p: Plan) -> tuple[str, str]:
    s = p.strategy
    sp = f"{s.sp} {s.sp_method}" + (f" {s.ulysses}x{s.ring}" if "usp" in s.methods_used else "")
    if s.sp_methods:  # per-block-type methods: (temporal=dsp)
        sp += " (" + ",".join(f"{t}={m}" for t, m in sorted(s.sp_methods.items())) + ")"
    ckpt = (
        s.ckpt
        if isinstance(s.ckpt, str)
        else ",".join(f"{k}:{v}" for k, v in p.ckpt_blocks.items())
    )
    parts = [f"dp{s.dp}", f"tp{s.tp}" if s.tp > 1 else "", f"sp{sp}" if s.sp > 1 else "",
             (f"pp{s.pp}" + (f"x{s.vpp}" if s.vpp > 1 else "")) if s.pp > 1 else ""]  # fmt: skip
    return " ".join(part for part in parts if part), ckpt


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
        _print_curve(console, result)
    if not result.plans:
        bad = result.infeasible or {}
        console.print(f"[bold red]no plan fits[/] ({bad.get('binding')}): {bad.get('detail')}")
        return
    table = Table(title=f"{title} on {result.gpus} GPUs, global batch {result.global_batch}")
    with_days = any(p.time_to_train_days is not None for p in result.plans)
    columns = ["#", "layout", "zero", "mb", "ckpt", "order", "step s", "MFU", "GiB/GPU",
               "bottleneck"] + ["days"] * with_days  # fmt: skip
    rows = [_plan_row(k, p, with_days=with_days) for k, p in enumerate(result.plans, start=1)]
    for i, column in enumerate(columns):  # numbers never wrap or shrink; text columns give way
        text = column in ("layout", "ckpt", "order", "bottleneck")
        width = max([len(column)] + [len(row[i]) for row in rows])
        table.add_column(column, no_wrap=not text, min_width=None if text else width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if goodput is not None:
        console.print(goodput_line(goodput, result.plans[0].time_to_train_days))
    s = result.search
    console.print(
        f"searched {s.candidates} layouts in {s.seconds:.2f} s ({s.evaluated} costed, "
        f"{s.pruned} pruned: {s.pruned_by}; {s.ilp_solves} ILPs with {s.solver}, "
        f"orders: {s.order_space})"
    )


def _plan_row(k: int, p: Plan, *, with_days: bool) -> list[str]:
    layout, ckpt = _strategy_text(p)
    b = p.bottleneck
    days = "-" if p.time_to_train_days is None else format_days(p.time_to_train_days)
    return [
        str(k),
        layout,
        str(p.strategy.zero),
        str(p.strategy.micro_batch),
        ckpt,
        ",".join(d for d in p.strategy.order if getattr(p.strategy, d) > 1) or "-",
        f"{p.step_time_s:.3f}",
        f"{p.mfu:.1%}",
        f"{p.memory_gib_per_gpu:.1f}",
        b.get("dim") if b.get("tier") in (None, "-") else f"{b.get('dim')}/{b.get('tier')}",
    ] + [days] * with_days


def _print_curve(console: Console, result: PlanResult) -> None:
    table = Table(title=f"cluster size vs days to train (deadline {result.deadline_days:g} days)")
    for column in ("nodes", "GPUs", "days", "at least", "sizing"):
        table.add_column(column, justify="right" if column != "sizing" else "left")
    for p in result.curve:
        days = "-" if p.days is None else format_days(p.days)
        least = "-" if p.days_at_least is None else format_days(p.days_at_least)
        table.add_row(f"{p.nodes:,}", f"{p.gpus:,}", days, least, _STATUS.get(p.status or "", ""))
    console.print(table)
    console.print(deadline_sentence(result))


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
    """The answer in one sentence: '1,536 GPUs meet 30 days: 25.250 days, dp=32 sp=16 ...'."""
    if not result.plans:
        return f"No cluster size meets {result.deadline_days:g} days: {(result.infeasible or {}).get('detail')}"
    best = result.plans[0]
    layout, _ckpt = _strategy_text(best)
    below = [p for p in result.curve if p.gpus < result.gpus]
    why = ""
    if below and below[-1].status == "bound" and result.mfu_bound:
        why = (f"; {below[-1].gpus:,} GPUs need at least {format_days(below[-1].days_at_least)} "
               f"days even at the best MFU any layout reaches ({result.mfu_bound:.1%})")
    elif below and below[-1].status == "misses":
        why = f"; no layout on {below[-1].gpus:,} GPUs is fast enough"
    return (f"{result.gpus:,} GPUs ({result.nodes:,} nodes) meet {result.deadline_days:g} days: "
            f"{format_days(best.time_to_train_days)} days, {layout}, zero {best.strategy.zero}, "
            f"micro-batch {best.strategy.micro_batch}, step {best.step_time_s:.3f} s, "
            f"MFU {best.mfu:.1%}{why}")  # fmt: skip
