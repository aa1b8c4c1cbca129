"""Release commands: build the AMI and the Docker image, and rehearse the whole build offline."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from xal.cli import options as o

PANEL = "Release"
BUILD_PANEL = "Build options"
COMM_PANEL = "Communicator overrides (debugging, rehearsals)"

OnError = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="When a build step fails: cleanup (default), abort (keep everything for inspection) or ask.",
        rich_help_panel=BUILD_PANEL,
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Run Packer in debug mode: pause before each step (needs a terminal).",
        rich_help_panel=BUILD_PANEL,
    ),
]
PlaybookVars = Annotated[
    Path | None,
    typer.Option(
        "--playbook-vars",
        help="YAML/JSON file with extra playbook variables (versions, package lists).",
        rich_help_panel=BUILD_PANEL,
    ),
]
ManifestOut = Annotated[
    Path | None,
    typer.Option(
        "--manifest",
        help="Where to write the build manifest JSON [default: .xal/builds/<asset-id>/<kind>-manifest.json].",
        rich_help_panel=BUILD_PANEL,
    ),
]


def _print_manifest(manifest: object, as_json: bool) -> None:
    from rich.table import Table

    from xal.console import out
    from xal.manifest import BuildManifest

    assert isinstance(manifest, BuildManifest)
    if as_json:
        typer.echo(jsonlib.dumps(manifest.to_dict(), indent=2, sort_keys=True))
        return
    table = Table("what", "value", title=f"{manifest.kind} build {manifest.asset_id} ({manifest.seconds} s)")
    for region, ami in sorted(manifest.amis.items()):
        table.add_row(f"AMI {region}", ami)
    if manifest.source_ami:
        table.add_row("source AMI", manifest.source_ami)
    for image in manifest.vm_images:
        table.add_row(
            f"VM image {image['format']}", f"{image['key']} ({image['size']} bytes, sha256 {image['sha256']})"
        )
    if manifest.docker_image:
        table.add_row("docker image", manifest.docker_image)
        table.add_row("tags", ", ".join(manifest.docker_tags))
    table.add_row("git", f"{manifest.git.sha or 'n/a'}{' (dirty)' if manifest.git.dirty else ''}")
    table.add_row("packer", manifest.packer_version)
    out().print(table)


def build_ami(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    ami_region: Annotated[
        list[str] | None,
        typer.Option("--ami-region", help="Copy the AMI to this region too (repeatable).", rich_help_panel=BUILD_PANEL),
    ] = None,
    instance_type: Annotated[str, typer.Option(help="Build instance type.", rich_help_panel=BUILD_PANEL)] = "t3.medium",
    source_ami: Annotated[
        str | None,
        typer.Option(
            help="Explicit source AMI id [default: newest Canonical Ubuntu 22.04 amd64].", rich_help_panel=BUILD_PANEL
        ),
    ] = None,
    source_ami_filter: Annotated[
        str | None, typer.Option(help="Name filter for the source AMI search.", rich_help_panel=BUILD_PANEL)
    ] = None,
    playbook_vars_file: PlaybookVars = None,
    on_error: OnError = "cleanup",
    debug: Debug = False,
    manifest: ManifestOut = None,
    ssh_host: Annotated[
        str | None,
        typer.Option(
            help="Connect here instead of the instance's address; must be loopback with a local --aws-endpoint-url.",
            rich_help_panel=COMM_PANEL,
        ),
    ] = None,
    ssh_port: Annotated[int | None, typer.Option(help="SSH port [default: 22].", rich_help_panel=COMM_PANEL)] = None,
    ssh_username: Annotated[
        str | None, typer.Option(help="Login user [default: ubuntu].", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_keypair_name: Annotated[
        str | None, typer.Option(help="Existing EC2 key pair [default: a temporary one].", rich_help_panel=COMM_PANEL)
    ] = None,
    ssh_private_key_file: Annotated[
        Path | None, typer.Option(help="Private key of --ssh-keypair-name.", rich_help_panel=COMM_PANEL)
    ] = None,
) -> None:
    """Build the AI-Lab AMI with Packer + Ansible, tagged with the asset-id, copied to --ami-region.

    The OS password comes from XAL_DEFAULT_PASSWORD (or a prompt) and the Jupyter password from
    XAL_JUPYTER_PASSWORD (default 'ailab'); both reach Ansible only as hashes and both must be
    changed by the user at first login.
    """
    from xal.cli.progress import PackerBuildProgress
    from xal.cli.prompts import secret_asker
    from xal.image.ami import AmiBuildRequest, Communicator
    from xal.image.ami import build_ami as run
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
    request = AmiBuildRequest(
        ami_regions=tuple(ami_region or ()),
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
    _print_manifest(run(settings, request), settings.json)


def build_docker(
    config: o.ConfigFile = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    repository: Annotated[
        str, typer.Option(help="Image repository, [HOST[:PORT]/]ORG/NAME.", rich_help_panel=BUILD_PANEL)
    ] = "exasol/ai-lab",
    tag: Annotated[
        str | None,
        typer.Option(
            help="Version tag [default: the asset-id]; 'latest' is always added.", rich_help_panel=BUILD_PANEL
        ),
    ] = None,
    base_image: Annotated[
        str, typer.Option(help="Image the build starts from.", rich_help_panel=BUILD_PANEL)
    ] = "ubuntu:22.04",
    pull: Annotated[
        bool, typer.Option("--pull/--no-pull", help="Pull the base image first.", rich_help_panel=BUILD_PANEL)
    ] = True,
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="Push both tags; credentials from DOCKER_REGISTRY_USER and DOCKER_REGISTRY_PASSWORD.",
            rich_help_panel=BUILD_PANEL,
        ),
    ] = False,
    playbook_vars_file: PlaybookVars = None,
    on_error: OnError = "cleanup",
    debug: Debug = False,
    manifest: ManifestOut = None,
) -> None:
    """Build the AI-Lab Docker image with the same playbook; JupyterLab on port 49494."""
    from xal.cli.progress import PackerBuildProgress
    from xal.image.docker import DockerBuildRequest, RegistryCredentials
    from xal.image.docker import build_docker as run
    from xal.image.playbook_vars import build_vars

    settings = o.build_settings(config, asset_id=asset_id, log_level=log_level, json=json)
    request = DockerBuildRequest(
        repository=repository,
        tag=tag,
        base_image=base_image,
        pull=pull,
        push=push,
        credentials=RegistryCredentials.from_env(),
        ansible_vars=build_vars(settings, playbook_vars_file, os_password=False),
        on_error=on_error,
        debug=debug,
        manifest_path=manifest,
        observer=PackerBuildProgress(),
    )
    _print_manifest(run(settings, request), settings.json)


def rehearse(
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    copy_region: Annotated[
        list[str] | None, typer.Option("--ami-region", help="Also rehearse copies to these regions.")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Small stand-ins instead of the real JupyterLab, notebook packages and Docker "
            "(seconds instead of minutes).",
        ),
    ] = False,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Also rehearse the VHD/VMDK export of the AMI.")
    ] = True,
) -> None:
    """Rehearse the AMI build and its VM export offline: real Packer + Ansible against an embedded AWS
    emulator (moto) and a local sshd container standing in for the EC2 instance. Nothing reaches AWS.
    """
    from xal.cli.progress import ExportProgress, PackerBuildProgress, activity
    from xal.rehearsal import rehearse as run

    settings = o.build_settings(None, asset_id=asset_id, log_level=log_level, json=json)
    regions = tuple(copy_region or ("us-east-1",))
    manifest = run(
        settings,
        ami_regions=regions,
        quick=quick,
        export=export,
        build_observer=PackerBuildProgress(),
        export_observer=ExportProgress(),
        activity=activity,
    )
    _print_manifest(manifest, settings.json)


def register(app: typer.Typer) -> None:
    app.command("build-ami", rich_help_panel=PANEL)(build_ami)
    app.command("build-docker", rich_help_panel=PANEL)(build_docker)
    app.command("rehearse", rich_help_panel=PANEL)(rehearse)
