"""The release commands as library calls: start (and follow) the release build, update the release,
start a test release. Each checks its inputs before it touches AWS or GitHub."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xal import defaults
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import UsageError
from xal.naming import validate_asset_id
from xal.release.codebuild import (
    FollowPolicy,
    ReleaseBuildRequest,
    environment_overrides,
    release_project,
    run_release_build,
)
from xal.release.github_release import GitHubReleases, github_token
from xal.release.notes import RELEASE_FILES, load_manifests, merge_into_body, render_markdown, render_section
from xal.release.upload_url import parse_upload_url

log = logging.getLogger(__name__)

ARTIFACTS_FILE = "artifacts.md"
TEST_RELEASE_MESSAGE = "Test-Release"


@dataclass(frozen=True)
class GitHubTarget:
    repository: str = defaults.GITHUB_REPOSITORY
    api_url: str = defaults.GITHUB_API_URL

    def releases(self) -> GitHubReleases:
        return GitHubReleases(github_token(), self.repository, self.api_url)


@dataclass(frozen=True)
class BuildOptions:
    make_ami_public: bool = True
    ami_regions: tuple[str, ...] = ()
    project: str | None = None
    policy: FollowPolicy = field(default_factory=FollowPolicy)


Updates = Callable[[dict[str, Any]], None] | None


def start_release_build(
    settings: Settings,
    upload_url: str,
    branch: str,
    options: BuildOptions = BuildOptions(),
    *,
    on_update: Updates = None,
    notify: Callable[[str], None] = log.warning,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Start the release build for the release behind ``upload_url`` and follow it to the end."""
    ref = parse_upload_url(upload_url)
    request = ReleaseBuildRequest(
        branch=branch,
        release_id=ref.release_id,
        asset_id=settings.asset_id,
        make_ami_public=options.make_ami_public,
        repository=ref.repository,
        ami_regions=options.ami_regions,
        project=options.project,
    )
    return run_release_build(
        AwsSessionFactory(settings),
        request,
        options.policy,
        on_update=on_update,
        notify=notify,
        clock=clock,
        sleep=sleep,
    )


def update_release(
    release_id: int,
    asset_id: str,
    github: GitHubTarget = GitHubTarget(),
    *,
    cdn_domain: str | None = None,
    ami_manifest: Path | None = None,
    docker_manifest: Path | None = None,
    releases: GitHubReleases | None = None,
) -> dict[str, Any]:
    """Put the release notes into the release body (replacing an earlier xal section) and attach
    ``artifacts.md``, the manifests and - when a release run left them next to the manifests -
    ``SHA256SUMS``, ``timeline.svg`` and ``release-manifest.json`` (replacing same-named assets)."""
    manifests = load_manifests(asset_id, ami_manifest, docker_manifest)
    markdown = render_markdown(manifests, cdn_domain, github.repository)
    releases = releases or github.releases()
    release = releases.get(release_id)
    before = release.body or ""
    body = merge_into_body(before, render_section(manifests, cdn_domain, github.repository))
    if body != before:
        releases.set_body(release, body)
    files = [(ARTIFACTS_FILE, markdown.encode(), "text/markdown")]
    files += [(path.name, path.read_bytes(), "application/json") for path in manifests.paths.values()]
    folder = next(iter(manifests.paths.values())).parent  # SHA256SUMS, timeline, release manifest
    files += [(n, (folder / n).read_bytes(), t) for n, t in RELEASE_FILES.items() if (folder / n).is_file()]
    assets = releases.replace_assets(release, files)
    return {
        "release_id": release_id,
        "repository": releases.repository,
        "url": release.html_url,
        "draft": release.draft,
        "body_updated": body != before,
        "assets": assets,
    }


def start_test_release_build(
    settings: Settings,
    branch: str,
    title: str,
    github: GitHubTarget = GitHubTarget(),
    options: BuildOptions = BuildOptions(make_ami_public=False),
    *,
    asset_id: str | None = None,
    tag: str = "",
    docker_push: bool = True,
    notify: Callable[[str], None] = log.info,
    on_update: Updates = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    releases: GitHubReleases | None = None,
) -> dict[str, Any]:
    """Create a draft release ``title`` on ``branch``, then run the release build with the AMI private
    and the registry's ``latest`` tag left alone (``docker_push=False``: the image is built, not pushed)."""
    if not title.strip():
        raise UsageError("--release-title must not be empty")
    request = ReleaseBuildRequest(
        branch=branch,
        release_id=1,  # placeholder until the draft exists; validates everything else first
        asset_id=validate_asset_id(asset_id or title),
        make_ami_public=False,
        repository=github.repository,
        ami_regions=options.ami_regions,
        docker_latest=False,  # a test release must never move `latest`
        docker_push=docker_push,
    )
    environment_overrides(request)
    factory = AwsSessionFactory(settings)
    project = release_project(factory, options.project)  # a missing stack must not leave a stray draft
    releases = releases or github.releases()
    release = releases.create_draft(
        title, TEST_RELEASE_MESSAGE, target_commitish=branch.removeprefix("refs/heads/"), tag=tag
    )
    notify(f"created draft release {release.id}: {release.html_url}")
    build = run_release_build(
        factory,
        replace(request, release_id=release.id, project=project),
        options.policy,
        on_update=on_update,
        notify=notify,
        clock=clock,
        sleep=sleep,
    )
    return {"release_id": release.id, "release_url": release.html_url, "build": build}
