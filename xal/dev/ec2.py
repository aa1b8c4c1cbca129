"""``xal setup-ec2``: a throw-away development instance that lives until Ctrl-C.

The instance and what it needs (temporary ed25519 key pair, security group for SSH and
JupyterLab open to one CIDR) come from :class:`xal.aws.temporary_instances.TemporaryInstances`:
tagged, recorded in the run ledger before they exist, each one a step with its own undo. Whatever
happens - Ctrl-C, SIGTERM, a failing install - they are removed again in reverse order, so one
failure never skips the rest; a failed undo names the resource to delete by hand.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xal import defaults
from xal.ansible.runner import AnsibleTarget, PlaybookObserver
from xal.aws.checkip import caller_cidr
from xal.aws.identity import resolve_owner
from xal.aws.session import AwsSessionFactory
from xal.aws.temporary_instances import InstanceSpec, TemporaryInstances, sigterm_as_interrupt, uninterruptible
from xal.config import Settings
from xal.dev.playbooks import install_dependencies
from xal.errors import NotFoundError, UsageError, XalError
from xal.netcheck import is_loopback_host


@dataclass(frozen=True)
class DevInstanceRequest:
    instance_type: str = defaults.INSTANCE_TYPE
    source_ami: str | None = None
    source_ami_filter: str | None = None  # None: defaults.SOURCE_AMI_NAME_FILTER
    source_ami_owners: tuple[str, ...] = defaults.SOURCE_AMI_OWNERS
    root_volume_size_gb: int = defaults.ROOT_VOLUME_SIZE_GB
    cidr: str | None = None
    ssh_user: str = defaults.SSH_USERNAME
    ssh_host: str | None = None  # connect here instead of the instance's address (tests, tunnels)
    ssh_port: int = defaults.SSH_PORT
    ssh_timeout: float = 300.0
    install_dependencies: bool = False
    ansible_vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_ami_filter", self.source_ami_filter or defaults.SOURCE_AMI_NAME_FILTER)


def check_ssh_host_safety(settings: Settings, ssh_host: str | None) -> None:
    """With a local (emulated) EC2 the instance address is invented: connect only to loopback."""
    if settings.endpoint_is_local and (ssh_host is None or not is_loopback_host(ssh_host)):
        raise UsageError(
            f"refusing to start: the EC2 endpoint {settings.aws_endpoint_url} is local, so --ssh-host must be a "
            f"loopback address (got {ssh_host!r})"
        )


def find_source_ami(ec2: Any, request: DevInstanceRequest) -> dict[str, Any]:
    if request.source_ami:
        images = ec2.describe_images(ImageIds=[request.source_ami])["Images"]
        if len(images) != 1:
            raise NotFoundError(f"source AMI {request.source_ami} not found")
        return images[0]
    images = ec2.describe_images(
        Owners=list(request.source_ami_owners),
        Filters=[
            {"Name": "name", "Values": [request.source_ami_filter]},
            {"Name": "architecture", "Values": ["x86_64"]},
            {"Name": "state", "Values": ["available"]},
        ],
    )["Images"]
    if not images:
        raise NotFoundError(
            f"no AMI matches {request.source_ami_filter!r} (owners {', '.join(request.source_ami_owners)})"
        )
    return max(images, key=lambda image: image.get("CreationDate", ""))


class Observer(Protocol):
    """What setup-ec2 tells its user; the library itself never prints (the CLI decides where to)."""

    def status(self, message: str) -> None:
        """A progress or cleanup line (the CLI: stderr)."""

    def login(self, argv: list[str]) -> None:
        """The ssh command line that logs in to the instance (the CLI: stdout, for scripts)."""

    def jupyter(self, url: str) -> None:
        """JupyterLab's address, once the install has worked (the CLI: stdout)."""


class _Quiet:
    def status(self, message: str) -> None:
        pass

    def login(self, argv: list[str]) -> None:
        pass

    def jupyter(self, url: str) -> None:
        pass


def ssh_argv(key_file: Path, user: str, host: str, port: int) -> list[str]:
    port_args = ["-p", str(port)] if port != 22 else []
    return ["ssh", "-i", str(key_file), *port_args, f"{user}@{host}"]


