"""``xal release`` (and ``xal create-vm``): the whole release as one dependency graph.

    docker ------------------------------------------------------------.
    ami ---+--> export --> checksums ---------------------------------+--> notes --> github
           +--> copy:<region> --> public:<region> --------------------'
           `--> public:<home region> ---------------------------------'

The Docker image builds while Packer builds the AMI; once the AMI exists, its exports (all formats
at once, from sibling AMIs), the region copies and - for a release - making every AMI public run
at the same time; the full-object SHA-256 of each image is computed as soon as the export is done
(overlapping the copies and the Docker push); then the release notes and, for a GitHub release,
the notes and assets go up. ``create-vm`` is the same graph without the Docker and GitHub steps.

Everything a step produces is recorded in its outputs in the release manifest
(``.xal/builds/<asset-id>/release-manifest.json``) next to the ami and docker manifests, and
``timeline.svg`` shows the run. A re-run reuses the steps whose recorded results still exist in
AWS (or Docker) and runs the rest again; each step resumes what exists.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from xal import defaults, naming
from xal.assets.inventory import Inventory, Query, find_assets
from xal.aws.errors import describe_error
from xal.aws.identity import resolve_owner
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import UsageError, XalError
from xal.export.checksums import full_checksums, publish_sums, sums_text
from xal.export.create_vm import AMI_WAIT
from xal.export.pipeline import ExportRequest, export_images
from xal.export.publish import make_ami_public, start_copies, wait_available
from xal.export.rename import head
from xal.export.scheduler import JobRun, Phase
from xal.export.tasks import PollPolicy
from xal.image.ami import AmiBuildRequest, build_ami
from xal.image.docker import DockerBuildRequest, build_docker
from xal.manifest import BuildManifest, default_manifest_path
from xal.release.flows import ARTIFACTS_FILE, GitHubTarget, update_release
from xal.release.github_release import GitHubReleases
from xal.release.graph import Graph, GraphObserver, ReleaseFailed, RunRecord, Step, StepContext
from xal.release.notes import RECORD_FILE, TIMELINE_FILE, write_release_notes
from xal.release.timeline import write_svg

log = logging.getLogger(__name__)
NOTES_FILE = ARTIFACTS_FILE


@dataclass(frozen=True)
class ReleasePaths:
    """Where a release keeps its files: all next to the asset's build manifests."""

    folder: Path

    @classmethod
    def of(cls, asset_id: str, ami_manifest: Path | None = None) -> ReleasePaths:
        return cls((ami_manifest or default_manifest_path(asset_id, "ami")).parent)

    @property
    def ami(self) -> Path:
        return self.folder / "ami-manifest.json"

    @property
    def docker(self) -> Path:
        return self.folder / "docker-manifest.json"

    @property
    def record(self) -> Path:
        return self.folder / RECORD_FILE

    @property
    def timeline(self) -> Path:
        return self.folder / TIMELINE_FILE

    @property
    def sums(self) -> Path:
        return self.folder / "SHA256SUMS"

    @property
    def notes(self) -> Path:
        return self.folder / NOTES_FILE


class ReleaseObserver(GraphObserver, Protocol):
    """The graph's changes while it runs (entered for the run), then what was left on failure."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None: ...

    def left_behind(self, inventory: Inventory) -> None: ...


@dataclass(frozen=True)
class ReleaseRequest:
    """One release run; ``docker=None`` and ``github=None`` leave those branches out (create-vm)."""

    build: AmiBuildRequest = field(default_factory=AmiBuildRequest)
    export: ExportRequest = field(default_factory=ExportRequest)
    docker: DockerBuildRequest | None = None
    copy_regions: tuple[str, ...] = ()
    make_public: bool = False
    github: GitHubTarget | None = None
    release_id: int | None = None
    batch_role_arn: str | None = None  # S3 Batch Operations role for the checksums (else ranged GETs)
    ami_wait: PollPolicy = AMI_WAIT

    def __post_init__(self) -> None:
        if self.github is not None and self.release_id is None:
            raise UsageError("a GitHub release needs --release-id (or --no-github)")


@dataclass(frozen=True)
class Builders:
    """How the images are built and the release is reached; tests and the rehearsal replace them."""

    ami: Callable[[Settings, AmiBuildRequest], BuildManifest] = build_ami
    docker: Callable[[Settings, DockerBuildRequest], BuildManifest] = build_docker
    releases: Callable[[GitHubTarget], GitHubReleases] | None = None  # default: GitHubTarget.releases()


@dataclass
class ReleaseResult:
    record: RunRecord
    manifest: BuildManifest
    paths: ReleasePaths


# -- progress of a step --------------------------------------------------------------------------------
class _PackerLines:
    """The build's steps and Ansible tasks ("task 14 of 96: ...") as the step's progress line."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> _PackerLines:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass

    def step(self, line: str, elapsed: float) -> None:  # noqa: ARG002 - PackerObserver
        self.ctx.report(line)

    def task(self, line: str, elapsed: float) -> None:  # noqa: ARG002 - PackerObserver
        self.ctx.report(line)


