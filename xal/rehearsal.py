"""The offline rehearsal: the real AMI build against an embedded AWS emulator and a local "instance".

moto answers every EC2 call Packer makes (security group, instance, AMI, copies, tags); a machine
container (systemd as PID 1, sshd) answers the SSH connection, so the real playbook runs its EC2
systemd path on a real Debian system. The result is checked in the emulator afterwards (every AMI
available and tagged with the asset-id); the provisioned machine is halted and committed as the
AMI's disk (a local image labelled with the AMI id). The exports of the release graph are real
disks built from that image (kernel, GRUB, ext4 root: :mod:`xal.vm.export_disks`), downloaded and
checked as a user would. At the end two fresh containers boot from the image and the first-boot spec
runs against them, as ``xal boot-test`` does against a real AMI; then the same spec runs against a
QEMU machine booted from one downloaded disk (VMDK by default), as ``xal boot-test --image`` does
(which also boots a second machine for the host keys: here the containers showed those).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xal import defaults, naming
from xal.aws.identity import resolve_owner
from xal.aws.ledger import KEY_PAIR, Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tag_specifications, tags_of
from xal.config import Settings
from xal.errors import UsageError, XalError
from xal.firstboot.machine import BuildIdentity
from xal.firstboot.report import BootObserver, BootTestFailed
from xal.firstboot.run import Credentials, boot_test_disk, boot_test_local_image
from xal.image.ami import AmiBuildRequest, Communicator, build_ami
from xal.image.build_log import PackerObserver
from xal.image.playbook_vars import JUPYTER_PASSWORD, playbook_vars
from xal.local.ami_image import commit_ami_image, remove_asset_images
from xal.local.images import Activity, log_activity, prepare_local_images, require_tools
from xal.local.moto_server import moto_server
from xal.local.slc_repo import serve_stand_in_repo
from xal.local.sshd_target import generate_key, sshd_target
from xal.local.wheel_index import serve_wheel_index, wheels_in
from xal.manifest import BuildManifest, default_manifest_path
from xal.naming import DEFAULT_VM_FORMATS, VmFormat
from xal.offline_release import docker_request, release_offline
from xal.packer.binary import PackerBinary
from xal.passwords import os_password_hash
from xal.paths import state_dir
from xal.vm.disk import require_disk_tools
from xal.vm.export_disks import ImageDisks
from xal.vm.qemu import check_accel

if TYPE_CHECKING:
    from xal.release.pipeline import ReleaseObserver
    from xal.vm.qemu import VmObserver

# moto ships Canonical-owned Ubuntu AMIs (not 24.04), so the filter search path is exercised too
REHEARSAL_AMI_FILTER = "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"
REHEARSAL_OS_PASSWORD = "ailab"  # noqa: S105 - the documented, expired default of the rehearsal image
# What a container cannot do: it is not a VM, so NetworkManager is installed but never applied.
CONTAINER_VARS: dict[str, Any] = {"ai_lab_netplan_apply": False}
# --quick: small stand-ins for the heavy downloads the first-boot test does not look at (notebook
# packages, NetworkManager); JupyterLab and Docker stay real, the boot test uses both
QUICK_VARS: dict[str, Any] = {
    "ai_lab_notebooks_requirements": [],
    "ai_lab_notebooks_tutorials": False,
}
# A container boot does not use the VM network (NetworkManager brings it up only in a VM)
CONTAINER_BOOT_STAND_INS: dict[str, Any] = {"ai_lab_netplan_packages": []}
# --quick --no-boot-test: nothing boots the result, so JupyterLab and Docker are stand-ins too
QUICK_UNBOOTED_VARS: dict[str, Any] = {
    **QUICK_VARS,
    **CONTAINER_BOOT_STAND_INS,
    "ai_lab_jupyter_requirements": ["six==1.17.0"],
    "ai_lab_docker_packages": [],
}


def verify_amis(factory: AwsSessionFactory, manifest: BuildManifest) -> None:
    """Every AMI of the build exists, is available and carries the asset tag."""
    for region, ami in manifest.amis.items():
        images = factory.client("ec2", region).describe_images(ImageIds=[ami])["Images"]
        image = images[0] if images else {}
        tags = tags_of(image)
        if image.get("State") != "available" or tags.get(naming.TAG_KEY) != manifest.asset_id:
            raise XalError(f"rehearsal check failed: AMI {ami} in {region} is {image.get('State')} with tags {tags}")


def rehearse(
    settings: Settings,
    ami_regions: tuple[str, ...] = (),  # empty: defaults.REHEARSAL_COPY_REGIONS
    quick: bool = False,
    export: bool = True,
    packer: PackerBinary | None = None,
    wheels: Path | None = None,
    *,
    boot: bool = True,
    vm_formats: tuple[VmFormat, ...] = DEFAULT_VM_FORMATS,
    boot_format: VmFormat | None = None,  # None: VMDK when exported, else the first format
    fake_disks: bool = False,
    accel: str | None = None,
    build_observer: PackerObserver | None = None,
    boot_observer: BootObserver | None = None,
    vm_observer: VmObserver | None = None,
    activity: Activity = log_activity,
    with_docker: bool = True,
    release_observer: ReleaseObserver | None = None,
) -> BuildManifest:
    """Build the AMI offline and, with ``export``, run the whole release graph (Docker branch unless
    ``with_docker`` is False, exports of ``vm_formats``, GitHub step against a local stand-in); then
    boot-test the AMI's image in containers and, with ``boot``, the exported ``boot_format`` disk in
    one QEMU machine. The observers are told the progress of each, ``activity`` shows the local image bootstrap.
    A failed first-boot check raises BootTestFailed after the manifest has recorded the report.

    The exports are real disks built from the AMI's committed image (:mod:`xal.vm.export_disks`):
    that needs root and loop devices, checked before anything starts; ``fake_disks`` puts the
    emulator's placeholder bytes there instead, and nothing boots in QEMU.

    ``wheels``: a folder of wheels (e.g. a CPU build of torch) served as the extra pip index in place
    of ``settings.pip_extra_index_url``, which the stand-in instance may not reach offline.
    """
    vm_boot = _boot_format(boot_format, vm_formats) if boot and export and not fake_disks else None
    if vm_boot is not None and vm_boot not in vm_formats:
        raise UsageError(f"--boot-format {vm_boot} is not among the exported formats ({', '.join(vm_formats)})")
    if vm_boot is not None:
        check_accel(accel)  # a typo fails now, not after the build and the exports
    require_tools("docker", "mmdebstrap", "packer", "ssh-keygen")
    if export and not fake_disks:
        require_disk_tools()  # one line naming the export step that cannot run here, before the build
    if wheels is not None:
        wheels_in(wheels)  # a usage error before anything starts
    work = state_dir() / "rehearsal"
    images = prepare_local_images(settings, work / "images", activity)
    index = serve_wheel_index(wheels) if wheels is not None else nullcontext(settings.pip_extra_index_url)
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="xal-rehearsal-") as tmp, index as url:
        local = replace(settings, aws_endpoint_url=endpoint, pip_extra_index_url=url)
        factory = AwsSessionFactory(local)
        key = generate_key(Path(tmp) / "id_ed25519")
        resolve_owner(factory)
        key_name = f"xal-rehearsal-{naming.stack_safe(settings.asset_id)}"
        Ledger(settings.asset_id, endpoint).record(KEY_PAIR, local.region, name=key_name)
        factory.client("ec2").import_key_pair(
            KeyName=key_name,
            PublicKeyMaterial=Path(f"{key}.pub").read_bytes(),
            TagSpecifications=tag_specifications(naming.asset_tags(settings.asset_id), "key-pair"),
        )
        with sshd_target(images[2], key, user="ubuntu", machine=True) as target, serve_stand_in_repo() as slc_vars:
            ansible_vars = {
                **CONTAINER_VARS,
                **(_quick_vars(boot, vm_boot is not None) if quick else {}),
                **slc_vars,
                **playbook_vars(local, os_password=False),
                "ai_lab_os_password_hash": _rehearsal_hash(),
            }
            request = AmiBuildRequest(
                ami_regions=ami_regions or defaults.REHEARSAL_COPY_REGIONS,
                source_ami_name_filter=REHEARSAL_AMI_FILTER,
                communicator=Communicator(target.user, target.host, target.port, key_name, target.key),
                ansible_vars=ansible_vars,
                observer=build_observer,
            )
            committed: dict[str, Any] = {}

            def build_and_commit(build_settings: Settings, build: AmiBuildRequest) -> BuildManifest:
                """The AMI build, then its disk: the provisioned machine, halted and committed."""
                built = build_ami(build_settings, build, packer)
                started = time.monotonic()
                with activity("committing the provisioned machine as the AMI's disk"):
                    ami = built.amis[build_settings.region]
                    committed["image"] = commit_ami_image(target.container, settings.asset_id, built.amis, ami)
                committed["seconds"] = round(time.monotonic() - started, 2)
                remove_asset_images(settings.asset_id, keep=committed["image"])
                return built

            if export:  # the whole release graph offline (xal/offline_release.py)
                docker_vars = {
                    **(QUICK_UNBOOTED_VARS if quick else {}),  # nothing boots the Docker image here
                    **slc_vars,
                    **playbook_vars(local, os_password=False),
                }
                docker = docker_request(images[0], docker_vars) if with_docker else None
                offline = release_offline(
                    local,
                    request,
                    docker,
                    packer=packer,
                    observer=release_observer,
                    build_step=build_and_commit,
                    formats=vm_formats,
                    disks=None if fake_disks else ImageDisks(Path(tmp) / "disks"),
                )
                manifest = offline.result.manifest
            else:
                manifest = build_and_commit(local, request)
        verify_amis(factory, manifest)
        image = committed["image"]
        manifest.extra["rehearsal"] = {
            "endpoint": endpoint,
            "ssh_target": target.container,
            "ami_image": image,
            "commit_seconds": committed["seconds"],
        }
        if export:
            paths = offline.result.paths
            manifest.extra["rehearsal"].update(
                timeline=str(paths.timeline),
                release_manifest=str(paths.record),
                release_assets=offline.release_assets,
                downloads=str(offline.downloads),
            )
        manifest.write(default_manifest_path(settings.asset_id, "ami"))
        if boot:
            credentials = Credentials(REHEARSAL_OS_PASSWORD, JUPYTER_PASSWORD.read() or defaults.JUPYTER_PASSWORD)
            identity = BuildIdentity.of(manifest.extra.get("build_identity"))
            reports = [boot_test_local_image(image, credentials, identity, key, boot_observer)]
            manifest.extra["boot_test"] = reports[0].to_dict()
            if vm_boot is not None:
                disk = offline.downloads / naming.vm_image_name(settings.asset_id, vm_boot)
                vm = boot_test_disk(
                    disk,
                    credentials,
                    identity,
                    key,
                    boot_observer,
                    accel=accel,
                    work_dir=Path(tmp) / "vms",
                    vm_observer=vm_observer,
                    sibling=False,  # the container boot already showed two instances' host keys differ
                )
                reports.append(vm)
                manifest.extra["vm_boot_test"] = {"format": str(vm_boot), **vm.to_dict()}
            manifest.write(default_manifest_path(settings.asset_id, "ami"))
            for report in reports:
                if not report.passed:
                    raise BootTestFailed(report)
    return manifest


def _boot_format(requested: VmFormat | None, formats: tuple[VmFormat, ...]) -> VmFormat:
    if requested is not None:
        return requested
    return VmFormat.VMDK if VmFormat.VMDK in formats else formats[0]


def _quick_vars(boot: bool, vm_boot: bool) -> dict[str, Any]:
    """--quick's stand-ins: what nothing boots is small; a VM boot needs the real NetworkManager."""
    if not boot:
        return QUICK_UNBOOTED_VARS
    return QUICK_VARS if vm_boot else {**QUICK_VARS, **CONTAINER_BOOT_STAND_INS}


def _rehearsal_hash() -> str:
    return os_password_hash(REHEARSAL_OS_PASSWORD)
