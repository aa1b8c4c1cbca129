"""``xal setup-ec2``: a throw-away development instance that lives until Ctrl-C.

Everything it creates is tagged with the asset tag and recorded as it is created: a temporary
ed25519 key pair (private key in a 0600 file), a security group open for SSH and JupyterLab
(22, 49494) to one CIDR, and the instance. Whatever happens - Ctrl-C, SIGTERM, a failing
install - the resources are removed again in reverse order, each step on its own, so one
failure never skips the rest; a step that fails names the resource to delete by hand.
"""

from __future__ import annotations

import ipaddress
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
from typing import Any

from xal import naming
from xal.aws import ledger as lg
from xal.aws.retry import retry_while_in_use
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.console import err, out
from xal.errors import NotFoundError, UsageError, XalError
from xal.netcheck import is_loopback_host

JUPYTER_PORT = 49494
CANONICAL = "099720109477"
DEFAULT_AMI_FILTER = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
CHECKIP_URL = "https://checkip.amazonaws.com"


@dataclass(frozen=True)
class DevInstanceRequest:
    instance_type: str = "t3.medium"
    source_ami: str | None = None
    source_ami_filter: str = DEFAULT_AMI_FILTER
    source_ami_owners: tuple[str, ...] = (CANONICAL,)
    root_volume_size_gb: int = 100
    cidr: str | None = None
    ssh_user: str = "ubuntu"
    ssh_host: str | None = None  # connect here instead of the instance's address (tests, tunnels)
    ssh_port: int = 22
    ssh_timeout: float = 300.0
    install_dependencies: bool = False
    ansible_vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class DevResources:
    """What setup-ec2 created so far; ``cleanup`` removes exactly that."""

    key_name: str | None = None
    key_dir: Path | None = None
    key_file: Path | None = None
    security_group_id: str | None = None
    instance_id: str | None = None


def check_ssh_host_safety(settings: Settings, ssh_host: str | None) -> None:
    """With a local (emulated) EC2 the instance address is invented: connect only to loopback."""
    if settings.endpoint_is_local and (ssh_host is None or not is_loopback_host(ssh_host)):
        raise UsageError(
            f"refusing to start: the EC2 endpoint {settings.aws_endpoint_url} is local, so --ssh-host must be a "
            f"loopback address (got {ssh_host!r})"
        )


def caller_cidr(settings: Settings, cidr: str | None) -> str:
    """The CIDR allowed to reach the instance: ``cidr``, or this machine's public address /32."""
    if cidr is None:
        if settings.endpoint_is_local:
            return "127.0.0.1/32"
        import urllib.request

        try:
            with urllib.request.urlopen(CHECKIP_URL, timeout=10) as reply:
                cidr = reply.read().decode().strip() + "/32"
        except OSError as exc:
            raise UsageError(f"cannot find this machine's public address ({CHECKIP_URL}: {exc}); pass --cidr") from None
    try:
        return str(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        raise UsageError(f"invalid --cidr {cidr!r}; expected e.g. 203.0.113.7/32") from None


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
    tags = [*naming.tag_list(settings.asset_id), {"Key": "Name", "Value": name}]
    return [{"ResourceType": rt, "Tags": tags} for rt in resource_types]


def _status(message: str) -> None:
    err().print(message, markup=False, highlight=False)


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
    """Creates and removes the development instance; every AWS call goes through ``factory``."""

    def __init__(self, settings: Settings, request: DevInstanceRequest, factory: AwsSessionFactory) -> None:
        self.settings = settings
        self.request = request
        self.ec2 = factory.client("ec2")
        self.created = DevResources()
        self.name = f"xal-dev-{naming.stack_safe(settings.asset_id)}-{uuid.uuid4().hex[:8]}"
        self.local = settings.endpoint_is_local
        self.region = settings.region
        # every create call is recorded before it is made (xal show-aws-assets / cleanup read it)
        self.ledger = lg.Ledger(settings.asset_id, settings.aws_endpoint_url)

    def create_key_pair(self) -> Path:
        self.ledger.record(lg.KEY_PAIR, self.region, name=self.name, by="setup-ec2")
        reply = self.ec2.create_key_pair(
            KeyName=self.name, KeyType="ed25519", TagSpecifications=_tags(self.settings, self.name, "key-pair")
        )
        self.created.key_name = self.name
        self.ledger.record(lg.KEY_PAIR, self.region, id=reply.get("KeyPairId"), name=self.name, phase=lg.CREATED)
        self.created.key_dir = Path(tempfile.mkdtemp(prefix="xal-dev-key-"))
        key_file = self.created.key_dir / f"{self.name}.pem"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(reply["KeyMaterial"])
        self.created.key_file = key_file
        return key_file

    def create_security_group(self, cidr: str) -> str:
        self.ledger.record(lg.SECURITY_GROUP, self.region, name=self.name, by="setup-ec2")
        group = self.ec2.create_security_group(
            GroupName=self.name,
            Description=f"xal setup-ec2 {self.settings.asset_id}: SSH and JupyterLab",
            TagSpecifications=_tags(self.settings, self.name, "security-group"),
        )["GroupId"]
        self.created.security_group_id = group
        self.ledger.record(lg.SECURITY_GROUP, self.region, id=group, name=self.name, phase=lg.CREATED)
        self.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
                for port in (22, JUPYTER_PORT)
            ],
        )
        return group

    def run_instance(self, image: dict[str, Any], group: str) -> dict[str, Any]:
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
        self.created.instance_id = instance_id
        self.ledger.record(lg.INSTANCE, self.region, id=instance_id, name=self.name, phase=lg.CREATED)
        self.ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 1 if self.local else 5, "MaxAttempts": 120}
        )
        return self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def cleanup(self) -> list[str]:
        """Remove what was created, newest first; returns one message per resource left behind."""
        errors: list[str] = []
        c = self.created
        if c.instance_id:
            try:
                self.ec2.terminate_instances(InstanceIds=[c.instance_id])
                self.ec2.get_waiter("instance_terminated").wait(
                    InstanceIds=[c.instance_id], WaiterConfig={"Delay": 1 if self.local else 5, "MaxAttempts": 120}
                )
                _status(f"terminated instance {c.instance_id}")
            except Exception as exc:  # report and go on with the rest
                errors.append(f"instance {c.instance_id}: {exc}")
        if c.security_group_id:
            try:
                self._delete_security_group(c.security_group_id)
                _status(f"deleted security group {c.security_group_id}")
            except Exception as exc:  # report and go on with the rest
                errors.append(f"security group {c.security_group_id}: {exc}")
        if c.key_name:
            try:
                self.ec2.delete_key_pair(KeyName=c.key_name)
                _status(f"deleted key pair {c.key_name}")
            except Exception as exc:  # report and go on with the rest
                errors.append(f"key pair {c.key_name}: {exc}")
        if c.key_dir:
            try:
                shutil.rmtree(c.key_dir)
            except OSError as exc:
                errors.append(f"key file {c.key_file}: {exc}")
        return errors

    def _delete_security_group(self, group: str) -> None:
        """The group stays 'in use' for a moment after the instance is gone: retry that for a minute."""
        retry_while_in_use(
            lambda: self.ec2.delete_security_group(GroupId=group), delay=5, timeout=5 if self.local else 90
        )


