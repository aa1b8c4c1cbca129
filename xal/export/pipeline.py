"""``xal export``: AMIs -> VM disk images in the VM bucket under their release names, recorded in
the build manifest.

Flow: resolve which AMIs of which assets to export -> pre-flight -> plan (resume: look up what
earlier runs left behind, by final key and by task tag) -> scheduler (start, poll, rename) ->
manifest per asset. A failed job does not stop the others; the command fails at the end, after
the manifest has recorded what did succeed, and a re-run continues where this one stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from xal import defaults, naming
from xal.aws.identity import resolve_owner
from xal.aws.ledger import Ledger
from xal.aws.session import AwsSessionFactory
from xal.aws.tags import tags_of
from xal.config import Settings
from xal.errors import UsageError, XalError
from xal.export import preflight as pf
from xal.export import siblings
from xal.export.rename import DEFAULT_PART_SIZE, MIN_PART, existing_image, head, rename_export
from xal.export.scheduler import ExportScheduler, JobRun, Observer, Phase
from xal.export.tasks import ExportJob, ExportTarget, PollPolicy, TaskState, describe_tasks, list_tasks, start_export
from xal.manifest import BuildManifest, GitInfo, default_manifest_path
from xal.naming import DEFAULT_VM_FORMATS, VmFormat
from xal.paths import project_root

log = logging.getLogger(__name__)


class ExportObserver(Observer, Protocol):
    """Told each job's state; entered while the scheduler runs, so a live display starts and stops with it."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None: ...


@dataclass(frozen=True)
class ExportRequest:
    """What to export and how; checks its own values so every caller gets the same one-line errors."""

    ami_ids: tuple[str, ...] = ()
    asset_ids: tuple[str, ...] = ()  # none and no AMI ids: the settings' asset-id
    formats: tuple[VmFormat, ...] = DEFAULT_VM_FORMATS  # empty = the default formats; duplicates dropped
    bucket: str | None = None
    role_name: str | None = None
    cdn_domain: str | None = None
    max_active_per_region: int = defaults.MAX_ACTIVE_EXPORTS_PER_REGION
    poll: PollPolicy = field(default_factory=PollPolicy)
    part_size: int = DEFAULT_PART_SIZE  # bytes
    manifest_path: Path | None = None  # only with a single asset
    # one short-lived sibling AMI per format beyond the first, so the formats of one AMI export at
    # once (siblings.py); False: one format after the other, as AWS allows per AMI
    siblings: bool = True
    # set by another thread to stop waiting: tasks in AWS keep running, a re-run resumes them
    stop: threading.Event | None = field(default=None, compare=False, repr=False)
    # how the jobs are shown while they run (default: not at all); a request carries it so callers
    # that pass the request on (create-vm, export-vm) show the export the way their caller chose
    observer: ExportObserver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(dict.fromkeys(self.formats)) or DEFAULT_VM_FORMATS)
        if self.max_active_per_region < 1:
            raise UsageError("--max-active must be at least 1")
        if self.part_size < MIN_PART:
            raise UsageError(f"--part-size-mib must be at least {defaults.MIN_PART_SIZE_MIB} (S3's minimum part size)")


@dataclass
class ExportResult:
    runs: list[JobRun]
    manifests: dict[str, BuildManifest]
    manifest_paths: dict[str, Path]
    target: ExportTarget
    calls: dict[str, int]
    seconds: float

    @property
    def images(self) -> list[dict[str, Any]]:
        return [r.result.to_dict() for r in self.runs if r.phase is Phase.DONE]


class AwsExportBackend:
    """The scheduler's view of AWS: ExportImage, DescribeExportImageTasks, the S3 rename."""

    def __init__(self, factory: AwsSessionFactory, target: ExportTarget, part_size: int = DEFAULT_PART_SIZE) -> None:
        self.factory = factory
        self.target = target
        self.part_size = part_size

    def ledger(self, asset_id: str) -> Ledger:
        return Ledger(asset_id, self.factory.settings.aws_endpoint_url)

    def start(self, run: JobRun) -> TaskState:
        ec2 = self.factory.client("ec2", run.job.region)
        return start_export(ec2, run.job, self.target, run.attempt, ledger=self.ledger(run.job.asset_id))

    def describe(self, region: str, task_ids: list[str]) -> dict[str, TaskState]:
        return describe_tasks(self.factory.client("ec2", region), task_ids)

    def finish(self, run: JobRun, state: TaskState | None) -> Any:  # noqa: ARG002 - ExportBackend protocol
        job = run.job
        assert run.task_id is not None
        if job.export_ami != job.ami_id:  # the task has ended: its sibling has done its work
            siblings.retire(self.factory, job.asset_id, job.region, job.export_ami)
        return rename_export(
            self.factory.client("s3", job.region),
            bucket=self.target.bucket,
            source_key=naming.export_task_key(job.asset_id, run.task_id, job.fmt),
            asset_id=job.asset_id,
            ami_id=job.ami_id,
            fmt=job.fmt,
            task_id=run.task_id,
            cdn_domain=self.target.cdn_domain,
            part_size=self.part_size,
            ledger=self.ledger(job.asset_id),
        )


