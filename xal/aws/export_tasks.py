"""What EC2 says about an export-image task, parsed once for the export pipeline and the inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xal import naming
from xal.aws.tags import tags_of
from xal.naming import VmFormat

ACTIVE = "active"
COMPLETED = "completed"
FORMAT_TAG = "exa_ai_lab_format"  # second tag on export tasks: which format a task produces
RELEASE_AMI_TAG = "exa_ai_lab_source_ami"  # the release AMI a task's image belongs to (it may export a sibling)


@dataclass
class TaskState:
    """What DescribeExportImageTasks says about one task."""

    task_id: str
    status: str
    image_id: str | None = None
    progress: int | None = None
    message: str = ""
    bucket: str | None = None
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> TaskState:
        progress = raw.get("Progress")
        loc = raw.get("S3ExportLocation") or {}
        return cls(
            task_id=raw["ExportImageTaskId"],
            status=raw.get("Status", ""),
            image_id=raw.get("ImageId"),
            progress=int(progress) if progress not in (None, "") else None,
            message=raw.get("StatusMessage", "") or "",
            bucket=loc.get("S3Bucket"),
            prefix=loc.get("S3Prefix", "") or "",
            tags=tags_of(raw),
        )

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def failed(self) -> bool:
        """Ended without a result: ``deleting``/``deleted`` (AWS's failure states) or anything unknown."""
        return not (self.active or self.completed)

    @property
    def asset_id(self) -> str | None:
        return self.tags.get(naming.TAG_KEY)

    @property
    def release_ami(self) -> str | None:
        """The release AMI this task exports (a sibling's task names it in a tag)."""
        return self.tags.get(RELEASE_AMI_TAG) or self.image_id

    @property
    def fmt(self) -> VmFormat | None:
        value = self.tags.get(FORMAT_TAG, "").upper()
        return VmFormat(value) if value in VmFormat.__members__ else None
