"""Asset listings and cleanup reports as plain text: Markdown (files, release notes), JSON, summary lines.

Pure string functions, so library code and files can use them without a terminal; the rich tables
for the terminal are drawn in ``xal.cli.asset_tables`` from the same rows and groups.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from xal.assets import cleanup as c
from xal.aws import ledger as lg

if TYPE_CHECKING:
    from xal.assets.cleanup import Action, CleanupReport
    from xal.assets.inventory import Inventory, Resource


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


def row(r: Resource) -> tuple[str, ...]:
    """One resource as the cells of ``COLUMNS`` (shared by the Markdown and the terminal table)."""
    created = f"{r.created:%Y-%m-%d, %H:%M}" if r.created else "n/a"
    ident = r.refs.get("key", r.id) if r.type == lg.S3_OBJECT else r.id
    return (ident, r.name or "n/a", r.region, r.state or "n/a", created, r.asset_id, _flags(r), r.found_by, r.detail)


def groups(inventory: Inventory) -> list[tuple[str, list[Resource]]]:
    """(title, resources) per type that has any, in the display order of the resource types."""
    return [(TITLES[t], inventory.of_type(t)) for t in lg.RESOURCE_TYPES if inventory.of_type(t)]


def searched(inventory: Inventory) -> str:
    """Where the inventory looked: an empty listing means nothing only for these places."""
    bucket = f"; bucket s3://{inventory.bucket}" if inventory.bucket else ""
    return f"regions {', '.join(inventory.regions)}{bucket}"


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") or " "


def to_markdown(inventory: Inventory) -> str:
    lines = [f"### AWS assets of `{inventory.pattern}`", "", f"Searched {searched(inventory)}.", ""]
    for title, resources in groups(inventory):
        lines += [f"#### {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row(r)) + " |" for r in resources]
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


def summary(report: CleanupReport) -> str:
    """One line: how many resources got which outcome, and where was searched."""
    parts = [f"{report.count(o)} {o}" for o in (c.DELETED, c.WOULD_DELETE, c.GONE, c.KEPT, c.FAILED) if report.count(o)]
    prefix = "dry run, nothing changed: " if report.dry_run else ""
    return f"{prefix}asset {report.asset_id}: {', '.join(parts) or 'nothing left'} ({searched(report.inventory)})"
