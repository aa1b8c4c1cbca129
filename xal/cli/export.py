"""Export commands: VM images from AMIs, the whole create-vm pipeline, public AMIs."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal.cli import options as o
from xal.cli.release import BUILD_PANEL, COMM_PANEL, Debug, ManifestOut, OnError, PlaybookVars

if TYPE_CHECKING:
    from xal.export.pipeline import ExportRequest

PANEL = "Release"
DEV_PANEL = "Development"
EXPORT_PANEL = "Export options"

AssetIds = Annotated[
    list[str] | None,
    typer.Option(
        "--asset-id",
        help="Export the AMI tagged with this asset-id (repeatable) [default: the xal version].",
    ),
]
AmiIds = Annotated[
    list[str] | None,
    typer.Option(
        "--ami-id",
        help="Export this AMI (repeatable); its asset-id comes from its exa_ai_lab_id tag or the paired --asset-id.",
    ),
]
Formats = Annotated[
    list[str] | None,
    typer.Option(
        "--format", help="VMDK, VHD or RAW (repeatable) [default: VHD and VMDK].", rich_help_panel=EXPORT_PANEL
    ),
]
Bucket = Annotated[
    str | None,
    typer.Option(help="VM bucket [default: output VMBucketId of the bucket stack].", rich_help_panel=EXPORT_PANEL),
]
RoleName = Annotated[
    str | None,
    typer.Option(
        help="VM export service role [default: output VMExportRoleId of the bucket stack].",
        rich_help_panel=EXPORT_PANEL,
    ),
]
CdnDomain = Annotated[
    str | None,
    typer.Option(
        help="CloudFront domain for the image URLs [default: output CfDistributionDomainName].",
        rich_help_panel=EXPORT_PANEL,
    ),
]
MaxActive = Annotated[
    int,
    typer.Option(
        "--max-active", help="Export tasks active at once per region (AWS allows 5).", rich_help_panel=EXPORT_PANEL
    ),
]
PollInterval = Annotated[
    float, typer.Option(help="First poll interval in seconds; it grows by 1.5x.", rich_help_panel=EXPORT_PANEL)
]
PollMax = Annotated[float, typer.Option(help="Longest poll interval in seconds.", rich_help_panel=EXPORT_PANEL)]
Timeout = Annotated[
    float,
    typer.Option(
        help="Stop waiting for a task after this many seconds (it keeps running; re-run to resume).",
        rich_help_panel=EXPORT_PANEL,
    ),
]
PartSize = Annotated[
    int, typer.Option(help="Part size of the S3 multipart copy, MiB (min 5).", rich_help_panel=EXPORT_PANEL)
]


def _formats(values: list[str] | None) -> tuple[Any, ...]:
    from xal.errors import UsageError
    from xal.naming import DEFAULT_VM_FORMATS, VmFormat

    if not values:
        return DEFAULT_VM_FORMATS
    try:
        return tuple(dict.fromkeys(VmFormat(v.upper()) for v in values))
    except ValueError:
        raise UsageError(f"unknown VM format in {values}; choose from {', '.join(f.value for f in VmFormat)}") from None


def _export_request(
    formats: list[str] | None,
    bucket: str | None,
    role_name: str | None,
    cdn_domain: str | None,
    max_active: int,
    poll_interval: float,
    poll_max_interval: float,
    timeout: float,
    part_size_mib: int,
    manifest: Path | None,
    ami_ids: tuple[str, ...] = (),
    asset_ids: tuple[str, ...] = (),
) -> ExportRequest:
    from xal.cli.progress import ExportProgress
    from xal.errors import UsageError
    from xal.export.pipeline import ExportRequest
    from xal.export.tasks import PollPolicy

    if max_active < 1:
        raise UsageError("--max-active must be at least 1")
    if part_size_mib < 5:
        raise UsageError("--part-size-mib must be at least 5 (S3's minimum part size)")
    if poll_interval <= 0 or poll_max_interval < poll_interval or timeout <= 0:
        raise UsageError("need 0 < --poll-interval <= --poll-max-interval and --timeout > 0")
    return ExportRequest(
        ami_ids=ami_ids,
        asset_ids=asset_ids,
        formats=_formats(formats),
        bucket=bucket,
        role_name=role_name,
        cdn_domain=cdn_domain,
        max_active_per_region=max_active,
        poll=PollPolicy(initial=poll_interval, maximum=poll_max_interval, timeout=timeout),
        part_size=part_size_mib * 1024 * 1024,
        manifest_path=manifest,
        observer=ExportProgress(),
    )


def _print_images(images: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    from xal.console import out

    table = Table("asset", "format", "key", "size", "sha256 (S3 composite)", "url", title=title)
    for i in images:
        table.add_row(
            i["asset_id"], i["format"], i["key"], f"{i['size']:,}", f"{i['sha256']}-{i['parts']}", i["url"] or "n/a"
        )
    out().print(table)


def export(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: AssetIds = None,
    ami_id: AmiIds = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    vm_format: Formats = None,
    bucket: Bucket = None,
    role_name: RoleName = None,
    cdn_domain: CdnDomain = None,
    max_active: MaxActive = 5,
    poll_interval: PollInterval = 15.0,
    poll_max_interval: PollMax = 120.0,
    timeout: Timeout = 8 * 3600.0,
    part_size_mib: PartSize = 512,
    manifest: ManifestOut = None,
) -> None:
    """Export AMIs to VM images (VHD + VMDK by default) in the VM bucket, renamed to
    `ai_lab/<asset-id>/exasol-ai-lab-<asset-id>.<fmt>`, recorded in the build manifest.

    Several AMIs are exported concurrently within AWS's limits (one task per AMI, --max-active per
    region). Re-running for the same asset-id resumes: finished images are kept, running tasks
    are awaited, completed tasks are renamed.
    """
    from xal.export.pipeline import export_images

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id[0] if asset_id else None,
        log_level=log_level,
        json=json,
    )
    request = _export_request(
        vm_format,
        bucket,
        role_name,
        cdn_domain,
        max_active,
        poll_interval,
        poll_max_interval,
        timeout,
        part_size_mib,
        manifest,
        ami_ids=tuple(ami_id or ()),
        asset_ids=tuple(asset_id or ()),
    )
    result = export_images(settings, request)
    if settings.json:
        data = {
            "images": result.images,
            "manifests": {a: str(p) for a, p in result.manifest_paths.items()},
            "seconds": result.seconds,
            "calls": result.calls,
        }
        typer.echo(jsonlib.dumps(data, indent=2, sort_keys=True))
        return
    _print_images(result.images, f"VM images in s3://{result.target.bucket} ({result.seconds} s)")


def create_vm(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    make_ami_public: Annotated[
        bool,
        typer.Option(
            "--make-ami-public/--no-make-ami-public",
            help="Finally give every AMI of the asset (all regions) launch permission 'all'.",
        ),
    ] = False,
    copy_to_region: Annotated[
        list[str] | None,
        typer.Option("--copy-to-region", help="Copy the AMI to this region too (repeatable)."),
    ] = None,
    vm_format: Formats = None,
    bucket: Bucket = None,
    role_name: RoleName = None,
    cdn_domain: CdnDomain = None,
    max_active: MaxActive = 5,
    poll_interval: PollInterval = 15.0,
    poll_max_interval: PollMax = 120.0,
    timeout: Timeout = 8 * 3600.0,
    part_size_mib: PartSize = 512,
    instance_type: Annotated[str, typer.Option(help="Build instance type.", rich_help_panel=BUILD_PANEL)] = "t3.medium",
    source_ami: Annotated[str | None, typer.Option(help="Explicit source AMI id.", rich_help_panel=BUILD_PANEL)] = None,
    source_ami_filter: Annotated[
        str | None, typer.Option(help="Name filter for the source AMI search.", rich_help_panel=BUILD_PANEL)
    ] = None,
    playbook_vars_file: PlaybookVars = None,
    on_error: OnError = "cleanup",
    debug: Debug = False,
    manifest: ManifestOut = None,
    ssh_host: Annotated[
        str | None, typer.Option(help="Loopback host with a local endpoint.", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_port: Annotated[int | None, typer.Option(help="SSH port.", rich_help_panel=COMM_PANEL)] = None,
    ssh_username: Annotated[str | None, typer.Option(help="Login user.", rich_help_panel=COMM_PANEL)] = None,
    ssh_keypair_name: Annotated[str | None, typer.Option(help="Existing key pair.", rich_help_panel=COMM_PANEL)] = None,
    ssh_private_key_file: Annotated[
        Path | None, typer.Option(help="Private key of --ssh-keypair-name.", rich_help_panel=COMM_PANEL)
    ] = None,
) -> None:
    """Build the AMI, export the VM images, optionally copy the AMI to other regions and make it
    public; one build manifest at the end. On failure, lists what was created and how to delete it.
    """
    from xal.cli.progress import PackerBuildProgress
    from xal.cli.prompts import secret_asker
    from xal.export.create_vm import CreateVmRequest
    from xal.export.create_vm import create_vm as run
    from xal.image.ami import AmiBuildRequest, Communicator
    from xal.image.playbook_vars import build_vars

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
        json=json,
    )
    export_request = _export_request(
        vm_format,
        bucket,
        role_name,
        cdn_domain,
        max_active,
        poll_interval,
        poll_max_interval,
        timeout,
        part_size_mib,
        manifest,
    )
    build = AmiBuildRequest(
        instance_type=instance_type,
        source_ami=source_ami,
        source_ami_name_filter=source_ami_filter,
        on_error=on_error,
        debug=debug,
        manifest_path=manifest,
        communicator=Communicator.from_options(
            ssh_username, ssh_host, ssh_port, ssh_keypair_name, ssh_private_key_file
        ),
        ansible_vars=build_vars(settings, playbook_vars_file, ask_secret=secret_asker()),
        observer=PackerBuildProgress(),
    )
    result = run(
        settings,
        CreateVmRequest(
            build=build,
            export=export_request,
            make_public=make_ami_public,
            copy_regions=tuple(copy_to_region or ()),
        ),
    )
    _print_manifest(result, settings.json)


def _print_manifest(manifest: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(jsonlib.dumps(manifest.to_dict(), indent=2, sort_keys=True))
        return
    from rich.table import Table

    from xal.console import out

    table = Table("region", "AMI", "public", title=f"AMIs of {manifest.asset_id}")
    for region, ami in sorted(manifest.amis.items()):
        table.add_row(region, ami, "yes" if ami in manifest.public_amis else "no")
    out().print(table)
    _print_images(manifest.vm_images, f"VM images of {manifest.asset_id}")


def export_vm(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    instance_id: Annotated[str | None, typer.Option(help="The running instance to image.")] = None,
    stack_name: Annotated[str | None, typer.Option(help="CloudFormation stack holding the instance.")] = None,
    no_reboot: Annotated[
        bool, typer.Option("--no-reboot", help="Do not stop the instance for the image (less consistent).")
    ] = False,
    vm_format: Formats = None,
    bucket: Bucket = None,
    role_name: RoleName = None,
    cdn_domain: CdnDomain = None,
    max_active: MaxActive = 5,
    poll_interval: PollInterval = 15.0,
    poll_max_interval: PollMax = 120.0,
    timeout: Timeout = 8 * 3600.0,
    part_size_mib: PartSize = 512,
    manifest: ManifestOut = None,
) -> None:
    """Create an AMI from a running instance (e.g. a development EC2 stack) and export it to VM images."""
    from xal.export.create_vm import ExportVmRequest
    from xal.export.create_vm import export_vm as run

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
        json=json,
    )
    export_request = _export_request(
        vm_format,
        bucket,
        role_name,
        cdn_domain,
        max_active,
        poll_interval,
        poll_max_interval,
        timeout,
        part_size_mib,
        manifest,
    )
    result = run(
        settings,
        ExportVmRequest(instance_id=instance_id, stack_name=stack_name, export=export_request, no_reboot=no_reboot),
    )
    if settings.json:
        typer.echo(jsonlib.dumps({"images": result.images, "seconds": result.seconds}, indent=2, sort_keys=True))
        return
    _print_images(result.images, f"VM images in s3://{result.target.bucket}")


def make_ami_public(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    in_region: Annotated[
        list[str] | None,
        typer.Option("--in-region", help="Only these regions (repeatable) [default: every enabled region]."),
    ] = None,
) -> None:
    """Give every AMI of the asset launch permission 'all' in every region, and verify it."""
    from xal.aws.session import AwsSessionFactory
    from xal.export.publish import make_ami_public as run

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
        json=json,
    )
    public = run(AwsSessionFactory(settings), settings.asset_id, list(in_region or ()) or None)
    if settings.json:
        typer.echo(jsonlib.dumps(public, indent=2, sort_keys=True))
        return
    for region_name, amis in sorted(public.items()):
        typer.echo(f"{region_name}: {', '.join(amis)} public")


def register(app: typer.Typer) -> None:
    app.command("create-vm", rich_help_panel=PANEL)(create_vm)
    app.command("export", rich_help_panel=PANEL)(export)
    app.command("make-ami-public", rich_help_panel=PANEL)(make_ami_public)
    app.command("export-vm", rich_help_panel=DEV_PANEL)(export_vm)
