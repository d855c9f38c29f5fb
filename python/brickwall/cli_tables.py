"""Tables that never cut a value short.

rich squeezes a table wider than the terminal by truncating cells with an ellipsis, which turns
``1,978.9`` into ``1,978…``. A table is printed as a table only when it fits at its natural
width; otherwise each row becomes a record (its first cell as a heading, then one ``column
value`` line per other cell), which is narrow enough for any terminal and shows every value in
full (a value wider than the terminal folds onto the next line; it is never elided).
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

_UNBOUNDED = 1_000_000  # measure at a width no table reaches: its natural width


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` prints at its natural width, no cell wrapped or truncated."""
    natural = console.measure(table, options=console.options.update_width(_UNBOUNDED)).maximum
    return natural <= console.width


def records(table: Table) -> RenderableType:
    """``table``'s title, then its rows as records: one heading per row (its first cell), then
    the other columns' headers and values, two to a line."""
    heads = [str(c.header).replace("/\n", "/").replace("\n", " ") for c in table.columns]
    cells = [list(c.cells) for c in table.columns]
    out = Table.grid(padding=(0, 2))
    out.add_column(overflow="fold")
    out.add_column(overflow="fold")
    for i in range(table.row_count):
        out.add_row(cells[0][i], "", style="bold")
        for head, column in zip(heads[1:], cells[1:], strict=True):
            out.add_row(f"  {head}", column[i])
    if table.title is None:
        return out
    title = table.title if isinstance(table.title, Text) else Text.from_markup(str(table.title))
    return Group(Text.assemble(title, style="table.title"), out)


def print_fitted(console: Console, table: Table) -> None:
    """Print ``table`` as is when it fits the console, else as :func:`records`."""
    console.print(table if fits(console, table) else records(table))
