"""Rich tables shared by the subcommands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from parplan.specs import StackSpec, StrategySpec


def new_table(title: str | None = None, *, gap: int = 2, **kwargs) -> Table:  # noqa: ANN003
    """The commands' table style: a rule under the header, no vertical lines, `gap` spaces
    between columns, so that wide tables read at 80 columns (`parplan plan`, recipes, kernels);
    `kwargs`: rich Table options."""
    kwargs.setdefault("caption_justify", "left")
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False,
                 padding=(0, gap - 1, 0, 0), **kwargs)  # fmt: skip


def quantity_table(rows: Iterable[tuple[str, str | None]], *, title: str | None = None) -> Table:
    """A two-column `quantity | value` table; rows whose value is None are left out. Both are
    free text: a value wraps at spaces (`144.8 s / 79.5 GiB`), never inside a number."""
    given = [(name, value) for name, value in rows if value is not None]
    return fixed_columns(new_table(title), ["quantity", "value"], given,
                         text=("quantity", "value"), right=("value",))  # fmt: skip


def stack_text(stack: StackSpec) -> str:
    """One line naming the software stack a result assumed (every key, defaults included)."""
    encoder = stack.text_encoder_precision or "the workload's precision"
    dropout = ", attention dropout" if stack.attention_dropout else ""
    overlap = "on" if stack.tp_comm_overlap else "off"
    return (
        f"stack: attention {stack.attention}{dropout}, elementwise {stack.elementwise}, "
        f"TP comm overlap {overlap}, ZeRO/DP calls as {stack.zero_impl}, text encoder at {encoder}"
    )


MAX_WORD = 12  # free text narrower than its longest word folds it, down to this width


def fixed_columns(
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    text: tuple[str, ...] = (),
    left: tuple[str, ...] = (),
    right: tuple[str, ...] = (),
) -> Table:
    """Fill `table` so that it reads at 80 columns: every column but the `text` ones keeps its
    widest cell on one line (numbers and layout strings never wrap, shrink or get cut); `text`
    columns (free text) give way, wrapping at spaces, no narrower than their longest word (up
    to MAX_WORD). Numbers are right-justified, text left (`left`, `right` override)."""
    rows = [list(row) for row in rows]
    for i, column in enumerate(columns):
        free = column in text
        cells = [str(row[i]) for row in rows]
        words = [w for cell in [column, *cells] for w in cell.split()]
        widest = max(len(cell) for cell in [column.split()[0] if column else "", *cells])
        justify = "right" if column in right or not (free or column in left) else "left"
        table.add_column(column, no_wrap=not free, overflow="fold", justify=justify,
                         min_width=min(max(map(len, words), default=1), MAX_WORD) if free
                         else widest)  # fmt: skip
    for row in rows:
        table.add_row(*row)
    return table


def min_width(console: Console, table: Table) -> int:
    """The narrowest `table` renders without cutting a cell (rich clamps a measurement to the
    console's width: measure on a wide canvas)."""
    return console.measure(table, options=console.options.update_width(10_000)).minimum


def layout_text(s: StrategySpec) -> str:
    """`dp4 sp16 usp8x2`: the degrees above 1 (dp always), the SP method with USP's
    ulysses x ring split; with SP methods per block type, `fastseq/ulysses`: the methods of the
    types in `sp_methods` (sorted), then `sp_method`, the other types' (sp_types_note)."""
    methods = [s.sp_methods[t] for t in sorted(s.sp_methods)] if s.sp_methods else []
    methods.append(s.sp_method)
    sp = "/".join(f"usp{s.ulysses}x{s.ring}" if m == "usp" else m for m in methods)
    parts = [f"dp{s.dp}", f"tp{s.tp}" if s.tp > 1 else "", f"sp{s.sp} {sp}" if s.sp > 1 else "",
             (f"pp{s.pp}" + (f"x{s.vpp}" if s.vpp > 1 else "")) if s.pp > 1 else ""]  # fmt: skip
    return " ".join(part for part in parts if part)


def ckpt_text(ckpt: str | list[str], blocks: dict[str, int] | None = None) -> str:
    """`none`, or a mix as blocks per mode (`full:10 none:50`; `blocks` where the caller counts
    them, else the entries of the list)."""
    if isinstance(ckpt, str):
        return ckpt
    counts = blocks or {m: ckpt.count(m) for m in dict.fromkeys(ckpt)}
    return " ".join(f"{mode}:{n}" for mode, n in counts.items())
