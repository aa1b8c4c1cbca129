"""The terminal side of asset listings and cleanup reports: rich tables and summary lines.

The rows, groups and texts come from ``xal.assets.render`` (shared with the Markdown output); only
drawing them on a console lives here, so the asset library itself never imports rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from xal.assets.render import COLUMNS, groups, row, searched, summary

if TYPE_CHECKING:
    from rich.console import Console

    from xal.assets.cleanup import CleanupReport
    from xal.assets.inventory import Inventory

COLUMN_STYLES = {"ID": "blue", "Created": "magenta"}


def print_table(inventory: Inventory, console: Console) -> None:
    """One table per resource type, then a count line naming the regions (and bucket) searched."""
    for title, resources in groups(inventory):
        table = Table(title=f"{title} ({len(resources)})", title_justify="left")
        for column in COLUMNS:
            table.add_column(column, style=COLUMN_STYLES.get(column), overflow="fold")
        for r in resources:
            table.add_row(*row(r))
        console.print(table)
    console.print(f"{len(inventory.resources)} resource(s) of asset-id {inventory.pattern!r} in {searched(inventory)}")


def print_summary(report: CleanupReport, console: Console) -> None:
    console.print(summary(report), highlight=False)
