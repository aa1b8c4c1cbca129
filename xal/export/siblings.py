"""Sibling AMIs: one short-lived AMI per extra format, so one release AMI exports in parallel.

AWS runs only one export-image task per AMI at a time ("You can't have multiple export image
tasks in progress for the same AMI at the same time", VM Import/Export User Guide, considerations
for image export), so VHD, VMDK and RAW of one AMI would run one after the other. A sibling is
registered from the *same snapshots* (RegisterImage with the original's block device mapping,
architecture, boot mode, ENA/SR-IOV support, root device, virtualization type and IMDS support):
an AMI costs nothing but its snapshots, which the siblings share, so each format gets its own AMI
and all exports run at once within the per-region limit.

Every sibling is recorded in the run ledger before RegisterImage, tagged at creation with the
asset-id, :data:`ROLE_TAG` = ``export-sibling``, the release AMI and the format, and found again
by those tags: a re-run reuses it, ``xal show-aws-assets`` lists it, ``xal cleanup`` removes it.
It is deregistered as soon as its export task has ended; never its snapshots, which belong to the
release AMI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from xal import naming
from xal.aws.errors import describe_error, is_not_found
from xal.aws.export_tasks import FORMAT_TAG, RELEASE_AMI_TAG
from xal.aws.ledger import AMI, CREATED, ENDED, Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tag_specifications, tags_of
from xal.errors import XalError
from xal.export.tasks import Backoff, PollPolicy
from xal.naming import VmFormat

log = logging.getLogger(__name__)

ROLE_TAG = naming.ROLE_TAG
SIBLING_ROLE = naming.EXPORT_SIBLING_ROLE
SOURCE_AMI_TAG = RELEASE_AMI_TAG  # on a sibling (and its export task): the release AMI
# the attributes of the original a sibling must repeat (DescribeImages name -> RegisterImage name)
COPIED = ("Architecture", "BootMode", "EnaSupport", "SriovNetSupport", "RootDeviceName", "VirtualizationType")
EBS_FIELDS = ("SnapshotId", "VolumeSize", "VolumeType", "DeleteOnTermination", "Iops", "Throughput")
SIBLING_WAIT = PollPolicy(initial=2.0, factor=1.5, maximum=15.0, timeout=1800.0)


def sibling_name(asset_id: str, fmt: VmFormat) -> str:
    return f"{naming.ami_name(asset_id)}-export-{fmt.extension}"


def is_sibling(image: dict[str, Any]) -> bool:
    return tags_of(image).get(ROLE_TAG) == SIBLING_ROLE


def block_device_mappings(image: dict[str, Any]) -> list[dict[str, Any]]:
    """The original's mappings as RegisterImage takes them: the same snapshots, sizes and types."""
    mappings = []
    for mapping in image.get("BlockDeviceMappings", []):
        entry: dict[str, Any] = {"DeviceName": mapping["DeviceName"]}
        if "Ebs" in mapping:
            entry["Ebs"] = {k: v for k, v in mapping["Ebs"].items() if k in EBS_FIELDS and v is not None}
        elif "VirtualName" in mapping:
            entry["VirtualName"] = mapping["VirtualName"]
        elif "NoDevice" in mapping:
            entry["NoDevice"] = mapping["NoDevice"]
        mappings.append(entry)
    return mappings


def register_arguments(image: dict[str, Any], asset_id: str, fmt: VmFormat) -> dict[str, Any]:
    """RegisterImage arguments for the sibling of ``image`` that exports ``fmt``."""
    args: dict[str, Any] = {k: image[k] for k in COPIED if image.get(k) not in (None, "")}
    if image.get("ImdsSupport"):
        args["ImdsSupport"] = image["ImdsSupport"]
    tags = naming.asset_tags(
        asset_id, Name=sibling_name(asset_id, fmt), **{ROLE_TAG: SIBLING_ROLE, SOURCE_AMI_TAG: image["ImageId"]}
    )
    tags[FORMAT_TAG] = fmt.value
    return {
        **args,
        "Name": sibling_name(asset_id, fmt),
        "Description": f"Exasol AI-Lab {asset_id}: export sibling of {image['ImageId']} for {fmt.value}",
        "BlockDeviceMappings": block_device_mappings(image),
        "TagSpecifications": tag_specifications(tags, "image"),
    }