def resolve_sources(factory: AwsSessionFactory, settings: Settings, request: ExportRequest) -> list[tuple[str, str]]:
    """(asset-id, AMI id) pairs to export; AMIs found by tag when only asset-ids are given."""
    for asset in request.asset_ids:
        naming.validate_asset_id(asset)
    if request.ami_ids and request.asset_ids and len(request.ami_ids) != len(request.asset_ids):
        raise UsageError("give one --asset-id per --ami-id (paired in order), or only --ami-id (asset from its tag)")
    if request.ami_ids and request.asset_ids:
        pairs = list(zip(request.asset_ids, request.ami_ids, strict=True))
    elif request.ami_ids:
        images = pf.check_amis(factory, list(request.ami_ids))
        pairs = []
        for ami in request.ami_ids:
            tags = tags_of(images[ami])
            asset = tags.get(naming.TAG_KEY)
            if asset is None and len(request.ami_ids) > 1:
                raise UsageError(f"AMI {ami} has no {naming.TAG_KEY} tag; pass an --asset-id for each --ami-id")
            pairs.append((asset or settings.asset_id, ami))
    else:
        assets = request.asset_ids or (settings.asset_id,)
        pairs = [(asset, pf.find_asset_ami(factory, asset)) for asset in assets]
    seen: dict[str, str] = {}
    for asset, ami in pairs:
        if asset in seen and seen[asset] != ami:
            raise UsageError(
                f"AMIs {seen[asset]} and {ami} both belong to asset {asset}: their images would get the same key"
            )
        seen[asset] = ami
    if len(seen) > 1 and request.manifest_path is not None:
        raise UsageError("--manifest needs a single asset; with several, each asset's default manifest is used")
    return list(seen.items())


def plan(
    factory: AwsSessionFactory, region: str, target: ExportTarget, jobs: list[ExportJob]
) -> tuple[list[JobRun], set[str]]:
    """What each job still needs, from what earlier runs left behind; plus other active tasks there."""
    s3 = factory.client("s3", region)
    tasks = list_tasks(factory.client("ec2", region))
    runs: list[JobRun] = []
    adopted: set[str] = set()
    for job in jobs:
        run = JobRun(job)
        runs.append(run)
        done = existing_image(s3, target.bucket, job.asset_id, job.ami_id, job.fmt, target.cdn_domain)
        if done is not None:
            run.phase, run.result, run.resumed, run.progress = Phase.DONE, done, True, 100
            log.info("%s already exported to %s", job.label, done.key)
            continue
        mine = [t for t in tasks if t.asset_id == job.asset_id and t.release_ami == job.ami_id and t.fmt == job.fmt]
        run.attempt = sum(1 for t in mine if not t.active)
        active = next((t for t in mine if t.active), None)
        if active is not None:
            run.job = replace(job, source_ami=active.image_id)  # the AMI (or sibling) it exports
            run.phase, run.task_id, run.resumed = Phase.ACTIVE, active.task_id, True
            run.progress, run.message = active.progress, active.message
            adopted.add(active.task_id)
            log.info("resuming active export task %s for %s", active.task_id, job.label)
            continue
        for t in mine:
            if t.completed and head(s3, target.bucket, naming.export_task_key(job.asset_id, t.task_id, job.fmt)):
                run.job = replace(job, source_ami=t.image_id)
                run.phase, run.task_id, run.resumed = Phase.FINISHING, t.task_id, True
                adopted.add(t.task_id)
                log.info("export task %s of %s completed earlier; renaming its file", t.task_id, job.label)
                break
    foreign = {t.task_id for t in tasks if t.active and t.task_id not in adopted}
    return runs, foreign


def assign_siblings(
    factory: AwsSessionFactory, images: dict[str, dict[str, Any]], runs: list[JobRun]
) -> dict[str, list[str]]:
    """Give every job still to start its own AMI: the first format of an AMI exports the AMI itself
    (unless a resumed task already does), every other format a sibling; returns {AMI: siblings}."""
    used: dict[str, list[str]] = {}
    for ami, image in images.items():
        mine = [r for r in runs if r.job.ami_id == ami]
        busy = {r.job.export_ami for r in mine if r.phase is Phase.ACTIVE}
        pending = [r for r in mine if r.phase is Phase.PENDING]
        if not pending:
            continue
        first = pending[0] if ami not in busy else None
        others = [r for r in pending if r is not first]
        if not others:
            continue
        job = others[0].job
        ids = siblings.ensure_siblings(factory, job.asset_id, job.region, image, [r.job.fmt for r in others])
        for run in others:
            run.job = replace(run.job, source_ami=ids[run.job.fmt])
        used[ami] = list(ids.values())
    return used


