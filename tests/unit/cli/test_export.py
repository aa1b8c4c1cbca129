"""CLI wiring of the export commands: options become the right library requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from xal.cli.main import run_cli
from xal.errors import ExitCode
from xal.manifest import BuildManifest, GitInfo
from xal.naming import VmFormat
from xal.release.graph import RunRecord


def test_create_vm_passes_options_to_the_pipeline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xal.release.pipeline as pipeline

    seen: dict[str, Any] = {}

    def fake_run_release(settings: Any, request: Any, **kw: Any) -> Any:
        seen.update(settings=settings, request=request, **kw)
        manifest = BuildManifest("7.1.0", "ami", GitInfo(None, None), "1.6.6", amis={"eu-central-1": "ami-1"})
        return pipeline.ReleaseResult(RunRecord("7.1.0"), manifest, pipeline.ReleasePaths.of("7.1.0"))

    monkeypatch.setattr(pipeline, "run_release", fake_run_release)
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Build-Secret-42")
    argv = [
        "create-vm",
        "--asset-id",
        "7.1.0",
        "--make-ami-public",
        "--copy-to-region",
        "us-east-1",
        "--copy-to-region",
        "us-west-2",
        "--format",
        "raw",
        "--bucket",
        "b",
        "--role-name",
        "vmimport",
        "--max-active",
        "3",
        "--ssh-host",
        "127.0.0.1",
        "--json",
    ]
    assert run_cli(argv) == 0
    request = seen["request"]
    assert seen["settings"].asset_id == "7.1.0"
    assert request.make_public is True
    assert request.copy_regions == ("us-east-1", "us-west-2")
    assert request.export.formats == (VmFormat.RAW,)
    assert (request.export.bucket, request.export.role_name, request.export.max_active_per_region) == (
        "b",
        "vmimport",
        3,
    )
    assert request.build.communicator.ssh_host == "127.0.0.1"
    assert (request.docker, request.github) == (None, None)  # create-vm: the graph without them
    assert json.loads(capsys.readouterr().out)["amis"] == {"eu-central-1": "ami-1"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--format", "qcow2"], "unknown VM format"),
        (["export", "--max-active", "0"], "--max-active must be at least 1"),
        (["export", "--part-size-mib", "1"], "--part-size-mib must be at least 5"),
        (["export", "--poll-interval", "10", "--poll-max-interval", "5"], "--poll-interval"),
    ],
)
def test_bad_export_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_help_lists_the_export_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("create-vm", "export", "make-ami-public", "export-vm"):
        assert command in out


def test_release_passes_options_to_the_graph(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xal.release.pipeline as pipeline

    seen: dict[str, Any] = {}

    def fake_run_release(settings: Any, request: Any, **kw: Any) -> Any:
        seen.update(settings=settings, request=request, **kw)
        manifest = BuildManifest("7.1.0", "ami", GitInfo(None, None), "1.6.6", amis={"eu-central-1": "ami-1"})
        return pipeline.ReleaseResult(RunRecord("7.1.0"), manifest, pipeline.ReleasePaths.of("7.1.0"))

    monkeypatch.setattr(pipeline, "run_release", fake_run_release)
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Build-Secret-42")
    argv = [
        "release",
        "--asset-id",
        "7.1.0",
        "--release-id",
        "42",
        "--make-ami-public",
        "--copy-to-region",
        "us-east-1",
    ]
    argv += ["--no-docker-push", "--no-latest", "--checksum-role-arn", "arn:aws:iam::1:role/checksums", "--json"]
    assert run_cli(argv) == 0
    request = seen["request"]
    assert (request.release_id, request.make_public, request.copy_regions) == (42, True, ("us-east-1",))
    assert (request.docker.push, request.docker.latest) == (False, False)
    assert request.github.repository == "exasol/ai-lab"
    assert request.batch_role_arn == "arn:aws:iam::1:role/checksums"
    assert json.loads(capsys.readouterr().out)["manifest"]["amis"] == {"eu-central-1": "ami-1"}

    assert run_cli(["release", "--asset-id", "7.1.0", "--no-docker", "--no-github", "--json"]) == 0
    assert (seen["request"].docker, seen["request"].github) == (None, None)
    capsys.readouterr()
    assert run_cli(["release", "--asset-id", "7.1.0"]) == ExitCode.USAGE  # pushing needs the registry login
    assert "--docker-push needs registry credentials" in capsys.readouterr().err
    assert run_cli(["release", "--asset-id", "7.1.0", "--no-docker"]) == ExitCode.USAGE  # a GitHub release: its id
    assert "needs --release-id" in capsys.readouterr().err
