"""Rich tables shared by the subcommands."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from parplan.specs import StackSpec


def quantity_table(rows: Iterable[tuple[str, str | None]], *, title: str | None = None) -> Table:
    """A two-column `quantity | value` table; rows whose value is None are left out."""
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in rows:
        if value is not None:
            table.add_row(name, value)
    return table


def stack_text(stack: StackSpec) -> str:
    """One line naming the software stack a result assumed (every key, defaults included)."""
    encoder = stack.text_encoder_precision or "the workload's precision"
    dropout = ", attention dropout" if stack.attention_dropout else ""
    overlap = "on" if stack.tp_comm_overlap else "off"
    return (
        f"stack: attention {stack.attention}{dropout}, elementwise {stack.elementwise}, "
        f"TP comm overlap {overlap}, ZeRO/DP calls as {stack.zero_impl}, text encoder at {encoder}"
    )
