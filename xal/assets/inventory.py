"""Every AWS resource of one or more assets: found by tag, by name, and through the run ledger.

Each type is listed per region with every page read (``NextToken`` handled by hand: an empty
string means "no more pages", which is what broke upstream's listing when boto3 started
returning it). Assets are selected by an fnmatch pattern over the ``exa_ai_lab_id`` tag value;
the EC2 calls filter on the tag *key* server-side and match the value here, so the pattern means
the same for every type and against every endpoint.

How each type is attributed to an asset:

- instances, volumes, AMIs, snapshots, export tasks, key pairs, security groups, stacks: the tag;
- AMIs also by the name the ledger recorded for a Packer build (Packer tags the AMI only after
  it is available; a build killed in between leaves an untagged AMI with our name), and the
  snapshots behind an asset's AMIs whether tagged or not;
- Packer's temporary security group and key pair (``packer_<uuid>``; Packer 1.6.6 does not tag
  them): through the tagged build instance that uses them, in any state; when the ledger has a
  Packer build of the asset in a region that has no end entry (xal was killed, so Packer may
  have been too, before its own cleanup), also ``packer_`` groups no live instance uses,
  ``packer_`` key pairs created after the build began, and untagged instances Packer started
  after the build began (Packer 1.6.6 tags the instance with a CreateTags call right after
  RunInstances);
- instances and security groups whose id the ledger recorded (``created`` entries), tagged or not;
- S3 objects and unfinished multipart uploads: the folder ``ai_lab/<asset-id>/`` of the VM bucket.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

from xal import naming
from xal.aws import ledger as lg
from xal.aws.errors import describe_error, is_not_found
from xal.aws.export_tasks import RELEASE_AMI_TAG, TaskState
from xal.aws.images import enabled_regions
from xal.aws.paging import pages
from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import OUT_BUCKET, OUT_DISTRIBUTION_DOMAIN, stack_outputs
from xal.aws.tags import tags_of
from xal.errors import NotFoundError, UsageError, XalError

log = logging.getLogger(__name__)
PACKER_PREFIX = "packer_"
PACKER_SLACK_SECONDS = 120.0  # clock skew between this host and AWS when matching launch times to the ledger
_PATTERN = re.compile(r"[A-Za-z0-9._\-*?\[\]!]+")
LIVE_INSTANCE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
STACK_GONE = ("DELETE_COMPLETE",)


@dataclass
class Resource:
    """One AWS resource and why it is counted as the asset's."""

    type: str
    region: str
    id: str
    asset_id: str
    name: str = ""
    state: str = ""
    created: datetime | None = None
    public: bool = False
    released: bool = False  # a public AMI (and its snapshots) or a final VM image
    permanent: bool = False  # a permanent stack: listed, never deleted
    found_by: str = "tag"
    detail: str = ""
    refs: dict[str, str] = field(default_factory=dict)  # bucket, upload id, owning AMI, ...

    @property
    def key(self) -> tuple[str, str, str]:
        return self.type, self.region, self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "region": self.region,
            "id": self.id,
            "asset_id": self.asset_id,
            "name": self.name,
            "state": self.state,
            "created": self.created.isoformat() if self.created else None,
            "public": self.public,
            "released": self.released,
            "permanent": self.permanent,
            "found_by": self.found_by,
            "detail": self.detail,
            **({"refs": dict(self.refs)} if self.refs else {}),
        }


@dataclass(frozen=True)
class Query:
    """Which assets and resource types to look for, and where; checks its own values."""

    pattern: str = "*"
    types: tuple[str, ...] = lg.RESOURCE_TYPES  # also 'ami,snapshot' items (parse_types)
    regions: tuple[str, ...] = ()  # searched in addition to the configured region and the ledger's
    all_regions: bool = False
    bucket: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", parse_types(list(self.types)))