class _ExportLines(_PackerLines):
    """The export jobs as one progress line: ``VHD 40%, VMDK 35%, RAW renaming``."""

    def __init__(self, ctx: StepContext) -> None:
        super().__init__(ctx)
        self.jobs: dict[str, str] = {}
        self._lock = threading.Lock()

    def update(self, run: JobRun) -> None:
        state = {Phase.ACTIVE: f"{run.progress or 0}%", Phase.FINISHING: "renaming"}.get(run.phase, run.phase.value)
        with self._lock:
            self.jobs[run.job.fmt.value] = state
            self.ctx.report(", ".join(f"{fmt} {s}" for fmt, s in sorted(self.jobs.items())))


def _waiting(ctx: StepContext) -> Callable[[float], None]:
    """A sleep that ends when the graph stops, and then stops the step."""

    def sleep(seconds: float) -> None:
        if ctx.stop.wait(seconds):
            raise XalError("stopped: another step failed")

    return sleep


# -- the graph -----------------------------------------------------------------------------------------
class ReleasePlan:
    """The steps of one release and what they share (the benchmark takes its graph from here too)."""

    def __init__(
        self,
        settings: Settings,
        request: ReleaseRequest,
        builders: Builders,
        factory: AwsSessionFactory,
        paths: ReleasePaths,
    ) -> None:
        self.settings, self.request, self.builders, self.factory, self.paths = (
            settings,
            request,
            builders,
            factory,
            paths,
        )
        self.asset, self.region = settings.asset_id, settings.region
        self.copy_regions = [r for r in dict.fromkeys(request.copy_regions) if r != self.region]
        self.graph: Graph | None = None

    def steps(self) -> list[Step]:
        r = self.request
        steps = [Step("ami", self.build_ami, done=self.ami_exists)]
        if r.docker is not None:
            steps.append(Step("docker", self.build_docker, done=self.docker_exists))
        steps.append(Step("export", self.export, ("ami",), done=self.images_exist))
        steps.append(Step("checksums", self.checksums, ("export",), done=self.sums_exist))
        for region in self.copy_regions:
            steps.append(Step(f"copy:{region}", self.copier(region), ("ami",), done=self.copy_exists(region)))
        if r.make_public:
            for region in [self.region, *self.copy_regions]:
                need = "ami" if region == self.region else f"copy:{region}"
                steps.append(Step(f"public:{region}", self.publisher(region), (need,), done=self.is_public(region)))
        steps.append(Step("notes", self.notes, tuple(s.name for s in steps)))
        if r.github is not None:
            steps.append(Step("github", self.github, ("notes",)))
        return steps

    # AMI ---------------------------------------------------------------------------------------------
    def build_ami(self, ctx: StepContext) -> dict[str, Any]:
        request = replace(
            self.request.build,
            ami_regions=(),  # copies are steps of their own, running alongside the export
            manifest_path=self.paths.ami,
            observer=_PackerLines(ctx),
            cancel=ctx.stop,
        )
        manifest = self.builders.ami(self.settings, request)
        ami = manifest.amis.get(self.region)
        if ami is None:
            raise XalError(f"the build produced no AMI in {self.region} (manifest {self.paths.ami})")
        return {"ami": ami, "region": self.region}

    def _state(self, region: str, ami: str) -> dict[str, Any]:
        images = self.factory.client("ec2", region).describe_images(ImageIds=[ami])["Images"]
        return images[0] if images else {}

    def ami_exists(self, outputs: dict[str, Any]) -> bool:
        return self.paths.ami.is_file() and self._state(self.region, outputs["ami"]).get("State") == "available"

    # Docker ------------------------------------------------------------------------------------------
    def build_docker(self, ctx: StepContext) -> dict[str, Any]:
        assert self.request.docker is not None
        request = replace(
            self.request.docker, manifest_path=self.paths.docker, observer=_PackerLines(ctx), cancel=ctx.stop
        )
        manifest = self.builders.docker(self.settings, request)
        return {"image": manifest.docker_image, "tags": manifest.docker_tags, "pushed": request.push}

    def docker_exists(self, outputs: dict[str, Any]) -> bool:
        assert self.request.docker is not None
        if outputs.get("pushed") != self.request.docker.push or not self.paths.docker.is_file():
            return False
        found = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", str(outputs["image"])],
            capture_output=True,
            text=True,
            check=False,
        )
        return found.returncode == 0 and found.stdout.strip() == outputs["image"]

    # export and checksums ---------------------------------------------------------------------------------
    def export(self, ctx: StepContext) -> dict[str, Any]:
        ami = ctx.output("ami", "ami")
        request = replace(
            self.request.export,
            ami_ids=(ami,),
            asset_ids=(self.asset,),
            manifest_path=self.paths.ami,
            stop=ctx.stop,
            observer=_ExportLines(ctx),
        )
        result = export_images(self.settings, request, self.factory)
        return {"images": result.images, "bucket": result.target.bucket, "cdn": result.target.cdn_domain}

    def images_exist(self, outputs: dict[str, Any]) -> bool:
        s3 = self.factory.client("s3")
        return all(head(s3, i["bucket"], i["key"]) is not None for i in outputs["images"])

    def checksums(self, ctx: StepContext) -> dict[str, Any]:
        images, bucket = ctx.output("export", "images"), ctx.output("export", "bucket")
        keys = [i["key"] for i in images]
        ctx.report(f"SHA-256 of {len(keys)} image(s)")
        sums = full_checksums(
            self.factory, self.asset, bucket, keys, batch_role_arn=self.request.batch_role_arn, stop=ctx.stop
        )
        text = sums_text(sums)
        publish_sums(self.factory, self.asset, bucket, text)
        self.paths.sums.write_text(text)
        return {"sha256": {c.key: c.sha256 for c in sums}, "method": sums[0].method if sums else "", "bucket": bucket}

    def sums_exist(self, outputs: dict[str, Any]) -> bool:
        return self.paths.sums.is_file() and bool(
            head(self.factory.client("s3"), outputs["bucket"], naming.sums_key(self.asset))
        )

    # copies and make-public -----------------------------------------------------------------------------
    def copier(self, region: str) -> Callable[[StepContext], dict[str, Any]]:
        def copy(ctx: StepContext) -> dict[str, Any]:
            copies = start_copies(self.factory, self.asset, self.region, ctx.output("ami", "ami"), [region])
            ctx.report(f"{copies[region]} copying")
            wait_available(self.factory, copies, self.request.ami_wait, sleep=_waiting(ctx))
            return {"ami": copies[region], "region": region}

        return copy

    def copy_exists(self, region: str) -> Callable[[dict[str, Any]], bool]:
        return lambda outputs: self._state(region, outputs["ami"]).get("State") == "available"

    def publisher(self, region: str) -> Callable[[StepContext], dict[str, Any]]:
        def publish(ctx: StepContext) -> dict[str, Any]:  # noqa: ARG001 - every step takes its context
            public = make_ami_public(self.factory, self.asset, regions=[region])
            return {"amis": public.get(region, []), "region": region}

        return publish

    def is_public(self, region: str) -> Callable[[dict[str, Any]], bool]:
        return lambda outputs: all(self._state(region, a).get("Public") for a in outputs["amis"])

    # notes and GitHub -------------------------------------------------------------------------------------
    def notes(self, ctx: StepContext) -> dict[str, Any]:
        """Everything the other steps produced into the ami manifest, then the notes from the manifests."""
        manifest = BuildManifest.load(self.paths.ami)
        for name, outputs in ctx.inputs.items():
            if name.startswith("copy:"):
                manifest.amis[outputs["region"]] = outputs["ami"]
            elif name.startswith("public:"):
                manifest.public_amis = sorted({*manifest.public_amis, *outputs["amis"]})
        digests = ctx.inputs["checksums"]["sha256"]
        for image in manifest.vm_images:
            if image["key"] in digests:
                image["sha256_hex"] = digests[image["key"]]
                image["sha256_method"] = ctx.inputs["checksums"]["method"]
        manifest.extra["ami_details"] = self.ami_details(manifest.amis)
        manifest.extra["sha256sums"] = {"file": self.paths.sums.name, "key": naming.sums_key(self.asset)}
        manifest.finished_at = time.time()
        manifest.write(self.paths.ami)
        self.write_timeline()
        repository = self.request.github.repository if self.request.github else defaults.GITHUB_REPOSITORY
        write_release_notes(
            self.paths.notes,
            self.asset,
            ami_manifest=self.paths.ami,
            cdn_domain=ctx.inputs["export"].get("cdn"),
            repository=repository,
        )
        return {"notes": str(self.paths.notes), "amis": manifest.amis}

    def ami_details(self, amis: dict[str, str]) -> dict[str, dict[str, Any]]:
        details = {}
        for region, ami in sorted(amis.items()):
            image = self._state(region, ami)
            details[region] = {
                "id": ami,
                "name": image.get("Name", naming.ami_name(self.asset)),
                "public": bool(image.get("Public")),
                "created": image.get("CreationDate"),
            }
        return details

    def github(self, ctx: StepContext) -> dict[str, Any]:  # noqa: ARG002 - every step takes its context
        github, release_id = self.request.github, self.request.release_id
        assert github is not None and release_id is not None
        self.write_timeline()  # the picture attached to the release: up to this upload
        releases = self.builders.releases(github) if self.builders.releases else None
        result = update_release(release_id, self.asset, github, ami_manifest=self.paths.ami, releases=releases)
        return {"url": result["url"], "assets": [a["name"] for a in result["assets"]]}

    def write_timeline(self) -> Path:
        assert self.graph is not None
        return write_svg(self.graph.record, self.paths.timeline, now=time.time())


