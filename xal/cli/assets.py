"""Asset commands: list what an asset has in AWS, and delete it."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from xal.assets.output_format import OutputFormat
from xal.cli import options as o
from xal.config import Settings

PANEL = "Development"

Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="Only these resource types (repeatable or comma-separated): instance, ami, snapshot, volume, "
        "export-task, s3-object, s3-upload, stack, key-pair, security-group [default: all].",
    ),
]
InRegion = Annotated[
    list[str] | None,
    typer.Option(
        "--in-region",
        help="Search this region too (repeatable) [default: --region plus every region in the run ledger].",
    ),
]
AllRegions = Annotated[bool, typer.Option("--all-regions", help="Search every enabled region.")]
Bucket = Annotated[
    str | None, typer.Option(help="VM bucket to search [default: output VMBucketId of the bucket stack].")
]


@o.command
def show_aws_assets(
    settings: Annotated[Settings, o.SETTINGS.without("asset_id", "json")],
    asset_id: Annotated[
        str, typer.Option("--asset-id", help="Asset-id or fnmatch pattern over the exa_ai_lab_id tag ('7.*').")
    ] = "*",
    resource_type: Types = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format", help="table (terminal), markdown (files) or json.", **o.enum_choice(OutputFormat, "format")
        ),
    ] = OutputFormat.TABLE,
    in_region: InRegion = None,
    all_regions: AllRegions = False,
    bucket: Bucket = None,
) -> None:
    """List every AWS resource of the matching assets: instances, AMIs, snapshots, volumes, export
    tasks, S3 objects and unfinished uploads, stacks, key pairs, security groups.

    Found by the exa_ai_lab_id tag, the AMI name and the run ledger (for what Packer does not tag).
    Exits with 3 when nothing matches.
    """
    from xal.assets.inventory import Query, find_assets
    from xal.assets.render import to_json, to_markdown
    from xal.aws.session import AwsSessionFactory
    from xal.cli.asset_tables import print_table
    from xal.console import out

    query = Query(
        pattern=asset_id,
        types=tuple(resource_type or ()),
        regions=tuple(in_region or ()),
        all_regions=all_regions,
        bucket=bucket,
    )
    inventory = find_assets(AwsSessionFactory(settings), query).require_any()
    if output_format is OutputFormat.JSON:
        typer.echo(to_json(inventory))
    elif output_format is OutputFormat.MARKDOWN:
        typer.echo(to_markdown(inventory))
    else:
        print_table(inventory, out())
        ids = sorted({r.asset_id for r in inventory.resources})
        typer.echo(f"delete with: xal cleanup --asset-id <id> [--dry-run]  (ids: {', '.join(ids)})")


@o.command
def cleanup(
    asset_id: Annotated[str, typer.Option("--asset-id", help="The asset to delete (exact, no wildcards).")],
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be deleted.")] = False,
    keep_released: Annotated[
        bool, typer.Option("--keep-released", help="Keep public AMIs (and their snapshots) and the final VM images.")
    ] = False,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only delete what was created before now minus this (3d, 12h).")
    ] = None,
    in_region: InRegion = None,
    all_regions: AllRegions = False,
    bucket: Bucket = None,
) -> None:
    """Delete everything of one asset in dependency order: instances (waited for), export tasks, AMIs,
    snapshots, volumes, S3 uploads and objects, key pairs, security groups, temporary stacks.

    Permanent stacks are never touched. Prints each action; safe to re-run (already gone is fine).
    """
    from xal.assets.cleanup import CleanupFailed, CleanupRequest
    from xal.assets.cleanup import cleanup as run
    from xal.assets.render import describe_action, to_json
    from xal.aws.session import AwsSessionFactory
    from xal.cli.asset_tables import print_summary
    from xal.console import err, out

    request = CleanupRequest(
        asset_id=asset_id,
        dry_run=dry_run,
        keep_released=keep_released,
        older_than=older_than,
        regions=tuple(in_region or ()),
        all_regions=all_regions,
        bucket=bucket,
    )
    settings = replace(settings, asset_id=asset_id)
    console = err() if settings.json else out()

    def show(action: object) -> None:
        console.print(describe_action(action), markup=False, highlight=False)  # type: ignore[arg-type]

    try:
        report = run(AwsSessionFactory(settings), request, on_action=show)
    except CleanupFailed as exc:
        print_summary(exc.report, console)
        if settings.json:
            typer.echo(to_json(exc.report))
        raise
    print_summary(report, console)
    if settings.json:
        typer.echo(to_json(report))


def register(app: typer.Typer) -> None:
    app.command("show-aws-assets", rich_help_panel=PANEL)(show_aws_assets)
    app.command("cleanup", rich_help_panel=PANEL)(cleanup)
