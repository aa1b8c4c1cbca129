"""``xal boot-test``: boot machines from a built image and run the first-boot spec against them.

Where the machines come from:
- a VM disk image (a downloaded release image or a rehearsal export): VMs booted from it in QEMU
  (:mod:`xal.vm.qemu`), where the spec also checks the network;
- a rehearsal AMI (its EC2 endpoint is local): containers booted from the local image the rehearsal
  committed as the AMI's disk (:mod:`xal.local.ami_image`), systemd as PID 1;
- a real AMI: temporary instances (:mod:`xal.aws.temporary_instances`: ed25519 key pair, security
  group open to this machine's /32 only, all tagged and in the run ledger), terminated afterwards,
  also on Ctrl-C and SIGTERM.
Two machines boot each time: the spec runs against the first, and the second proves that two
instances of one image do not share their SSH host keys.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from xal import defaults
from xal.aws.checkip import caller_cidr
from xal.aws.errors import error_code, is_not_found
from xal.aws.identity import resolve_owner
from xal.aws.session import AwsSessionFactory
from xal.aws.temporary_instances import InstanceSpec, TemporaryInstances, sigterm_as_interrupt, uninterruptible
from xal.config import Settings
from xal.errors import NotFoundError, UsageError, XalError
from xal.firstboot.login import host_key
from xal.firstboot.machine import BuildIdentity, Machine, SpecInput
from xal.firstboot.report import BootObserver, BootReport, BootTestFailed
from xal.firstboot.spec import run_spec
from xal.image.playbook_vars import JUPYTER_PASSWORD, OS_PASSWORD, OS_PASSWORD_ENV
from xal.local.ami_image import find_ami_image
from xal.local.boot_container import booted_containers
from xal.manifest import BuildManifest, default_manifest_path
from xal.naming import VmFormat
from xal.secrets import AskSecret
from xal.vm.qemu import BootedVm, VmObserver, booted_vms, check_accel, choose_accel

MACHINES = 2  # the spec's machine and its sibling (host keys must differ between instances)
# a login's prompts in a VM: under TCG a Python program such as `jupyter server password` takes a
# minute to start while the VM's first boot still runs Docker and JupyterLab up
VM_PROMPT_TIMEOUT_SECONDS = {"kvm": 30.0, "tcg": 180.0}
IMAGE_SUFFIXES = tuple(f".{fmt.extension}" for fmt in VmFormat)  # what ExportImage writes (a release's files)


@dataclass(frozen=True)
class Credentials:
    """The image's default logins, as its users are told them."""

    os_password: str
    jupyter_password: str = defaults.JUPYTER_PASSWORD
    os_user: str = defaults.SSH_USERNAME

    @classmethod
    def from_env(cls, ask: AskSecret | None = None, os_user: str = defaults.SSH_USERNAME) -> Credentials:
        """XAL_DEFAULT_PASSWORD (else ``ask``), XAL_JUPYTER_PASSWORD (else the documented default)."""
        os_password = OS_PASSWORD.read(ask)
        if not os_password:
            raise UsageError(f"set {OS_PASSWORD_ENV} to the image's default OS password (the one it was built with)")
        return cls(os_password, JUPYTER_PASSWORD.read() or defaults.JUPYTER_PASSWORD, os_user)


@dataclass(frozen=True)
class BootTestRequest:
    """What to boot: an AMI (``ami_id``) or a VM disk image file (``image``), exactly one."""

    credentials: Credentials
    ami_id: str | None = None
    image: Path | None = None  # a .vmdk, .vhd or .raw: booted in QEMU
    instance_type: str = defaults.INSTANCE_TYPE
    cidr: str | None = None  # who may reach SSH and JupyterLab [default: this machine's /32]
    boot_timeout: float = defaults.BOOT_TIMEOUT_SECONDS
    manifest_path: Path | None = None  # the build manifest with the build identity [default: the asset's]
    accel: str | None = None  # QEMU accelerator for an image [default: kvm when a probe boot works]

    def __post_init__(self) -> None:
        if (self.ami_id is None) == (self.image is None):
            raise UsageError("give either --ami-id or --image")
        if self.ami_id is not None and not self.ami_id.startswith("ami-"):
            raise UsageError(f"--ami-id {self.ami_id!r} is not an AMI id (ami-...)")
        if self.image is not None and self.image.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"--image {self.image}: expected a {', '.join(IMAGE_SUFFIXES)} file")
        check_accel(self.accel)
        if self.boot_timeout <= 0:
            raise UsageError("--boot-timeout must be positive")


