"""Export commands: VM images from AMIs, the whole create-vm pipeline, public AMIs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from xal.cli import options as o
from xal.cli.render import echo_json, print_amis_and_images, print_vm_images
from xal.config import Settings

if TYPE_CHECKING:
    from xal.assets.inventory import Inventory
    from xal.export.pipeline import ExportRequest
    from xal.image.ami import AmiBuildRequest

PANEL = "Release"
DEV_PANEL = "Development"

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


@o.command
def export(
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    export: Annotated[ExportRequest, o.EXPORT],
    asset_id: AssetIds = None,
    ami_id: AmiIds = None,
) -> None:
    """Export AMIs to VM images (VHD + VMDK by default) in the VM bucket, renamed to
    `ai_lab/<asset-id>/exasol-ai-lab-<asset-id>.<fmt>`, recorded in the build manifest.

    Several AMIs are exported concurrently within AWS's limits (one task per AMI, --max-active per
    region). Re-running for the same asset-id resumes: finished images are kept, running tasks
    are awaited, completed tasks are renamed.
    """
    from xal.export.pipeline import export_images

    request = replace(export, ami_ids=tuple(ami_id or ()), asset_ids=tuple(asset_id or ()))
    result = export_images(settings, request)
    if settings.json:
        data = {
            "images": result.images,
            "manifests": {a: str(p) for a, p in result.manifest_paths.items()},
            "seconds": result.seconds,
            "calls": result.calls,
        }
        echo_json(data)
        return
    print_vm_images(result.images, f"VM images in s3://{result.target.bucket} ({result.seconds} s)")


@o.command
def create_vm(
    settings: Annotated[Settings, o.SETTINGS],
    build: Annotated[AmiBuildRequest, o.AMI_BUILD.without("manifest")],
    export: Annotated[ExportRequest, o.EXPORT],
    make_ami_public: Annotated[
        bool,
        typer.Option(
            "--make-ami-public/--no-make-ami-public",
            help="Give every AMI of the asset (all regions) launch permission 'all'.",
        ),
    ] = False,
    copy_to_region: Annotated[
        list[str] | None,
        typer.Option("--copy-to-region", help="Copy the AMI to this region too (repeatable)."),
    ] = None,
    playbook_vars_file: o.PlaybookVars = None,
) -> None:
    """The release graph without the Docker and GitHub steps: build the AMI; then export the VM
    images (all formats at once), copy the AMI to other regions and make it public, all together;
    the images' SHA-256 and SHA256SUMS; one build manifest and timeline.svg at the end. A re-run
    continues; on failure, lists what exists and how to delete it.
    """
    from xal.cli.progress import ReleaseProgress
    from xal.cli.prompts import secret_asker
    from xal.image.playbook_vars import build_vars
    from xal.release.pipeline import ReleaseRequest, run_release

    build = replace(build, ansible_vars=build_vars(settings, playbook_vars_file, ask_secret=secret_asker()))
    request = ReleaseRequest(
        build=build, export=export, make_public=make_ami_public, copy_regions=tuple(copy_to_region or ())
    )
    result = run_release(settings, request, observer=ReleaseProgress())
    if settings.json:
        echo_json(result.manifest.to_dict())
    else:
        print_amis_and_images(result.manifest)
        typer.echo(f"timeline: {result.paths.timeline}")


class _LeftBehind:
    """create-vm/export-vm failed: what exists of the asset now and how to delete it, on stderr
    (before the one-line error), so stdout stays the command's data."""

    def left_behind(self, inventory: Inventory) -> None:
        from xal.cli.asset_tables import print_table
        from xal.console import err

        if not inventory.resources:
            err().print(f"no AWS assets of {inventory.pattern} were left behind", highlight=False)
            return
        print_table(inventory, err())
        err().print(
            f"There were errors; these assets are kept. To delete them: xal cleanup --asset-id {inventory.pattern}",
            markup=False,
            highlight=False,
        )


@o.command
def export_vm(
    settings: Annotated[Settings, o.SETTINGS],
    export: Annotated[ExportRequest, o.EXPORT],
    instance_id: Annotated[str | None, typer.Option(help="The running instance to image.")] = None,
    stack_name: Annotated[str | None, typer.Option(help="CloudFormation stack holding the instance.")] = None,
    no_reboot: Annotated[
        bool, typer.Option("--no-reboot", help="Do not stop the instance for the image (less consistent).")
    ] = False,
) -> None:
    """Create an AMI from a running instance (e.g. a development EC2 stack) and export it to VM images."""
    from xal.export.create_vm import ExportVmRequest
    from xal.export.create_vm import export_vm as run

    result = run(
        settings,
        ExportVmRequest(instance_id=instance_id, stack_name=stack_name, export=export, no_reboot=no_reboot),
        observer=_LeftBehind(),
    )
    if settings.json:
        echo_json({"images": result.images, "seconds": result.seconds})
        return
    print_vm_images(result.images, f"VM images in s3://{result.target.bucket}")


@o.command
def make_ami_public(
    settings: Annotated[Settings, o.SETTINGS],
    in_region: Annotated[
        list[str] | None,
        typer.Option("--in-region", help="Only these regions (repeatable) [default: every enabled region]."),
    ] = None,
) -> None:
    """Give every AMI of the asset launch permission 'all' in every region, and verify it."""
    from xal.aws.session import AwsSessionFactory
    from xal.export.publish import make_ami_public as run

    public = run(AwsSessionFactory(settings), settings.asset_id, list(in_region or ()) or None)
    if settings.json:
        echo_json(public)
        return
    for region_name, amis in sorted(public.items()):
        typer.echo(f"{region_name}: {', '.join(amis)} public")


def register(app: typer.Typer) -> None:
    app.command("create-vm", rich_help_panel=PANEL)(create_vm)
    app.command("export", rich_help_panel=PANEL)(export)
    app.command("make-ami-public", rich_help_panel=PANEL)(make_ami_public)
    app.command("export-vm", rich_help_panel=DEV_PANEL)(export_vm)
