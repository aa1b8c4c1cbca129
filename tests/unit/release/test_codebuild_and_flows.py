"""`xal start-release-build` and `xal start-test-release-build`: CodeBuild against moto (which reports
SUCCEEDED at the first look), botocore's Stubber for the statuses moto cannot produce, GitHub on
pytest-httpserver."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from pytest_httpserver import HTTPServer

from tests.unit.fakes import FakeClock
from tests.unit.release.fakes import REPO, TOKEN, FakeGitHub
from xal import secrets
from xal.aws.session import AwsSessionFactory
from xal.cli.main import run_cli
from xal.config import Settings
from xal.errors import ExitCode, NotFoundError, UsageError, XalError
from xal.naming import PERMANENT_STACKS
from xal.release import codebuild as cb
from xal.release import github_release
from xal.release.codebuild import FollowPolicy, ReleaseBuildFailed, ReleaseBuildRequest

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")

REGION = "eu-central-1"
PROJECT = "XAL-RELEASE-CODEBUILD"
UPLOAD_URL = f"https://uploads.github.com/repos/{REPO}/releases/123456/assets{{?name,label}}"
BUILD_ID = f"{PROJECT}:0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"
DEEP_LINK = (
    "https://console.aws.amazon.com/cloudwatch/home?region=eu-central-1#logEvent:group=/aws/codebuild/x;stream=y"
)
REPO_ROOT = Path(__file__).resolve().parents[3]


def _env(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in values.items()]


RELEASE_ENV = _env(
    RELEASE_ID="123456",
    ASSET_ID="1.2.0",
    MAKE_AMI_PUBLIC_OPTION="--make-ami-public",
    DOCKER_LATEST_OPTION="--latest",  # only a real release moves the registry's `latest`
    DOCKER_PUSH="true",
    XAL_GITHUB_REPOSITORY=REPO,
)
BUILDSPEC = REPO_ROOT / "aws-code-build/ci/buildspec_release.yaml"


@pytest.fixture(autouse=True)
def _fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_SECRETS", set())


@pytest.fixture
def release_stack(moto_endpoint: str) -> str:
    """The release stack and its project (moto drops outputs that refer to CodeBuild resources: a literal here)."""
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_endpoint)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"ProjectName": {"Value": PROJECT}}}
    cfn.create_stack(StackName=PERMANENT_STACKS["release"], TemplateBody=json.dumps(template))
    boto3.client("codebuild", region_name=REGION, endpoint_url=moto_endpoint).create_project(
        name=PROJECT,
        source={"type": "GITHUB", "location": f"https://github.com/{REPO}", "buildspec": "buildspec_release.yaml"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_MEDIUM",
        },
        serviceRole="arn:aws:iam::123456789012:role/xal-release",
    )
    return moto_endpoint


@pytest.fixture
def start_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every StartBuild call, as xal passed them to botocore."""
    calls: list[dict[str, Any]] = []
    original = AwsSessionFactory.client

    def client(self: AwsSessionFactory, service: str, region: str | None = None) -> Any:
        c = original(self, service, region)
        if service == "codebuild" and not getattr(c, "_xal_recorded", False):
            c.meta.events.register(
                "provide-client-params.codebuild.StartBuild", lambda params, **_: calls.append(copy.deepcopy(params))
            )
            c._xal_recorded = True
        return c

    monkeypatch.setattr(AwsSessionFactory, "client", client)
    return calls


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The codebuild client of every factory is stubbed (CloudFormation still goes to moto)."""
    original = AwsSessionFactory.client
    client = boto3.client("codebuild", region_name=REGION, endpoint_url="http://127.0.0.1:9")
    stubber = Stubber(client)

    def factory_client(self: AwsSessionFactory, service: str, region: str | None = None) -> Any:
        return client if service == "codebuild" else original(self, service, region)

    monkeypatch.setattr(AwsSessionFactory, "client", factory_client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def _build(status: str, phase: str, phases: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": BUILD_ID,
        "projectName": PROJECT,
        "buildStatus": status,
        "currentPhase": phase,
        "phases": phases or [],
        "logs": {"deepLink": DEEP_LINK},
    }


def _failed(status: str) -> dict[str, Any]:
    phases = [
        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
        {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED"},
        {
            "phaseType": "BUILD",
            "phaseStatus": status,
            "contexts": [
                {"statusCode": "COMMAND_EXECUTION_ERROR", "message": "Error while executing command: xal export"}
            ],
        },
        {"phaseType": "FINALIZING", "phaseStatus": "SUCCEEDED"},
        {"phaseType": "COMPLETED"},
    ]
    return _build(status, "COMPLETED", phases)


# -- environment overrides --------------------------------------------------------------------


def test_overrides_are_plaintext_and_never_a_secret() -> None:
    request = ReleaseBuildRequest(
        "main", 7, "1.2.0", False, REPO, ("us-east-1", "eu-west-1"), docker_latest=False, docker_push=False
    )
    assert cb.environment_overrides(request) == _env(
        RELEASE_ID="7",
        ASSET_ID="1.2.0",
        MAKE_AMI_PUBLIC_OPTION="--no-make-ami-public",
        DOCKER_LATEST_OPTION="--no-latest",
        DOCKER_PUSH="false",
        XAL_GITHUB_REPOSITORY=REPO,
        AMI_REGION_OPTIONS="--copy-to-region us-east-1 --copy-to-region eu-west-1",
    )
    secrets.register_secret("1.2.0-secret")
    with pytest.raises(XalError, match="ASSET_ID would carry a secret"):
        cb.environment_overrides(ReleaseBuildRequest("main", 7, "1.2.0-secret", True))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ReleaseBuildRequest("", 7, "1.2.0", True), "--branch must not be empty"),
        (ReleaseBuildRequest("main", 7, "bad id", True), "invalid asset-id"),
        (ReleaseBuildRequest("main", 7, "1.2.0", True, ami_regions=("us-east-1; rm -rf /",)), "invalid AMI region"),
        (ReleaseBuildRequest("main", 7, "1.2.0", True, repository="a/b/c"), "invalid repository"),
    ],
)
def test_bad_build_inputs_are_usage_errors(request_: ReleaseBuildRequest, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cb.environment_overrides(request_)


def test_buildspec_reads_every_override_and_runs_the_release_graph() -> None:
    text = (REPO_ROOT / "aws-code-build/ci/buildspec_release.yaml").read_text()
    spec = yaml.safe_load(text)
    names = {v["name"] for v in cb.environment_overrides(ReleaseBuildRequest("m", 1, "a", True, REPO, ("us-east-1",)))}
    commands = "\n".join(c for phase in spec["phases"].values() for c in phase.get("commands", []))
    for name in names - {"XAL_GITHUB_REPOSITORY"}:  # read by xal release itself (--repository envvar)
        assert f"${name}" in commands or f"${{{name}" in commands, name
    assert spec["env"]["variables"]["MAKE_AMI_PUBLIC_OPTION"] == cb.KEEP_PRIVATE  # private unless overridden
    build = spec["phases"]["build"]["commands"]
    steps = [m for c in build for m in re.findall(r"xal ([a-z-]+)", c)]
    assert steps == ["release"]  # the one command: the whole release graph
    assert "GITHUB_TOKEN" not in "\n".join(build)


def _buildspec_command(phase: str, needle: str) -> str:
    """The one command of ``phase`` that contains ``needle``."""
    (command,) = [c for c in yaml.safe_load(BUILDSPEC.read_text())["phases"][phase]["commands"] if needle in c]
    return command


def _run_with_fake_xal(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one buildspec command in bash (CodeBuild's shell here) with a .venv/bin/xal that prints its argv."""
    fake = tmp_path / ".venv/bin/xal"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text("#!/usr/bin/env bash\nprintf '%s\\n' \"$*\"\n")
    fake.chmod(0o755)
    variables = {**yaml.safe_load(BUILDSPEC.read_text())["env"]["variables"], "ASSET_ID": "1.2.0", **env}
    return subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in variables.items()}},
        capture_output=True,
        text=True,
        check=False,
    )


