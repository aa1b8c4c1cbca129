"""Temporary EC2 instances that leave nothing behind: key pair, key file, security group, instances.

Used by ``xal setup-ec2`` (one development instance until Ctrl-C) and ``xal boot-test`` (instances
of a built AMI for the first-boot test). Everything is tagged with the asset tag and recorded in the
run ledger before it is created: a temporary ed25519 key pair (private key in a 0600 file), a
security group open for SSH and JupyterLab (22, 49494) to one CIDR, and the instances. Each
resource is one step with its own undo (:mod:`xal.aws.steps`), so ``cleanup`` removes exactly what
was created, newest first, whatever failed in between; a failed undo names the resource.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xal import defaults, naming
from xal.aws import ledger as lg
from xal.aws.retry import retry_while_in_use
from xal.aws.session import AwsSessionFactory
from xal.aws.steps import Step, StepRunner, UndoFailure
from xal.aws.tags import tag_specifications
from xal.config import Settings


@dataclass(frozen=True)
class InstanceSpec:
    """What to launch: the image, its size, how many."""

    image: dict[str, Any]  # a DescribeImages entry
    instance_type: str = defaults.INSTANCE_TYPE
    root_volume_size_gb: int | None = None  # None: the image's own
    count: int = 1


class TemporaryInstances:
    """Creates and removes the instances and what they need; every AWS call goes through ``factory``.

    ``purpose`` names the command in descriptions and the ledger (``setup-ec2``), ``short`` the
    resources (``xal-<short>-<asset>-<random>``); ``report`` is told each removal.
    """

    def __init__(
        self,
        settings: Settings,
        factory: AwsSessionFactory,
        purpose: str,
        short: str,
        report: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.settings = settings
        self.purpose = purpose
        self.report = report
        self.ec2 = factory.client("ec2")
        self.steps = StepRunner()
        self.name = f"xal-{short}-{naming.stack_safe(settings.asset_id)}-{uuid.uuid4().hex[:8]}"
        self.local = settings.endpoint_is_local
        self.region = settings.region
        # every create call is recorded before it is made (xal show-aws-assets / cleanup read it)
        self.ledger = lg.Ledger(settings.asset_id, settings.aws_endpoint_url)
        self._key_material = ""

    def start(self, spec: InstanceSpec, cidr: str) -> tuple[Path, list[dict[str, Any]]]:
        """Key pair, key file, security group open to ``cidr``, running instances: (key file, instances)."""
        self.steps.run(Step("key pair", self._create_key_pair, self._delete_key_pair))
        key_file = Path(self.steps.run(Step("key file", self._write_key_file, self._remove_key_file)))
        group = self.steps.run(Step("security group", self._create_security_group, self._delete_security_group))
        self._open_ports(group, cidr)
        ids = self.steps.run(Step("instance", lambda: self._launch(spec, group), self._terminate)).split(",")
        self.ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=self._waiter_config)
        reservations = self.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
        return key_file, [instances[i] for i in ids]

    def cleanup(self) -> list[UndoFailure]:
        """Remove what was created, newest first; one failure per resource left behind."""
        return self.steps.undo()

    @property
    def _waiter_config(self) -> dict[str, int]:
        return {"Delay": 1 if self.local else 5, "MaxAttempts": 120}

    def _tags(self, *resource_types: str) -> list[dict[str, Any]]:
        return tag_specifications(naming.asset_tags(self.settings.asset_id, Name=self.name), *resource_types)

    # -- key pair and its private key file ----------------------------------------------------------
    def _create_key_pair(self) -> str:
        self.ledger.record(lg.KEY_PAIR, self.region, name=self.name, by=self.purpose)
        reply = self.ec2.create_key_pair(KeyName=self.name, KeyType="ed25519", TagSpecifications=self._tags("key-pair"))
        self.ledger.record(lg.KEY_PAIR, self.region, id=reply.get("KeyPairId"), name=self.name, phase=lg.CREATED)
        self._key_material = reply["KeyMaterial"]
        return self.name

    def _delete_key_pair(self, name: str) -> None:
        self.ec2.delete_key_pair(KeyName=name)
        self.report(f"deleted key pair {name}")

    def _write_key_file(self) -> str:
        """The private key in a fresh directory, readable by this user only."""
        key_dir = Path(tempfile.mkdtemp(prefix=f"xal-{self.purpose}-key-"))
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
        self.ledger.record(lg.SECURITY_GROUP, self.region, name=self.name, by=self.purpose)
        group = self.ec2.create_security_group(
            GroupName=self.name,
            Description=f"xal {self.purpose} {self.settings.asset_id}: SSH and JupyterLab",
            TagSpecifications=self._tags("security-group"),
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
        self.report(f"deleted security group {group}")

    # -- instances ------------------------------------------------------------------------------------
    def _launch(self, spec: InstanceSpec, group: str) -> str:
        """Run ``spec.count`` instances in one call; the step's id is their ids, comma-separated."""
        image = spec.image
        mappings = []
        if image.get("RootDeviceName") and spec.root_volume_size_gb:
            mappings = [
                {
                    "DeviceName": image["RootDeviceName"],
                    "Ebs": {"VolumeSize": spec.root_volume_size_gb, "VolumeType": "gp3", "DeleteOnTermination": True},
                }
            ]
        self.ledger.record(
            lg.INSTANCE, self.region, name=self.name, image=image["ImageId"], count=spec.count, by=self.purpose
        )
        reply = self.ec2.run_instances(
            ImageId=image["ImageId"],
            InstanceType=spec.instance_type,
            KeyName=self.name,
            SecurityGroupIds=[group],
            MinCount=spec.count,
            MaxCount=spec.count,
            BlockDeviceMappings=mappings,
            InstanceInitiatedShutdownBehavior="terminate",
            TagSpecifications=self._tags("instance", "volume"),
        )
        ids = [i["InstanceId"] for i in reply["Instances"]]
        for instance_id in ids:
            self.ledger.record(lg.INSTANCE, self.region, id=instance_id, name=self.name, phase=lg.CREATED)
        return ",".join(ids)

    def _terminate(self, instance_ids: str) -> None:
        ids = instance_ids.split(",")
        self.ec2.terminate_instances(InstanceIds=ids)
        self.ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=self._waiter_config)
        for instance_id in ids:
            self.report(f"terminated instance {instance_id}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CodeBuild stopping a build, ``kill``) cleans up like Ctrl-C does."""
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
def uninterruptible() -> Iterator[None]:
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
