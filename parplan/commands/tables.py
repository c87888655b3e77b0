"""Rich tables shared by the subcommands."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table


def quantity_table(rows: Iterable[tuple[str, str | None]], *, title: str | None = None) -> Table:
    """A two-column `quantity | value` table; rows whose value is None are left out."""
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in rows:
        if value is not None:
            table.add_row(name, value)
    return table
