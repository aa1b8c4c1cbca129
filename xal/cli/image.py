"""Image commands (xal.image): build the AI-Lab AMI and the Docker image with Packer + Ansible."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.render import echo_json, print_build_manifest
from xal.config import Settings

if TYPE_CHECKING:
    from xal.image.ami import AmiBuildRequest

PANEL = "Release"


def print_manifest(manifest: Any, as_json: bool) -> None:
    """A build manifest as JSON or as a table (also the result of rehearse)."""
    if as_json:
        echo_json(manifest.to_dict())
    else:
        print_build_manifest(manifest)


@o.command
def build_ami(
    settings: Annotated[Settings, o.SETTINGS],
    build: Annotated[AmiBuildRequest, o.AMI_BUILD],
    ami_region: Annotated[
        list[str] | None,
        typer.Option(
            "--ami-region", help="Copy the AMI to this region too (repeatable).", rich_help_panel=o.BUILD_PANEL
        ),
    ] = None,
    playbook_vars_file: o.PlaybookVars = None,
) -> None:
    """Build the AI-Lab AMI with Packer + Ansible, tagged with the asset-id, copied to --ami-region.

    The OS password comes from XAL_DEFAULT_PASSWORD (or a prompt) and the Jupyter password from
    XAL_JUPYTER_PASSWORD (default 'ailab'); both reach Ansible only as hashes and both must be
    changed by the user at first login.
    """
    from xal.cli.prompts import secret_asker
    from xal.image.ami import build_ami as run
    from xal.image.playbook_vars import build_vars

    request = replace(
        build,
        ami_regions=tuple(ami_region or ()),
        ansible_vars=build_vars(settings, playbook_vars_file, ask_secret=secret_asker()),
    )
    print_manifest(run(settings, request), settings.json)


@o.command
def build_docker(
    settings: Annotated[Settings, o.LOCAL_SETTINGS],
    repository: Annotated[
        str, typer.Option(help="Image repository, [HOST[:PORT]/]ORG/NAME.", rich_help_panel=o.BUILD_PANEL)
    ] = defaults.DOCKER_REPOSITORY,
    tag: Annotated[
        str | None,
        typer.Option(
            help="Version tag [default: the asset-id]; 'latest' is added unless --no-latest.",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = None,
    base_image: Annotated[
        str,
        typer.Option(
            help="Image the build starts from; without registry access give a local one with --no-pull "
            "(xal prepare-local builds Debian images: docker images xal-base).",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = defaults.DOCKER_BASE_IMAGE,
    pull: Annotated[
        bool, typer.Option("--pull/--no-pull", help="Pull the base image first.", rich_help_panel=o.BUILD_PANEL)
    ] = True,
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="Push the tags; credentials from DOCKER_REGISTRY_USER and DOCKER_REGISTRY_PASSWORD.",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = False,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest/--no-latest",
            help="Also tag (and push) ':latest'; test releases use --no-latest.",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = True,
    playbook_vars_file: o.PlaybookVars = None,
    on_error: o.OnError = "cleanup",
    debug: o.Debug = False,
    manifest: o.ManifestOut = None,
) -> None:
    """Build the AI-Lab Docker image with the same playbook; JupyterLab on port 49494."""
    from xal.cli.progress import PackerBuildProgress
    from xal.image.docker import DockerBuildRequest, RegistryCredentials
    from xal.image.docker import build_docker as run
    from xal.image.playbook_vars import build_vars

    request = DockerBuildRequest(
        repository=repository,
        tag=tag,
        base_image=base_image,
        pull=pull,
        push=push,
        latest=latest,
        credentials=RegistryCredentials.from_env(),
        ansible_vars=build_vars(settings, playbook_vars_file, os_password=False),
        on_error=on_error,
        debug=debug,
        manifest_path=manifest,
        observer=PackerBuildProgress(),
    )
    print_manifest(run(settings, request), settings.json)


def register(app: typer.Typer) -> None:
    app.command("build-ami", rich_help_panel=PANEL)(build_ami)
    app.command("build-docker", rich_help_panel=PANEL)(build_docker)
