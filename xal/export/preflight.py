"""Checks before any export task starts, so a doomed export fails in seconds with a clear message
instead of after an hour with a terse StatusMessage.

ExportImage needs: an available, unencrypted AMI in the bucket's region; an existing bucket that
is not encrypted with SSE-KMS (the export service cannot use the key); the ``vmimport`` service
role. Bucket, role and CDN domain come from the bucket stack's outputs unless given explicitly.
"""

from __future__ import annotations

import logging
from typing import Any

from xal import naming
from xal.aws import stacks
from xal.aws.errors import error_code
from xal.aws.images import asset_images
from xal.aws.session import AwsSessionFactory
from xal.errors import NotFoundError, UsageError, XalError
from xal.export.tasks import ExportTarget

log = logging.getLogger(__name__)
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def resolve_target(
    factory: AwsSessionFactory,
    bucket: str | None = None,
    role_name: str | None = None,
    cdn_domain: str | None = None,
) -> ExportTarget:
    """Explicit options win; whatever is missing comes from the bucket stack's outputs."""
    if bucket and role_name:
        return ExportTarget(bucket, role_name, cdn_domain)
    name = naming.PERMANENT_STACKS["bucket"]
    try:
        outputs = stacks.stack_outputs(factory, name)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc}; or pass --bucket and --role-name") from None
    bucket = bucket or outputs.get(stacks.OUT_BUCKET)
    role_name = role_name or outputs.get(stacks.OUT_EXPORT_ROLE)
    cdn_domain = cdn_domain or outputs.get(stacks.OUT_DISTRIBUTION_DOMAIN)
    missing = [o for o, v in ((stacks.OUT_BUCKET, bucket), (stacks.OUT_EXPORT_ROLE, role_name)) if not v]
    if missing:
        raise NotFoundError(f"stack {name} has no output {', '.join(missing)}; pass --bucket/--role-name")
    if not cdn_domain:
        log.warning("no CDN domain (stack output %s); VM image URLs are left empty", stacks.OUT_DISTRIBUTION_DOMAIN)
    return ExportTarget(bucket, role_name, cdn_domain)  # type: ignore[arg-type]


def find_asset_ami(factory: AwsSessionFactory, asset_id: str, region: str | None = None) -> str:
    """The one AMI of the asset in the region (by tag)."""
    where = region or factory.settings.region
    images = asset_images(factory, asset_id, where)
    if not images:
        raise NotFoundError(f"no AMI tagged {naming.TAG_KEY}={asset_id} in {where}; build it first or pass --ami-id")
    if len(images) > 1:
        ids = ", ".join(sorted(i["ImageId"] for i in images))
        raise UsageError(f"several AMIs are tagged {naming.TAG_KEY}={asset_id} in {where} ({ids}); pass --ami-id")
    return images[0]["ImageId"]


def check_amis(factory: AwsSessionFactory, ami_ids: list[str], region: str | None = None) -> dict[str, dict[str, Any]]:
    """Each AMI exists, is available and has no encrypted volume; returns the descriptions."""
    from botocore.exceptions import ClientError

    where = region or factory.settings.region
    ec2 = factory.client("ec2", where)
    found: dict[str, dict[str, Any]] = {}
    for ami in ami_ids:
        try:
            images = ec2.describe_images(ImageIds=[ami])["Images"]
        except ClientError as exc:
            if error_code(exc).startswith("InvalidAMIID"):
                images = []
            else:
                raise
        if not images:
            raise NotFoundError(f"AMI {ami} not found in {where} (an export needs the AMI in the bucket's region)")
        image = images[0]
        if image.get("State") != "available":
            raise XalError(f"AMI {ami} is {image.get('State')}, not available; wait for it or rebuild it")
        encrypted = [
            m.get("DeviceName", "?") for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("Encrypted")
        ]
        if encrypted:
            raise XalError(
                f"AMI {ami} has encrypted volumes ({', '.join(encrypted)}); EC2 cannot export encrypted AMIs - "
                "copy it unencrypted or rebuild it without encryption"
            )
        found[ami] = image
    return found


def check_bucket(factory: AwsSessionFactory, bucket: str, region: str | None = None) -> None:
    """The bucket exists, lives in the export region and is not encrypted with SSE-KMS."""
    from botocore.exceptions import ClientError

    where = region or factory.settings.region
    s3 = factory.client("s3", where)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise NotFoundError(f"bucket {bucket} does not exist (deploy the bucket stack or pass --bucket)") from None
        if error_code(exc) in ("403", "AccessDenied"):
            raise XalError(f"no access to bucket {bucket}: {exc}") from None
        raise
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    if location != where:
        raise UsageError(f"bucket {bucket} is in {location}, but the AMIs are exported in {where}; use --region")
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return
        raise
    for rule in rules:
        algorithm = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "")
        if algorithm in KMS_ALGORITHMS:
            raise XalError(
                f"bucket {bucket} uses SSE-KMS ({algorithm}); VM export cannot write to it - use SSE-S3 (AES256)"
            )


def check_role(factory: AwsSessionFactory, role_name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        factory.client("iam").get_role(RoleName=role_name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise NotFoundError(
                f"IAM role {role_name} does not exist; VM export needs the vmimport service role "
                "(deploy the bucket stack or pass --role-name)"
            ) from None
        raise


def preflight(factory: AwsSessionFactory, target: ExportTarget, ami_ids: list[str]) -> dict[str, dict[str, Any]]:
    """All checks; returns the AMI descriptions."""
    images = check_amis(factory, ami_ids)
    check_bucket(factory, target.bucket)
    check_role(factory, target.role_name)
    return images
