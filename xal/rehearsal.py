"""The offline rehearsal: the real AMI build against an embedded AWS emulator and a local "instance".

moto answers every EC2 call Packer makes (security group, instance, AMI, copies, tags); an sshd
container answers the SSH connection, so the real playbook runs on a real Debian system. The
result is checked in the emulator afterwards: every AMI available and tagged with the asset-id.
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xal import defaults, naming
from xal.aws.ledger import KEY_PAIR, Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tag_specifications, tags_of
from xal.config import Settings
from xal.errors import XalError
from xal.export.pipeline import ExportRequest, export_images
from xal.export.tasks import PollPolicy
from xal.image.ami import AmiBuildRequest, Communicator, build_ami
from xal.image.build_log import PackerObserver
from xal.image.playbook_vars import playbook_vars
from xal.local.images import Activity, log_activity, prepare_local_images, require_tools
from xal.local.moto_export import ExportFakeConfig, moto_export, seed_bucket_stack
from xal.local.moto_server import moto_server
from xal.local.slc_repo import serve_stand_in_repo
from xal.local.sshd_target import generate_key, sshd_target
from xal.local.wheel_index import serve_wheel_index, wheels_in
from xal.manifest import BuildManifest, default_manifest_path
from xal.packer.binary import PackerBinary
from xal.passwords import os_password_hash
from xal.paths import state_dir

if TYPE_CHECKING:
    from xal.export.pipeline import ExportObserver

# moto ships Canonical-owned Ubuntu AMIs (not 24.04), so the filter search path is exercised too
REHEARSAL_AMI_FILTER = "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"
REHEARSAL_OS_PASSWORD = "ailab"  # noqa: S105 - the documented, expired default of the rehearsal image
REHEARSAL_EXPORT_SECONDS = 3.0  # simulated duration of each export task
# What a container cannot do: it is not a VM, so NetworkManager is installed but never applied.
CONTAINER_VARS: dict[str, Any] = {"ai_lab_netplan_apply": False}
# --quick: small stand-ins for the heavy downloads (JupyterLab, notebook packages, Docker)
QUICK_VARS: dict[str, Any] = {
    "ai_lab_jupyter_requirements": ["six==1.17.0"],
    "ai_lab_notebooks_requirements": [],
    "ai_lab_notebooks_tutorials": False,
    "ai_lab_docker_packages": [],
    "ai_lab_netplan_packages": [],
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
    build_observer: PackerObserver | None = None,
    export_observer: ExportObserver | None = None,
    activity: Activity = log_activity,
) -> BuildManifest:
    """Build (and by default export) the AMI offline; the observers are told the progress of each,
    ``activity`` shows the local image bootstrap.

    ``wheels``: a folder of wheels (e.g. a CPU build of torch) served as the extra pip index in place
    of ``settings.pip_extra_index_url``, which the stand-in instance may not reach offline.
    """
    require_tools("docker", "mmdebstrap", "packer", "ssh-keygen")
    if wheels is not None:
        wheels_in(wheels)  # a usage error before anything starts
    work = state_dir() / "rehearsal"
    images = prepare_local_images(settings, work / "images", activity)
    index = serve_wheel_index(wheels) if wheels is not None else nullcontext(settings.pip_extra_index_url)
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="xal-rehearsal-") as tmp, index as url:
        local = replace(settings, aws_endpoint_url=endpoint, pip_extra_index_url=url)
        factory = AwsSessionFactory(local)
        key = generate_key(Path(tmp) / "id_ed25519")
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
                **(QUICK_VARS if quick else {}),
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
            manifest = build_ami(local, request, packer)
        verify_amis(factory, manifest)
        if export:
            manifest = rehearse_export(local, export_observer)
        manifest.extra["rehearsal"] = {"endpoint": endpoint, "ssh_target": target.container}
    return manifest


def rehearse_export(settings: Settings, observer: ExportObserver | None = None) -> BuildManifest:
    """Export the rehearsed AMI to VHD and VMDK through the real export pipeline.

    moto has no ExportImage; the fake from :mod:`xal.local.moto_export` runs the tasks for a few
    seconds and writes small disk images into the emulated bucket, which xal then renames with
    its server-side multipart copy, exactly as against AWS.
    """
    assert settings.aws_endpoint_url is not None
    with moto_export(ExportFakeConfig(duration=REHEARSAL_EXPORT_SECONDS)):
        seed_bucket_stack(settings.aws_endpoint_url, settings.region)
        export_images(settings, ExportRequest(poll=PollPolicy(initial=0.5, maximum=2.0), observer=observer))
    return BuildManifest.load(default_manifest_path(settings.asset_id, "ami"))


def _rehearsal_hash() -> str:
    return os_password_hash(REHEARSAL_OS_PASSWORD)
