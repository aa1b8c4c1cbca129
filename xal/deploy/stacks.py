"""The four permanent stacks: their templates, parameter values and deploy order.

Order: the WAF stack (always in us-east-1, where CloudFront web ACLs live) before the VM bucket
stack, which attaches the WAF's ACL to its distribution; the bucket before the two CodeBuild
stacks, whose roles may only touch that bucket and pass that export role. Each deploy reads
what it needs from the outputs of the stack before it, so a wrong order fails with a message
that names the command to run first.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from pathlib import Path

from xal import defaults
from xal.aws.errors import is_error
from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import (
    OUT_BUCKET,
    OUT_EXPORT_ROLE,
    OUT_WAF_ACL_ARN,
    WAF_REGION,
    stack_output,
)
from xal.config import Settings
from xal.deploy.changeset import (
    Ask,
    DeployObserver,
    DeployOptions,
    DeployResult,
    StackSpec,
    deploy_stack,
    no_one_to_ask,
)
from xal.errors import NotFoundError, UsageError
from xal.naming import PERMANENT_STACKS, S3_PREFIX_ROOT
from xal.paths import project_root

log = logging.getLogger(__name__)

TEMPLATES = {
    "waf": "waf.yaml",
    "bucket": "vm-bucket.yaml",
    "ci": "ci-codebuild.yaml",
    "release": "release-codebuild.yaml",
}
DEPLOY_COMMANDS = {
    "waf": "xal deploy-waf --allowed-ip <CIDR>",
    "bucket": "xal deploy-bucket",
    "ci": "xal deploy-ci-codebuild",
    "release": "xal deploy-release-codebuild",
}
CODEBUILD_KINDS = ("ci", "release")
CODEBUILD_SOURCE_TAGS = ("codebuild:source", "codebuild:source:type", "codebuild:source:provider")


def cloudformation_dir() -> Path:
    return project_root() / "cloudformation"


def template_path(key: str) -> Path:
    return cloudformation_dir() / TEMPLATES[key]


def normalize_cidrs(values: Iterable[str]) -> list[str]:
    """IPv4 CIDRs for the WAF allow-list: a bare address becomes /32; duplicates go, order is kept."""
    out: list[str] = []
    for raw in values:
        text = raw.strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            hint = ""
            if "host bits set" in str(exc):
                hint = f" (did you mean {ipaddress.ip_network(text, strict=False)}?)"
            raise UsageError(f"--allowed-ip {raw!r} is not an IPv4 address or CIDR{hint}") from None
        if network.version != 4:
            raise UsageError(f"--allowed-ip {raw!r}: only IPv4 is supported by the allow-list IP set")
        if network.prefixlen == 0:
            raise UsageError(f"--allowed-ip {raw!r} would exempt every IP from the CAPTCHA; WAF allows /1 to /32")
        if str(network) not in out:
            out.append(str(network))
    if not out:
        raise UsageError("give at least one --allowed-ip (IPv4 address or CIDR that skips the CAPTCHA)")
    return out


def _needs(factory: AwsSessionFactory, key: str, output: str, region: str, for_what: str) -> str:
    """An output of an earlier stack, or a NotFoundError that says which deploy to run first."""
    name = PERMANENT_STACKS[key]
    try:
        return stack_output(factory, name, output, region)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{for_what} needs output {output} of stack {name} in {region}: {exc}. "
            f"Deploy order is waf, bucket, ci/release; run `{DEPLOY_COMMANDS[key]}` first"
            f"{' (with the same --region)' if key == 'bucket' else ''}."
        ) from None


def waf_spec(allowed_ips: Iterable[str]) -> StackSpec:
    return StackSpec(
        name=PERMANENT_STACKS["waf"],
        template=template_path("waf"),
        region=WAF_REGION,
        parameters={"AllowedIpCidrs": ",".join(normalize_cidrs(allowed_ips))},
        capabilities=(),
    )


def bucket_spec(factory: AwsSessionFactory) -> StackSpec:
    acl_arn = _needs(factory, "waf", OUT_WAF_ACL_ARN, WAF_REGION, "the VM bucket stack")
    return StackSpec(
        name=PERMANENT_STACKS["bucket"],
        template=template_path("bucket"),
        region=factory.settings.region,
        parameters={"WebAclArn": acl_arn, "PathInBucket": S3_PREFIX_ROOT},
    )


def secret_arn(factory: AwsSessionFactory, name_or_arn: str, what: str, github: bool = False) -> str:
    """The ARN of a Secrets Manager secret (never its value); NotFoundError with the fix when missing."""
    from botocore.exceptions import ClientError

    region = name_or_arn.split(":")[3] if name_or_arn.startswith("arn:") else factory.settings.region
    try:
        described = factory.client("secretsmanager", region).describe_secret(SecretId=name_or_arn)
    except ClientError as exc:
        if not is_error(exc, "ResourceNotFoundException"):
            raise
        raise NotFoundError(
            f"{what} secret {name_or_arn!r} not found in Secrets Manager ({region}); "
            "create it first (see cloudformation/README.md, Secrets)"
        ) from None
    if github:
        tags = {t.get("Key") for t in described.get("Tags", [])}
        missing = [t for t in CODEBUILD_SOURCE_TAGS if t not in tags]
        if missing:
            log.warning(
                "secret %s lacks the tag(s) %s CodeBuild expects on source credentials", name_or_arn, ", ".join(missing)
            )
    return str(described["ARN"])


def codebuild_spec(
    factory: AwsSessionFactory,
    kind: str,
    *,
    github_token_secret: str = defaults.GITHUB_TOKEN_SECRET,
    registry_secret: str = defaults.REGISTRY_SECRET,
    repository_url: str = defaults.REPOSITORY_URL,
) -> StackSpec:
    if kind not in CODEBUILD_KINDS:
        raise UsageError(f"unknown CodeBuild stack {kind!r}; choose one of {', '.join(CODEBUILD_KINDS)}")
    region = factory.settings.region
    what = f"the {kind} CodeBuild stack"
    bucket = _needs(factory, "bucket", OUT_BUCKET, region, what)
    role = _needs(factory, "bucket", OUT_EXPORT_ROLE, region, what)
    return StackSpec(
        name=PERMANENT_STACKS[kind],
        template=template_path(kind),
        region=region,
        parameters={
            "GitHubRepositoryUrl": repository_url.removesuffix(".git").rstrip("/"),
            "GitHubTokenSecretArn": secret_arn(factory, github_token_secret, "GitHub token", github=True),
            "DockerRegistrySecretArn": secret_arn(factory, registry_secret, "Docker registry"),
            "VMBucketName": bucket,
            "VMExportRoleName": role,
            "PathInBucket": S3_PREFIX_ROOT,
        },
    )


# Each deploy below takes the observer and the asker of deploy_stack (defaults: the log, nobody to ask).


def deploy_waf(
    settings: Settings,
    allowed_ips: Iterable[str],
    options: DeployOptions,
    *,
    observer: DeployObserver | None = None,
    ask: Ask = no_one_to_ask,
) -> DeployResult:
    spec = waf_spec(allowed_ips)  # validate before any AWS call
    return deploy_stack(AwsSessionFactory(settings), spec, options, observer=observer, ask=ask)


def deploy_bucket(
    settings: Settings,
    options: DeployOptions,
    *,
    observer: DeployObserver | None = None,
    ask: Ask = no_one_to_ask,
) -> DeployResult:
    factory = AwsSessionFactory(settings)
    return deploy_stack(factory, bucket_spec(factory), options, observer=observer, ask=ask)


def deploy_codebuild(
    settings: Settings,
    kind: str,
    options: DeployOptions,
    *,
    github_token_secret: str = defaults.GITHUB_TOKEN_SECRET,
    registry_secret: str = defaults.REGISTRY_SECRET,
    repository_url: str = defaults.REPOSITORY_URL,
    observer: DeployObserver | None = None,
    ask: Ask = no_one_to_ask,
) -> DeployResult:
    factory = AwsSessionFactory(settings)
    spec = codebuild_spec(
        factory,
        kind,
        github_token_secret=github_token_secret,
        registry_secret=registry_secret,
        repository_url=repository_url,
    )
    return deploy_stack(factory, spec, options, observer=observer, ask=ask)
