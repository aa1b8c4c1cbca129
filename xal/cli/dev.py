"""Development commands: a throw-away EC2 instance, and the playbooks against an existing host."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal import defaults
from xal.cli import options as o
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


@o.command
def install_dependencies(
    host: Host,
    ssh_private_key: PrivateKey,
    settings: Annotated[Settings, o.LOG_ONLY],
    port: Port = defaults.SSH_PORT,
    user: User = defaults.SSH_USERNAME,
    playbook_vars_file: PlaybookVars = None,
) -> None:
    """Install the AI-Lab (EC2 variant) on a running host with ansible/ai_lab.yml.

    Runs the configuration play only (not the image finish, which would expire the password and
    remove the login key). The Jupyter password hash comes from XAL_JUPYTER_PASSWORD if set.
    """
    from xal.cli.progress import PlaybookProgress
    from xal.dev.playbooks import install_dependencies as run
    from xal.image.playbook_vars import load_vars_file

    target = _target(host, ssh_private_key, port, user)
    run(settings, target, load_vars_file(playbook_vars_file), observer=PlaybookProgress())  # type: ignore[arg-type]
    typer.echo(f"Jupyter: http://{host}:{defaults.JUPYTER_PORT}/lab")


@o.command
def reset_password(
    host: Host,
    ssh_private_key: PrivateKey,
    settings: Annotated[Settings, o.LOG_ONLY],  # noqa: ARG001 - built for its logging setup
    port: Port = defaults.SSH_PORT,
    user: User = defaults.SSH_USERNAME,
    playbook_vars_file: PlaybookVars = None,
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

    target = _target(host, ssh_private_key, port, user)
    extra_vars = load_vars_file(playbook_vars_file)
    run(target, secret_asker(), extra_vars=extra_vars, observer=PlaybookProgress())  # type: ignore[arg-type]
    typer.echo(f"password of {user}@{host} reset; it must be changed at the next login")


@o.command
def setup_ec2(
    settings: Annotated[Settings, o.SETTINGS.without("json")],
    install: Annotated[
        bool, typer.Option("--install-dependencies", help="Install the AI-Lab on it (ansible/ai_lab.yml).")
    ] = False,
    instance_type: o.InstanceType = defaults.INSTANCE_TYPE,
    source_ami: o.SourceAmi = None,
    source_ami_filter: o.SourceAmiFilter = None,
    cidr: Annotated[
        str | None,
        typer.Option(
            help=f"Who may reach ports 22 and {defaults.JUPYTER_PORT} [default: this machine's public IP /32]."
        ),
    ] = None,
    playbook_vars_file: PlaybookVars = None,
    ssh_host: Annotated[
        str | None,
        typer.Option(help="Connect here instead of the instance's address; must be loopback with a local endpoint."),
    ] = None,
    ssh_port: Annotated[int, typer.Option(help="SSH port.")] = defaults.SSH_PORT,
    ssh_username: Annotated[str, typer.Option(help="Login user.")] = defaults.SSH_USERNAME,
    ssh_timeout: Annotated[float, typer.Option(help="Seconds to wait for the first SSH login.")] = 300.0,
) -> None:
    """Start a throw-away EC2 instance (temporary key pair and security group, all tagged), print
    the SSH login and - with --install-dependencies - the Jupyter URL; keep it until Ctrl-C, then
    terminate it and delete everything it created."""
    from xal.cli.progress import PlaybookProgress
    from xal.dev.ec2 import DevInstanceRequest
    from xal.dev.ec2 import setup_ec2 as run
    from xal.image.playbook_vars import load_vars_file

    request = DevInstanceRequest(
        instance_type=instance_type,
        source_ami=source_ami,
        source_ami_filter=source_ami_filter,
        cidr=cidr,
        ssh_user=ssh_username,
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        ssh_timeout=ssh_timeout,
        install_dependencies=install,
        ansible_vars=load_vars_file(playbook_vars_file),
    )
    run(settings, request, observer=_DevInstanceOutput(), playbook_observer=PlaybookProgress())


class _DevInstanceOutput:
    """setup-ec2's lines: progress and cleanup on stderr, the ssh command and the Jupyter URL on
    stdout (what a script reads, e.g. the first stdout line to log in)."""

    def status(self, message: str) -> None:
        from xal.console import err

        err().print(message, markup=False, highlight=False)

    def login(self, argv: list[str]) -> None:
        from xal.console import out

        out().print(" ".join(argv), markup=False, highlight=False)

    def jupyter(self, url: str) -> None:
        from xal.console import out

        out().print(f"Jupyter: {url}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("setup-ec2", rich_help_panel=PANEL)(setup_ec2)
    app.command("install-dependencies", rich_help_panel=PANEL)(install_dependencies)
    app.command("reset-password", rich_help_panel=PANEL)(reset_password)
