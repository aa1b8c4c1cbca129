"""Rehearsal command (xal.rehearsal): the whole AMI build and VM export offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.image import print_manifest
from xal.config import Settings

PANEL = "Release"


@o.command
def rehearse(
    settings: Annotated[Settings, o.LOCAL_SETTINGS],
    copy_region: Annotated[
        list[str] | None,
        typer.Option(
            "--ami-region",
            help=f"Also rehearse copies to these regions [default: {', '.join(defaults.REHEARSAL_COPY_REGIONS)}].",
        ),
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
    wheels: Annotated[
        Path | None,
        typer.Option(
            "--wheels",
            help="Serve the wheels in this folder (e.g. a CPU build of torch) as the extra pip index instead "
            "of pip_extra_index_url, which is out of reach offline.",
        ),
    ] = None,
) -> None:
    """Rehearse the AMI build and its VM export offline: real Packer + Ansible against an embedded AWS
    emulator (moto) and a local machine container (systemd as PID 1, sshd) standing in for the EC2
    instance, so the playbook takes its EC2 systemd path. Nothing reaches AWS.
    """
    from xal.cli.progress import ExportProgress, PackerBuildProgress, activity
    from xal.rehearsal import rehearse as run

    manifest = run(
        settings,
        ami_regions=tuple(copy_region or ()),
        quick=quick,
        export=export,
        wheels=wheels,
        build_observer=PackerBuildProgress(),
        export_observer=ExportProgress(),
        activity=activity,
    )
    print_manifest(manifest, settings.json)


def register(app: typer.Typer) -> None:
    app.command("rehearse", rich_help_panel=PANEL)(rehearse)