def find_siblings(ec2: Any, ami_id: str) -> dict[VmFormat, dict[str, Any]]:
    """The registered siblings of ``ami_id`` by format (pending or available)."""
    images = ec2.describe_images(
        Owners=["self"],
        Filters=[
            {"Name": f"tag:{SOURCE_AMI_TAG}", "Values": [ami_id]},
            {"Name": f"tag:{ROLE_TAG}", "Values": [SIBLING_ROLE]},
        ],
    )["Images"]
    found: dict[VmFormat, dict[str, Any]] = {}
    for image in images:
        fmt = tags_of(image).get(FORMAT_TAG, "")
        if fmt in VmFormat.__members__ and image.get("State") in ("pending", "available"):
            found[VmFormat(fmt)] = image
    return found


def ensure_siblings(
    factory: AwsSessionFactory,
    asset_id: str,
    region: str,
    image: dict[str, Any],
    formats: list[VmFormat],
    *,
    wait: PollPolicy = SIBLING_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[VmFormat, str]:
    """A sibling of ``image`` for each of ``formats`` (reused when a run made it before), available."""
    if not formats:
        return {}
    ec2 = factory.client("ec2", region)
    ledger = Ledger(asset_id, factory.settings.aws_endpoint_url)
    existing = find_siblings(ec2, image["ImageId"])
    ids: dict[VmFormat, str] = {}
    for fmt in formats:
        if fmt in existing:
            ids[fmt] = existing[fmt]["ImageId"]
            log.info("reusing sibling %s of %s for %s", ids[fmt], image["ImageId"], fmt.value)
            continue
        name = sibling_name(asset_id, fmt)
        ledger.record(AMI, region, name=name, role=SIBLING_ROLE, source=image["ImageId"], format=fmt.value)
        ids[fmt] = ec2.register_image(**register_arguments(image, asset_id, fmt))["ImageId"]
        ledger.record(AMI, region, id=ids[fmt], name=name, phase=CREATED, role=SIBLING_ROLE)
        log.info("registered sibling %s of %s for %s", ids[fmt], image["ImageId"], fmt.value)
    _wait_available(ec2, list(ids.values()), wait, sleep)
    return ids


def _wait_available(ec2: Any, amis: list[str], policy: PollPolicy, sleep: Callable[[float], None]) -> None:
    backoff, deadline = Backoff(policy), time.monotonic() + policy.timeout
    waiting = set(amis)
    while waiting:
        for image in ec2.describe_images(ImageIds=sorted(waiting))["Images"]:
            if image.get("State") == "available":
                waiting.discard(image["ImageId"])
            elif image.get("State") != "pending":
                raise XalError(f"sibling AMI {image['ImageId']} is {image.get('State')}; run xal cleanup and retry")
        if waiting:
            if time.monotonic() > deadline:
                late = ", ".join(sorted(waiting))
                raise XalError(f"sibling AMI(s) {late} not available after {policy.timeout:.0f} s")
            sleep(backoff.next())


def retire(factory: AwsSessionFactory, asset_id: str, region: str, sibling_id: str) -> None:
    """Deregister a sibling (its snapshots stay: they are the release AMI's); gone already is fine."""
    from botocore.exceptions import ClientError

    try:
        factory.client("ec2", region).deregister_image(ImageId=sibling_id)
    except ClientError as exc:
        if not is_not_found(exc) and "Unavailable" not in describe_error(exc):
            raise
    Ledger(asset_id, factory.settings.aws_endpoint_url).record(AMI, region, id=sibling_id, phase=ENDED)
    log.info("deregistered sibling %s", sibling_id)
