"""EC2 ExportImage for moto: the actions moto 5.x lacks, added to its EC2Response in-process.

moto >= 5.1 serialises plain dicts through the botocore model (``ActionResult``), so methods on
``EC2Response`` are enough, and every client of a ThreadedMotoServer started in this process sees
them, including a CLI running as a subprocess (see feasibility.md §7).

The fake behaves like AWS where xal depends on it:

- a task is ``active`` for ``duration(ami, fmt)`` seconds (Progress rising), then ``completed``,
  and only then is the disk image written to moto's S3 at ``<S3Prefix><task-id>.<fmt>``;
- ``ClientToken`` is idempotent: the same token returns the same task;
- tags of ``TagSpecifications`` (``export-image-task``) are kept and returned;
- unknown AMI -> ``InvalidAMIID.NotFound``; missing bucket -> ``InvalidParameter``;
- at most ``max_active_per_region`` active tasks (``ResourceLimitExceeded``) and one active task
  per AMI (``IncorrectState``), so a scheduler that ignores the limits fails loudly;
- a failure can be injected per (ami, format): the task ends ``deleted`` with that StatusMessage;
- with a :class:`DiskSource` the object is a real disk image of the AMI (a rehearsal builds it from
  the AMI's committed local image in the background, from the ExportImage call on); the task stays
  ``active`` until that disk is ready, and ends ``deleted`` with the builder's message if it fails.
  Without one, it is :func:`image_bytes` (placeholder bytes of ``object_size``);
- CancelExportTask ends an active task ``deleted`` (``IncorrectState`` once it has ended);
- RegisterImage (for the sibling AMIs of a parallel export) registers an AMI on the *given*
  snapshots (moto's own makes up a new snapshot and drops the mapping, tags and attributes): the
  snapshots must exist, the name must be unique, the tags of ``TagSpecifications`` are kept, and
  the call's parameters are remembered (``registered``) for what DescribeImages does not return.

The disk image a completed task leaves in S3 is written by one function, :func:`write_disk_image`.
Real disks are gigabytes, and moto answers a ranged GET by reading the whole object and slicing it:
the checksums' and downloads' ranged GETs (hundreds per image) would read it hundreds of times. While
the fake is installed a ranged GET reads only its range (:class:`_RangeReader`).

It also counts calls per action and the highest concurrency seen, for tests and the benchmark.
It relies on moto internals (``EC2Response``, ``ActionResult``, ``s3_backends``); if they change,
the fallback is a botocore ``before-call`` hook (feasibility.md §7, option 1).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xal import defaults, naming
from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import stack_outputs
from xal.aws.tags import tag_specifications
from xal.config import Settings
from xal.naming import PERMANENT_STACKS

MIB = 1024 * 1024
REGISTER_PARAMETERS = (
    *("Name", "Architecture", "BootMode", "EnaSupport", "SriovNetSupport", "RootDeviceName"),
    *("VirtualizationType", "ImdsSupport", "BlockDeviceMappings", "TagSpecifications"),
)
Duration = float | Callable[[str, str], float]


class DiskSource(Protocol):
    """Makes the disk image file of an AMI (the AMI that owns the disk, siblings resolved) in an AWS
    export format (VMDK, VHD, RAW); raises an error whose message becomes the task's StatusMessage."""

    def __call__(self, ami_id: str, fmt: str) -> Path: ...


@dataclass
class ExportFakeConfig:
    """How the fake behaves; ``duration`` is seconds per task or a function of (ami_id, FORMAT)."""

    duration: Duration = 0.0
    object_size: int = 12 * MIB
    max_active_per_region: int = 5
    one_task_per_ami: bool = True
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (ami, FORMAT) -> StatusMessage
    disks: DiskSource | None = None  # real disk images; None: image_bytes of object_size
    disk_workers: int = 2  # disk images made at once (conversions are CPU-bound)

    def seconds(self, ami_id: str, fmt: str) -> float:
        return self.duration(ami_id, fmt) if callable(self.duration) else float(self.duration)