def setup_ec2(
    settings: Settings,
    request: DevInstanceRequest,
    factory: AwsSessionFactory | None = None,
    install: Callable[[Path, str, int], None] | None = None,
    wait: Callable[[], None] = wait_for_interrupt,
    ssh_ready: Callable[..., None] = wait_for_ssh,
) -> None:
    """Start the instance, print the SSH login (and the Jupyter URL after an install), keep it
    until Ctrl-C, then remove everything. ``install(key_file, host, port)`` runs the playbook."""
    check_ssh_host_safety(settings, request.ssh_host)
    cidr = caller_cidr(settings, request.cidr)
    dev = DevInstance(settings, request, factory or AwsSessionFactory(settings))
    image = find_source_ami(dev.ec2, request)
    install_error: XalError | None = None
    try:
        with _sigterm_as_interrupt():
            _status(f"source AMI {image['ImageId']} ({image.get('Name', '')}); SSH and JupyterLab open to {cidr}")
            key_file = dev.create_key_pair()
            group = dev.create_security_group(cidr)
            instance = dev.run_instance(image, group)
            address = instance.get("PublicDnsName") or instance.get("PublicIpAddress")
            if not address and not request.ssh_host:
                raise XalError(f"instance {instance['InstanceId']} has no public address (subnet without public IPs?)")
            host = request.ssh_host or address
            _status(f"instance {instance['InstanceId']} running ({address or 'no public address'})")
            out().print(" ".join(ssh_argv(key_file, request.ssh_user, host, request.ssh_port)), highlight=False)
            if request.install_dependencies:
                ssh_ready(key_file, request.ssh_user, host, request.ssh_port, request.ssh_timeout)
                try:
                    (install or _default_install(settings, request))(key_file, host, request.ssh_port)
                    out().print(f"Jupyter: http://{host}:{JUPYTER_PORT}/lab", highlight=False)
                except XalError as exc:
                    install_error = exc
                    _status(f"error: {exc}\nthe instance stays up for debugging")
            _status("press Ctrl-C to terminate the instance and remove its key pair and security group")
            try:
                wait()
            except KeyboardInterrupt:
                _status("Ctrl-C: cleaning up")
    finally:
        with _uninterruptible():
            errors = dev.cleanup()
        for message in errors:
            _status(f"cleanup failed: {message}")
    if errors:
        raise XalError("cleanup incomplete, delete by hand: " + "; ".join(errors))
    if install_error is not None:
        raise install_error


def _default_install(settings: Settings, request: DevInstanceRequest) -> Callable[[Path, str, int], None]:
    def run(key_file: Path, host: str, port: int) -> None:
        from xal.ansible.runner import AnsibleTarget
        from xal.dev.playbooks import install_dependencies

        install_dependencies(settings, AnsibleTarget(host, key_file, port, request.ssh_user), request.ansible_vars)

    return run
