"""Start the release build in CodeBuild and follow it until it ends.

The build runs ``aws-code-build/ci/buildspec_release.yaml`` in the project of stack
``XAL-RELEASE-CODEBUILD``. It gets only non-secret PLAINTEXT overrides (release id, asset-id,
whether to make the AMI public, whether to push the Docker image and move its ``latest`` tag, the
repository); the GitHub token and the registry login come
from Secrets Manager through the project's own environment. Following polls ``BatchGetBuilds``
with an injectable clock and sleep, so tests run without waiting; a failed, stopped or timed-out
build becomes one error naming the phase that failed and the link to its log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import OUT_PROJECT_NAME, stack_output
from xal.errors import ExitCode, NotFoundError, UsageError, XalError
from xal.naming import PERMANENT_STACKS, validate_asset_id
from xal.secrets import redact

log = logging.getLogger(__name__)

MAKE_PUBLIC = "--make-ami-public"
KEEP_PRIVATE = "--no-make-ami-public"
MOVE_LATEST = "--latest"  # the `xal build-docker` options the buildspec passes on (DOCKER_LATEST_OPTION)
KEEP_LATEST = "--no-latest"
SUCCEEDED = "SUCCEEDED"
IN_PROGRESS = "IN_PROGRESS"
FAILED_STATUSES = frozenset({"FAILED", "FAULT", "STOPPED", "TIMED_OUT"})
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ReleaseBuildRequest:
    branch: str  # the source version CodeBuild checks out (branch, tag or refs/... as GITHUB_REF gives it)
    release_id: int
    asset_id: str
    make_ami_public: bool
    repository: str | None = None  # OWNER/REPO of the release; update-release reads it in CodeBuild
    ami_regions: tuple[str, ...] = ()  # extra regions the AMI is copied to
    project: str | None = None  # default: output ProjectName of the release stack
    docker_latest: bool = True  # the pushed image also becomes the registry's `latest` (test releases: False)
    docker_push: bool = True  # push the Docker image at all


@dataclass(frozen=True)
class FollowPolicy:
    poll_interval: float = 30.0
    timeout: float = 5 * 3600.0  # the project times out after 4 h; leave room for the queue

    def __post_init__(self) -> None:
        if self.poll_interval <= 0 or self.timeout <= 0:
            raise UsageError("the poll interval and the timeout must be positive")


class ReleaseBuildFailed(XalError):
    """The build ended without success; ``build`` is its last description."""

    def __init__(self, message: str, build: dict[str, Any]) -> None:
        super().__init__(message, ExitCode.FAILED)
        self.build = build


def environment_overrides(request: ReleaseBuildRequest) -> list[dict[str, str]]:
    """The PLAINTEXT variables the buildspec reads; refuses anything that is a registered secret."""
    if not request.branch.strip():
        raise UsageError("--branch must not be empty")
    if request.release_id <= 0:
        raise UsageError(f"invalid release id {request.release_id}")
    bad = [r for r in request.ami_regions if not _REGION.fullmatch(r)]
    if bad:
        raise UsageError(f"invalid AMI region(s) {', '.join(map(repr, bad))}; expected names like eu-west-1")
    variables = {
        "RELEASE_ID": str(request.release_id),
        "ASSET_ID": validate_asset_id(request.asset_id),
        "MAKE_AMI_PUBLIC_OPTION": MAKE_PUBLIC if request.make_ami_public else KEEP_PRIVATE,
        "DOCKER_LATEST_OPTION": MOVE_LATEST if request.docker_latest else KEEP_LATEST,
        "DOCKER_PUSH": "true" if request.docker_push else "false",
    }
    if request.repository:
        if not _REPOSITORY.fullmatch(request.repository):
            raise UsageError(f"invalid repository {request.repository!r}; expected OWNER/REPO")
        variables["XAL_GITHUB_REPOSITORY"] = request.repository
    if request.ami_regions:
        variables["AMI_REGION_OPTIONS"] = " ".join(f"--copy-to-region {r}" for r in request.ami_regions)
    for name, value in variables.items():
        if redact(value) != value:  # defence in depth: a secret must never become a plaintext override
            raise XalError(f"refusing to start the build: {name} would carry a secret in plain text")
    return [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()]


def release_project(factory: AwsSessionFactory, project: str | None = None) -> str:
    """The release CodeBuild project: ``project`` or output ProjectName of the release stack."""
    return project or stack_output(factory, PERMANENT_STACKS["release"], OUT_PROJECT_NAME)


def start_build(factory: AwsSessionFactory, request: ReleaseBuildRequest) -> dict[str, Any]:
    overrides = environment_overrides(request)
    project = release_project(factory, request.project)
    log.info(
        "starting %s on %s (release %s, asset-id %s)", project, request.branch, request.release_id, request.asset_id
    )
    return factory.client("codebuild").start_build(
        projectName=project,
        sourceVersion=request.branch,
        environmentVariablesOverride=overrides,
    )["build"]


def log_link(build: dict[str, Any], region: str) -> str:
    """CodeBuild's deep link to the build log, or the console page of the build."""
    link = (build.get("logs") or {}).get("deepLink")
    if link:
        return str(link)
    project = build.get("projectName") or str(build.get("id", "")).split(":", 1)[0]
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{quote(project, safe='')}"
        f"/build/{quote(str(build.get('id', '')), safe='')}/log?region={region}"
    )