@dataclass
class Inventory:
    pattern: str
    regions: list[str]
    bucket: str | None
    resources: list[Resource]
    warnings: list[str]
    ledger_assets: list[str]  # assets matching the pattern that have a ledger here

    def require_any(self) -> Inventory:
        """Itself, or NotFoundError (exit 3) when nothing matched: a listing that finds nothing is a miss."""
        if not self.resources:
            where = ", ".join(self.regions) + (f" and s3://{self.bucket}" if self.bucket else "")
            raise NotFoundError(f"no AWS resources match asset-id {self.pattern!r} in {where}")
        return self

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.pattern,
            "regions": self.regions,
            "bucket": self.bucket,
            "resources": [r.to_dict() for r in self.resources],
            "warnings": self.warnings,
        }


def check_pattern(pattern: str) -> str:
    if not pattern or not _PATTERN.fullmatch(pattern) or len(pattern) > 2 * naming.ASSET_ID_MAX:
        raise UsageError(
            f"invalid asset-id pattern {pattern!r}: use an asset-id or an fnmatch pattern of letters, digits, "
            "'.', '-', '_' and the wildcards '*', '?', '[...]'"
        )
    return pattern


def parse_types(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--type`` values (repeatable, comma-separated; plural forms accepted) in display order."""
    wanted: set[str] = set()
    for value in values or ():
        for raw in value.split(","):
            item = raw.strip().lower().replace("_", "-")
            if not item:
                continue
            single = item[:-1] if item.endswith("s") and item[:-1] in lg.RESOURCE_TYPES else item
            aliases = {"image": lg.AMI, "amis": lg.AMI, "cloudformation": lg.STACK, "export": lg.EXPORT_TASK}
            single = aliases.get(single, single)
            if single not in lg.RESOURCE_TYPES:
                raise UsageError(f"unknown resource type {raw!r}; choose from {', '.join(lg.RESOURCE_TYPES)}")
            wanted.add(single)
    return tuple(t for t in lg.RESOURCE_TYPES if t in wanted) if wanted else lg.RESOURCE_TYPES


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


TAG_KEY_FILTER = [{"Name": "tag-key", "Values": [naming.TAG_KEY]}]


def _is_sibling(image: dict[str, Any]) -> bool:
    return tags_of(image).get(naming.ROLE_TAG) == naming.EXPORT_SIBLING_ROLE


# -- listing ---------------------------------------------------------------------------------------
class _Lister:
    def __init__(self, factory: AwsSessionFactory, query: Query, entries: list[lg.Entry]) -> None:
        self.factory = factory
        self.query = query
        self.entries = entries
        self.found: dict[tuple[str, str, str], Resource] = {}
        self.warnings: list[str] = []

    def add(self, resource: Resource) -> None:
        self.found.setdefault(resource.key, resource)

    def match(self, tags: dict[str, str]) -> str | None:
        value = tags.get(naming.TAG_KEY)
        return value if value is not None and fnmatchcase(value, self.query.pattern) else None

    def want(self, type_: str) -> bool:
        return type_ in self.query.types

    def guarded(self, what: str, region: str, fn: Callable[[], None]) -> None:
        """Run one listing; a failure becomes a warning naming what could not be listed, not a crash."""
        try:
            fn()
        except Exception as exc:  # reported, and the other listings still run
            self.warnings.append(f"could not list {what} in {region}: {describe_error(exc)}")

    # EC2 ---------------------------------------------------------------------------------------
    def region(self, region: str) -> None:
        ec2 = self.factory.client("ec2", region)
        instances: list[dict[str, Any]] = []

        def list_instances() -> None:
            for reservation in pages(ec2.describe_instances, "Reservations"):
                instances.extend(reservation.get("Instances", []))

        self.guarded("instances", region, list_instances)
        packer_builds = self._unfinished_packer_builds(region)
        tagged = [(i, self.match(tags_of(i))) for i in instances]
        tagged = [(i, a) for i, a in tagged if a is not None]
        if self.want(lg.INSTANCE):
            for inst, asset in tagged:
                if inst["State"]["Name"] in LIVE_INSTANCE_STATES:
                    self.add(self._instance(region, inst, asset, "tag"))
            recorded = self._recorded_ids(lg.INSTANCE, region)
            for inst in instances:
                asset = self._packer_instance_owner(inst, packer_builds)
                if asset and naming.TAG_KEY not in tags_of(inst):
                    self.add(self._instance(region, inst, asset, "ledger (untagged Packer instance)"))
                if inst["InstanceId"] in recorded and inst["State"]["Name"] in LIVE_INSTANCE_STATES:
                    self.add(self._instance(region, inst, recorded[inst["InstanceId"]], "id (ledger)"))
        if self.want(lg.AMI) or self.want(lg.SNAPSHOT):
            self.guarded("AMIs and snapshots", region, lambda: self._images(ec2, region))
        if self.want(lg.VOLUME):
            self.guarded("volumes", region, lambda: self._volumes(ec2, region))
        if self.want(lg.EXPORT_TASK):
            self.guarded("export tasks", region, lambda: self._export_tasks(ec2, region))
        if self.want(lg.KEY_PAIR):
            self.guarded("key pairs", region, lambda: self._key_pairs(ec2, region, tagged, packer_builds))
        if self.want(lg.SECURITY_GROUP):
            self.guarded(
                "security groups", region, lambda: self._security_groups(ec2, region, instances, tagged, packer_builds)
            )
        if self.want(lg.STACK):
            self.guarded("stacks", region, lambda: self._stacks(region))

    @staticmethod
    def _instance(region: str, inst: dict[str, Any], asset: str, found_by: str) -> Resource:
        tags = tags_of(inst)
        return Resource(
            lg.INSTANCE,
            region,
            inst["InstanceId"],
            asset,
            name=tags.get("Name", ""),
            state=inst["State"]["Name"],
            created=_time(inst.get("LaunchTime")),
            found_by=found_by,
            detail=f"{inst.get('InstanceType', '')} key {inst.get('KeyName') or '-'}",
        )

    def _recorded_ids(self, type_: str, region: str) -> dict[str, str]:
        """Ids the ledger recorded for ``type_`` in ``region`` (a create call whose tagging may not have happened)."""
        return {e.id: e.asset_id for e in self.entries if e.type == type_ and e.region == region and e.id}

    def _unfinished_packer_builds(self, region: str) -> list[lg.Entry]:
        """Packer builds of matching assets in ``region`` whose xal process never finished them (killed)."""
        builds = [e for e in self.entries if e.type == lg.PACKER_BUILD and e.region == region]
        done = {e.detail.get("build") for e in builds if e.phase != lg.INTENT}
        return [e for e in builds if e.phase == lg.INTENT and e.detail.get("build") not in done]

    @staticmethod
    def _packer_instance_owner(inst: dict[str, Any], builds: list[lg.Entry]) -> str | None:
        """The asset of an untagged, live instance that Packer launched during an unfinished build."""
        if inst["State"]["Name"] not in LIVE_INSTANCE_STATES:
            return None
        packer_groups = any(g.get("GroupName", "").startswith(PACKER_PREFIX) for g in inst.get("SecurityGroups", []))
        if not packer_groups and not str(inst.get("KeyName") or "").startswith(PACKER_PREFIX):
            return None
        launched = _time(inst.get("LaunchTime"))
        for build in sorted(builds, key=lambda e: -e.time):
            if launched is None or launched.timestamp() >= build.time - PACKER_SLACK_SECONDS:
                return build.asset_id
        return None

    def _images(self, ec2: Any, region: str) -> None:
        images: dict[str, tuple[dict[str, Any], str, str]] = {}
        for image in pages(ec2.describe_images, "Images", Owners=["self"], Filters=TAG_KEY_FILTER):
            asset = self.match(tags_of(image))
            if asset:
                images[image["ImageId"]] = (image, asset, "tag")
        names = {e.name: e.asset_id for e in self.entries if e.type in (lg.PACKER_BUILD, lg.AMI) and e.name}
        if names:
            named = pages(
                ec2.describe_images, "Images", Owners=["self"], Filters=[{"Name": "name", "Values": sorted(names)}]
            )
            for image in named:
                images.setdefault(image["ImageId"], (image, names[image.get("Name", "")], "name (ledger)"))
        behind: dict[str, Resource] = {}
        # release AMIs first: a snapshot a sibling shares belongs to the release AMI, not the sibling
        for image, asset, found_by in sorted(images.values(), key=lambda i: _is_sibling(i[0])):
            if image.get("State") in ("deregistered", "invalid"):
                continue
            public = bool(image.get("Public"))
            tags = tags_of(image)
            sibling = _is_sibling(image)
            detail = image.get("Description", "") or ""
            if sibling:
                detail = f"export sibling of {tags.get(RELEASE_AMI_TAG, '?')} ({detail})"
            ami = Resource(
                lg.AMI,
                region,
                image["ImageId"],
                asset,
                name=image.get("Name", ""),
                state=image.get("State", ""),
                created=_time(image.get("CreationDate")),
                public=public,
                released=public,
                found_by=found_by,
                detail=detail,
                refs={"role": naming.EXPORT_SIBLING_ROLE} if sibling else {},
            )
            if self.want(lg.AMI):
                self.add(ami)
            for mapping in image.get("BlockDeviceMappings", []):
                snap = (mapping.get("Ebs") or {}).get("SnapshotId")
                if snap:
                    behind.setdefault(snap, ami)
        if not self.want(lg.SNAPSHOT):
            return
        seen: set[str] = set()
        for snap in pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], Filters=TAG_KEY_FILTER):
            asset = self.match(tags_of(snap))
            if asset:
                seen.add(snap["SnapshotId"])
                self.add(self._snapshot(region, snap, asset, "tag", behind.get(snap["SnapshotId"])))
        missing = [s for s in behind if s not in seen]
        if missing:
            from botocore.exceptions import ClientError

            for snap_id in missing:  # one by one: a single vanished snapshot must not hide the others
                try:
                    snaps = ec2.describe_snapshots(SnapshotIds=[snap_id])["Snapshots"]
                except ClientError as exc:
                    if is_not_found(exc):
                        continue
                    raise
                for snap in snaps:
                    ami = behind[snap_id]
                    self.add(self._snapshot(region, snap, ami.asset_id, f"AMI {ami.id}", ami))

    @staticmethod
    def _snapshot(region: str, snap: dict[str, Any], asset: str, found_by: str, ami: Resource | None) -> Resource:
        return Resource(
            lg.SNAPSHOT,
            region,
            snap["SnapshotId"],
            asset,
            state=snap.get("State", ""),
            created=_time(snap.get("StartTime")),
            public=bool(ami and ami.public),
            released=bool(ami and ami.released),
            found_by=found_by,
            detail=f"{snap.get('VolumeSize', '?')} GiB, {snap.get('Progress') or '?'} done, volume "
            f"{snap.get('VolumeId') or '?'}" + (f", of {ami.id}" if ami else ""),
            refs={"ami": ami.id} if ami else {},
        )

    def _volumes(self, ec2: Any, region: str) -> None:
        for vol in pages(ec2.describe_volumes, "Volumes", Filters=TAG_KEY_FILTER):
            asset = self.match(tags_of(vol))
            if asset and vol.get("State") not in ("deleted", "deleting"):
                attached = ", ".join(a["InstanceId"] for a in vol.get("Attachments", []) if a.get("InstanceId"))
                self.add(
                    Resource(
                        lg.VOLUME,
                        region,
                        vol["VolumeId"],
                        asset,
                        state=vol.get("State", ""),
                        created=_time(vol.get("CreateTime")),
                        detail=f"{vol.get('Size', '?')} GiB" + (f" on {attached}" if attached else ""),
                    )
                )

    def _export_tasks(self, ec2: Any, region: str) -> None:
        started = {e.id: e.time for e in self.entries if e.type == lg.EXPORT_TASK and e.id and e.region == region}
        for raw in pages(ec2.describe_export_image_tasks, "ExportImageTasks"):
            task = TaskState.of(raw)
            asset = self.match(task.tags)
            if not asset:
                continue
            location = f"s3://{task.bucket}/{task.prefix}" if task.bucket else ""
            progress = f" {task.progress}%" if task.progress is not None else ""
            self.add(
                Resource(
                    lg.EXPORT_TASK,
                    region,
                    task.task_id,
                    asset,
                    name=task.fmt.value if task.fmt else "",
                    state=task.status,
                    created=_from_epoch(started[task.task_id]) if task.task_id in started else None,
                    detail=f"{task.image_id} -> {location}{progress} {task.message}".strip(),
                    refs={"ami": task.image_id or ""},
                )
            )

    def _key_pairs(self, ec2: Any, region: str, tagged: list[tuple[dict[str, Any], str]], builds: list[lg.Entry]):
        pairs = ec2.describe_key_pairs(Filters=TAG_KEY_FILTER).get("KeyPairs", [])  # not paginated by AWS
        for pair in pairs:
            asset = self.match(tags_of(pair))
            if asset:
                self.add(self._key_pair(region, pair, asset, "tag"))
        wanted: dict[str, tuple[str, str]] = {}
        for e in self.entries:
            if e.type == lg.KEY_PAIR and e.region == region and e.name:
                wanted[e.name] = (e.asset_id, "name (ledger)")
        for inst, asset in tagged:
            name = str(inst.get("KeyName") or "")
            if name.startswith(PACKER_PREFIX):
                wanted.setdefault(name, (asset, f"instance {inst['InstanceId']}"))
        if builds:
            for pair in pages(
                ec2.describe_key_pairs, "KeyPairs", Filters=[{"Name": "key-name", "Values": ["packer_*"]}]
            ):
                created = _time(pair.get("CreateTime"))
                for build in builds:
                    if created and created.timestamp() >= build.time - PACKER_SLACK_SECONDS:
                        wanted.setdefault(pair["KeyName"], (build.asset_id, "ledger (untagged Packer key pair)"))
                        break
        if wanted:
            named = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": sorted(wanted)}]).get("KeyPairs", [])
            for pair in named:
                asset, found_by = wanted[pair["KeyName"]]
                self.add(self._key_pair(region, pair, asset, found_by))

    @staticmethod
    def _key_pair(region: str, pair: dict[str, Any], asset: str, found_by: str) -> Resource:
        return Resource(
            lg.KEY_PAIR,
            region,
            pair.get("KeyPairId") or pair["KeyName"],
            asset,
            name=pair["KeyName"],
            created=_time(pair.get("CreateTime")),
            found_by=found_by,
            detail=pair.get("KeyType", "") or "",
        )

    def _security_groups(
        self,
        ec2: Any,
        region: str,
        instances: list[dict[str, Any]],
        tagged: list[tuple[dict[str, Any], str]],
        builds: list[lg.Entry],
    ) -> None:
        for group in pages(ec2.describe_security_groups, "SecurityGroups", Filters=TAG_KEY_FILTER):
            asset = self.match(tags_of(group))
            if asset:
                self.add(self._group(region, group, asset, "tag", None))
        via: dict[str, tuple[str, str, datetime | None]] = {
            group_id: (asset, "id (ledger)", None)
            for group_id, asset in self._recorded_ids(lg.SECURITY_GROUP, region).items()
        }
        for inst, asset in tagged:
            for g in inst.get("SecurityGroups", []):
                if g.get("GroupName", "").startswith(PACKER_PREFIX):
                    via.setdefault(
                        g["GroupId"], (asset, f"instance {inst['InstanceId']}", _time(inst.get("LaunchTime")))
                    )
        for inst in instances:  # groups of untagged instances Packer launched during an unfinished build
            asset = self._packer_instance_owner(inst, builds)
            for g in inst.get("SecurityGroups", []) if asset else []:
                if g.get("GroupName", "").startswith(PACKER_PREFIX):
                    via.setdefault(
                        g["GroupId"], (asset, f"instance {inst['InstanceId']}", _time(inst.get("LaunchTime")))
                    )
        if builds:
            used = {
                g["GroupId"]
                for inst in instances
                if inst["State"]["Name"] in LIVE_INSTANCE_STATES
                for g in inst.get("SecurityGroups", [])
            }
            latest = max(builds, key=lambda e: e.time)
            orphans = pages(
                ec2.describe_security_groups,
                "SecurityGroups",
                Filters=[{"Name": "group-name", "Values": ["packer_*"]}],
            )
            for group in orphans:
                if group["GroupId"] not in used:
                    via.setdefault(
                        group["GroupId"], (latest.asset_id, "ledger (unused Packer group)", _from_epoch(latest.time))
                    )
        if via:
            groups = pages(
                ec2.describe_security_groups, "SecurityGroups", Filters=[{"Name": "group-id", "Values": sorted(via)}]
            )
            for group in groups:
                asset, found_by, created = via[group["GroupId"]]
                self.add(self._group(region, group, asset, found_by, created))

    @staticmethod
    def _group(region: str, group: dict[str, Any], asset: str, found_by: str, created: datetime | None) -> Resource:
        return Resource(
            lg.SECURITY_GROUP,
            region,
            group["GroupId"],
            asset,
            name=group.get("GroupName", ""),
            created=created,  # AWS keeps no creation time for groups: the instance's launch time
            found_by=found_by,
            detail=group.get("Description", "") or "",
        )

    # CloudFormation ----------------------------------------------------------------------------
    def _stacks(self, region: str) -> None:
        cfn = self.factory.client("cloudformation", region)
        for stack in pages(cfn.describe_stacks, "Stacks"):
            asset = self.match(tags_of(stack))
            if not asset or stack.get("StackStatus") in STACK_GONE:
                continue
            resources = [
                f"{r.get('ResourceType')} {r.get('PhysicalResourceId') or r.get('LogicalResourceId')}"
                for r in cfn.describe_stack_resources(StackName=stack["StackName"]).get("StackResources", [])
            ]
            description = stack.get("Description", "") or ""
            self.add(
                Resource(
                    lg.STACK,
                    region,
                    stack["StackName"],
                    asset,
                    name=stack["StackName"],
                    state=stack.get("StackStatus", ""),
                    created=_time(stack.get("CreationTime")),
                    permanent=naming.is_permanent_stack(stack["StackName"]),
                    detail="; ".join(p for p in (description, f"resources: {', '.join(resources)}") if p),
                    refs={"resources": ", ".join(resources)} if resources else {},
                )
            )

    # S3 ----------------------------------------------------------------------------------------
    def s3(self, bucket: str, cdn: str | None = None) -> None:
        s3 = self.factory.client("s3")
        literal = re.split(r"[*?\[]", self.query.pattern, maxsplit=1)[0]
        root = f"{naming.S3_PREFIX_ROOT}/"
        prefix = root + literal + ("/" if literal == self.query.pattern else "")
        region = self.factory.settings.region

        def asset_of(key: str) -> str | None:
            parts = key.split("/")
            if len(parts) < 3 or not fnmatchcase(parts[1], self.query.pattern):
                return None
            return parts[1]

        def objects() -> None:
            for obj in pages(
                s3.list_objects_v2,
                "Contents",
                next_key="NextContinuationToken",
                request_key="ContinuationToken",
                Bucket=bucket,
                Prefix=prefix,
            ):
                asset = asset_of(obj["Key"])
                if asset:
                    image = obj["Key"] in {naming.vm_image_key(asset, f) for f in naming.VmFormat}
                    sums = obj["Key"] == naming.sums_key(asset)
                    url = f"https://{cdn}/{quote(obj['Key'])}" if cdn and (image or sums) else None
                    kind = " (VM image)" if image else (" (checksums)" if sums else "")
                    self.add(
                        Resource(
                            lg.S3_OBJECT,
                            region,
                            f"s3://{bucket}/{obj['Key']}",
                            asset,
                            created=_time(obj.get("LastModified")),
                            released=image or sums,
                            found_by="prefix",
                            detail=f"{obj.get('Size', 0):,} bytes{kind}" + (f" {url}" if url else ""),
                            refs={"bucket": bucket, "key": obj["Key"], **({"url": url} if url else {})},
                        )
                    )

        def uploads() -> None:
            for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
                for up in page.get("Uploads") or []:
                    asset = asset_of(up["Key"])
                    if asset:
                        self.add(
                            Resource(
                                lg.S3_UPLOAD,
                                region,
                                f"s3://{bucket}/{up['Key']}#{up['UploadId'][:12]}",
                                asset,
                                state="incomplete",
                                created=_time(up.get("Initiated")),
                                found_by="prefix",
                                detail="unfinished multipart upload (billed until aborted)",
                                refs={"bucket": bucket, "key": up["Key"], "upload_id": up["UploadId"]},
                            )
                        )

        if self.want(lg.S3_OBJECT):
            self.guarded(f"objects in s3://{bucket}", region, objects)
        if self.want(lg.S3_UPLOAD):
            self.guarded(f"multipart uploads in s3://{bucket}", region, uploads)


def search_regions(factory: AwsSessionFactory, query: Query, entries: list[lg.Entry]) -> list[str]:
    """The configured region, ``query.regions``, and every region the ledger recorded (or all enabled ones)."""
    regions = [factory.settings.region, *query.regions]
    for e in entries:
        regions.append(e.region)
        regions.extend(e.detail.get("ami_regions") or [])
    if query.all_regions:
        regions.extend(enabled_regions(factory))
    return [r for r in dict.fromkeys(regions) if r]


def resolve_bucket(factory: AwsSessionFactory, bucket: str | None, warnings: list[str]) -> str | None:
    """``--bucket``, or the VM bucket stack's output; None (with a warning) when neither exists."""
    if bucket:
        return bucket
    try:
        outputs = stack_outputs(factory, naming.PERMANENT_STACKS["bucket"])
    except XalError as exc:
        warnings.append(f"S3 not searched: no --bucket given and {exc}")
        return None
    if OUT_BUCKET not in outputs:
        warnings.append(f"S3 not searched: stack {naming.PERMANENT_STACKS['bucket']} has no output {OUT_BUCKET}")
        return None
    return outputs[OUT_BUCKET]


def cdn_domain(factory: AwsSessionFactory) -> str | None:
    """The CloudFront domain that serves the VM bucket (output of the bucket stack), if any."""
    try:
        return stack_outputs(factory, naming.PERMANENT_STACKS["bucket"]).get(OUT_DISTRIBUTION_DOMAIN)
    except XalError:
        return None


def find_assets(factory: AwsSessionFactory, query: Query) -> Inventory:
    """Every resource of the assets matching ``query.pattern`` in every searched region (and the VM bucket)."""
    check_pattern(query.pattern)
    entries = lg.entries_for(query.pattern, factory.settings.aws_endpoint_url)
    regions = search_regions(factory, query, entries)
    lister = _Lister(factory, query, entries)
    for region in regions:
        lister.region(region)
    bucket = None
    if lister.want(lg.S3_OBJECT) or lister.want(lg.S3_UPLOAD):
        bucket = resolve_bucket(factory, query.bucket, lister.warnings)
        if bucket:
            lister.s3(bucket, cdn_domain(factory))
    order = {t: i for i, t in enumerate(lg.RESOURCE_TYPES)}
    resources = sorted(lister.found.values(), key=lambda r: (order[r.type], r.asset_id, r.region, r.id))
    for warning in lister.warnings:
        log.warning("%s", warning)
    return Inventory(
        pattern=query.pattern,
        regions=regions,
        bucket=bucket,
        resources=resources,
        warnings=lister.warnings,
        ledger_assets=sorted({e.asset_id for e in entries}),
    )
