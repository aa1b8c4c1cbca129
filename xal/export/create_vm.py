"""``xal export-vm``: an AMI from a running (development) instance, then the VM export.

On failure the observer gets the asset's inventory (the same search as ``xal show-aws-assets``: it
finds what an earlier run created too) and the error goes on; nothing is deleted silently (``xal
export`` continues; ``xal cleanup`` removes the rest). ``xal create-vm`` is the release graph
without Docker and GitHub (:mod:`xal.release.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

from xal import naming
from xal.assets.inventory import Inventory, Query, find_assets
from xal.aws.errors import describe_error, is_error
from xal.aws.ledger import AMI, CREATED, Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import describe_stack
from xal.aws.tags import tag_specifications, tags_of
from xal.config import Settings
from xal.errors import NotFoundError, UsageError
from xal.export.pipeline import ExportRequest, ExportResult, export_images
from xal.export.publish import wait_available
from xal.export.tasks import PollPolicy
from xal.manifest import BuildManifest, GitInfo, default_manifest_path

log = logging.getLogger(__name__)
AMI_WAIT = PollPolicy(initial=15.0, factor=1.5, maximum=60.0, timeout=3 * 3600.0)


@dataclass(frozen=True)
class ExportVmRequest:
    instance_id: str | None = None
    stack_name: str | None = None
    export: ExportRequest = field(default_factory=ExportRequest)
    no_reboot: bool = False
    ami_wait: PollPolicy = AMI_WAIT


class Observer(Protocol):
    def left_behind(self, inventory: Inventory) -> None:
        """The run failed or was interrupted; ``inventory`` is what exists of the asset now (all kept)."""


class _Quiet:
    def left_behind(self, inventory: Inventory) -> None:
        pass


@contextmanager
def _report_on_failure(
    factory: AwsSessionFactory, asset_id: str, regions: list[str], bucket: str | None, observer: Observer
) -> Iterator[None]:
    try:
        yield
    except BaseException:
        try:  # without --bucket, find_assets looks the VM bucket up in the bucket stack itself
            inventory = find_assets(factory, Query(pattern=asset_id, regions=tuple(regions), bucket=bucket))
        except Exception as exc:  # the report is best effort; the original error matters
            log.warning("could not list what the run left behind: %s", describe_error(exc))
        else:
            observer.left_behind(inventory)
        raise


def instance_of_stack(factory: AwsSessionFactory, stack_name: str) -> str:
    """The EC2 instance a CloudFormation stack created."""
    if describe_stack(factory, stack_name) is None:
        raise NotFoundError(f"stack {stack_name} not found in {factory.settings.region}")
    resources = factory.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    instances = [r.get("PhysicalResourceId") for r in resources if r.get("ResourceType") == "AWS::EC2::Instance"]
    instances = [i for i in instances if i]
    if len(instances) != 1:
        raise NotFoundError(f"stack {stack_name} has {len(instances)} EC2 instances; pass --instance-id")
    return instances[0]


def image_from_instance(
    factory: AwsSessionFactory, asset_id: str, instance_id: str, no_reboot: bool = False, wait: PollPolicy = AMI_WAIT
) -> str:
    """CreateImage from the instance (or the AMI an earlier run made from it), waited until available."""
    from botocore.exceptions import ClientError

    ec2 = factory.client("ec2")
    name = naming.ami_name(asset_id)
    try:
        ec2.describe_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if is_error(exc, pattern=r"^InvalidInstanceID"):
            raise NotFoundError(f"instance {instance_id} not found in {factory.settings.region}") from None
        raise
    existing = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    if existing:
        image = existing[0]
        tags = tags_of(image)
        if tags.get(naming.TAG_KEY) != asset_id:
            raise UsageError(f"an AMI named {name} exists already ({image['ImageId']}) and is not tagged {asset_id}")
        log.info("reusing %s (%s) from an earlier run", image["ImageId"], name)
        ami = image["ImageId"]
    else:
        ledger = Ledger(asset_id, factory.settings.aws_endpoint_url)
        ledger.record(AMI, factory.settings.region, name=name, instance=instance_id)
        ami = ec2.create_image(
            InstanceId=instance_id,
            Name=name,
            Description=f"Exasol AI-Lab {asset_id} from {instance_id}",
            NoReboot=no_reboot,
            TagSpecifications=tag_specifications(naming.asset_tags(asset_id), "image"),
        )["ImageId"]
        ledger.record(AMI, factory.settings.region, id=ami, name=name, phase=CREATED)
        log.info("creating %s from %s", ami, instance_id)
    # snapshots are tagged once the AMI is available (wait_available), not via TagSpecifications:
    # moto rejects snapshot tag specifications on CreateImage
    wait_available(factory, {factory.settings.region: ami}, wait)
    return ami


def export_vm(
    settings: Settings,
    request: ExportVmRequest,
    factory: AwsSessionFactory | None = None,
    observer: Observer | None = None,
) -> ExportResult:
    if bool(request.instance_id) == bool(request.stack_name):
        raise UsageError("give exactly one of --instance-id and --stack-name")
    factory = factory or AwsSessionFactory(settings)
    asset, region = settings.asset_id, settings.region
    path = request.export.manifest_path or default_manifest_path(asset, "ami")
    with _report_on_failure(factory, asset, [region], request.export.bucket, observer or _Quiet()):
        instance = request.instance_id or instance_of_stack(factory, request.stack_name)  # type: ignore[arg-type]
        ami = image_from_instance(factory, asset, instance, request.no_reboot, request.ami_wait)
        if not path.is_file():
            BuildManifest(
                asset_id=asset,
                kind="ami",
                git=GitInfo(None, None),
                packer_version="",
                region=region,
                amis={region: ami},
                extra={"source_instance": instance},
            ).write(path)
        return export_images(
            settings, replace(request.export, ami_ids=(ami,), asset_ids=(asset,), manifest_path=path), factory
        )
