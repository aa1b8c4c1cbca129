"""Release commands (xal.release): the release build in CodeBuild, the GitHub release and its notes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.render import echo_json
from xal.config import Settings

if TYPE_CHECKING:
    from xal.export.pipeline import ExportRequest
    from xal.image.ami import AmiBuildRequest
    from xal.release.flows import BuildOptions, GitHubTarget
    from xal.release.pipeline import ReleaseResult

PANEL = "Release"
DEV_PANEL = "Development"

Branch = Annotated[
    str,
    typer.Option("--branch", help="Branch, tag or ref the build checks out (e.g. $GITHUB_REF).", show_default=False),
]
CdnDomain = Annotated[
    str | None,
    typer.Option(help="CloudFront domain for VM images whose manifest entry has no URL.", show_default=False),
]
AmiManifest = Annotated[
    Path | None, typer.Option(help="The ami manifest [default: .xal/builds/ASSET-ID/ami-manifest.json].")
]
DockerManifest = Annotated[
    Path | None, typer.Option(help="The docker manifest [default: .xal/builds/ASSET-ID/docker-manifest.json].")
]


def _print_build(build: dict[str, Any], region: str, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    from xal.release.codebuild import phase_seconds, summary

    data = {**(extra or {}), "build": summary(build, region)}
    if as_json:
        echo_json(data)
        return
    for key, value in (extra or {}).items():
        typer.echo(f"{key.replace('_', ' ')}: {value}")
    minutes = phase_seconds(data["build"]) // 60
    typer.echo(f"release build {build.get('id')} {build.get('buildStatus')} ({minutes} min of phases)")
    typer.echo(f"log: {data['build']['log']}")


@o.command
def start_release_build(
    upload_url: Annotated[
        str,
        typer.Option(
            "--upload-url",
            help="Upload URL of the GitHub release, https://uploads.github.com/repos/OWNER/REPO/releases/ID/assets...",
            show_default=False,
        ),
    ],
    branch: Branch,
    settings: Annotated[Settings, o.SETTINGS],
    options: Annotated[BuildOptions, o.RELEASE_BUILD.defaults(make_ami_public=True)],
) -> None:
    """Start the release build in CodeBuild for a GitHub release and follow it until it ends.

    The build gets RELEASE_ID (from the upload URL), ASSET_ID, MAKE_AMI_PUBLIC_OPTION and
    DOCKER_LATEST_OPTION=--latest (a release moves the registry's 'latest'); its GitHub token
    comes from Secrets Manager, never from this command. A failed, stopped or
    timed-out build exits non-zero with the failed phase and a link to its log.
    """
    from xal.cli.progress import CodeBuildProgress, notice
    from xal.release.flows import start_release_build as run

    with CodeBuildProgress() as progress:
        build = run(settings, upload_url, branch, options, on_update=progress.update, notify=notice)
    _print_build(build, settings.region, settings.json)


@o.command
def update_release(
    release_id: Annotated[int, typer.Option("--release-id", help="Id of the GitHub release.", show_default=False)],
    settings: Annotated[Settings, o.SETTINGS.without("config", *o.AWS_OPTIONS)],
    github: Annotated[GitHubTarget, o.GITHUB],
    cdn_domain: CdnDomain = None,
    ami_manifest: AmiManifest = None,
    docker_manifest: DockerManifest = None,
) -> None:
    """Add the release notes (Docker image, AMIs, VM images) to a GitHub release and attach
    artifacts.md and the build manifests; running it again replaces them. Token: GH_TOKEN or GITHUB_TOKEN.
    """
    from xal.release.flows import update_release as run

    result = run(
        release_id,
        settings.asset_id,
        github,
        cdn_domain=cdn_domain,
        ami_manifest=ami_manifest,
        docker_manifest=docker_manifest,
    )
    if settings.json:
        echo_json(result)
        return
    state = "updated" if result["body_updated"] else "already up to date"
    typer.echo(f"release {release_id} of {result['repository']}: notes {state}; {result['url']}")
    for asset in result["assets"]:
        typer.echo(f"  asset {asset['name']} ({asset['size']} bytes)")


@o.command
def release_notes(
    settings: Annotated[Settings, o.SETTINGS.without("config", *o.AWS_OPTIONS, "json")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the notes to this file instead of stdout.")] = None,
    cdn_domain: CdnDomain = None,
    ami_manifest: AmiManifest = None,
    docker_manifest: DockerManifest = None,
) -> None:
    """Print the release notes of an asset (what update-release adds), from its build manifests."""
    from xal.release.notes import release_notes, write_release_notes

    sources = {"ami_manifest": ami_manifest, "docker_manifest": docker_manifest, "cdn_domain": cdn_domain}
    if out is None:
        typer.echo(release_notes(settings.asset_id, **sources), nl=False)
    else:
        typer.echo(f"wrote {write_release_notes(out, settings.asset_id, **sources)}", err=True)


@o.command
def start_test_release_build(
    branch: Branch,
    release_title: Annotated[
        str, typer.Option("--release-title", help="Title of the draft release.", show_default=False)
    ],
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    github: Annotated[GitHubTarget, o.GITHUB],
    options: Annotated[BuildOptions, o.RELEASE_BUILD.without("make_ami_public")],
    asset_id: Annotated[
        str | None, typer.Option("--asset-id", help="Asset-id of the build [default: the release title].")
    ] = None,
    tag: Annotated[
        str,
        typer.Option(
            help="Tag of the draft release (created only when someone publishes it).", rich_help_panel=o.GITHUB_PANEL
        ),
    ] = "",
    docker_push: Annotated[
        bool,
        typer.Option(
            "--docker-push/--no-docker-push",
            help="Whether the build pushes the Docker image (its version tag; never 'latest').",
            rich_help_panel=o.RELEASE_BUILD_PANEL,
        ),
    ] = True,
) -> None:
    """Create a draft GitHub release, then run the release build for it with the AMI kept private
    and the registry's 'latest' tag left alone. Token: GH_TOKEN or GITHUB_TOKEN.
    """
    from xal.cli.progress import CodeBuildProgress, notice
    from xal.release.flows import start_test_release_build as run

    with CodeBuildProgress("test release build") as progress:
        result = run(
            settings,
            branch,
            release_title,
            github,
            options,
            asset_id=asset_id,
            tag=tag,
            docker_push=docker_push,
            notify=notice,
            on_update=progress.update,
        )
    _print_build(
        result["build"],
        settings.region,
        settings.json,
        {"release_id": result["release_id"], "release_url": result["release_url"]},
    )


ReleaseId = Annotated[
    int | None,
    typer.Option(
        "--release-id", help="Id of the GitHub release to update (needed unless --no-github).", show_default=False
    ),
]
CopyToRegion = Annotated[
    list[str] | None,
    typer.Option(
        "--copy-to-region", help="Copy the AMI to this region too (repeatable).", rich_help_panel=o.BUILD_PANEL
    ),
]
MakePublic = Annotated[
    bool,
    typer.Option(
        "--make-ami-public/--no-make-ami-public",
        help="Give every AMI of the asset (all regions) launch permission 'all'.",
        rich_help_panel=o.BUILD_PANEL,
    ),
]
ChecksumRole = Annotated[
    str | None,
    typer.Option(
        "--checksum-role-arn",
        envvar="XAL_CHECKSUM_ROLE_ARN",
        help="Role S3 Batch Operations assumes to compute the images' full-object SHA-256 in S3 "
        "[default: none: parallel ranged GETs from this host, nothing written to disk].",
        rich_help_panel=o.EXPORT_PANEL,
    ),
]


def print_release(result: ReleaseResult, as_json: bool) -> None:
    """The release's steps as a timeline (critical path marked), the AMIs and images, where the files are."""
    from xal.cli.render import print_amis_and_images
    from xal.release.timeline import text_timeline

    if as_json:
        echo_json({"release": result.record.to_dict(), "manifest": result.manifest.to_dict()})
        return
    for line in text_timeline(result.record):
        typer.echo(line)
    print_amis_and_images(result.manifest)
    typer.echo(f"timeline: {result.paths.timeline}\nrelease manifest: {result.paths.record}")


@o.command
def release(
    settings: Annotated[Settings, o.SETTINGS],
    build: Annotated[AmiBuildRequest, o.AMI_BUILD.without("manifest")],
    export: Annotated[ExportRequest, o.EXPORT],
    github: Annotated[GitHubTarget, o.GITHUB],
    release_id: ReleaseId = None,
    use_github: Annotated[
        bool, typer.Option("--github/--no-github", help="Update the GitHub release (notes and assets) at the end.")
    ] = True,
    docker: Annotated[
        bool, typer.Option("--docker/--no-docker", help="Build the Docker image alongside the AMI.")
    ] = True,
    docker_push: Annotated[
        bool,
        typer.Option(
            "--docker-push/--no-docker-push",
            help="Push the Docker image (DOCKER_REGISTRY_USER/PASSWORD).",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = True,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest/--no-latest",
            help="Also tag and push the image as 'latest'; test releases use --no-latest.",
            rich_help_panel=o.BUILD_PANEL,
        ),
    ] = True,
    repository_image: Annotated[
        str,
        typer.Option(
            "--docker-repository", help="Image repository, [HOST[:PORT]/]ORG/NAME.", rich_help_panel=o.BUILD_PANEL
        ),
    ] = defaults.DOCKER_REPOSITORY,
    make_ami_public: MakePublic = False,
    copy_to_region: CopyToRegion = None,
    checksum_role_arn: ChecksumRole = None,
    playbook_vars_file: o.PlaybookVars = None,
) -> None:
    """Run the whole release as one dependency graph: the Docker image builds (and is pushed) while
    Packer builds the AMI; then the VM exports (all formats at once), the region copies and
    make-public run together; the full-object SHA-256 of each image and SHA256SUMS follow the export;
    last the release notes and the GitHub release (notes, manifests, SHA256SUMS, timeline.svg).

    Every step is recorded in .xal/builds/ASSET-ID/release-manifest.json; a re-run skips what the
    manifest and AWS show as done and runs again what failed. One line per running step shows its
    elapsed time; timeline.svg (a Gantt chart, critical path marked) is written next to the manifest.
    """
    from xal.cli.progress import ReleaseProgress
    from xal.cli.prompts import secret_asker
    from xal.errors import UsageError
    from xal.image.docker import DockerBuildRequest, RegistryCredentials
    from xal.image.playbook_vars import build_vars
    from xal.release.pipeline import ReleaseRequest, run_release

    docker_request = None
    if docker:
        credentials = RegistryCredentials.from_env() if docker_push else None
        if docker_push and credentials is None:
            raise UsageError(
                "--docker-push needs registry credentials: set DOCKER_REGISTRY_USER and DOCKER_REGISTRY_PASSWORD "
                "(or --no-docker-push, --no-docker)"
            )
        docker_request = DockerBuildRequest(
            repository=repository_image,
            push=docker_push,
            latest=latest,
            credentials=credentials,
            ansible_vars=build_vars(settings, playbook_vars_file, os_password=False),
        )
    request = ReleaseRequest(
        build=replace(build, ansible_vars=build_vars(settings, playbook_vars_file, ask_secret=secret_asker())),
        export=export,
        docker=docker_request,
        copy_regions=tuple(copy_to_region or ()),
        make_public=make_ami_public,
        github=github if use_github else None,
        release_id=release_id,
        batch_role_arn=checksum_role_arn,
    )
    print_release(run_release(settings, request, observer=ReleaseProgress()), settings.json)


@o.command
def release_check(
    tag: Annotated[
        str,
        typer.Option(
            "--tag", envvar="GITHUB_REF_NAME", help="The release tag [default: $GITHUB_REF_NAME].", show_default=False
        ),
    ],
) -> None:
    """Check that a release tag is the project version and that CHANGELOG.md's newest entry names it
    (exit 2 otherwise); the release workflow runs this before anything is built."""
    from xal.release.check import check_release

    typer.echo(f"release {check_release(tag)}: tag, project version and changelog agree")


def register(app: typer.Typer) -> None:
    app.command("release", rich_help_panel=PANEL)(release)
    app.command("release-check", rich_help_panel=PANEL)(release_check)
    app.command("start-release-build", rich_help_panel=PANEL)(start_release_build)
    app.command("update-release", rich_help_panel=PANEL)(update_release)
    app.command("release-notes", rich_help_panel=PANEL)(release_notes)
    app.command("start-test-release-build", rich_help_panel=DEV_PANEL)(start_test_release_build)
