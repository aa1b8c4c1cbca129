"""``xal cleanup``: delete what belongs to one asset, in dependency order, safe to re-run.

Order: terminate instances (and wait until terminated: they hold volumes, security groups and key
pairs) -> cancel active export tasks (they read the AMI) -> deregister AMIs -> delete snapshots ->
delete volumes -> abort unfinished multipart uploads -> delete S3 objects -> delete key pairs ->
delete security groups -> delete temporary stacks (and wait). Permanent stacks are never touched.

Every resource gets exactly one outcome; "already gone" counts as success, so an interrupted
cleanup is simply run again. A failed deletion is reported with the resource it concerns and the
other deletions go on; the command fails at the end.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from xal import naming
from xal.assets.inventory import Inventory, Query, Resource, find_assets
from xal.aws import ledger as lg
from xal.aws.errors import code_and_message, error_code
from xal.aws.retry import retry_while_in_use
from xal.aws.session import AwsSessionFactory
from xal.errors import NotFoundError, UsageError, XalError

log = logging.getLogger(__name__)

ORDER = (
    lg.INSTANCE,
    lg.EXPORT_TASK,
    lg.AMI,
    lg.SNAPSHOT,
    lg.VOLUME,
    lg.S3_UPLOAD,
    lg.S3_OBJECT,
    lg.KEY_PAIR,
    lg.SECURITY_GROUP,
    lg.STACK,
)
# error codes that mean "it is not there (any more)": the goal of a deletion is reached
GONE_CODES = re.compile(
    r"NotFound|\.Unavailable$|^NoSuch|^InvalidExportTaskID|^InvalidVolume\.NotFound$|^InvalidGroup\.NotFound$"
)
_AGE = re.compile(r"(\d+)\s*([smhd])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

DELETED = "deleted"
WOULD_DELETE = "would delete"
GONE = "already gone"
KEPT = "kept"
FAILED = "failed"


def parse_age(text: str) -> timedelta:
    """``3d``, ``12h``, ``30m``, ``45s`` (also combined: ``1d12h``) as a timedelta."""
    value = text.strip().lower()
    parts = _AGE.findall(value)
    if not parts or _AGE.sub("", value).strip():
        raise UsageError(f"invalid age {text!r}: use a number with s, m, h or d (e.g. 3d, 12h, 1d12h)")
    return sum((timedelta(**{UNITS[u]: int(n)}) for n, u in parts), timedelta())


@dataclass(frozen=True)
class CleanupRequest:
    """What to delete; checks its own values (an exact asset-id, an age like ``3d``)."""

    asset_id: str
    dry_run: bool = False
    keep_released: bool = False
    older_than: timedelta | str | None = None  # a string is parsed with parse_age
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    bucket: str | None = None
    wait_seconds: float = 900.0  # per wait (instances terminated, stacks deleted)
    retry_delay: float = 5.0

    def __post_init__(self) -> None:
        naming.validate_asset_id(self.asset_id)
        if isinstance(self.older_than, str):
            object.__setattr__(self, "older_than", parse_age(self.older_than))


@dataclass
class Action:
    resource: Resource
    outcome: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.resource.to_dict(), "outcome": self.outcome, "message": self.message}


@dataclass
class CleanupReport:
    asset_id: str
    dry_run: bool
    inventory: Inventory
    actions: list[Action] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.actions if a.outcome == outcome)

    @property
    def failed(self) -> list[Action]:
        return [a for a in self.actions if a.outcome == FAILED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "dry_run": self.dry_run,
            "regions": self.inventory.regions,
            "bucket": self.inventory.bucket,
            "actions": [a.to_dict() for a in self.actions],
            "warnings": self.inventory.warnings,
            "summary": {o: self.count(o) for o in (DELETED, WOULD_DELETE, GONE, KEPT, FAILED)},
        }


def _gone(code: str, message: str) -> bool:
    return bool(GONE_CODES.search(code)) or (code == "ValidationError" and "does not exist" in message)


def keep_reason(resource: Resource, request: CleanupRequest, kept_amis: set[str], cutoff: datetime | None) -> str:
    """Why ``resource`` stays, or '' when it goes."""
    if resource.permanent:
        return "permanent stack, never deleted"
    if resource.type == lg.STACK and not resource.name.startswith("xal-"):
        return "not a temporary xal stack (xal-<purpose>-<asset>); delete it yourself if intended"
    if resource.type == lg.EXPORT_TASK and resource.state != "active":
        return f"task is {resource.state or 'ended'}; AWS keeps ended tasks listed, there is nothing to delete"
    if request.keep_released and resource.released:
        return "released (--keep-released)"
    if resource.type == lg.SNAPSHOT and resource.refs.get("ami") in kept_amis:
        return f"belongs to the kept AMI {resource.refs['ami']}"
    if cutoff is not None:
        if resource.created is None:
            return "age unknown (--older-than)"
        if resource.created > cutoff:
            return f"created {resource.created:%Y-%m-%d %H:%M} UTC, newer than --older-than"
    return ""


class _Deleter:
    def __init__(self, factory: AwsSessionFactory, request: CleanupRequest, sleep: Callable[[float], None]) -> None:
        self.factory = factory
        self.request = request
        self.sleep = sleep

    def ec2(self, r: Resource) -> Any:
        return self.factory.client("ec2", r.region)

    def call(self, r: Resource, fn: Callable[[], Any]) -> tuple[str, str]:
        """Run one deletion, retried while the resource is still in use; returns (outcome, message)."""
        from botocore.exceptions import BotoCoreError, ClientError

        def retrying(exc: BaseException) -> None:
            log.info("%s %s: %s, retrying", r.type, r.id, error_code(exc))

        try:
            retry_while_in_use(fn, attempts=6, delay=self.request.retry_delay, on_retry=retrying, sleep=self.sleep)
        except ClientError as exc:
            code, message = code_and_message(exc)
            if _gone(code, message):
                return GONE, code
            return FAILED, f"{code}: {message}"
        except BotoCoreError as exc:
            return FAILED, str(exc)
        return DELETED, ""

    # one function per type -------------------------------------------------------------------
    def instances(self, items: list[Resource]) -> list[tuple[str, str]]:
        results = []
        for r in items:
            results.append(self.call(r, lambda r=r: self.ec2(r).terminate_instances(InstanceIds=[r.id])))
        by_region: dict[str, list[str]] = {}
        for r, (outcome, _) in zip(items, results, strict=True):
            if outcome == DELETED:
                by_region.setdefault(r.region, []).append(r.id)
        for region, ids in by_region.items():
            self.wait("instance_terminated", self.factory.client("ec2", region), InstanceIds=ids)
        return results

    def export_task(self, r: Resource) -> tuple[str, str]:
        outcome, message = self.call(r, lambda: self.ec2(r).cancel_export_task(ExportTaskId=r.id))
        if outcome == FAILED and message.startswith("IncorrectState"):
            return GONE, "ended before it could be cancelled"
        return outcome, message

    def ami(self, r: Resource) -> tuple[str, str]:
        return self.call(r, lambda: self.ec2(r).deregister_image(ImageId=r.id))

    def snapshot(self, r: Resource) -> tuple[str, str]:
        return self.call(r, lambda: self.ec2(r).delete_snapshot(SnapshotId=r.id))

    def volume(self, r: Resource) -> tuple[str, str]:
        return self.call(r, lambda: self.ec2(r).delete_volume(VolumeId=r.id))

    def s3_upload(self, r: Resource) -> tuple[str, str]:
        s3 = self.factory.client("s3")
        return self.call(
            r,
            lambda: s3.abort_multipart_upload(Bucket=r.refs["bucket"], Key=r.refs["key"], UploadId=r.refs["upload_id"]),
        )

    def s3_objects(self, items: list[Resource]) -> list[tuple[str, str]]:
        """DeleteObjects in batches of 1000; per-key errors are reported per object."""
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = self.factory.client("s3")
        results: dict[str, tuple[str, str]] = {}
        for bucket in dict.fromkeys(r.refs["bucket"] for r in items):
            keys = [r.refs["key"] for r in items if r.refs["bucket"] == bucket]
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                try:
                    response = s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                    )
                except (ClientError, BotoCoreError) as exc:
                    code, message = code_and_message(exc)
                    outcome = (GONE, code) if _gone(code, message) else (FAILED, f"{code}: {message}")
                    results.update({f"{bucket}/{k}": outcome for k in batch})
                    continue
                errors = {e["Key"]: e for e in response.get("Errors", [])}
                for k in batch:
                    e = errors.get(k)
                    results[f"{bucket}/{k}"] = (DELETED, "") if e is None else (FAILED, f"{e['Code']}: {e['Message']}")
        return [results[f"{r.refs['bucket']}/{r.refs['key']}"] for r in items]

    def key_pair(self, r: Resource) -> tuple[str, str]:
        # by name: moto ignores KeyPairId, and AWS accepts both (deleting a missing name succeeds)
        if r.name:
            return self.call(r, lambda: self.ec2(r).delete_key_pair(KeyName=r.name))
        return self.call(r, lambda: self.ec2(r).delete_key_pair(KeyPairId=r.id))

    def security_group(self, r: Resource) -> tuple[str, str]:
        return self.call(r, lambda: self.ec2(r).delete_security_group(GroupId=r.id))

    def stacks(self, items: list[Resource]) -> list[tuple[str, str]]:
        results = []
        for r in items:
            cfn = self.factory.client("cloudformation", r.region)
            results.append(self.call(r, lambda r=r, cfn=cfn: cfn.delete_stack(StackName=r.id)))
        for r, (outcome, _) in zip(items, results, strict=True):
            if outcome == DELETED:
                self.wait("stack_delete_complete", self.factory.client("cloudformation", r.region), StackName=r.id)
        return results

    def wait(self, waiter_name: str, client: Any, **kwargs: Any) -> None:
        delay = 5
        client.get_waiter(waiter_name).wait(
            **kwargs, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(self.request.wait_seconds // delay))}
        )


def cleanup(
    factory: AwsSessionFactory,
    request: CleanupRequest,
    on_action: Callable[[Action], None] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Delete the asset's resources (see module docs); raises XalError after the report if any deletion failed."""
    asset = naming.validate_asset_id(request.asset_id)
    inventory = find_assets(
        factory,
        Query(pattern=asset, regions=request.regions, all_regions=request.all_regions, bucket=request.bucket),
    )
    report = CleanupReport(asset, request.dry_run, inventory)
    if not inventory.resources and not inventory.ledger_assets:
        where = ", ".join(inventory.regions) + (f" and s3://{inventory.bucket}" if inventory.bucket else "")
        raise NotFoundError(
            f"nothing tagged {naming.TAG_KEY}={asset} in {where}, and no run ledger for it in "
            f"{lg.ledger_dir()}; check the asset-id (xal show-aws-assets lists all assets)"
        )
    cutoff = (now or datetime.now(UTC)) - request.older_than if request.older_than is not None else None

    def emit(action: Action) -> None:
        report.actions.append(action)
        if on_action is not None:
            on_action(action)

    kept_amis: set[str] = set()
    todo: dict[str, list[Resource]] = {t: [] for t in ORDER}
    for r in inventory.resources:
        reason = keep_reason(r, request, kept_amis, cutoff)
        if reason:
            if r.type == lg.AMI:
                kept_amis.add(r.id)
            emit(Action(r, KEPT, reason))
        else:
            todo[r.type].append(r)
    # a snapshot of a kept AMI may have been listed before the AMI's decision: re-check
    for snap in list(todo[lg.SNAPSHOT]):
        if snap.refs.get("ami") in kept_amis:
            todo[lg.SNAPSHOT].remove(snap)
            emit(Action(snap, KEPT, f"belongs to the kept AMI {snap.refs['ami']}"))

    deleter = _Deleter(factory, request, sleep)
    batch = {lg.INSTANCE: deleter.instances, lg.S3_OBJECT: deleter.s3_objects, lg.STACK: deleter.stacks}
    single = {
        lg.EXPORT_TASK: deleter.export_task,
        lg.AMI: deleter.ami,
        lg.SNAPSHOT: deleter.snapshot,
        lg.VOLUME: deleter.volume,
        lg.S3_UPLOAD: deleter.s3_upload,
        lg.KEY_PAIR: deleter.key_pair,
        lg.SECURITY_GROUP: deleter.security_group,
    }
    for type_ in ORDER:
        items = todo[type_]
        if not items:
            continue
        if request.dry_run:
            for r in items:
                emit(Action(r, WOULD_DELETE))
            continue
        if type_ in batch:
            try:
                outcomes = batch[type_](items)
            except Exception as exc:  # a failed wait: reported on every resource of the batch
                code, message = code_and_message(exc)
                outcomes = [(FAILED, f"{code}: {message}")] * len(items)
            for r, (outcome, message) in zip(items, outcomes, strict=True):
                emit(Action(r, outcome, message))
        else:
            for r in items:
                outcome, message = single[type_](r)
                emit(Action(r, outcome, message))

    if report.failed:
        names = "; ".join(
            f"{a.resource.type} {a.resource.id} ({a.resource.region}): {a.message}" for a in report.failed
        )
        raise CleanupFailed(f"{len(report.failed)} deletion(s) failed: {names}; fix and run cleanup again", report)
    return report


class CleanupFailed(XalError):
    def __init__(self, message: str, report: CleanupReport) -> None:
        super().__init__(message)
        self.report = report
