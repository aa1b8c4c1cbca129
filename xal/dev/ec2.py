"""``xal setup-ec2``: a throw-away development instance that lives until Ctrl-C.

Everything it creates is tagged with the asset tag and recorded as it is created: a temporary
ed25519 key pair (private key in a 0600 file), a security group open for SSH and JupyterLab
(22, 49494) to one CIDR, and the instance. Whatever happens - Ctrl-C, SIGTERM, a failing
install - the resources are removed again in reverse order, each one a step with its own undo
(``xal.aws.steps``), so one failure never skips the rest; a failed undo names the resource to
delete by hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xal import defaults, naming
from xal.ansible.runner import AnsibleTarget, PlaybookObserver
from xal.aws import ledger as lg
from xal.aws.checkip import caller_cidr
from xal.aws.identity import resolve_owner
from xal.aws.retry import retry_while_in_use
from xal.aws.session import AwsSessionFactory
from xal.aws.steps import Step, StepRunner, UndoFailure
from xal.aws.tags import tag_specifications
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


def _tags(settings: Settings, name: str, *resource_types: str) -> list[dict[str, Any]]:
    return tag_specifications(naming.asset_tags(settings.asset_id, Name=name), *resource_types)


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


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """Cleanup must not be cut short by a second Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class DevInstance:
    """Creates and removes the development instance; every AWS call goes through ``factory``.

    Each resource is one step of ``steps`` (key pair, key file, security group, instance), so
    ``cleanup`` removes exactly what was created, newest first, whatever failed in between.
    """

    def __init__(
        self, settings: Settings, request: DevInstanceRequest, factory: AwsSessionFactory, observer: Observer
    ) -> None:
        self.settings = settings
        self.request = request
        self.observer = observer
        self.ec2 = factory.client("ec2")
        self.steps = StepRunner()
        self.name = f"xal-dev-{naming.stack_safe(settings.asset_id)}-{uuid.uuid4().hex[:8]}"
        self.local = settings.endpoint_is_local
        self.region = settings.region
        # every create call is recorded before it is made (xal show-aws-assets / cleanup read it)
        self.ledger = lg.Ledger(settings.asset_id, settings.aws_endpoint_url)
        self._key_material = ""

    def start(self, image: dict[str, Any], cidr: str) -> tuple[Path, dict[str, Any]]:
        """Key pair, key file, security group open to ``cidr``, running instance: (key file, instance)."""
        self.steps.run(Step("key pair", self._create_key_pair, self._delete_key_pair))
        key_file = Path(self.steps.run(Step("key file", self._write_key_file, self._remove_key_file)))
        group = self.steps.run(Step("security group", self._create_security_group, self._delete_security_group))
        self._open_ports(group, cidr)
        instance_id = self.steps.run(Step("instance", lambda: self._launch(image, group), self._terminate))
        self.ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=self._waiter_config)
        return key_file, self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def cleanup(self) -> list[UndoFailure]:
        """Remove what was created, newest first; one failure per resource left behind."""
        return self.steps.undo()

    @property
    def _waiter_config(self) -> dict[str, int]:
        return {"Delay": 1 if self.local else 5, "MaxAttempts": 120}

    # -- key pair and its private key file ----------------------------------------------------------
    def _create_key_pair(self) -> str:
        self.ledger.record(lg.KEY_PAIR, self.region, name=self.name, by="setup-ec2")
        reply = self.ec2.create_key_pair(
            KeyName=self.name, KeyType="ed25519", TagSpecifications=_tags(self.settings, self.name, "key-pair")
        )
        self.ledger.record(lg.KEY_PAIR, self.region, id=reply.get("KeyPairId"), name=self.name, phase=lg.CREATED)
        self._key_material = reply["KeyMaterial"]
        return self.name

    def _delete_key_pair(self, name: str) -> None:
        self.ec2.delete_key_pair(KeyName=name)
        self.observer.status(f"deleted key pair {name}")

    def _write_key_file(self) -> str:
        """The private key in a fresh directory, readable by this user only."""
        key_dir = Path(tempfile.mkdtemp(prefix="xal-dev-key-"))
        key_file = key_dir / f"{self.name}.pem"
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self._key_material)
        except BaseException:  # not a completed step: leave no directory behind
            shutil.rmtree(key_dir, ignore_errors=True)
            raise
        return str(key_file)

    @staticmethod
    def _remove_key_file(key_file: str) -> None:
        shutil.rmtree(Path(key_file).parent)

    # -- security group -----------------------------------------------------------------------------
    def _create_security_group(self) -> str:
        self.ledger.record(lg.SECURITY_GROUP, self.region, name=self.name, by="setup-ec2")
        group = self.ec2.create_security_group(
            GroupName=self.name,
            Description=f"xal setup-ec2 {self.settings.asset_id}: SSH and JupyterLab",
            TagSpecifications=_tags(self.settings, self.name, "security-group"),
        )["GroupId"]
        self.ledger.record(lg.SECURITY_GROUP, self.region, id=group, name=self.name, phase=lg.CREATED)
        return group

    def _open_ports(self, group: str, cidr: str) -> None:
        """SSH and JupyterLab; deleting the group removes the rules, so this needs no undo of its own."""
        self.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
                for port in (22, defaults.JUPYTER_PORT)
            ],
        )

    def _delete_security_group(self, group: str) -> None:
        """The group stays 'in use' for a moment after the instance is gone: retry that for a minute."""
        retry_while_in_use(
            lambda: self.ec2.delete_security_group(GroupId=group), delay=5, timeout=5 if self.local else 90
        )
        self.observer.status(f"deleted security group {group}")

    # -- instance -------------------------------------------------------------------------------------
    def _launch(self, image: dict[str, Any], group: str) -> str:
        mappings = []
        if image.get("RootDeviceName"):
            mappings = [
                {
                    "DeviceName": image["RootDeviceName"],
                    "Ebs": {
                        "VolumeSize": self.request.root_volume_size_gb,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                    },
                }
            ]
        self.ledger.record(lg.INSTANCE, self.region, name=self.name, image=image["ImageId"], by="setup-ec2")
        reply = self.ec2.run_instances(
            ImageId=image["ImageId"],
            InstanceType=self.request.instance_type,
            KeyName=self.name,
            SecurityGroupIds=[group],
            MinCount=1,
            MaxCount=1,
            BlockDeviceMappings=mappings,
            InstanceInitiatedShutdownBehavior="terminate",
            TagSpecifications=_tags(self.settings, self.name, "instance", "volume"),
        )
        instance_id = reply["Instances"][0]["InstanceId"]
        self.ledger.record(lg.INSTANCE, self.region, id=instance_id, name=self.name, phase=lg.CREATED)
        return instance_id

    def _terminate(self, instance_id: str) -> None:
        self.ec2.terminate_instances(InstanceIds=[instance_id])
        self.ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=self._waiter_config)
        self.observer.status(f"terminated instance {instance_id}")


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
    dev = DevInstance(settings, request, factory, observer)
    image = find_source_ami(dev.ec2, request)
    install_error: XalError | None = None
    try:
        with _sigterm_as_interrupt():
            source = f"source AMI {image['ImageId']} ({image.get('Name', '')})"
            observer.status(f"{source}; SSH and JupyterLab open to {cidr}")
            key_file, instance = dev.start(image, cidr)
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
        with _uninterruptible():
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
