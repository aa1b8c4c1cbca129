"""First-boot test command (xal.firstboot): boot what was built and check what its users meet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.render import echo_json, print_rows
from xal.config import Settings

PANEL = "Release"


@o.command
def boot_test(
    settings: Annotated[Settings, o.SETTINGS],
    ami_id: Annotated[str | None, typer.Option("--ami-id", help="The AMI to boot (in --region).")] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="Instead of an AMI: a VM disk image (.vmdk, .vhd, .raw, e.g. a downloaded release image) "
            "booted in QEMU.",
        ),
    ] = None,
    accel: Annotated[
        str | None,
        typer.Option(help="QEMU accelerator for --image, kvm or tcg [default: kvm when a probe boot works]."),
    ] = None,
    os_user: Annotated[str, typer.Option(help="The image's login user.")] = defaults.SSH_USERNAME,
    instance_type: Annotated[str, typer.Option(help="Instance type of the temporary instances.")] = (
        defaults.INSTANCE_TYPE
    ),
    cidr: Annotated[
        str | None,
        typer.Option(
            help=f"Who may reach ports 22 and {defaults.JUPYTER_PORT} of the temporary instances "
            "[default: this machine's public IP /32]."
        ),
    ] = None,
    boot_timeout: Annotated[
        float, typer.Option(help="Seconds until SSH and JupyterLab must answer after the start.")
    ] = defaults.BOOT_TIMEOUT_SECONDS,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Build manifest with the build machine's identity (a release's ami-manifest.json) "
            "[default: the asset's, when it names the AMI]."
        ),
    ] = None,
) -> None:
    """Boot two machines from an AMI or a VM disk image and run the first-boot spec against the first: the default
    password forces a change (old refused, new accepted, the build key refused); jupyter.service is
    started by systemd and JupyterLab answers behind its password; the login banner asks to change
    the Jupyter password until `jupyter server password` did; host keys and machine-id are new (not
    the build's, not shared by the two machines) and nothing is left from the build (CA, apt lists,
    shell history, logs); the jupyter user can use Docker; JupyterLab does not run as root and core
    dumps are off.

    Against AWS the machines are temporary instances (ed25519 key pair, security group open to this
    machine's /32 only, all tagged and in the run ledger), terminated afterwards, also on Ctrl-C.
    With a local `--aws-endpoint-url` (a rehearsal AMI) they are containers booted from the local
    image the rehearsal committed as the AMI's disk. With `--image` they are QEMU machines (KVM when
    a probe boot works, else TCG) booted from copy-on-write overlays of the file, which stays
    untouched; SSH and JupyterLab are forwarded to free loopback ports, each console goes to a log,
    the boot stages are shown, and the image's own network configuration must bring the network up.
    Passwords: `XAL_DEFAULT_PASSWORD` (else a prompt), `XAL_JUPYTER_PASSWORD` (else the default).
    Exit 1 names each failed check (or the boot that hung, with its last console lines).
    """
    from xal.cli.progress import BootTestProgress
    from xal.cli.prompts import secret_asker
    from xal.firstboot.run import BootTestRequest, Credentials
    from xal.firstboot.run import boot_test as run

    request = BootTestRequest(
        ami_id=ami_id,
        image=image,
        credentials=Credentials.from_env(secret_asker(new=False), os_user),
        instance_type=instance_type,
        cidr=cidr,
        boot_timeout=boot_timeout,
        manifest_path=manifest,
        accel=accel,
    )
    progress = BootTestProgress()
    report = run(settings, request, progress, progress)
    if settings.json:
        echo_json(report.to_dict())
    else:
        print_boot_report(report)


def print_boot_report(report: object) -> None:
    """The first-boot report (xal.firstboot.report.BootReport) as a check/outcome table."""
    rows = ((r.name, str(r.outcome), f"{r.seconds:.1f}", r.detail) for r in report.results)  # type: ignore[attr-defined]
    print_rows(f"first boot of {report.target}", ("check", "outcome", "s", "detail"), rows)  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("boot-test", rich_help_panel=PANEL)(boot_test)
