"""Deployment commands: create or update the permanent CloudFormation stacks (WAF, VM bucket, CodeBuild)."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from typing import Annotated, Any

import typer

from xal.cli import options as o
from xal.deploy import DEFAULT_GITHUB_TOKEN_SECRET, DEFAULT_REGISTRY_SECRET, DEFAULT_REPOSITORY_URL

PANEL = "Deployment"
DEPLOY_PANEL = "Deploy options"

Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Execute the change set without asking.", rich_help_panel=DEPLOY_PANEL),
]
ReplaceFailed = Annotated[
    bool,
    typer.Option(
        "--replace-failed",
        help="If the stack's first creation failed (ROLLBACK_COMPLETE), delete it and create it again.",
        rich_help_panel=DEPLOY_PANEL,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout-minutes", help="Give up waiting for the stack after this long.", rich_help_panel=DEPLOY_PANEL
    ),
]
GitHubTokenSecret = Annotated[
    str,
    typer.Option(
        "--github-token-secret",
        envvar="XAL_GITHUB_TOKEN_SECRET",
        help="Secrets Manager secret (name or ARN) with the GitHub token CodeBuild uses; see cloudformation/README.md.",
        rich_help_panel=DEPLOY_PANEL,
    ),
]
RegistrySecret = Annotated[
    str,
    typer.Option(
        "--registry-secret",
        envvar="XAL_REGISTRY_SECRET",
        help="Secrets Manager secret (name or ARN) with the Docker registry login (JSON keys User, AccessToken).",
        rich_help_panel=DEPLOY_PANEL,
    ),
]
RepositoryUrl = Annotated[
    str, typer.Option("--repository-url", help="GitHub repository CodeBuild clones.", rich_help_panel=DEPLOY_PANEL)
]


def _options(yes: bool, replace_failed: bool, timeout_minutes: float) -> Any:
    from xal.deploy.changeset import DeployOptions

    return DeployOptions(yes=yes, replace_failed=replace_failed, timeout_minutes=timeout_minutes)


def _talk() -> dict[str, Any]:
    """The deploy flow's observer and asker: the change set on stderr, the confirmation on the terminal."""
    from xal.cli.changeset_display import ChangeSetDisplay
    from xal.cli.prompts import confirm_on_terminal

    return {"observer": ChangeSetDisplay(), "ask": confirm_on_terminal}


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(jsonlib.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    from xal.console import out

    if not result.outputs:
        typer.echo(f"{result.stack_name}: {result.outcome}, no outputs")
        return
    table = Table("output", "value", title=f"{result.stack_name} ({result.region}): {result.outcome}")
    for key, value in sorted(result.outputs.items()):
        table.add_row(key, value)
    out().print(table)


def deploy_waf(
    allowed_ip: Annotated[
        list[str],
        typer.Option(
            "--allowed-ip",
            help="IPv4 address or CIDR that skips the CAPTCHA (repeatable; at least one).",
            rich_help_panel=DEPLOY_PANEL,
        ),
    ],
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    aws_endpoint_url: o.EndpointUrl = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    yes: Yes = False,
    replace_failed: ReplaceFailed = False,
    timeout_minutes: Timeout = 30.0,
) -> None:
    """Create or update the WAF stack (always in us-east-1): 100 requests / 5 min per IP, CAPTCHA outside
    the allow-list. Deploy it before the VM bucket stack.
    """
    from xal.deploy.stacks import deploy_waf as run

    settings = o.build_settings(
        config, aws_profile=aws_profile, aws_endpoint_url=aws_endpoint_url, log_level=log_level, json=json
    )
    result = run(settings, allowed_ip, _options(yes, replace_failed, timeout_minutes), **_talk())
    _print_result(result, settings.json)


def deploy_bucket(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
    yes: Yes = False,
    replace_failed: ReplaceFailed = False,
    timeout_minutes: Timeout = 60.0,
) -> None:
    """Create or update the VM bucket stack: private bucket, VM export role, CloudFront with the WAF's ACL
    (read from the WAF stack in us-east-1, so deploy-waf comes first).
    """
    from xal.deploy.stacks import deploy_bucket as run

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        log_level=log_level,
        json=json,
    )
    _print_result(run(settings, _options(yes, replace_failed, timeout_minutes), **_talk()), settings.json)


def _deploy_codebuild(kind: str, settings: Any, secrets_and_repo: tuple[str, str, str], options: Any) -> None:
    from xal.deploy.stacks import deploy_codebuild

    github_token_secret, registry_secret, repository_url = secrets_and_repo
    result = deploy_codebuild(
        settings,
        kind,
        options,
        github_token_secret=github_token_secret,
        registry_secret=registry_secret,
        repository_url=repository_url,
        **_talk(),
    )
    _print_result(result, settings.json)


def _codebuild_command(kind: str, doc: str) -> Callable[..., None]:
    """The deploy command of one CodeBuild stack; CI and release differ only in the stack they deploy."""

    def command(
        config: o.ConfigFile = None,
        aws_profile: o.AwsProfile = None,
        region: o.Region = None,
        aws_endpoint_url: o.EndpointUrl = None,
        log_level: o.LogLevel = None,
        json: o.Json = None,
        github_token_secret: GitHubTokenSecret = DEFAULT_GITHUB_TOKEN_SECRET,
        registry_secret: RegistrySecret = DEFAULT_REGISTRY_SECRET,
        repository_url: RepositoryUrl = DEFAULT_REPOSITORY_URL,
        yes: Yes = False,
        replace_failed: ReplaceFailed = False,
        timeout_minutes: Timeout = 30.0,
    ) -> None:
        settings = o.build_settings(
            config,
            aws_profile=aws_profile,
            region=region,
            aws_endpoint_url=aws_endpoint_url,
            log_level=log_level,
            json=json,
        )
        _deploy_codebuild(
            kind,
            settings,
            (github_token_secret, registry_secret, repository_url),
            _options(yes, replace_failed, timeout_minutes),
        )

    command.__doc__ = doc
    command.__name__ = f"deploy_{kind}_codebuild"
    return command


deploy_ci_codebuild = _codebuild_command(
    "ci",
    """Create or update the CI CodeBuild stack: a webhook runs the AWS test tier on pushes whose commit
    message contains [CodeBuild] (not on main). Needs the VM bucket stack.
    """,
)
deploy_release_codebuild = _codebuild_command(
    "release",
    """Create or update the release CodeBuild stack (no webhook; `xal start-release-build` starts it).
    Needs the VM bucket stack.
    """,
)


def register(app: typer.Typer) -> None:
    app.command("deploy-waf", rich_help_panel=PANEL)(deploy_waf)
    app.command("deploy-bucket", rich_help_panel=PANEL)(deploy_bucket)
    app.command("deploy-ci-codebuild", rich_help_panel=PANEL)(deploy_ci_codebuild)
    app.command("deploy-release-codebuild", rich_help_panel=PANEL)(deploy_release_codebuild)