def build_manifest(settings: Settings, request: BootTestRequest) -> BuildManifest | None:
    """The manifest of the build that made ``request.ami_id`` (``--manifest``, else the asset's when it
    names the AMI): it holds the build identity and, for a rehearsal, the AMI the copies came from.
    For an image file only ``--manifest`` counts (a release's ami-manifest.json)."""
    if request.image is not None and request.manifest_path is None:
        return None
    path = request.manifest_path or default_manifest_path(settings.asset_id, "ami")
    if not path.exists():
        if request.manifest_path is not None:
            raise NotFoundError(f"build manifest {path} not found")
        return None
    manifest = BuildManifest.load(path)
    if request.ami_id is not None and request.ami_id not in manifest.amis.values():
        if request.manifest_path is not None:
            raise UsageError(f"build manifest {path} does not name AMI {request.ami_id}")
        return None
    return manifest


def build_identity(manifest: BuildManifest | None) -> BuildIdentity | None:
    return BuildIdentity.of(manifest.extra.get("build_identity")) if manifest else None


def rehearsal_image(ami_id: str, manifest: BuildManifest | None) -> str:
    """The local image of a rehearsal AMI. The disk is committed right after the build, before the
    region copies exist: a copy is found through the manifest, as the AMI of the build region."""
    try:
        return find_ami_image(ami_id)
    except NotFoundError:
        if manifest is None or not manifest.region or manifest.region not in manifest.amis:
            raise
        return find_ami_image(manifest.amis[manifest.region])


def _spec_input(machines: list[Machine], credentials: Credentials, **fields: object) -> SpecInput:
    return SpecInput(
        machine=machines[0],
        sibling=machines[1] if len(machines) > 1 else None,
        os_password=credentials.os_password,
        jupyter_password=credentials.jupyter_password,
        os_user=credentials.os_user,
        **fields,  # type: ignore[arg-type]
    )


def boot_test_local_image(
    image: str,
    credentials: Credentials,
    identity: BuildIdentity | None = None,
    build_key: Path | None = None,
    observer: BootObserver | None = None,
    boot_timeout: float = defaults.BOOT_TIMEOUT_SECONDS,
) -> BootReport:
    """Boot two containers from the local machine ``image`` and run the spec; the report (not raised)."""
    started = time.monotonic()
    with booted_containers(image, MACHINES) as containers:
        machines = [Machine(c.name, c.host, c.ssh_port, c.jupyter_port) for c in containers]
        inp = _spec_input(machines, credentials, identity=identity, build_key=build_key, boot_timeout=boot_timeout)
        report = run_spec(inp, observer, target=f"{machines[0].name} (container of {image})")
    report.boot_seconds = round(time.monotonic() - started, 2)
    return report


class _StageRecorder:
    """Keeps the boot stages of the VM the spec runs against for the report, and passes all on."""

    def __init__(self, observer: VmObserver | None) -> None:
        self.observer = observer
        self.stages: dict[str, dict[str, float]] = {}

    def stage(self, vm: str, stage: str, seconds: float) -> None:
        self.stages.setdefault(vm, {})[stage] = round(seconds, 2)
        if self.observer is not None:
            self.observer.stage(vm, stage, seconds)


def boot_test_disk(
    disk: Path,
    credentials: Credentials,
    identity: BuildIdentity | None = None,
    build_key: Path | None = None,
    observer: BootObserver | None = None,
    accel: str | None = None,
    boot_timeout: float = defaults.BOOT_TIMEOUT_SECONDS,
    work_dir: Path | None = None,
    vm_observer: VmObserver | None = None,
    sibling: bool = True,
) -> BootReport:
    """Boot two VMs from the disk image in QEMU, one after the other, and run the spec with its VM
    checks against the second; the report (not raised). ``accel``: kvm or tcg [default: kvm when a
    probe boot succeeds]; ``work_dir`` keeps the overlays while they run and the console logs
    afterwards [default: a temporary folder]; ``vm_observer`` is told the boot stages, which the
    report keeps for the spec's VM. Without ``sibling`` one VM boots (half the time under TCG) and
    its host keys are compared with the build's only. ``build_key``: the build's private key, when
    known (the spec shows it refused)."""
    accel = choose_accel(accel)
    recorder = _StageRecorder(vm_observer)
    prompt_timeout = VM_PROMPT_TIMEOUT_SECONDS[accel]

    def machine_of(booted: BootedVm) -> Machine:
        return Machine(booted.name, booted.host, booted.ssh_port, booted.jupyter_port, prompt_timeout)

    with ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xal-vm-")))
        # the sibling first, only until its host key is read: under TCG two running VMs share the
        # CPUs, and the spec's logins would time out while the sibling starts Docker and JupyterLab
        other, other_key = None, ""
        if sibling:
            with booted_vms(disk, 1, work_dir, accel, recorder, boot_timeout) as (booted,):
                other = machine_of(booted)
                other_key = host_key(other)
        started = time.monotonic()
        (booted,) = stack.enter_context(booted_vms(disk, 1, work_dir, accel, recorder, boot_timeout))
        boot_seconds = round(time.monotonic() - started, 2)
        machine = machine_of(booted)
        fields = {
            "identity": identity,
            "build_key": build_key,
            "boot_timeout": boot_timeout,
            "vm": True,
            "sibling_host_key": other_key,
        }
        inp = _spec_input([machine, *([other] if other else [])], credentials, **fields)
        report = run_spec(inp, observer, target=f"{machine.name} (VM of {disk.name}, {accel.upper()})")
    report.boot_seconds = boot_seconds
    report.stages = recorder.stages.get(machine.name, {})
    return report