def test_buildspec_defaults_never_move_latest() -> None:
    """A build started by hand (no overrides) pushes the version tag but leaves `latest` alone."""
    variables = yaml.safe_load(BUILDSPEC.read_text())["env"]["variables"]
    assert variables["DOCKER_LATEST_OPTION"] == cb.KEEP_LATEST == "--no-latest"
    assert variables["DOCKER_PUSH"] == "true"


@pytest.mark.parametrize(
    ("public", "latest", "push", "regions", "argv"),
    [
        (True, True, True, (), "--make-ami-public --docker-push --latest"),  # xal start-release-build
        (
            False,
            False,
            True,
            ("us-east-1",),
            "--no-make-ami-public --copy-to-region us-east-1 --docker-push --no-latest",
        ),
        (False, False, False, (), "--no-make-ami-public --no-docker-push --no-latest"),  # ... --no-docker-push
    ],
)
def test_buildspec_release_honours_the_overrides(
    public: bool, latest: bool, push: bool, regions: tuple[str, ...], argv: str, tmp_path: Path
) -> None:
    request = ReleaseBuildRequest("m", 9, "1.2.0", public, ami_regions=regions, docker_latest=latest, docker_push=push)
    env = {v["name"]: v["value"] for v in cb.environment_overrides(request)}
    result = _run_with_fake_xal(_buildspec_command("build", "xal release"), tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"release --asset-id 1.2.0 --release-id 9 {argv}"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("DOCKER_LATEST_OPTION", "--latest; curl evil"), ("DOCKER_LATEST_OPTION", ""), ("DOCKER_PUSH", "yes")],
)
def test_buildspec_refuses_malformed_docker_overrides(name: str, value: str, tmp_path: Path) -> None:
    check = _buildspec_command("pre_build", f'"${name}"')
    result = _run_with_fake_xal(check, tmp_path, **{name: value})
    assert result.returncode == 1
    assert f"{name} must be" in result.stderr
    assert _run_with_fake_xal(check, tmp_path).returncode == 0  # the defaults pass