def run_release(
    settings: Settings,
    request: ReleaseRequest,
    *,
    builders: Builders | None = None,
    factory: AwsSessionFactory | None = None,
    observer: ReleaseObserver | None = None,
) -> ReleaseResult:
    """Run the release graph (see module docs); ReleaseFailed names the failed steps, after the
    observer was given what exists of the asset now (nothing is deleted: a re-run continues)."""
    factory = factory or AwsSessionFactory(settings)
    resolve_owner(factory)
    paths = ReleasePaths.of(settings.asset_id, request.export.manifest_path or request.build.manifest_path)
    release = ReleasePlan(settings, request, builders or Builders(), factory, paths)
    record = RunRecord.load(paths.record) if paths.record.is_file() else RunRecord(settings.asset_id)
    record.extra = {"docker": request.docker is not None, "github": request.github is not None}
    graph = Graph(release.steps(), record, paths.record, observer)
    release.graph = graph
    try:
        if observer is not None:
            with observer:
                graph.run()
        else:
            graph.run()
    except ReleaseFailed:
        _report_left_behind(factory, settings, [settings.region, *release.copy_regions], request, observer)
        raise
    finally:
        release.write_timeline()
    return ReleaseResult(graph.record, BuildManifest.load(paths.ami), paths)


def _report_left_behind(
    factory: AwsSessionFactory,
    settings: Settings,
    regions: list[str],
    request: ReleaseRequest,
    observer: ReleaseObserver | None,
) -> None:
    if observer is None:
        return
    try:
        query = Query(pattern=settings.asset_id, regions=tuple(regions), bucket=request.export.bucket)
        observer.left_behind(find_assets(factory, query))
    except Exception as exc:  # the summary is best effort; the failure itself matters
        log.warning("could not list what the release left behind: %s", describe_error(exc))
