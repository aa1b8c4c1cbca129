"""Asset listings and cleanup reports as rich tables (terminal), Markdown (files, release notes) or JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from xal.aws import ledger as lg

if TYPE_CHECKING:
    from rich.console import Console

    from xal.assets.cleanup import Action, CleanupReport
    from xal.assets.inventory import Inventory, Resource


class OutputFormat(StrEnum):
    """How ``show-aws-assets`` prints: a terminal table, Markdown for files and release notes, JSON."""

    TABLE = "table"
    MARKDOWN = "markdown"
    JSON = "json"


TITLES = {
    lg.INSTANCE: "EC2 instances",
    lg.AMI: "AMIs",
    lg.SNAPSHOT: "Snapshots",
    lg.VOLUME: "EBS volumes",
    lg.EXPORT_TASK: "Export image tasks",
    lg.S3_OBJECT: "S3 objects",
    lg.S3_UPLOAD: "Unfinished S3 multipart uploads",
    lg.STACK: "CloudFormation stacks",
    lg.KEY_PAIR: "EC2 key pairs",
    lg.SECURITY_GROUP: "Security groups",
}
COLUMNS = ("ID", "Name", "Region", "State", "Created", "Asset-Tag-Value", "Flags", "Found by", "Detail")


def _flags(r: Resource) -> str:
    flags = [f for f, on in (("public", r.public), ("released", r.released), ("permanent", r.permanent)) if on]
    return ", ".join(flags)


def _row(r: Resource) -> tuple[str, ...]:
    created = f"{r.created:%Y-%m-%d, %H:%M}" if r.created else "n/a"
    ident = r.refs.get("key", r.id) if r.type == lg.S3_OBJECT else r.id
    return (ident, r.name or "n/a", r.region, r.state or "n/a", created, r.asset_id, _flags(r), r.found_by, r.detail)


def _groups(inventory: Inventory) -> list[tuple[str, list[Resource]]]:
    return [(TITLES[t], inventory.of_type(t)) for t in lg.RESOURCE_TYPES if inventory.of_type(t)]


def _where(inventory: Inventory) -> str:
    bucket = f"; bucket s3://{inventory.bucket}" if inventory.bucket else ""
    return f"regions {', '.join(inventory.regions)}{bucket}"


def print_table(inventory: Inventory, console: Console) -> None:
    from rich.table import Table

    for title, resources in _groups(inventory):
        table = Table(title=f"{title} ({len(resources)})", title_justify="left")
        for column in COLUMNS:
            style = {"ID": "blue", "Created": "magenta"}.get(column)
            table.add_column(column, style=style, overflow="fold")
        for r in resources:
            table.add_row(*_row(r))
        console.print(table)
    console.print(f"{len(inventory.resources)} resource(s) of asset-id {inventory.pattern!r} in {_where(inventory)}")


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") or " "


def to_markdown(inventory: Inventory) -> str:
    lines = [f"### AWS assets of `{inventory.pattern}`", "", f"Searched {_where(inventory)}.", ""]
    for title, resources in _groups(inventory):
        lines += [f"#### {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md_cell(c) for c in _row(r)) + " |" for r in resources]
        lines.append("")
    if inventory.warnings:
        lines += ["#### Warnings", "", *[f"- {w}" for w in inventory.warnings], ""]
    return "\n".join(lines)


def to_json(data: Any) -> str:
    return json.dumps(data.to_dict() if hasattr(data, "to_dict") else data, indent=2, sort_keys=True, default=str)


def describe_action(action: Action) -> str:
    r = action.resource
    what = f"{r.type} {r.refs.get('key', r.id) if r.type == lg.S3_OBJECT else r.id}"
    if r.name and r.name != r.id and r.type != lg.S3_OBJECT:
        what += f" ({r.name})"
    where = "" if r.type in (lg.S3_OBJECT, lg.S3_UPLOAD) else f" in {r.region}"
    note = f": {action.message}" if action.message else ""
    return f"{action.outcome:>13}  {what}{where}{note}"


def print_summary(report: CleanupReport, console: Console) -> None:
    from xal.assets import cleanup as c

    parts = [f"{report.count(o)} {o}" for o in (c.DELETED, c.WOULD_DELETE, c.GONE, c.KEPT, c.FAILED) if report.count(o)]
    prefix = "dry run, nothing changed: " if report.dry_run else ""
    console.print(
        f"{prefix}asset {report.asset_id}: {', '.join(parts) or 'nothing left'} ({_where(report.inventory)})",
        highlight=False,
    )
