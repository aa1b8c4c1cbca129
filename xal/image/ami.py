"""``xal build-ami``: the AI-Lab AMI from the amazon-ebs source, with its build manifest."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xal import defaults, naming
from xal.aws.checkip import caller_cidr
from xal.aws.identity import resolve_owner
from xal.aws.ledger import CREATED, ENDED, PACKER_BUILD, Ledger
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import UsageError, XalError
from xal.image.build_log import PackerObserver
from xal.image.packer_build import run_packer_build
from xal.image.python_packages import python_packages
from xal.manifest import BuildManifest, default_manifest_path
from xal.netcheck import is_loopback_host
from xal.packer.amazon_ebs import Generation, SshInterface
from xal.packer.binary import OnError, PackerBinary

SOURCE = "xal.amazon-ebs.ai_lab"


@dataclass(frozen=True)
class Communicator:
    """How Packer reaches the build instance. All None in production: a temporary key pair, the
    instance's address, and port 22 open only to this machine's public address."""

    ssh_username: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_keypair_name: str | None = None
    ssh_private_key_file: str | None = None
    ssh_interface: SshInterface | None = None  # session_manager: no inbound rule at all (current Packer)
    ssh_cidr: str | None = None  # who may reach port 22 [default: this machine's public address /32]

    @classmethod
    def from_options(
        cls,
        username: str | None,
        host: str | None,
        port: int | None,
        keypair: str | None,
        key_file: Path | None,
        interface: SshInterface | None = None,
        cidr: str | None = None,
    ) -> Communicator:
        return cls(username, host, port, keypair, str(key_file) if key_file else None, interface, cidr)


@dataclass(frozen=True)
class AmiBuildRequest:
    """One AMI build; checks its own values so every caller gets the same one-line errors."""

    ami_regions: tuple[str, ...] = ()
    instance_type: str = defaults.INSTANCE_TYPE
    source_ami: str | None = None
    source_ami_name_filter: str | None = None  # None: defaults.SOURCE_AMI_NAME_FILTER
    source_ami_owners: tuple[str, ...] | None = None  # None: defaults.SOURCE_AMI_OWNERS
    root_volume_size_gb: int = defaults.ROOT_VOLUME_SIZE_GB
    communicator: Communicator = field(default_factory=Communicator)
    ansible_vars: dict[str, Any] = field(default_factory=dict)
    on_error: OnError = OnError.CLEANUP
    debug: bool = False
    manifest_path: Path | None = None
    # how the build is shown while it runs; a request carries it so callers that pass the request
    # on (create-vm) show the build the way their caller chose
    observer: PackerObserver | None = field(default=None, compare=False, repr=False)
    # set by another thread to stop the build (Packer gets SIGINT and cleans up): the release graph
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_error", OnError.parse(self.on_error))
        object.__setattr__(self, "ami_regions", tuple(dict.fromkeys(self.ami_regions)))
        if self.root_volume_size_gb < 8:
            raise UsageError(f"root volume of {self.root_volume_size_gb} GB is too small (at least 8)")
        port = self.communicator.ssh_port
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"--ssh-port {port} is not a TCP port")


def check_target_safety(settings: Settings, communicator: Communicator) -> None:
    """Refuse builds that would SSH to a public address while EC2 is emulated locally.

    With a local endpoint the "instance" is fake and its public IP is invented by the emulator;
    without a loopback ``ssh_host`` Packer would connect to that invented, real-world address.
    """
    if settings.endpoint_is_local and (communicator.ssh_host is None or not is_loopback_host(communicator.ssh_host)):
        raise UsageError(
            f"refusing to build: the EC2 endpoint {settings.aws_endpoint_url} is local, so ssh_host must be a "
            f"loopback address (got {communicator.ssh_host!r})"
        )


def ssh_access(settings: Settings, communicator: Communicator, generation: Generation) -> dict[str, Any]:
    """Who may reach port 22 of the temporary security group: never 0.0.0.0/0 (Packer's default).

    ``--ssh-cidr`` when given; otherwise current Packer finds this machine's public address itself
    (``temporary_security_group_source_public_ip``, packer-plugin-amazon
    ``common/run_config.go:572-584,872-877``) and for Packer 1.6.6 xal does (checkip.amazonaws.com);
    against a local emulator, loopback only.
    """
    if communicator.ssh_interface is SshInterface.SESSION_MANAGER and generation is Generation.LEGACY:
        raise UsageError("--ssh-interface session_manager needs Packer >= 1.7 (plugin github.com/hashicorp/amazon)")
    find_it_yourself = communicator.ssh_cidr is None and not settings.endpoint_is_local
    if generation is Generation.CURRENT and find_it_yourself:
        return {"ssh_source_cidrs": [], "ssh_source_public_ip": True}
    return {
        "ssh_source_cidrs": [caller_cidr(settings, communicator.ssh_cidr, "--ssh-cidr")],
        "ssh_source_public_ip": False,
    }


def packer_variables(settings: Settings, request: AmiBuildRequest, generation: Generation) -> dict[str, Any]:
    c = request.communicator
    values: dict[str, Any] = {
        "ami_name": naming.ami_name(settings.asset_id),
        "tags": naming.asset_tags(settings.asset_id, Name=naming.ami_name(settings.asset_id)),
        "region": settings.region,
        "ami_regions": [r for r in request.ami_regions if r != settings.region],
        "instance_type": request.instance_type,
        "source_ami_name_filter": request.source_ami_name_filter or defaults.SOURCE_AMI_NAME_FILTER,
        "source_ami_owners": list(request.source_ami_owners or defaults.SOURCE_AMI_OWNERS),
        "ssh_username": c.ssh_username or defaults.SSH_USERNAME,
        "source_ami": request.source_ami,
        "root_volume_size_gb": request.root_volume_size_gb,
        "ec2_endpoint": settings.aws_endpoint_url,
        "ssh_host": c.ssh_host,
        "ssh_port": c.ssh_port,
        "ssh_keypair_name": c.ssh_keypair_name,
        "ssh_private_key_file": c.ssh_private_key_file,
        "ssh_interface": c.ssh_interface.value if c.ssh_interface else None,
        **ssh_access(settings, c, generation),
    }
    return values


def build_ami(settings: Settings, request: AmiBuildRequest, packer: PackerBinary | None = None) -> BuildManifest:
    """Build the AMI (and its region copies) and write the build manifest."""
    check_target_safety(settings, request.communicator)
    resolve_owner(AwsSessionFactory(settings))  # the owner tag Packer puts on what it creates
    packer = packer or PackerBinary()
    started = time.time()
    variables = packer_variables(settings, request, packer.generation())
    packages = python_packages(request.ansible_vars)  # what the manifest reports (read before the build)
    # Packer creates the instance, volumes, security group, key pair, AMI and snapshots itself; the
    # ledger records the intent, and xal show-aws-assets finds them by tag, AMI name and instance
    ledger = Ledger(settings.asset_id, settings.aws_endpoint_url)
    build_id = f"{os.getpid()}-{started:.3f}"
    ledger.record(
        PACKER_BUILD, settings.region, name=variables["ami_name"], build=build_id, ami_regions=variables["ami_regions"]
    )
    try:
        result = run_packer_build(
            settings=settings,
            kind="ami",
            only=[SOURCE],
            variables=variables,
            ansible_vars={"ai_lab_target": "ec2", **request.ansible_vars},
            packer=packer,
            on_error=request.on_error,
            debug=request.debug,
            observer=request.observer,
            cancel=request.cancel,
        )
    finally:  # Packer has exited and run its own cleanup; only a killed xal leaves the intent open
        ledger.record(PACKER_BUILD, settings.region, name=variables["ami_name"], phase=ENDED, build=build_id)
    if not result.outcome.amis():
        raise XalError(f"packer finished without an AMI artifact (log: {result.log_path})")
    ledger.record(
        PACKER_BUILD,
        settings.region,
        name=variables["ami_name"],
        phase=CREATED,
        build=build_id,
        amis=result.outcome.amis(),
    )
    manifest = result.manifest(
        settings.asset_id,
        "ami",
        started,
        region=settings.region,
        source_ami=next(iter(sorted(result.outcome.source_amis)), request.source_ami),
        amis=result.outcome.amis(),
        extra={
            "xal_seconds": result.seconds,
            "packer_seconds": result.packer_seconds,
            "build_identity": result.build_identity,
            "python": packages.to_dict(),
        },
    )
    manifest.write(request.manifest_path or default_manifest_path(settings.asset_id, "ami"))
    return manifest