def image_bytes(ami_id: str, fmt: str, size: int) -> bytes:
    """The deterministic content the fake writes for an export, so tests can predict checksums."""
    unit = f"fake {fmt.lower()} disk of {ami_id}\n".encode()
    return (unit * (size // len(unit) + 1))[:size]


@dataclass
class _Task:
    data: dict[str, Any]
    account: str
    region: str
    fmt: str
    started: float
    seconds: float
    failure: str | None
    disk: Future[Path] | None = None  # the real disk image being made (ExportFakeConfig.disks)


class MotoExportFake:
    """State and counters of the fake; install() patches moto, uninstall() restores it."""

    def __init__(self, config: ExportFakeConfig | None = None) -> None:
        self.config = config or ExportFakeConfig()
        self.tasks: dict[str, _Task] = {}
        self.tokens: dict[tuple[str, str, str], str] = {}
        self.calls: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()  # region -> highest number of simultaneously active tasks
        self.registered: dict[str, dict[str, Any]] = {}  # AMI id -> RegisterImage parameters
        self.disk_of: dict[str, str] = {}  # registered AMI -> the AMI whose snapshots (disk) it shares
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}
        self._disk_pool: ThreadPoolExecutor | None = None
        self._saved_s3: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    def install(self) -> MotoExportFake:
        from moto.ec2.responses import EC2Response

        fake = self

        def export_image(self: Any) -> Any:
            return fake._export_image(self)

        def describe_export_image_tasks(self: Any) -> Any:
            return fake._describe(self)

        def cancel_export_task(self: Any) -> Any:
            return fake._cancel(self)

        def register_image(self: Any) -> Any:
            return fake._register(self)

        self._patch_ranged_gets()
        for name, impl in (
            ("export_image", export_image),
            ("describe_export_image_tasks", describe_export_image_tasks),
            ("cancel_export_task", cancel_export_task),
            ("register_image", register_image),
        ):
            self._saved[name] = EC2Response.__dict__.get(name)
            setattr(EC2Response, name, impl)
        return self

    def _patch_ranged_gets(self) -> None:
        from moto.s3.models import FakeKey
        from moto.s3.responses import S3Response

        get_object, value = S3Response.get_object, FakeKey.value
        self._saved_s3 = {"get_object": get_object, "value": value}

        def ranged_get_object(response: Any) -> Any:
            if not SINGLE_RANGE.fullmatch(response.headers.get("range") or ""):
                return get_object(response)
            _RANGED.active = True
            try:
                return get_object(response)  # moto slices what FakeKey.value gives: a _RangeReader
            finally:
                _RANGED.active = False

        def lazy_value(key: Any) -> Any:
            return _RangeReader(key) if getattr(_RANGED, "active", False) else value.fget(key)  # type: ignore[attr-defined]

        S3Response.get_object = ranged_get_object  # type: ignore[method-assign]
        FakeKey.value = property(lazy_value, value.fset)  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        from moto.ec2.responses import EC2Response
        from moto.s3.models import FakeKey
        from moto.s3.responses import S3Response

        if self._saved_s3:
            S3Response.get_object = self._saved_s3["get_object"]  # type: ignore[method-assign]
            FakeKey.value = self._saved_s3["value"]  # type: ignore[method-assign]
            self._saved_s3 = {}

        if self._disk_pool is not None:
            self._disk_pool.shutdown(wait=True, cancel_futures=True)
            self._disk_pool = None
        for name, original in self._saved.items():
            if original is None:
                delattr(EC2Response, name)
            else:
                setattr(EC2Response, name, original)
        self._saved.clear()

    # -- helpers -------------------------------------------------------------------------------
    def _active(self, account: str, region: str) -> list[_Task]:
        return [
            t
            for t in self.tasks.values()
            if (t.account, t.region) == (account, region) and t.data["Status"] == "active"
        ]

    def _advance(self, task: _Task, now: float) -> None:
        if task.data["Status"] != "active":
            return
        elapsed = now - task.started
        if elapsed < task.seconds or (task.disk is not None and not task.disk.done()):
            progress = min(99, int(100 * elapsed / task.seconds)) if task.seconds else 0
            task.data.update(Progress=str(progress), StatusMessage="converting" if progress else "validating")
            return
        failure = task.failure
        if failure is None and task.disk is not None and task.disk.exception() is not None:
            failure = f"ClientError: {task.disk.exception()}"
        if failure is not None:
            task.data.update(Status="deleted", StatusMessage=failure)
            task.data.pop("Progress", None)
            return
        loc = task.data["S3ExportLocation"]
        key = f"{loc.get('S3Prefix', '')}{task.data['ExportImageTaskId']}.{task.fmt.lower()}"
        if task.disk is not None:
            data = task.disk.result().read_bytes()
        else:
            data = image_bytes(self._disk(task.data["ImageId"]), task.fmt, self.config.object_size)
        write_disk_image(task.account, loc["S3Bucket"], key, data)
        task.data.update(Status="completed", Progress="100")
        task.data.pop("StatusMessage", None)

    def _disk(self, ami_id: str) -> str:
        """The AMI whose disk ``ami_id`` has: itself, or for a sibling the AMI it was registered from."""
        return self.disk_of.get(ami_id, ami_id)

    def _make_disk(self, ami_id: str, fmt: str) -> Future[Path] | None:
        if self.config.disks is None:
            return None
        if self._disk_pool is None:
            self._disk_pool = ThreadPoolExecutor(self.config.disk_workers, thread_name_prefix="export-disk")
        return self._disk_pool.submit(self.config.disks, self._disk(ami_id), fmt)

    # -- actions -------------------------------------------------------------------------------
    def _export_image(self, response: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.ec2.exceptions import EC2ClientError
        from moto.s3.models import s3_backends

        account, region = response.current_account, response.region
        image_id = response._get_param("ImageId")
        fmt = str(response._get_param("DiskImageFormat")).upper()
        loc = response._get_param("S3ExportLocation", {}) or {}
        token = response._get_param("ClientToken")
        with self._lock:
            self.calls["ExportImage"] += 1
            if token and (account, region, token) in self.tokens:
                return ActionResult(self._public(self.tasks[self.tokens[(account, region, token)]]))
            response.ec2_backend.describe_images(ami_ids=[image_id])  # InvalidAMIID.NotFound like AWS
            if loc.get("S3Bucket") not in s3_backends[account]["aws"].buckets:
                raise EC2ClientError("InvalidParameter", f"The S3 bucket {loc.get('S3Bucket')} does not exist")
            now = time.monotonic()
            for t in self._active(account, region):
                self._advance(t, now)
            active = self._active(account, region)
            if len(active) >= self.config.max_active_per_region:
                raise EC2ClientError(
                    "ResourceLimitExceeded",
                    f"You have reached the limit of {self.config.max_active_per_region} active export image tasks",
                )
            if self.config.one_task_per_ami and any(t.data["ImageId"] == image_id for t in active):
                raise EC2ClientError("IncorrectState", f"An export task for {image_id} is already in progress")
            tid = f"export-ami-{uuid.uuid4().hex[:17]}"
            tags = [
                tag
                for spec in response._get_param("TagSpecifications", []) or []
                if spec.get("ResourceType") == "export-image-task"
                for tag in spec.get("Tags", [])
            ]
            data = {
                "ExportImageTaskId": tid,
                "Description": response._get_param("Description", ""),
                "ImageId": image_id,
                "Progress": "0",
                "Status": "active",
                "StatusMessage": "validating",
                "S3ExportLocation": {"S3Bucket": loc["S3Bucket"], "S3Prefix": loc.get("S3Prefix", "")},
                "Tags": tags,
            }
            failure = self.config.failures.get((self._disk(image_id), fmt))
            self.tasks[tid] = _Task(
                data,
                account,
                region,
                fmt,
                now,
                self.config.seconds(self._disk(image_id), fmt),  # by the disk: a sibling too
                failure,
                None if failure else self._make_disk(image_id, fmt),
            )
            if token:
                self.tokens[(account, region, token)] = tid
            self.max_active[region] = max(self.max_active[region], len(active) + 1)
            out = self._public(self.tasks[tid])
            out.update(DiskImageFormat=fmt.lower(), RoleName=response._get_param("RoleName") or "vmimport")
            return ActionResult(out)

    def _describe(self, response: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.ec2.exceptions import EC2ClientError

        account, region = response.current_account, response.region
        ids = response._get_param("ExportImageTaskIds", []) or []
        with self._lock:
            self.calls["DescribeExportImageTasks"] += 1
            now = time.monotonic()
            mine = {tid: t for tid, t in self.tasks.items() if (t.account, t.region) == (account, region)}
            unknown = [tid for tid in ids if tid not in mine]
            if unknown:
                raise EC2ClientError(
                    "InvalidExportImageTaskId.NotFound", f"The export image task ID '{unknown[0]}' does not exist"
                )
            out = []
            for tid, task in mine.items():
                if ids and tid not in ids:
                    continue
                self._advance(task, now)
                out.append(self._public(task))
            return ActionResult({"ExportImageTasks": out})

    def _cancel(self, response: Any) -> Any:
        """CancelExportTask: an active task ends ``deleted`` and writes nothing; an ended one is IncorrectState."""
        from moto.core.responses import ActionResult
        from moto.ec2.exceptions import EC2ClientError

        account, region = response.current_account, response.region
        tid = response._get_param("ExportTaskId")
        with self._lock:
            self.calls["CancelExportTask"] += 1
            task = self.tasks.get(tid)
            if task is None or (task.account, task.region) != (account, region):
                raise EC2ClientError("InvalidExportTaskID.NotFound", f"The export task ID '{tid}' does not exist")
            self._advance(task, time.monotonic())
            if task.data["Status"] != "active":
                raise EC2ClientError("IncorrectState", f"Export task {tid} is {task.data['Status']}")
            task.data.update(Status="deleted", StatusMessage="Canceled by user")
            task.data.pop("Progress", None)
            return ActionResult({})

    def _register(self, response: Any) -> Any:
        """RegisterImage on existing snapshots, with tags and attributes (see the module docs)."""
        from moto.core.responses import ActionResult
        from moto.ec2.exceptions import EC2ClientError

        backend = response.ec2_backend
        name = response._get_param("Name")
        mappings = response._get_param("BlockDeviceMappings", []) or []
        with self._lock:
            self.calls["RegisterImage"] += 1
            if any(a.name == name for a in backend.amis.values()):
                raise EC2ClientError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by an AMI")
            ids = [m["Ebs"]["SnapshotId"] for m in mappings if "SnapshotId" in m.get("Ebs", {})]
            snapshots = [backend.get_snapshot(i) for i in ids]  # InvalidSnapshot.NotFound like AWS
            if not snapshots:
                raise EC2ClientError("InvalidParameterCombination", "a mapping with a snapshot is required")
            ami = backend.register_image(name, response._get_param("Description", ""))
            backend.snapshots.pop(ami.ebs_snapshot.id, None)  # moto's invented snapshot: not AWS's behaviour
            owner = next((a.id for a in backend.amis.values() if a.ebs_snapshot is snapshots[0]), ami.id)
            self.disk_of[ami.id] = self.disk_of.get(owner, owner)
            ami.ebs_snapshot = snapshots[0]
            ami.architecture = response._get_param("Architecture") or "x86_64"
            ami.root_device_name = response._get_param("RootDeviceName") or mappings[0]["DeviceName"]
            ami.boot_mode = response._get_param("BootMode")
            ami.virtualization_type = response._get_param("VirtualizationType") or "hvm"
            ami.sriov = response._get_param("SriovNetSupport") or ami.sriov
            for spec in response._get_param("TagSpecifications", []) or []:
                if spec.get("ResourceType") == "image":
                    backend.create_tags([ami.id], {t["Key"]: t["Value"] for t in spec.get("Tags", [])})
            self.registered[ami.id] = {k: response._get_param(k) for k in REGISTER_PARAMETERS}
            return ActionResult({"ImageId": ami.id})

    @staticmethod
    def _public(task: _Task) -> dict[str, Any]:
        data = dict(task.data)
        data["S3ExportLocation"] = dict(data["S3ExportLocation"])
        data["Tags"] = [dict(t) for t in data["Tags"]]
        return data


SINGLE_RANGE = re.compile(r"bytes=(\d+)-(\d+)")  # what xal's checksums and boto3's downloads ask
_RANGED = threading.local()  # set while this thread answers a ranged GET


class _RangeReader:
    """An object's bytes, read from moto's buffer when sliced: its length without reading anything,
    a slice by seeking to it. moto's ranged GET only takes the length and one slice."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __len__(self) -> int:
        return int(self.key.size)

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self))
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return bytes(self.key._value_buffer.read(max(0, stop - start)))


def write_disk_image(account: str, bucket: str, key: str, data: bytes) -> None:
    """What a completed export task leaves in S3: the disk image, put straight into moto's backend."""
    from moto.s3.models import s3_backends

    s3_backends[account]["aws"].put_object(bucket, key, data)


@contextmanager
def moto_export(config: ExportFakeConfig | None = None) -> Iterator[MotoExportFake]:
    """Patch moto's EC2 with ExportImage for the duration of the block (in this process)."""
    fake = MotoExportFake(config).install()
    try:
        yield fake
    finally:
        fake.uninstall()


# -- seeding an emulator with what an export needs (tests, benchmark, rehearsals) ---------------------
BUCKET_STACK_TEMPLATE = """
Resources:
  VMBucket:
    Type: AWS::S3::Bucket
  VMExportRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: vmimport
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: vmie.amazonaws.com}
            Action: sts:AssumeRole
Outputs:
  VMBucketId:
    Value: !Ref VMBucket
  VMExportRoleId:
    Value: !Ref VMExportRole
  CfDistributionDomainName:
    Value: %s
"""
FAKE_CDN_DOMAIN = "d111111abcdef8.cloudfront.net"
SOURCE_AMI = "ami-785db401"  # a Canonical Ubuntu AMI moto ships


def seed_bucket_stack(
    endpoint: str, region: str = defaults.REGION, cdn_domain: str = FAKE_CDN_DOMAIN
) -> dict[str, str]:
    """Create the bucket stack (bucket, vmimport role, CDN domain output) in moto; returns its outputs."""
    factory = AwsSessionFactory(Settings(aws_endpoint_url=endpoint, region=region))
    factory.client("cloudformation").create_stack(
        StackName=PERMANENT_STACKS["bucket"], TemplateBody=BUCKET_STACK_TEMPLATE % cdn_domain
    )
    return stack_outputs(factory, PERMANENT_STACKS["bucket"])


def seed_ami(endpoint: str, asset_id: str, region: str = defaults.REGION) -> str:
    """An available AMI tagged with the asset-id, made from a throwaway instance in moto."""
    ec2 = AwsSessionFactory(Settings(aws_endpoint_url=endpoint, region=region)).client("ec2")
    instance = ec2.run_instances(ImageId=SOURCE_AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(
        InstanceId=instance,
        Name=naming.ami_name(asset_id),
        TagSpecifications=tag_specifications(naming.asset_tags(asset_id), "image"),
    )["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance])
    return ami
