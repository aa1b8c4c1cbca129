"""The rehearsal AMI's disk: the provisioned machine stand-in, committed as a local image.

In a rehearsal, moto registers the AMI but holds no disk; the machine the playbook provisioned is
that disk. After the build it is shut down the way Packer stops the instance before CreateImage
(systemd's orderly halt, so the shutdown writes what it would write on EC2) and committed as an
image labelled with the AMI id and the asset tag, so anything can boot "an instance of the AMI"
later: the first-boot test, and the VM export.
"""

from __future__ import annotations

import json
import subprocess

from xal.errors import NotFoundError, XalError
from xal.naming import TAG_KEY

AMI_LABEL = "org.exasol.xal.ami-id"
AMIS_LABEL = "org.exasol.xal.amis"  # region:ami,region:ami of the build, copies included
REPOSITORY = "xal-rehearsal-ami"
STOP_TIMEOUT_SECONDS = 60


def image_tag(asset_id: str, ami_id: str) -> str:
    return f"{REPOSITORY}:{asset_id}-{ami_id}".lower()


def commit_ami_image(container: str, asset_id: str, amis: dict[str, str], ami_id: str) -> str:
    """Halt ``container`` (as StopInstances does) and commit it as the image of ``ami_id``; its tag."""
    stop = subprocess.run(
        ["docker", "stop", "--time", str(STOP_TIMEOUT_SECONDS), container], capture_output=True, text=True, check=False
    )
    if stop.returncode != 0:
        raise XalError(f"stopping the stand-in {container} failed: {stop.stderr.strip()}")
    tag = image_tag(asset_id, ami_id)
    changes = [f"LABEL {AMI_LABEL}={ami_id}", f"LABEL {TAG_KEY}={asset_id}", f"LABEL {AMIS_LABEL}={_amis_label(amis)}"]
    argv = ["docker", "commit", *(arg for change in changes for arg in ("--change", change)), container, tag]
    committed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if committed.returncode != 0:
        raise XalError(f"committing the stand-in {container} as {tag} failed: {committed.stderr.strip()}")
    return tag


def _amis_label(amis: dict[str, str]) -> str:
    return ",".join(f"{region}:{ami}" for region, ami in sorted(amis.items()))


def find_ami_image(ami_id: str) -> str:
    """The local image of a rehearsal AMI (any region's id of the build); NotFoundError otherwise."""
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if listed:
        inspected = subprocess.run(["docker", "image", "inspect", *listed], capture_output=True, text=True, check=False)
        for tag, image in zip(listed, json.loads(inspected.stdout or "[]"), strict=False):
            labels = (image.get("Config") or {}).get("Labels") or {}
            if ami_id in (entry.partition(":")[2] for entry in labels.get(AMIS_LABEL, "").split(",")):
                return tag
    raise NotFoundError(f"no local image of rehearsal AMI {ami_id} (a rehearsal commits one; see xal rehearse)")


def remove_asset_images(asset_id: str, keep: str | None = None) -> list[str]:
    """Remove the local AMI images of ``asset_id`` (an earlier rehearsal's), except ``keep``."""
    listed = subprocess.run(
        ["docker", "image", "ls", "--filter", f"label={TAG_KEY}={asset_id}", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = [tag for tag in listed.stdout.split() if tag.startswith(f"{REPOSITORY}:") and tag != keep]
    if removed:
        subprocess.run(["docker", "image", "rm", "-f", *removed], capture_output=True, check=False)
    return removed
