"""Deploy commands (xal.deploy): create or update the permanent stacks (WAF, VM bucket, CodeBuild)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from xal import defaults
from xal.cli import options as o
from xal.cli.render import echo_json, print_rows
from xal.config import Settings

if TYPE_CHECKING:
    from xal.deploy.changeset import DeployOptions

PANEL = "Deployment"

GitHubTokenSecret = Annotated[
    str,
    typer.Option(
        "--github-token-secret",
        envvar="XAL_GITHUB_TOKEN_SECRET",
        help="Secrets Manager secret (name or ARN) with the GitHub token CodeBuild uses; see cloudformation/README.md.",
        rich_help_panel=o.DEPLOY_PANEL,
    ),
]
RegistrySecret = Annotated[
    str,
    typer.Option(
        "--registry-secret",
        envvar="XAL_REGISTRY_SECRET",
        help="Secrets Manager secret (name or ARN) with the Docker registry login (JSON keys User, AccessToken).",
        rich_help_panel=o.DEPLOY_PANEL,
    ),
]
RepositoryUrl = Annotated[
    str, typer.Option("--repository-url", help="GitHub repository CodeBuild clones.", rich_help_panel=o.DEPLOY_PANEL)
]


def _talk() -> dict[str, Any]:
    """The deploy flow's observer and asker: the change set on stderr, the confirmation on the terminal."""
    from xal.cli.changeset_display import ChangeSetDisplay
    from xal.cli.prompts import confirm_on_terminal

    return {"observer": ChangeSetDisplay(), "ask": confirm_on_terminal}


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict(), sort_keys=False)
    elif not result.outputs:
        typer.echo(f"{result.stack_name}: {result.outcome}, no outputs")
    else:
        title = f"{result.stack_name} ({result.region}): {result.outcome}"
        print_rows(title, ("output", "value"), sorted(result.outputs.items()))


@o.command
def deploy_waf(
    allowed_ip: Annotated[
        list[str],
        typer.Option(
            "--allowed-ip",
            help="IPv4 address or CIDR that skips the CAPTCHA (repeatable; at least one).",
            rich_help_panel=o.DEPLOY_PANEL,
        ),
    ],
    settings: Annotated[Settings, o.SETTINGS.without("region", "asset_id")],
    deploy: Annotated[DeployOptions, o.DEPLOY],
) -> None:
    """Create or update the WAF stack (always in us-east-1): 100 requests / 5 min per IP, CAPTCHA outside
    the allow-list. Deploy it before the VM bucket stack.
    """
    from xal.deploy.stacks import deploy_waf as run

    _print_result(run(settings, allowed_ip, deploy, **_talk()), settings.json)


@o.command
def deploy_bucket(
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    deploy: Annotated[DeployOptions, o.DEPLOY.defaults(timeout_minutes=defaults.BUCKET_DEPLOY_TIMEOUT_MINUTES)],
) -> None:
    """Create or update the VM bucket stack: private bucket, VM export role, CloudFront with the WAF's ACL
    (read from the WAF stack in us-east-1, so deploy-waf comes first).
    """
    from xal.deploy.stacks import deploy_bucket as run

    _print_result(run(settings, deploy, **_talk()), settings.json)


def _deploy_codebuild(
    kind: str, settings: Settings, deploy: DeployOptions, github_token_secret: str, registry_secret: str, url: str
) -> None:
    from xal.deploy.stacks import deploy_codebuild

    result = deploy_codebuild(
        settings,
        kind,
        deploy,
        github_token_secret=github_token_secret,
        registry_secret=registry_secret,
        repository_url=url,
        **_talk(),
    )
    _print_result(result, settings.json)


@o.command
def deploy_ci_codebuild(
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    deploy: Annotated[DeployOptions, o.DEPLOY],
    github_token_secret: GitHubTokenSecret = defaults.GITHUB_TOKEN_SECRET,
    registry_secret: RegistrySecret = defaults.REGISTRY_SECRET,
    repository_url: RepositoryUrl = defaults.REPOSITORY_URL,
) -> None:
    """Create or update the CI CodeBuild stack: a webhook runs the AWS test tier on pushes whose commit
    message contains [CodeBuild] (not on main). Needs the VM bucket stack.
    """
    _deploy_codebuild("ci", settings, deploy, github_token_secret, registry_secret, repository_url)


@o.command
def deploy_release_codebuild(
    settings: Annotated[Settings, o.SETTINGS.without("asset_id")],
    deploy: Annotated[DeployOptions, o.DEPLOY],
    github_token_secret: GitHubTokenSecret = defaults.GITHUB_TOKEN_SECRET,
    registry_secret: RegistrySecret = defaults.REGISTRY_SECRET,
    repository_url: RepositoryUrl = defaults.REPOSITORY_URL,
) -> None:
    """Create or update the release CodeBuild stack (no webhook; `xal start-release-build` starts it).
    Needs the VM bucket stack.
    """
    _deploy_codebuild("release", settings, deploy, github_token_secret, registry_secret, repository_url)


def register(app: typer.Typer) -> None:
    app.command("deploy-waf", rich_help_panel=PANEL)(deploy_waf)
    app.command("deploy-bucket", rich_help_panel=PANEL)(deploy_bucket)
    app.command("deploy-ci-codebuild", rich_help_panel=PANEL)(deploy_ci_codebuild)
    app.command("deploy-release-codebuild", rich_help_panel=PANEL)(deploy_release_codebuild)