# -- start + follow against moto --------------------------------------------------------------


def test_start_release_build_against_moto(
    release_stack: str,
    start_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)  # present, as in the workflow: it must not travel to CodeBuild
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "refs/tags/1.2.0", "--asset-id", "1.2.0"]
    assert run_cli([*argv, "--aws-endpoint-url", release_stack, "--json"]) == 0

    assert start_calls == [
        {"projectName": PROJECT, "sourceVersion": "refs/tags/1.2.0", "environmentVariablesOverride": RELEASE_ENV}
    ]
    assert TOKEN not in json.dumps(start_calls)
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["build"]["status"] == "SUCCEEDED"
    assert data["build"]["project"] == PROJECT
    assert data["build"]["log"].startswith("https://")
    assert "phase COMPLETED" in captured.err  # progress lines on stderr


def test_options_reach_the_overrides(release_stack: str, start_calls: list[dict[str, Any]]) -> None:
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "main", "--asset-id", "1.2.0"]
    extra = ["--no-make-ami-public", "--ami-region", "us-east-1", "--aws-endpoint-url", release_stack]
    assert run_cli([*argv, *extra]) == 0
    (call,) = start_calls
    env = {v["name"]: v["value"] for v in call["environmentVariablesOverride"]}
    assert env["MAKE_AMI_PUBLIC_OPTION"] == "--no-make-ami-public"
    assert env["AMI_REGION_OPTIONS"] == "--copy-to-region us-east-1"


