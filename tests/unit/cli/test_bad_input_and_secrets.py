"""Reliability set: every command answers bad input with one line and its documented exit code,
AWS throttling is survived by the shared retry policy, and secrets never reach the output."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from xal.aws.session import AwsSessionFactory
from xal.aws.stacks import stack_outputs
from xal.cli.main import run_cli
from xal.config import Settings
from xal.errors import ExitCode

UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1

# (argv, exit code, fragment of the one-line error); "{moto}" is replaced by the emulator endpoint
BAD_INPUT = [
    (["build-ami", "--asset-id", "a b"], ExitCode.USAGE, "invalid asset-id 'a b'"),
    (["build-docker", "--asset-id", "x/y"], ExitCode.USAGE, "invalid asset-id 'x/y'"),
    (["rehearse", "--asset-id", "*"], ExitCode.USAGE, "invalid asset-id '*'"),
    (["rehearse", "--asset-id", "r1", "--accel", "hvf"], ExitCode.USAGE, "--accel 'hvf': expected one of kvm, tcg"),
    (
        ["rehearse", "--asset-id", "r1", "--format", "VHD", "--boot-format", "RAW"],
        ExitCode.USAGE,
        "--boot-format RAW is not among the exported formats (VHD)",
    ),
    (["boot-test", "--image", "ai-lab.qcow2"], ExitCode.USAGE, "--image ai-lab.qcow2: expected a .vmdk, .vhd, .raw"),
    (["boot-test", "--image", "nowhere/ai-lab.vmdk"], ExitCode.NOT_FOUND, "disk image nowhere/ai-lab.vmdk not found"),
    (["show-config", "--log-level", "chatty"], ExitCode.USAGE, "invalid log level 'chatty'"),
    (["export", "--asset-id", "1.0", "--format", "QCOW2"], ExitCode.USAGE, "QCOW2"),
    (["create-vm", "--asset-id", "1.0", "--format", "ISO"], ExitCode.USAGE, "ISO"),
    (
        ["build-ami", "--on-error", "retry", "--aws-endpoint-url", "{moto}", "--ssh-host", "127.0.0.1"],
        ExitCode.USAGE,
        "--on-error must be one of",
    ),
    (["build-ami", "--aws-endpoint-url", "{moto}", "--ssh-host", "8.8.8.8"], ExitCode.USAGE, "loopback"),
    (["deploy-bucket", "--aws-endpoint-url", "{moto}", "--yes"], ExitCode.NOT_FOUND, "XAL-VM-BUCKET-WAF"),
    (["export", "--asset-id", "1.0", "--aws-endpoint-url", "{moto}"], ExitCode.NOT_FOUND, "no AMI tagged"),
    (["deploy-waf", "--allowed-ip", "300.1.1.1", "--aws-endpoint-url", "{moto}", "--yes"], ExitCode.USAGE, "300.1.1.1"),
    (["make-ami-public", "--asset-id", "1.0", "--aws-endpoint-url", UNREACHABLE], ExitCode.UNREACHABLE, "cannot reach"),
    (
        ["start-release-build", "--upload-url", "https://example.com/x", "--branch", "main"],
        ExitCode.USAGE,
        "malformed release upload URL",
    ),
    (["release-notes", "--asset-id", "never-built"], ExitCode.NOT_FOUND, "no build manifest for asset-id never-built"),
    (["show-aws-assets", "--asset-id", "zz*", "--aws-endpoint-url", "{moto}"], ExitCode.NOT_FOUND, "zz*"),
    (["cleanup", "--asset-id", "a*", "--aws-endpoint-url", "{moto}"], ExitCode.USAGE, "invalid asset-id 'a*'"),
    (
        ["install-dependencies", "--host", "127.0.0.1", "--ssh-private-key", "/nonexistent"],
        ExitCode.USAGE,
        "/nonexistent",
    ),
    (["setup-ec2", "--aws-endpoint-url", "{moto}", "--ssh-host", "1.2.3.4"], ExitCode.USAGE, "loopback"),
    (["export-vm", "--asset-id", "1.0"], ExitCode.USAGE, "exactly one of --instance-id and --stack-name"),
    (
        ["build-ami", "--playbook-vars", "/nonexistent.yml", "--aws-endpoint-url", "{moto}", "--ssh-host", "127.0.0.1"],
        ExitCode.USAGE,
        "not found",
    ),
]


@pytest.mark.parametrize(("argv", "code", "fragment"), BAD_INPUT, ids=[" ".join(a[:2]) for a, _, _ in BAD_INPUT])
def test_bad_input_gives_one_line_and_documented_exit_code(
    argv: list[str],
    code: int,
    fragment: str,
    moto_endpoint: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("XAL_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "not-used-here")
    assert run_cli([a.replace("{moto}", moto_endpoint) for a in argv]) == code
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err
    if "error:" in err:  # xal's own errors: one line, the last (warnings about partial work may precede it)
        lines = err.strip().splitlines()
        assert [line for line in lines if line.startswith("error:")] == [lines[-1]], err


def test_missing_credentials_is_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path))
    # real AWS, but credentials are resolved before any connection is made (and the proxy guard holds)
    assert run_cli(["make-ami-public", "--asset-id", "1.0"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials found")


def _throttle_first(factory: AwsSessionFactory, event: str, times: int) -> list[str]:
    """Answer the first ``times`` sends of ``event`` with a throttling error, then let them through."""
    seen: list[str] = []

    def handler(request: object, **_: object) -> AWSResponse | None:
        seen.append("throttled" if len(seen) < times else "sent")
        if seen[-1] == "sent":
            return None
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Rate exceeded</Message></Error></ErrorResponse>"
        )
        return AWSResponse("http://throttled", 400, {}, _Raw(body))

    service = event.split(".", 1)[0]
    factory.client(service).meta.events.register(f"before-send.{event}", handler)
    return seen


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> list[bytes]:
        return [self._body]

    def read(self, *_: object) -> bytes:
        return self._body


def test_throttling_is_survived_with_retries(moto_endpoint: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, max_attempts=5))
    factory.client("cloudformation").create_stack(
        StackName="XAL-VM-BUCKET",
        TemplateBody="Resources:\n  B:\n    Type: AWS::S3::Bucket\nOutputs:\n  O:\n    Value: v\n",
    )
    seen = _throttle_first(factory, "cloudformation.DescribeStacks", 3)
    assert stack_outputs(factory, "XAL-VM-BUCKET") == {"O": "v"}
    assert seen == ["throttled", "throttled", "throttled", "sent"]


def test_throttling_beyond_the_attempt_budget_fails_cleanly(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, max_attempts=2))
    seen = _throttle_first(factory, "cloudformation.DescribeStacks", 10)
    with pytest.raises(ClientError) as info:
        stack_outputs(factory, "XAL-VM-BUCKET")
    assert info.value.response["Error"]["Code"] == "Throttling"
    assert seen == ["throttled", "throttled"]
