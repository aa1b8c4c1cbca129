"""Publishing commands: the release build in CodeBuild, the GitHub release and its notes."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal.cli import options as o

if TYPE_CHECKING:
    from xal.release.flows import BuildOptions, GitHubTarget

PANEL = "Release"
DEV_PANEL = "Development"
BUILD_PANEL = "Release build options"
GITHUB_PANEL = "GitHub options"

Branch = Annotated[
    str,
    typer.Option("--branch", help="Branch, tag or ref the build checks out (e.g. $GITHUB_REF).", show_default=False),
]
PollInterval = Annotated[
    float, typer.Option("--poll-interval", help="Seconds between build status checks.", rich_help_panel=BUILD_PANEL)
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="Stop following after this many seconds (the build keeps running) and fail.",
        rich_help_panel=BUILD_PANEL,
    ),
]
Project = Annotated[
    str | None,
    typer.Option(
        "--project",
        help="CodeBuild project [default: output ProjectName of stack XAL-RELEASE-CODEBUILD].",
        rich_help_panel=BUILD_PANEL,
    ),
]
AmiRegions = Annotated[
    list[str] | None,
    typer.Option(
        "--ami-region", help="The build copies the AMI to this region too (repeatable).", rich_help_panel=BUILD_PANEL
    ),
]
Repository = Annotated[
    str,
    typer.Option(
        "--repository",
        envvar="XAL_GITHUB_REPOSITORY",
        help="GitHub repository OWNER/REPO.",
        rich_help_panel=GITHUB_PANEL,
    ),
]
ApiUrl = Annotated[
    str,
    typer.Option(
        "--github-api-url", envvar="XAL_GITHUB_API_URL", help="GitHub REST API URL.", rich_help_panel=GITHUB_PANEL
    ),
]
CdnDomain = Annotated[
    str | None,
    typer.Option(help="CloudFront domain for VM images whose manifest entry has no URL.", show_default=False),
]
AmiManifest = Annotated[
    Path | None, typer.Option(help="The ami manifest [default: .xal/builds/<asset-id>/ami-manifest.json].")
]
DockerManifest = Annotated[
    Path | None, typer.Option(help="The docker manifest [default: .xal/builds/<asset-id>/docker-manifest.json].")
]


def _build_options(
    make_public: bool, regions: list[str] | None, project: str | None, poll: float, timeout: float
) -> BuildOptions:
    from xal.release.codebuild import FollowPolicy
    from xal.release.flows import BuildOptions

    return BuildOptions(make_public, tuple(regions or ()), project, FollowPolicy(poll, timeout))


def _github(repository: str, api_url: str) -> GitHubTarget:
    from xal.release.flows import GitHubTarget

    return GitHubTarget(repository, api_url)


def _print_build(build: dict[str, Any], region: str, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    from xal.release.codebuild import summary

    data = {**(extra or {}), "build": summary(build, region)}
    if as_json:
        typer.echo(jsonlib.dumps(data, indent=2, sort_keys=True))
        return
    for key, value in (extra or {}).items():
        typer.echo(f"{key.replace('_', ' ')}: {value}")
    seconds = sum(p["seconds"] or 0 for p in data["build"]["phases"])
    typer.echo(f"release build {build.get('id')} {build.get('buildStatus')} ({seconds // 60} min of phases)")
    typer.echo(f"log: {data['build']['log']}")


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
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    make_ami_public: Annotated[
        bool,
        typer.Option(
            "--make-ami-public/--no-make-ami-public",
            help="Whether the build makes the AMI public.",
            rich_help_panel=BUILD_PANEL,
        ),
    ] = True,
    ami_region: AmiRegions = None,
    project: Project = None,
    poll_interval: PollInterval = 30.0,
    timeout: Timeout = 5 * 3600.0,
) -> None:
    """Start the release build in CodeBuild for a GitHub release and follow it until it ends.

    The build gets RELEASE_ID (from the upload URL), ASSET_ID and MAKE_AMI_PUBLIC_OPTION; its
    GitHub token comes from Secrets Manager, never from this command. A failed, stopped or
    timed-out build exits non-zero with the failed phase and a link to its log.
    """
    from xal.cli.progress import CodeBuildProgress, notice
    from xal.release.flows import start_release_build as run

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
        json=json,
    )
    options = _build_options(make_ami_public, ami_region, project, poll_interval, timeout)
    with CodeBuildProgress() as progress:
        build = run(settings, upload_url, branch, options, on_update=progress.update, notify=notice)
    _print_build(build, settings.region, settings.json)


def update_release(
    release_id: Annotated[int, typer.Option("--release-id", help="Id of the GitHub release.", show_default=False)],
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    repository: Repository = "exasol/ai-lab",
    github_api_url: ApiUrl = "https://api.github.com",
    cdn_domain: CdnDomain = None,
    ami_manifest: AmiManifest = None,
    docker_manifest: DockerManifest = None,
) -> None:
    """Add the release notes (Docker image, AMIs, VM images) to a GitHub release and attach
    artifacts.md and the build manifests; running it again replaces them. Token: GH_TOKEN or GITHUB_TOKEN.
    """
    from xal.release.flows import update_release as run

    settings = o.build_settings(None, asset_id=asset_id, log_level=log_level, json=json)
    result = run(
        release_id,
        settings.asset_id,
        _github(repository, github_api_url),
        cdn_domain=cdn_domain,
        ami_manifest=ami_manifest,
        docker_manifest=docker_manifest,
    )
    if settings.json:
        typer.echo(jsonlib.dumps(result, indent=2, sort_keys=True))
        return
    state = "updated" if result["body_updated"] else "already up to date"
    typer.echo(f"release {release_id} of {result['repository']}: notes {state}; {result['url']}")
    for asset in result["assets"]:
        typer.echo(f"  asset {asset['name']} ({asset['size']} bytes)")


def release_notes(
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the notes to this file instead of stdout.")] = None,
    cdn_domain: CdnDomain = None,
    ami_manifest: AmiManifest = None,
    docker_manifest: DockerManifest = None,
) -> None:
    """Print the release notes of an asset (what update-release adds), from its build manifests."""
    from xal.release.notes import release_notes as run

    settings = o.build_settings(None, asset_id=asset_id, log_level=log_level)
    text = run(settings.asset_id, ami_manifest=ami_manifest, docker_manifest=docker_manifest, cdn_domain=cdn_domain)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"wrote {out}", err=True)


def start_test_release_build(
    branch: Branch,
    release_title: Annotated[
        str, typer.Option("--release-title", help="Title of the draft release.", show_default=False)
    ],
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: Annotated[
        str | None, typer.Option("--asset-id", help="Asset-id of the build [default: the release title].")
    ] = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    tag: Annotated[
        str,
        typer.Option(
            help="Tag of the draft release (created only when someone publishes it).", rich_help_panel=GITHUB_PANEL
        ),
    ] = "",
    repository: Repository = "exasol/ai-lab",
    github_api_url: ApiUrl = "https://api.github.com",
    ami_region: AmiRegions = None,
    project: Project = None,
    poll_interval: PollInterval = 30.0,
    timeout: Timeout = 5 * 3600.0,
) -> None:
    """Create a draft GitHub release, then run the release build for it with the AMI kept private.
    Token: GH_TOKEN or GITHUB_TOKEN.
    """
    from xal.cli.progress import CodeBuildProgress, notice
    from xal.release.flows import start_test_release_build as run

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        log_level=log_level,
        json=json,
    )
    options = _build_options(False, ami_region, project, poll_interval, timeout)
    with CodeBuildProgress("test release build") as progress:
        result = run(
            settings,
            branch,
            release_title,
            _github(repository, github_api_url),
            options,
            asset_id=asset_id,
            tag=tag,
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
