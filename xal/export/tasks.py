"""EC2 export-image tasks: start one idempotently, describe many at once, back off between polls.

There is no boto3 waiter for ExportImage, so the scheduler polls ``DescribeExportImageTasks``
itself: one call per region for all tasks of that region, with a growing interval. Throttling
during polling is not an error, only a reason to wait longer.

Idempotency: the ClientToken is derived from (asset-id, AMI, format, attempt). A retried call (by
botocore, or by re-running xal after a crash between request and response) sends the same token
and AWS returns the task it already started instead of a twin. ``attempt`` counts the earlier
tasks of the same job that ended (failed, or completed but their file is gone), so a deliberate
re-run after a failure gets a fresh token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from xal import defaults, naming
from xal.aws.export_tasks import FORMAT_TAG, RELEASE_AMI_TAG, TaskState
from xal.aws.ledger import CREATED, EXPORT_TASK, Ledger
from xal.aws.tags import tag_list
from xal.errors import UsageError
from xal.naming import VmFormat

THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled"}
)
LIMIT_CODES = frozenset({"ResourceLimitExceeded"})


@dataclass(frozen=True)
class ExportJob:
    """One disk image to produce: an AMI of an asset in a region, in one format."""

    asset_id: str
    ami_id: str  # the release AMI: names, resume and the manifest refer to it
    region: str
    fmt: VmFormat
    source_ami: str | None = None  # the AMI actually exported: a sibling of ami_id (see siblings.py)

    @property
    def export_ami(self) -> str:
        return self.source_ami or self.ami_id

    @property
    def label(self) -> str:
        return f"{self.asset_id} {self.ami_id} {self.fmt.value}"


@dataclass(frozen=True)
class ExportTarget:
    """Where exports go: the VM bucket, the vmimport role, the CDN that serves the bucket."""

    bucket: str
    role_name: str
    cdn_domain: str | None = None


def client_token(job: ExportJob, attempt: int) -> str:
    """Deterministic idempotency token (AWS allows 64 ASCII characters)."""
    seed = f"xal-export|{job.asset_id}|{job.ami_id}|{job.fmt.value}|{attempt}"
    if job.export_ami != job.ami_id:  # a sibling: another AMI is another request (same token = mismatch)
        seed += f"|{job.export_ami}"
    return hashlib.sha256(seed.encode()).hexdigest()[:64]


def start_export(
    ec2: Any, job: ExportJob, target: ExportTarget, attempt: int = 0, ledger: Ledger | None = None
) -> TaskState:
    """ExportImage for one job, tagged with the asset-id and the format (recorded in ``ledger`` first)."""
    where = {"image": job.export_ami, "format": job.fmt.value, "bucket": target.bucket}
    if ledger is not None:
        ledger.record(EXPORT_TASK, job.region, **where, prefix=naming.s3_prefix(job.asset_id))
    response = ec2.export_image(
        ImageId=job.export_ami,
        DiskImageFormat=job.fmt.value,
        RoleName=target.role_name,
        S3ExportLocation={"S3Bucket": target.bucket, "S3Prefix": naming.s3_prefix(job.asset_id)},
        Description=f"Exasol AI-Lab {job.asset_id} {job.fmt.value} from {job.export_ami}",
        ClientToken=client_token(job, attempt),
        TagSpecifications=[
            {
                "ResourceType": "export-image-task",
                "Tags": tag_list(
                    naming.asset_tags(job.asset_id, **{FORMAT_TAG: job.fmt.value, RELEASE_AMI_TAG: job.ami_id})
                ),
            }
        ],
    )
    state = TaskState.of(response)
    if ledger is not None:
        ledger.record(EXPORT_TASK, job.region, id=state.task_id, phase=CREATED, **where)
    return state


def describe_tasks(ec2: Any, task_ids: list[str]) -> dict[str, TaskState]:
    """Current state of the given tasks, in one call."""
    if not task_ids:
        return {}
    raw = ec2.describe_export_image_tasks(ExportImageTaskIds=task_ids)["ExportImageTasks"]
    return {t["ExportImageTaskId"]: TaskState.of(t) for t in raw}


def list_tasks(ec2: Any) -> list[TaskState]:
    """Every export-image task the region still knows (paginated)."""
    tasks: list[TaskState] = []
    for page in ec2.get_paginator("describe_export_image_tasks").paginate():
        tasks.extend(TaskState.of(t) for t in page.get("ExportImageTasks", []))
    return tasks


@dataclass(frozen=True)
class PollPolicy:
    """Polling intervals (seconds): start at ``initial``, grow by ``factor`` up to ``maximum``.

    ``timeout`` bounds how long one task may stay active before xal stops waiting (the task keeps
    running in AWS; re-running the command resumes it).
    """

    initial: float = defaults.EXPORT_POLL_INITIAL_SECONDS
    factor: float = 1.5
    maximum: float = defaults.EXPORT_POLL_MAX_SECONDS
    timeout: float = defaults.EXPORT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.timeout <= 0 or self.factor < 1:
            raise UsageError("need 0 < --poll-interval <= --poll-max-interval and --timeout > 0")


class Backoff:
    """The growing poll interval of one region; throttling doubles it, a new task resets it."""

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self.current = policy.initial

    def next(self) -> float:
        delay = self.current
        self.current = min(self.policy.maximum, self.current * self.policy.factor)
        return delay

    def throttled(self) -> float:
        self.current = min(self.policy.maximum, max(self.current, self.policy.initial) * 2)
        return self.current

    def reset(self) -> None:
        self.current = self.policy.initial