SpecRunner = Callable[[SpecInput, "BootObserver | None", str], BootReport]


def boot_test_aws(
    settings: Settings,
    request: BootTestRequest,
    identity: BuildIdentity | None,
    observer: BootObserver | None = None,
    factory: AwsSessionFactory | None = None,
    spec: SpecRunner = run_spec,
) -> BootReport:
    """Launch two temporary instances of the AMI, run the spec, terminate everything.

    ``spec`` is injectable for tests against an emulator, whose instance addresses are invented
    public ones: the real spec never runs against a local endpoint.
    """
    if settings.endpoint_is_local and spec is run_spec:
        raise UsageError("a rehearsal AMI boots from its local image, not as an instance of the emulator")
    cidr = caller_cidr(settings, request.cidr, "--cidr")
    factory = factory or AwsSessionFactory(settings)
    resolve_owner(factory)  # the owner tag on everything the boot test creates
    instances = TemporaryInstances(settings, factory, "boot-test", "boot")
    try:
        images = instances.ec2.describe_images(ImageIds=[request.ami_id])["Images"]
    except Exception as exc:
        if not is_not_found(exc) and error_code(exc) != "InvalidAMIID.Malformed":
            raise
        images = []
    if not images:
        raise NotFoundError(f"AMI {request.ami_id} not found in {settings.region}")
    try:
        with sigterm_as_interrupt():
            _key_file, launched = instances.start(InstanceSpec(images[0], request.instance_type, count=MACHINES), cidr)
            machines = []
            for instance in launched:
                address = instance.get("PublicIpAddress") or instance.get("PublicDnsName")
                if not address:
                    raise XalError(f"instance {instance['InstanceId']} has no public address (subnet without one?)")
                machines.append(Machine(instance["InstanceId"], address))
            inp = _spec_input(machines, request.credentials, identity=identity, boot_timeout=request.boot_timeout)
            return spec(inp, observer, f"{machines[0].name} (instance of {request.ami_id})")
    finally:
        with uninterruptible():
            failures = instances.cleanup()
        if failures:
            raise XalError("boot-test cleanup incomplete, delete by hand: " + "; ".join(map(str, failures)))


def boot_test(
    settings: Settings,
    request: BootTestRequest,
    observer: BootObserver | None = None,
    vm_observer: VmObserver | None = None,
) -> BootReport:
    """``xal boot-test``: the report when every check passed, else BootTestFailed naming the failed ones.
    ``vm_observer`` is told the boot stages of an image's QEMU machines."""
    manifest = build_manifest(settings, request)
    identity = build_identity(manifest)
    if request.image is not None:
        if not request.image.is_file():
            raise NotFoundError(f"disk image {request.image} not found")
        report = boot_test_disk(
            request.image,
            request.credentials,
            identity,
            observer=observer,
            vm_observer=vm_observer,
            accel=request.accel,
            boot_timeout=request.boot_timeout,
        )
    elif settings.endpoint_is_local:
        assert request.ami_id is not None
        image = rehearsal_image(request.ami_id, manifest)
        report = boot_test_local_image(image, request.credentials, identity, None, observer, request.boot_timeout)
    else:
        report = boot_test_aws(settings, request, identity, observer)
    if not report.passed:
        raise BootTestFailed(report)
    return report
