"""Release commands (xal.release): the release build in CodeBuild, the GitHub release and its notes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal.cli import options as o
from xal.cli.render import echo_json
from xal.config import Settings

if TYPE_CHECKING:
    from xal.release.flows import BuildOptions, GitHubTarget

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


def register(app: typer.Typer) -> None:
    app.command("start-release-build", rich_help_panel=PANEL)(start_release_build)
    app.command("update-release", rich_help_panel=PANEL)(update_release)
    app.command("release-notes", rich_help_panel=PANEL)(release_notes)
    app.command("start-test-release-build", rich_help_panel=DEV_PANEL)(start_test_release_build)
