"""A DataTable's column widths, set before its rows go in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


def fix_column_widths(table: DataTable[Any], rows: Sequence[Sequence[object]]) -> None:
    """Set each column's width to its widest label or cell, before the rows are added.

    DataTable measures columns only when it is next idle, and a header drawn in between
    stays cached at the old widths until the cursor moves (Textual issue #1026; seen in
    CI as a Catalog header out of line with its columns). A table filled in one handler
    measures here instead, so nothing is ever drawn at the wrong widths."""
    for index, column in enumerate(table.ordered_columns):
        column.width = max(cell_width(cell) for cell in [column.label, *(r[index] for r in rows)])
        column.auto_width = False


def cell_width(cell: object) -> int:
    """Columns of the terminal a cell takes, read as DataTable reads it (text as markup)."""
    if isinstance(cell, Text):
        return cell.cell_len
    return Text.from_markup(cell if isinstance(cell, str) else str(cell)).cell_len


def add_rows_fitted(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[object]]]) -> None:
    """Add (key, cells) rows to a table in one go, its columns first set to fit them."""
    fix_column_widths(table, [cells for _, cells in rows])
    for key, cells in rows:
        table.add_row(*cells, key=key)