def wait_for_ssh(key_file: Path, user: str, host: str, port: int, timeout: float) -> None:
    """Retry a key login until it works (sshd and cloud-init need a while after 'running')."""
    argv = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(key_file),
        "-p",
        str(port),
        f"{user}@{host}",
        "true",
    ]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
        if result.returncode == 0:
            return
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"rc={result.returncode}"
        time.sleep(2)
    raise XalError(f"no SSH login to {user}@{host}:{port} within {timeout:.0f} s: {last}")


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM; both arrive as KeyboardInterrupt."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pause"):
        while True:
            signal.pause()
    threading.Event().wait()


def setup_ec2(
    settings: Settings,
    request: DevInstanceRequest,
    factory: AwsSessionFactory | None = None,
    install: Callable[[Path, str, int], None] | None = None,
    wait: Callable[[], None] | None = None,
    ssh_ready: Callable[..., None] | None = None,
    *,
    observer: Observer | None = None,
    playbook_observer: PlaybookObserver | None = None,
) -> None:
    """Start the instance, tell ``observer`` the SSH login (and the Jupyter URL after an install),
    keep it until Ctrl-C, then remove everything. ``install(key_file, host, port)`` runs the
    playbook; ``wait`` (default: until Ctrl-C/SIGTERM) and ``ssh_ready`` (default: until an SSH
    login works) are looked up per call, so tests of the CLI can replace them. ``playbook_observer``
    sees the install's tasks."""
    check_ssh_host_safety(settings, request.ssh_host)
    cidr = caller_cidr(settings, request.cidr, "--cidr")
    observer = observer or _Quiet()
    factory = factory or AwsSessionFactory(settings)
    resolve_owner(factory)
    dev = TemporaryInstances(settings, factory, "setup-ec2", "dev", observer.status)
    image = find_source_ami(dev.ec2, request)
    install_error: XalError | None = None
    try:
        with sigterm_as_interrupt():
            source = f"source AMI {image['ImageId']} ({image.get('Name', '')})"
            observer.status(f"{source}; SSH and JupyterLab open to {cidr}")
            key_file, (instance,) = dev.start(
                InstanceSpec(image, request.instance_type, request.root_volume_size_gb), cidr
            )
            address = instance.get("PublicDnsName") or instance.get("PublicIpAddress")
            if not address and not request.ssh_host:
                raise XalError(f"instance {instance['InstanceId']} has no public address (subnet without public IPs?)")
            host = request.ssh_host or address
            observer.status(f"instance {instance['InstanceId']} running ({address or 'no public address'})")
            observer.login(ssh_argv(key_file, request.ssh_user, host, request.ssh_port))
            if request.install_dependencies:
                (ssh_ready or wait_for_ssh)(key_file, request.ssh_user, host, request.ssh_port, request.ssh_timeout)
                try:
                    (install or _default_install(settings, request, playbook_observer))(
                        key_file, host, request.ssh_port
                    )
                    observer.jupyter(f"http://{host}:{defaults.JUPYTER_PORT}/lab")
                except XalError as exc:
                    install_error = exc
                    observer.status(f"error: {exc}\nthe instance stays up for debugging")
            observer.status("press Ctrl-C to terminate the instance and remove its key pair and security group")
            try:
                (wait or wait_for_interrupt)()
            except KeyboardInterrupt:
                observer.status("Ctrl-C: cleaning up")
    finally:
        with uninterruptible():
            failures = dev.cleanup()
        for failure in failures:
            observer.status(f"cleanup failed: {failure}")
    if failures:
        raise XalError("cleanup incomplete, delete by hand: " + "; ".join(map(str, failures)))
    if install_error is not None:
        raise install_error


def _default_install(
    settings: Settings, request: DevInstanceRequest, observer: PlaybookObserver | None
) -> Callable[[Path, str, int], None]:
    def run(key_file: Path, host: str, port: int) -> None:
        target = AnsibleTarget(host, key_file, port, request.ssh_user)
        install_dependencies(settings, target, request.ansible_vars, observer=observer)

    return run