def test_malformed_upload_url_fails_before_any_aws_call(
    start_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "https://uploads.github.com/repos/exasol/ai-lab/releases/latest/assets"
    assert run_cli(["start-release-build", "--upload-url", bad, "--branch", "main"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: malformed release upload URL '{bad}'; expected https://uploads.github.com/")
    assert start_calls == []


def test_missing_release_stack_is_not_found(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "main", "--aws-endpoint-url", moto_endpoint]
    assert run_cli(argv) == ExitCode.NOT_FOUND
    assert "error: stack XAL-RELEASE-CODEBUILD not found in eu-central-1" in capsys.readouterr().err


def test_follow_with_moto_sees_success_at_the_first_look(release_stack: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=release_stack))
    clock = FakeClock()
    updates: list[str] = []
    build = cb.run_release_build(
        factory,
        ReleaseBuildRequest("main", 1, "1.2.0", True),
        FollowPolicy(),
        on_update=lambda b: updates.append(b["buildStatus"]),
        clock=clock,
        sleep=clock.sleep,
    )
    assert build["buildStatus"] == "SUCCEEDED"
    assert updates == ["IN_PROGRESS", "SUCCEEDED"]
    assert clock.sleeps == []


# -- failing statuses with Stubber ------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(cb.FAILED_STATUSES))
def test_failed_builds_name_the_phase_and_the_log(stubbed: Stubber, status: str) -> None:
    stubbed.add_response("batch_get_builds", {"builds": [_build("IN_PROGRESS", "BUILD")]}, {"ids": [BUILD_ID]})
    stubbed.add_response("batch_get_builds", {"builds": [_failed(status)]}, {"ids": [BUILD_ID]})
    clock = FakeClock()
    factory = AwsSessionFactory(Settings())
    with pytest.raises(ReleaseBuildFailed) as info:
        cb.follow_build(
            factory.client("codebuild"), BUILD_ID, REGION, FollowPolicy(10, 100), clock=clock, sleep=clock.sleep
        )
    assert str(info.value) == (
        f"release build {BUILD_ID} {status} in phase BUILD (COMMAND_EXECUTION_ERROR: Error while executing "
        f"command: xal export); log: {DEEP_LINK}"
    )
    assert info.value.exit_code == ExitCode.FAILED
    assert clock.sleeps == [10]


def test_timeout_stops_following_but_not_the_build(stubbed: Stubber) -> None:
    for _ in range(4):
        stubbed.add_response("batch_get_builds", {"builds": [_build("IN_PROGRESS", "BUILD")]}, {"ids": [BUILD_ID]})
    clock = FakeClock()
    factory = AwsSessionFactory(Settings())
    with pytest.raises(ReleaseBuildFailed, match=r"still IN_PROGRESS in phase BUILD after 25 s") as info:
        cb.follow_build(
            factory.client("codebuild"), BUILD_ID, REGION, FollowPolicy(10, 25), clock=clock, sleep=clock.sleep
        )
    assert clock.sleeps == [10, 10, 5]
    assert f"aws codebuild stop-build --id {BUILD_ID}" in str(info.value)
    assert DEEP_LINK in str(info.value)


def test_unknown_build_is_not_found(stubbed: Stubber) -> None:
    stubbed.add_response("batch_get_builds", {"builds": [], "buildsNotFound": [BUILD_ID]}, {"ids": [BUILD_ID]})
    with pytest.raises(NotFoundError, match="not found"):
        cb.follow_build(AwsSessionFactory(Settings()).client("codebuild"), BUILD_ID, REGION, FollowPolicy())


def test_cli_failure_exits_non_zero_with_phase_and_log(
    release_stack: str, stubbed: Stubber, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response(
        "start_build",
        {"build": _build("IN_PROGRESS", "QUEUED")},
        {"projectName": PROJECT, "sourceVersion": "main", "environmentVariablesOverride": RELEASE_ENV},
    )
    stubbed.add_response("batch_get_builds", {"builds": [_build("IN_PROGRESS", "BUILD")]}, {"ids": [BUILD_ID]})
    stubbed.add_response("batch_get_builds", {"builds": [_failed("FAILED")]}, {"ids": [BUILD_ID]})
    sleeps: list[float] = []
    monkeypatch.setattr(cb.time, "sleep", sleeps.append)
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "main", "--asset-id", "1.2.0"]
    code = run_cli([*argv, "--aws-endpoint-url", release_stack, "--poll-interval", "7"])
    assert code == ExitCode.FAILED
    err = capsys.readouterr().err
    assert f"error: release build {BUILD_ID} FAILED in phase BUILD (COMMAND_EXECUTION_ERROR:" in err
    assert f"log: {DEEP_LINK}" in err
    assert "Traceback" not in err
    assert sleeps == [7.0]


def test_ctrl_c_leaves_the_build_running_and_says_how_to_stop_it(
    release_stack: str, stubbed: Stubber, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("start_build", {"build": _build("IN_PROGRESS", "QUEUED")})
    stubbed.add_response("batch_get_builds", {"builds": [_build("IN_PROGRESS", "BUILD")]}, {"ids": [BUILD_ID]})

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cb.time, "sleep", interrupt)
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "main", "--aws-endpoint-url", release_stack]
    assert run_cli(argv) == ExitCode.INTERRUPTED
    err = capsys.readouterr().err
    assert "keeps running in CodeBuild" in err and f"stop-build --id {BUILD_ID}" in err


def test_console_link_when_the_build_has_no_deep_link() -> None:
    build = {"id": "P:abc", "projectName": "P"}
    assert cb.log_link(build, "eu-west-1") == (
        "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/P/build/P%3Aabc/log?region=eu-west-1"
    )


# -- test release -----------------------------------------------------------------------------


@pytest.fixture
def github(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    monkeypatch.setattr(github_release, "WRITE_INTERVAL", None)
    monkeypatch.setattr(github_release, "REQUEST_INTERVAL", None)
    fake = FakeGitHub(httpserver)
    monkeypatch.setenv("XAL_GITHUB_API_URL", fake.api_url)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    return fake


def test_test_release_creates_a_draft_then_builds_with_a_private_ami(
    github: FakeGitHub, release_stack: str, start_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["start-test-release-build", "--branch", "refs/heads/feature/x", "--release-title", "test-1.2.0-rc1"]
    assert run_cli([*argv, "--aws-endpoint-url", release_stack]) == 0

    assert github.calls() == [("POST", f"/repos/{REPO}/releases")]
    assert github.requests[0].json == {
        "tag_name": "",
        "name": "test-1.2.0-rc1",
        "body": "Test-Release",
        "draft": True,
        "prerelease": False,
        "generate_release_notes": False,
        "target_commitish": "feature/x",
        "make_latest": "false",
    }
    release_id = next(iter(github.releases))
    assert start_calls == [
        {
            "projectName": PROJECT,
            "sourceVersion": "refs/heads/feature/x",
            "environmentVariablesOverride": _env(
                RELEASE_ID=str(release_id),
                ASSET_ID="test-1.2.0-rc1",
                MAKE_AMI_PUBLIC_OPTION="--no-make-ami-public",
                DOCKER_LATEST_OPTION="--no-latest",  # a test release never moves the registry's `latest`
                DOCKER_PUSH="true",
                XAL_GITHUB_REPOSITORY=REPO,
            ),
        }
    ]
    assert TOKEN not in json.dumps(start_calls)
    captured = capsys.readouterr()
    assert f"created draft release {release_id}: https://github.com/{REPO}/releases/tag/" in captured.err
    assert f"release id: {release_id}" in captured.out
    assert TOKEN not in captured.out + captured.err
    assert github.requests[0].headers["Authorization"] in (f"token {TOKEN}", f"Bearer {TOKEN}")


def test_test_release_can_skip_the_docker_push(
    github: FakeGitHub, release_stack: str, start_calls: list[dict[str, Any]]
) -> None:
    argv = ["start-test-release-build", "--branch", "main", "--release-title", "test-1", "--no-docker-push"]
    assert run_cli([*argv, "--aws-endpoint-url", release_stack]) == 0
    (call,) = start_calls
    env = {v["name"]: v["value"] for v in call["environmentVariablesOverride"]}
    assert (env["DOCKER_PUSH"], env["DOCKER_LATEST_OPTION"]) == ("false", "--no-latest")


def test_release_build_options_do_not_offer_skipping_latest_or_the_push(
    release_stack: str, start_calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A real release always pushes and moves `latest`: start-release-build has neither switch."""
    argv = ["start-release-build", "--upload-url", UPLOAD_URL, "--branch", "main", "--aws-endpoint-url", release_stack]
    for option in ("--no-docker-push", "--no-latest"):
        assert run_cli([*argv, option]) == ExitCode.USAGE
    assert start_calls == []


def test_test_release_checks_inputs_and_stack_before_creating_the_draft(
    github: FakeGitHub, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["start-test-release-build", "--branch", "main", "--aws-endpoint-url", moto_endpoint]
    assert run_cli([*argv, "--release-title", "Test Release 1"]) == ExitCode.USAGE
    assert "error: invalid asset-id 'Test Release 1'" in capsys.readouterr().err
    assert run_cli([*argv, "--release-title", "Test Release 1", "--asset-id", "test-1"]) == ExitCode.NOT_FOUND
    assert "stack XAL-RELEASE-CODEBUILD not found" in capsys.readouterr().err
    assert github.requests == []
