"""Names and tags of everything xal creates, derived from one asset-id.

One module owns the naming scheme so that builds, exports, asset listings and cleanup agree on
what belongs to an asset. The scheme keeps upstream's names (``Exasol-AI-Lab-<id>``, tag key
``exa_ai_lab_id``, S3 prefix ``ai_lab/<id>/``) so existing releases stay discoverable.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum

from xal import defaults
from xal.errors import UsageError

TAG_KEY = "exa_ai_lab_id"
# upstream's owner and project tags (its EC2 stack template): who started the run, which project
OWNER_TAG = "exasol:owner"
PROJECT_TAG = "exasol:project"
ROLE_TAG = "exa_ai_lab_role"  # what a resource is for, where the asset has several of a kind
EXPORT_SIBLING_ROLE = "export-sibling"  # a short-lived AMI on the release AMI's snapshots (export/siblings.py)
OWNER_ENV = "AWS_USER_NAME"  # upstream's variable: a label, needed under roles where iam:GetUser fails
UNKNOWN_OWNER = "unknown"
_owner: list[str] = []  # the caller identity's name, once xal.aws.identity has looked it up
AMI_NAME_PREFIX = "Exasol-AI-Lab-"
S3_PREFIX_ROOT = "ai_lab"
VM_IMAGE_STEM = "exasol-ai-lab-"
ASSET_ID_MAX = 64

# Letters, digits, dot, dash, underscore; starting with a letter or digit. Everything else breaks
# at least one consumer: '/' and spaces S3 keys and stack names, '*'/'?' tag filters and fnmatch,
# ':' and '@' CloudFormation stack names, and AMI names reject most punctuation.
_ASSET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_STACK_UNSAFE = re.compile(r"[._]")

PERMANENT_STACKS = {
    "waf": "XAL-VM-BUCKET-WAF",
    "bucket": "XAL-VM-BUCKET",
    "ci": "XAL-CI-CODEBUILD",
    "release": "XAL-RELEASE-CODEBUILD",
}


class VmFormat(StrEnum):
    """Disk formats EC2 ExportImage can write."""

    VMDK = "VMDK"
    VHD = "VHD"
    RAW = "RAW"

    @property
    def extension(self) -> str:
        return self.value.lower()


DEFAULT_VM_FORMATS = (VmFormat.VHD, VmFormat.VMDK)


def validate_asset_id(asset_id: str) -> str:
    """Return the asset-id unchanged, or raise a UsageError that says what is wrong with it."""
    if not asset_id:
        raise UsageError("asset-id must not be empty")
    if len(asset_id) > ASSET_ID_MAX:
        raise UsageError(f"asset-id {asset_id!r} is {len(asset_id)} characters long; at most {ASSET_ID_MAX} allowed")
    if not _ASSET_ID.fullmatch(asset_id):
        bad = sorted({c for c in asset_id if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
        detail = f"characters {''.join(bad)!r} are not allowed" if bad else "it must start with a letter or digit"
        raise UsageError(
            f"invalid asset-id {asset_id!r}: {detail} "
            "(use letters, digits, '.', '-' and '_'; it becomes part of AMI names, S3 keys and stack names)"
        )
    return asset_id


def ami_name(asset_id: str) -> str:
    return AMI_NAME_PREFIX + validate_asset_id(asset_id)


def s3_prefix(asset_id: str) -> str:
    """Folder of an asset's VM images in the VM bucket, with trailing slash (ExportImage's S3Prefix)."""
    return f"{S3_PREFIX_ROOT}/{validate_asset_id(asset_id)}/"


def vm_image_name(asset_id: str, fmt: VmFormat) -> str:
    """File name of an exported disk image, in the bucket and as a user downloads it."""
    return f"{VM_IMAGE_STEM}{asset_id}.{fmt.extension}"


def vm_image_key(asset_id: str, fmt: VmFormat) -> str:
    """Final S3 key of an exported disk image."""
    return f"{s3_prefix(asset_id)}{vm_image_name(asset_id, fmt)}"


SUMS_FILE = "SHA256SUMS"  # the images' SHA-256 in `sha256sum -c` format, next to them


def sums_key(asset_id: str) -> str:
    """S3 key of the asset's SHA256SUMS, next to its VM images."""
    return f"{s3_prefix(asset_id)}{SUMS_FILE}"


def export_task_key(asset_id: str, task_id: str, fmt: VmFormat) -> str:
    """S3 key AWS writes an export task's result to, before xal renames it."""
    return f"{s3_prefix(asset_id)}{task_id}.{fmt.extension}"


def owner() -> str:
    """Who runs xal, for the owner tag: ``AWS_USER_NAME``, else the caller identity looked up once
    by :func:`xal.aws.identity.resolve_owner`, else ``unknown``."""
    return os.environ.get(OWNER_ENV) or (_owner[-1] if _owner else UNKNOWN_OWNER)


def set_owner(name: str) -> None:
    """Remember the caller identity's name (the AWS layer looks it up; naming cannot call AWS)."""
    _owner[:] = [name]


def asset_tags(asset_id: str, **more: str) -> dict[str, str]:
    """The tags every resource of the asset carries - the asset-id, upstream's owner and project
    tags - plus ``more`` (e.g. ``Name``). The one place that says which tags a run sets."""
    return {TAG_KEY: validate_asset_id(asset_id), PROJECT_TAG: defaults.PROJECT_TAG_VALUE, OWNER_TAG: owner(), **more}


def stack_safe(asset_id: str) -> str:
    """The asset-id as a CloudFormation stack-name fragment ('.' and '_' become '-')."""
    return _STACK_UNSAFE.sub("-", validate_asset_id(asset_id))


def is_permanent_stack(name: str) -> bool:
    return name in PERMANENT_STACKS.values()
