"""The release graph offline: what ``xal rehearse`` runs once the emulator and the machine stand-in are up.

The same graph as ``xal release`` (:mod:`xal.release.pipeline`), against local stand-ins only:

- AWS: the moto server of the rehearsal, with the ExportImage/RegisterImage fake (exports take a
  few seconds, siblings are real RegisterImage calls) and the bucket stack seeded;
- GitHub: :mod:`xal.local.github_stand_in` on 127.0.0.1, holding a draft release tagged with the
  asset-id; PyGithub talks to it with a dummy token (a real ``GITHUB_TOKEN`` is never used here);
- Docker: the Packer docker build of the same playbook from the local Debian base image, in
  parallel with the AMI build, tagged ``xal-rehearsal/ai-lab:<asset-id>`` and not pushed (there is
  no registry on this machine; see README "Rehearsal").

Checksums use the ranged-GET path (S3 Batch Operations does not exist in the emulator). At the
end the rehearsal does what a user does: it downloads every image and ``SHA256SUMS`` from the
emulator's bucket and runs ``sha256sum -c SHA256SUMS`` on them (:func:`check_downloads`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xal import defaults, naming
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import XalError
from xal.export.pipeline import ExportRequest
from xal.export.tasks import PollPolicy
from xal.image.ami import AmiBuildRequest, build_ami
from xal.image.docker import DockerBuildRequest, build_docker
from xal.local.github_stand_in import serve_github
from xal.local.moto_export import DiskSource, ExportFakeConfig, moto_export, seed_bucket_stack
from xal.manifest import BuildManifest
from xal.naming import DEFAULT_VM_FORMATS, VmFormat
from xal.packer.binary import PackerBinary
from xal.paths import state_dir
from xal.release.flows import GitHubTarget
from xal.release.github_release import GitHubReleases
from xal.release.pipeline import Builders, ReleaseObserver, ReleaseRequest, ReleaseResult, run_release

REHEARSAL_EXPORT_SECONDS = 3.0  # simulated duration of each export task
REHEARSAL_RELEASE_ID = 1
REHEARSAL_TOKEN = "rehearsal-token-not-a-secret"  # noqa: S105 - only ever sent to the loopback stand-in
REHEARSAL_DOCKER_REPOSITORY = "xal-rehearsal/ai-lab"
FAST_POLL = PollPolicy(initial=0.5, maximum=2.0)


@dataclass
class OfflineRelease:
    result: ReleaseResult
    release_assets: list[str]  # what the GitHub stand-in holds for the release afterwards
    release_body: str
    downloads: Path  # the images and SHA256SUMS as a user downloads them, checked with sha256sum -c


def check_downloads(factory: AwsSessionFactory, manifest: BuildManifest, folder: Path) -> Path:
    """Download each VM image and SHA256SUMS from the bucket into ``folder`` and run ``sha256sum -c``."""
    folder.mkdir(parents=True, exist_ok=True)
    s3 = factory.client("s3")
    images = manifest.vm_images
    if not images:
        raise XalError("rehearsal check failed: the release recorded no VM images")
    bucket = images[0]["bucket"]
    for key in [i["key"] for i in images] + [naming.sums_key(manifest.asset_id)]:
        s3.download_file(bucket, key, str(folder / key.rsplit("/", 1)[-1]))
    check = subprocess.run(["sha256sum", "-c", naming.SUMS_FILE], cwd=folder, capture_output=True, text=True)
    if check.returncode != 0:
        raise XalError(f"rehearsal check failed: sha256sum -c {naming.SUMS_FILE} in {folder}: {check.stdout.strip()}")
    return folder


def docker_request(base_image: str, ansible_vars: dict[str, object]) -> DockerBuildRequest:
    """The rehearsal's Docker branch: the local base image (no registry pull), built, not pushed."""
    return DockerBuildRequest(
        repository=REHEARSAL_DOCKER_REPOSITORY,
        base_image=base_image,
        pull=False,
        push=False,
        latest=False,
        ansible_vars=dict(ansible_vars),
    )


def release_offline(
    settings: Settings,
    build: AmiBuildRequest,
    docker: DockerBuildRequest | None,
    *,
    packer: PackerBinary | None = None,
    observer: ReleaseObserver | None = None,
    export_seconds: float = REHEARSAL_EXPORT_SECONDS,
    build_step: Callable[[Settings, AmiBuildRequest], BuildManifest] | None = None,
    formats: tuple[VmFormat, ...] = DEFAULT_VM_FORMATS,
    disks: DiskSource | None = None,
) -> OfflineRelease:
    """Run the release graph against the emulator at ``settings.aws_endpoint_url`` and a GitHub stand-in.

    ``build_step`` replaces the AMI build (the rehearsal adds committing the machine as the AMI's disk);
    ``disks`` makes the exported disk images (None: the fake's placeholder bytes).
    """
    assert settings.endpoint_is_local, "the offline release runs only against a local emulator"

    def ami(s: Settings, r: AmiBuildRequest) -> BuildManifest:
        return build_step(s, r) if build_step is not None else build_ami(s, r, packer)

    def image(s: Settings, r: DockerBuildRequest) -> BuildManifest:
        return build_docker(s, r, packer)

    with moto_export(ExportFakeConfig(duration=export_seconds, disks=disks)), serve_github() as github:
        seed_bucket_stack(settings.aws_endpoint_url, settings.region)  # type: ignore[arg-type]
        github.add_release(REHEARSAL_RELEASE_ID, f"Rehearsal of {settings.asset_id}", draft=True, tag=settings.asset_id)
        target = GitHubTarget(github.repo, github.api_url)
        builders = Builders(
            ami=ami,
            docker=image,
            releases=lambda t: GitHubReleases(REHEARSAL_TOKEN, t.repository, t.api_url),
        )
        request = ReleaseRequest(
            build=build,
            export=ExportRequest(formats=formats, poll=FAST_POLL),
            docker=docker,
            copy_regions=build.ami_regions or defaults.REHEARSAL_COPY_REGIONS,
            make_public=True,
            github=target,
            release_id=REHEARSAL_RELEASE_ID,
        )
        result = run_release(settings, request, builders=builders, observer=observer)
        release = github.releases[REHEARSAL_RELEASE_ID]
        assets = sorted(a["name"] for a in github.assets.values() if a["release_id"] == REHEARSAL_RELEASE_ID)
        folder = state_dir() / "rehearsal" / "downloads" / settings.asset_id
        downloads = check_downloads(AwsSessionFactory(settings), result.manifest, folder)
        return OfflineRelease(result, assets, release["body"] or "", downloads)