def retire_idle_siblings(factory: AwsSessionFactory, region: str, runs: list[JobRun]) -> None:
    """Deregister the siblings of these AMIs that no task exports any more (failed, finished, or
    left by a killed run); a sibling whose task still runs in AWS stays for the re-run that resumes it."""
    ec2 = factory.client("ec2", region)
    open_tasks = [r.task_id for r in runs if r.task_id and r.phase is not Phase.DONE]
    running = {s.image_id for s in describe_tasks(ec2, open_tasks).values() if s.active}  # type: ignore[arg-type]
    for ami, asset in sorted({(r.job.ami_id, r.job.asset_id) for r in runs}):
        for image in siblings.find_siblings(ec2, ami).values():
            if image["ImageId"] not in running:
                siblings.retire(factory, asset, region, image["ImageId"])


def _manifest_for(settings: Settings, asset: str, ami: str, path: Path) -> BuildManifest:
    if path.is_file():
        return BuildManifest.load(path)
    try:
        git = GitInfo.of(project_root())
    except XalError:
        git = GitInfo(None, None)
    return BuildManifest(
        asset_id=asset,
        kind="ami",
        git=git,
        packer_version="",
        region=settings.region,
        amis={settings.region: ami},
        extra={"note": "manifest started by xal export: the AMI was not built by this checkout"},
    )


def export_images(
    settings: Settings,
    request: ExportRequest,
    factory: AwsSessionFactory | None = None,
) -> ExportResult:
    """Export AMIs to VM images (see module docs); raises XalError when any job failed."""

    started = time.monotonic()
    if not request.formats:
        raise UsageError("no VM format selected")
    factory = factory or AwsSessionFactory(settings)
    resolve_owner(factory)
    region = settings.region
    pairs = resolve_sources(factory, settings, request)
    target = pf.resolve_target(factory, request.bucket, request.role_name, request.cdn_domain)
    images = pf.preflight(factory, target, [ami for _, ami in pairs])
    formats = list(dict.fromkeys(request.formats))
    jobs = [ExportJob(asset, ami, region, fmt) for asset, ami in pairs for fmt in formats]
    runs, foreign = plan(factory, region, target, jobs)
    if foreign:
        log.info("%d other export task(s) active in %s count against the limit", len(foreign), region)
    if request.siblings:
        assign_siblings(factory, images, runs)
    backend = AwsExportBackend(factory, target, request.part_size)
    scheduler = ExportScheduler(
        backend,
        runs,
        max_active_per_region=request.max_active_per_region,
        policy=request.poll,
        foreign_active={region: foreign},
        observer=request.observer,
        stop=request.stop,
    )
    try:
        with request.observer or nullcontext():
            scheduler.run()
    finally:
        try:
            retire_idle_siblings(factory, region, runs)
        except Exception as exc:  # cleanup must not hide the export's own outcome; cleanup finds them
            log.warning("could not deregister idle sibling AMIs: %s (xal cleanup removes them)", exc)

    manifests: dict[str, BuildManifest] = {}
    paths: dict[str, Path] = {}
    for asset, ami in pairs:
        path = request.manifest_path or default_manifest_path(asset, "ami")
        manifest = _manifest_for(settings, asset, ami, path)
        manifest.amis.setdefault(region, ami)
        for run in runs:
            if run.job.asset_id == asset and run.phase is Phase.DONE:
                manifest.add_vm_image(run.result.to_dict())
        manifest.extra["export"] = {"bucket": target.bucket, "role": target.role_name, "region": region}
        manifest.write(path)
        manifests[asset], paths[asset] = manifest, path
    result = ExportResult(runs, manifests, paths, target, dict(scheduler.calls), round(time.monotonic() - started, 2))
    failed = [r for r in runs if r.phase is Phase.FAILED]
    if failed:
        lines = "; ".join(f"{r.job.label}: {r.error}" for r in failed)
        raise ExportFailed(f"{len(failed)} of {len(runs)} export(s) failed: {lines}", result)
    return result


class ExportFailed(XalError):
    """Some jobs failed; ``result`` holds what succeeded (already written to the manifests)."""

    def __init__(self, message: str, result: ExportResult) -> None:
        super().__init__(message)
        self.result = result
