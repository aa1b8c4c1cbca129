"""Development commands: a throw-away EC2 instance, and the playbooks against an existing host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal.cli import options as o

if TYPE_CHECKING:
    from xal.config import Settings

PANEL = "Development"
HOST_PANEL = "Target host"

Host = Annotated[str, typer.Option("--host", help="Host name or address to SSH to.", rich_help_panel=HOST_PANEL)]
Port = Annotated[int, typer.Option("--port", help="SSH port.", rich_help_panel=HOST_PANEL)]
User = Annotated[str, typer.Option("--user", help="Login user (needs sudo).", rich_help_panel=HOST_PANEL)]
PrivateKey = Annotated[
    Path,
    typer.Option(
        "--ssh-private-key",
        help="Private key of the login user.",
        exists=True,
        dir_okay=False,
        readable=True,
        rich_help_panel=HOST_PANEL,
    ),
]
PlaybookVars = Annotated[
    Path | None,
    typer.Option("--playbook-vars", help="YAML/JSON file with extra playbook variables (versions, package lists)."),
]


def _target(host: str, key: Path, port: int, user: str) -> object:
    from xal.ansible.runner import AnsibleTarget

    return AnsibleTarget(host=host, private_key=key.resolve(), port=port, user=user)


def install_dependencies(
    host: Host,
    ssh_private_key: PrivateKey,
    port: Port = 22,
    user: User = "ubuntu",
    playbook_vars_file: PlaybookVars = None,
    log_level: o.LogLevel = None,
) -> None:
    """Install the AI-Lab (EC2 variant) on a running host with ansible/ai_lab.yml.

    Runs the configuration play only (not the image finish, which would expire the password and
    remove the login key). The Jupyter password hash comes from XAL_JUPYTER_PASSWORD if set.
    """
    from xal.cli.progress import PlaybookProgress
    from xal.dev.playbooks import install_dependencies as run
    from xal.image.playbook_vars import load_vars_file

    settings = o.build_settings(None, log_level=log_level)
    target = _target(host, ssh_private_key, port, user)
    run(settings, target, load_vars_file(playbook_vars_file), observer=PlaybookProgress())  # type: ignore[arg-type]
    typer.echo(f"Jupyter: http://{host}:49494/lab")


def reset_password(
    host: Host,
    ssh_private_key: PrivateKey,
    port: Port = 22,
    user: User = "ubuntu",
    playbook_vars_file: PlaybookVars = None,
    log_level: o.LogLevel = None,
) -> None:
    """Reset the login user's OS password on a running host with ansible/reset_password.yml.

    The password comes from XAL_DEFAULT_PASSWORD or a prompt and is hashed here (SHA-512 crypt);
    only the hash reaches Ansible. It is expired, so it must be changed at the next login, and
    SSH password login is enabled.
    """
    from xal.cli.progress import PlaybookProgress
    from xal.cli.prompts import secret_asker
    from xal.dev.playbooks import reset_password as run
    from xal.image.playbook_vars import load_vars_file

    o.build_settings(None, log_level=log_level)
    target = _target(host, ssh_private_key, port, user)
    extra_vars = load_vars_file(playbook_vars_file)
    run(target, secret_asker(), extra_vars=extra_vars, observer=PlaybookProgress())  # type: ignore[arg-type]
    typer.echo(f"password of {user}@{host} reset; it must be changed at the next login")


def setup_ec2(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    install: Annotated[
        bool, typer.Option("--install-dependencies", help="Install the AI-Lab on it (ansible/ai_lab.yml).")
    ] = False,
    instance_type: Annotated[str, typer.Option(help="Instance type.")] = "t3.medium",
    source_ami: Annotated[
        str | None, typer.Option(help="Explicit source AMI id [default: newest Canonical Ubuntu 22.04 amd64].")
    ] = None,
    source_ami_filter: Annotated[str | None, typer.Option(help="Name filter for the source AMI search.")] = None,
    cidr: Annotated[
        str | None, typer.Option(help="Who may reach ports 22 and 49494 [default: this machine's public IP /32].")
    ] = None,
    playbook_vars_file: PlaybookVars = None,
    ssh_host: Annotated[
        str | None,
        typer.Option(help="Connect here instead of the instance's address; must be loopback with a local endpoint."),
    ] = None,
    ssh_port: Annotated[int, typer.Option(help="SSH port.")] = 22,
    ssh_username: Annotated[str, typer.Option(help="Login user.")] = "ubuntu",
    ssh_timeout: Annotated[float, typer.Option(help="Seconds to wait for the first SSH login.")] = 300.0,
) -> None:
    """Start a throw-away EC2 instance (temporary key pair and security group, all tagged), print
    the SSH login and - with --install-dependencies - the Jupyter URL; keep it until Ctrl-C, then
    terminate it and delete everything it created."""
    from xal.dev.ec2 import DEFAULT_AMI_FILTER, DevInstanceRequest
    from xal.dev.ec2 import setup_ec2 as run
    from xal.image.playbook_vars import load_vars_file

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
    )
    request = DevInstanceRequest(
        instance_type=instance_type,
        source_ami=source_ami,
        source_ami_filter=source_ami_filter or DEFAULT_AMI_FILTER,
        cidr=cidr,
        ssh_user=ssh_username,
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        ssh_timeout=ssh_timeout,
        install_dependencies=install,
        ansible_vars=load_vars_file(playbook_vars_file),
    )
    run(settings, request, install=_install_with_progress(settings, request.ssh_user, request.ansible_vars))


def _install_with_progress(
    settings: Settings, user: str, ansible_vars: dict[str, Any]
) -> Callable[[Path, str, int], None]:
    """setup-ec2's install step: install-dependencies on the new instance, with the live task display."""

    def install(key_file: Path, host: str, port: int) -> None:
        from xal.ansible.runner import AnsibleTarget
        from xal.cli.progress import PlaybookProgress
        from xal.dev.playbooks import install_dependencies

        install_dependencies(
            settings, AnsibleTarget(host, key_file, port, user), ansible_vars, observer=PlaybookProgress()
        )

    return install


def register(app: typer.Typer) -> None:
    app.command("setup-ec2", rich_help_panel=PANEL)(setup_ec2)
    app.command("install-dependencies", rich_help_panel=PANEL)(install_dependencies)
    app.command("reset-password", rich_help_panel=PANEL)(reset_password)
