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
        bool,
        typer.Option(
            "--export/--no-export",
            help="Rehearse the whole release graph (exports, copies, make-public, checksums, notes, GitHub "
            "release against a local stand-in); --no-export: only the AMI build.",
        ),
    ] = True,
    docker: Annotated[
        bool,
        typer.Option(
            "--docker/--no-docker",
            help="Build the Docker image alongside the AMI (from the local base image; not pushed).",
        ),
    ] = True,
    boot_test: Annotated[
        bool,
        typer.Option(
            "--boot-test/--no-boot-test",
            help="At the end, boot the AMI's image (two containers, systemd as PID 1) and run the first-boot "
            "spec of `xal boot-test` against it.",
        ),
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
    """Rehearse the release offline: the same graph as `xal release` - real Packer + Ansible against an
    embedded AWS emulator (moto) and a local machine container (systemd as PID 1, sshd) standing in
    for the EC2 instance, the Docker image from the same playbook alongside, sibling-AMI exports,
    region copies, make-public, SHA256SUMS, and the notes and assets of a GitHub release on a local
    stand-in. Prints the timeline and writes timeline.svg. The provisioned machine becomes the AMI's
    disk (a local image labelled with the AMI id); at the end it is booted and boot-tested, and a
    failed first-boot check fails the rehearsal with the check's name. Nothing reaches AWS or GitHub.
    """
    from xal.cli.progress import BootTestProgress, ExportProgress, PackerBuildProgress, ReleaseProgress, activity
    from xal.rehearsal import rehearse as run

    manifest = run(
        settings,
        ami_regions=tuple(copy_region or ()),
        quick=quick,
        export=export,
        boot=boot_test,
        wheels=wheels,
        build_observer=PackerBuildProgress(),
        export_observer=ExportProgress(),
        boot_observer=BootTestProgress(),
        activity=activity,
        release=export,
        with_docker=docker,
        release_observer=ReleaseProgress(),
    )
    if export:  # the timeline on stderr, so --json stays parseable
        from xal.release.graph import RunRecord
        from xal.release.timeline import text_timeline

        rehearsal = manifest.extra["rehearsal"]
        for line in text_timeline(RunRecord.load(Path(rehearsal["release_manifest"]))):
            typer.echo(line, err=True)
        typer.echo(f"timeline: {rehearsal['timeline']}", err=True)
    print_manifest(manifest, settings.json)


def register(app: typer.Typer) -> None:
    app.command("rehearse", rich_help_panel=PANEL)(rehearse)
