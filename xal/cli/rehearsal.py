"""Rehearsal command (xal.rehearsal): the whole AMI build and VM export offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.image import print_manifest
from xal.config import Settings
from xal.naming import DEFAULT_VM_FORMATS, VmFormat

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
            help="At the end, boot the AMI's image (two containers, systemd as PID 1) and the exported "
            "--boot-format disk (one QEMU machine) and run the first-boot spec of `xal boot-test` against each.",
        ),
    ] = True,
    vm_format: Annotated[
        list[VmFormat] | None,
        typer.Option(
            "--format",
            help=f"Export these formats (repeatable) [default: {' and '.join(DEFAULT_VM_FORMATS)}].",
            **o.enum_choice(VmFormat, "VM format"),
        ),
    ] = None,
    boot_format: Annotated[
        VmFormat | None,
        typer.Option(
            help="The exported disk booted in QEMU [default: VMDK, else the first --format].",
            **o.enum_choice(VmFormat, "VM format"),
        ),
    ] = None,
    accel: Annotated[
        str | None,
        typer.Option(help="QEMU accelerator for the VM boot, kvm or tcg [default: kvm when a probe boot works]."),
    ] = None,
    fake_disks: Annotated[
        bool,
        typer.Option(
            "--fake-disks",
            help="Export placeholder bytes instead of real disks (for machines without root or loop devices); "
            "nothing boots in QEMU then.",
        ),
    ] = False,
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
    disk (a local image labelled with the AMI id), and the exports are real disks of it (ext4 root,
    Debian's cloud kernel, GRUB; building them needs root and loop devices, else --fake-disks). At the
    end the image boots in two containers and the --boot-format download in a QEMU machine, the
    first-boot spec runs against each, and a failed check fails the rehearsal with the check's name.
    Nothing reaches AWS or GitHub.
    """
    from xal.cli.progress import BootTestProgress, PackerBuildProgress, ReleaseProgress, activity
    from xal.rehearsal import rehearse as run

    progress = BootTestProgress()
    manifest = run(
        settings,
        ami_regions=tuple(copy_region or ()),
        quick=quick,
        export=export,
        boot=boot_test,
        wheels=wheels,
        vm_formats=tuple(vm_format or DEFAULT_VM_FORMATS),
        boot_format=boot_format,
        fake_disks=fake_disks,
        accel=accel,
        build_observer=PackerBuildProgress(),
        boot_observer=progress,
        vm_observer=progress,
        activity=activity,
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
