"""``xal make-ami-public`` and AMI region copies.

make-ami-public: every AMI tagged with the asset-id, in every enabled region (or the given ones),
gets launch permission ``all``; afterwards each is described again and must report ``Public``.
Snapshots stay private (launching a public EBS-backed AMI does not need them public).

Region copies: ``CopyImage`` with a ClientToken per (asset, AMI, region) and the asset tag set
explicitly on the copy (``CopyImageTags`` is not honoured everywhere, e.g. moto); an existing copy
(same name and tag in the target region) is reused, so a re-run does not copy twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from xal import naming
from xal.aws.errors import describe_error
from xal.aws.images import asset_images, enabled_regions
from xal.aws.ledger import AMI, CREATED, Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tag_list
from xal.errors import NotFoundError, XalError
from xal.export.tasks import Backoff, PollPolicy

log = logging.getLogger(__name__)


def make_ami_public(
    factory: AwsSessionFactory, asset_id: str, regions: list[str] | None = None, workers: int = 8
) -> dict[str, list[str]]:
    """Make every AMI of the asset public; returns {region: [ami, ...]} of the verified public AMIs."""
    from botocore.exceptions import ClientError

    regions = regions or enabled_regions(factory)

    def publish(region: str) -> tuple[str, list[str]]:
        ec2 = factory.client("ec2", region)
        images = asset_images(factory, asset_id, region)
        for image in images:
            if image.get("Public"):
                continue
            log.info("making %s in %s public", image["ImageId"], region)
            try:
                ec2.modify_image_attribute(ImageId=image["ImageId"], LaunchPermission={"Add": [{"Group": "all"}]})
            except ClientError as exc:
                raise XalError(
                    f"making {image['ImageId']} in {region} public failed: {describe_error(exc)} "
                    "(is 'block public access for AMIs' enabled? see aws ec2 get-image-block-public-access-state)"
                ) from None
        ids = [i["ImageId"] for i in images]
        if ids:
            after = ec2.describe_images(ImageIds=ids)["Images"]
            private = [i["ImageId"] for i in after if not i.get("Public")]
            if private:
                raise XalError(f"AMI(s) {', '.join(private)} in {region} are still not public after the change")
        return region, ids

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = {region: ids for region, ids in pool.map(publish, regions) if ids}
    if not found:
        raise NotFoundError(f"no AMI tagged {naming.TAG_KEY}={asset_id} in {', '.join(regions)}")
    return found


def copy_token(asset_id: str, ami_id: str, region: str) -> str:
    return hashlib.sha256(f"xal-copy|{asset_id}|{ami_id}|{region}".encode()).hexdigest()[:64]


def start_copies(
    factory: AwsSessionFactory, asset_id: str, source_region: str, ami_id: str, regions: list[str]
) -> dict[str, str]:
    """Start (or find) the copy of the AMI in each region; returns {region: copy id} without waiting."""
    name = naming.ami_name(asset_id)
    ledger = Ledger(asset_id, factory.settings.aws_endpoint_url)
    copies: dict[str, str] = {}
    for region in dict.fromkeys(r for r in regions if r != source_region):
        ec2 = factory.client("ec2", region)
        existing = [i for i in asset_images(factory, asset_id, region) if i.get("Name") == name]
        if existing:
            copies[region] = existing[0]["ImageId"]
            log.info("AMI copy %s in %s exists already", copies[region], region)
            continue
        ledger.record(AMI, region, name=name, source=ami_id, source_region=source_region)
        new = ec2.copy_image(
            SourceRegion=source_region,
            SourceImageId=ami_id,
            Name=name,
            Description=f"Exasol AI-Lab {asset_id}",
            CopyImageTags=True,
            ClientToken=copy_token(asset_id, ami_id, region),
        )["ImageId"]
        ec2.create_tags(Resources=[new], Tags=tag_list(naming.asset_tags(asset_id, Name=name)))
        ledger.record(AMI, region, id=new, name=name, phase=CREATED)
        copies[region] = new
        log.info("copying %s to %s as %s", ami_id, region, new)
    return copies


def wait_available(
    factory: AwsSessionFactory,
    amis: dict[str, str],
    policy: PollPolicy | None = None,
    sleep: Any = time.sleep,
    clock: Any = time.monotonic,
) -> None:
    """Wait until every {region: ami} is available (backoff polling); tag snapshots of copies."""
    policy = policy or PollPolicy(initial=15, maximum=60, timeout=3 * 3600)
    backoff = Backoff(policy)
    deadline = clock() + policy.timeout
    waiting = dict(amis)
    while waiting:
        for region, ami in list(waiting.items()):
            images = factory.client("ec2", region).describe_images(ImageIds=[ami])["Images"]
            state = images[0].get("State") if images else "missing"
            if state == "available":
                asset = _asset_of(images[0])
                snapshots = [m["Ebs"].get("SnapshotId") for m in images[0].get("BlockDeviceMappings", []) if "Ebs" in m]
                if asset and any(snapshots):
                    factory.client("ec2", region).create_tags(
                        Resources=[s for s in snapshots if s], Tags=tag_list(naming.asset_tags(asset))
                    )
                del waiting[region]
            elif state in ("failed", "deregistered", "error", "missing", "invalid"):
                raise XalError(f"AMI {ami} in {region} is {state}")
        if waiting:
            if clock() > deadline:
                raise XalError(f"AMI(s) {waiting} not available after {policy.timeout:.0f} s")
            sleep(backoff.next())


def _asset_of(image: dict[str, Any]) -> str | None:
    return next((t["Value"] for t in image.get("Tags", []) if t["Key"] == naming.TAG_KEY), None)