def failed_phase(build: dict[str, Any]) -> tuple[str, str]:
    """(phase type, reason) of the first phase that did not succeed, else the current phase."""
    for phase in build.get("phases") or []:
        status = phase.get("phaseStatus")
        if status is not None and status != SUCCEEDED:
            reasons = [
                f"{c.get('statusCode', '')}: {c.get('message', '')}".strip(": ")
                for c in phase.get("contexts") or []
                if c.get("statusCode") or c.get("message")
            ]
            return str(phase.get("phaseType")), "; ".join(r for r in reasons if r) or status
    return str(build.get("currentPhase") or "unknown"), str(build.get("buildStatus"))


def failure_message(build: dict[str, Any], region: str) -> str:
    phase, reason = failed_phase(build)
    status = build.get("buildStatus")
    return f"release build {build.get('id')} {status} in phase {phase} ({reason}); log: {log_link(build, region)}"


def describe_build(codebuild: Any, build_id: str) -> dict[str, Any]:
    answer = codebuild.batch_get_builds(ids=[build_id])
    builds = answer.get("builds") or []
    if not builds:
        raise NotFoundError(f"CodeBuild build {build_id} not found")
    return builds[0]


def follow_build(
    codebuild: Any,
    build_id: str,
    region: str,
    policy: FollowPolicy,
    *,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Poll until the build ends; the final description on success, ReleaseBuildFailed otherwise."""
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    started = clock()
    while True:
        build = describe_build(codebuild, build_id)
        if on_update is not None:
            on_update(build)
        status = build.get("buildStatus")
        if status == SUCCEEDED:
            return build
        if status != IN_PROGRESS:
            raise ReleaseBuildFailed(failure_message(build, region), build)
        remaining = policy.timeout - (clock() - started)
        if remaining <= 0:
            raise ReleaseBuildFailed(
                f"release build {build_id} still {status} in phase {build.get('currentPhase')} after "
                f"{policy.timeout:g} s; it keeps running in CodeBuild (stop it with "
                f"`aws codebuild stop-build --id {build_id}`); log: {log_link(build, region)}",
                build,
            )
        sleep(min(policy.poll_interval, remaining))


def summary(build: dict[str, Any], region: str) -> dict[str, Any]:
    """JSON-friendly view of a build for the CLI."""
    return {
        "id": build.get("id"),
        "project": build.get("projectName"),
        "status": build.get("buildStatus"),
        "source_version": build.get("sourceVersion"),
        "phases": [
            {"phase": p.get("phaseType"), "status": p.get("phaseStatus"), "seconds": p.get("durationInSeconds")}
            for p in build.get("phases") or []
        ],
        "log": log_link(build, region),
    }


def phase_seconds(summarised: dict[str, Any]) -> int:
    """Seconds the phases of a summarised build took together (phases still running count 0)."""
    return sum(p["seconds"] or 0 for p in summarised["phases"])


def run_release_build(
    factory: AwsSessionFactory,
    request: ReleaseBuildRequest,
    policy: FollowPolicy,
    *,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    notify: Callable[[str], None] = log.warning,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Start the release build and follow it to the end; Ctrl-C leaves it running and says so
    through ``notify`` (the build goes on in CodeBuild, so the user must learn how to stop it)."""
    region = factory.settings.region
    build = start_build(factory, request)
    if on_update is not None:
        on_update(build)
    try:
        return follow_build(
            factory.client("codebuild"), build["id"], region, policy, on_update=on_update, clock=clock, sleep=sleep
        )
    except KeyboardInterrupt:
        notify(
            f"stopped following; release build {build['id']} keeps running in CodeBuild (stop it with "
            f"`aws codebuild stop-build --id {build['id']}`); log: {log_link(build, region)}"
        )
        raise
