"""`xal release` / `create-vm` as one graph against moto (ExportImage fake) and the GitHub stand-in:
what each step leaves behind, the manifests, SHA256SUMS that sha256sum checks, resume, failure."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xal.config import Settings
from xal.errors import XalError
from xal.export.pipeline import ExportRequest
from xal.export.tasks import PollPolicy
from xal.image.ami import AmiBuildRequest
from xal.image.docker import DockerBuildRequest
from xal.local.github_stand_in import GitHubStandIn, serve_github
from xal.local.moto_export import (
    MIB,
    ExportFakeConfig,
    MotoExportFake,
    image_bytes,
    moto_export,
    seed_ami,
    seed_bucket_stack,
)
from xal.manifest import BuildManifest, GitInfo
from xal.naming import VmFormat
from xal.release import github_release
from xal.release.flows import GitHubTarget
from xal.release.graph import Outcome, ReleaseFailed, RunRecord
from xal.release.pipeline import Builders, ReleaseRequest, run_release

FAST = PollPolicy(initial=0.05, factor=1.5, maximum=0.2, timeout=60)
SIZE = 6 * MIB


@pytest.fixture
def fake() -> Iterator[MotoExportFake]:
    with moto_export(ExportFakeConfig(duration=0.5, object_size=SIZE)) as f:
        yield f


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    monkeypatch.setattr(github_release, "WRITE_INTERVAL", None)
    monkeypatch.setattr(github_release, "REQUEST_INTERVAL", None)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_rehearsal-token-0123456789")
    with serve_github() as stand_in:
        stand_in.add_release(77, "Changes in 7.1.0", tag="7.1.0")
        yield stand_in


class Built:
    """Builders that stand in for Packer: an AMI seeded in moto, a Docker manifest on disk."""

    def __init__(self, endpoint: str, fail_docker: bool = False, fake: MotoExportFake | None = None) -> None:
        self.endpoint, self.fail_docker, self.fake = endpoint, fail_docker, fake
        self.calls: list[str] = []

    def ami(self, settings: Settings, request: AmiBuildRequest) -> BuildManifest:
        self.calls.append("ami")
        assert request.cancel is not None and request.ami_regions == ()  # copies are steps of the graph
        ami = seed_ami(self.endpoint, settings.asset_id)
        manifest = BuildManifest(settings.asset_id, "ami", GitInfo("abc", False), "1.6.6", amis={settings.region: ami})
        assert request.manifest_path is not None
        manifest.write(request.manifest_path)
        return manifest

    def docker(self, settings: Settings, request: DockerBuildRequest) -> BuildManifest:
        self.calls.append("docker")
        if self.fail_docker:
            deadline = time.monotonic() + 60
            while not self.fake.tasks and time.monotonic() < deadline:  # fail once the export runs in AWS
                time.sleep(0.1)
            raise XalError("docker push exasol/ai-lab:7.1.0 failed: denied")
        manifest = BuildManifest(
            settings.asset_id,
            "docker",
            GitInfo("abc", False),
            "1.6.6",
            docker_image="sha256:feed",
            docker_tags=[f"exasol/ai-lab:{settings.asset_id}"],
        )
        assert request.manifest_path is not None
        manifest.write(request.manifest_path)
        return manifest

    def builders(self) -> Builders:
        return Builders(ami=self.ami, docker=self.docker)


def release_request(github: GitHubStandIn | None = None, **kw: Any) -> ReleaseRequest:
    return ReleaseRequest(
        export=ExportRequest(formats=(VmFormat.VHD, VmFormat.VMDK, VmFormat.RAW), poll=FAST, part_size=5 * MIB),
        docker=DockerBuildRequest(),
        copy_regions=("us-east-1",),
        make_public=True,
        github=GitHubTarget("exasol/ai-lab", github.api_url) if github else None,
        release_id=77 if github else None,
        ami_wait=FAST,
        **kw,
    )


def test_release_runs_the_graph_and_publishes_checkable_images(
    moto_endpoint: str, fake: MotoExportFake, github: GitHubStandIn, tmp_path: Path
) -> None:
    seed_bucket_stack(moto_endpoint)
    settings = Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0")
    built = Built(moto_endpoint)
    result = run_release(settings, release_request(github), builders=built.builders())

    steps = result.record.steps
    assert set(steps) == {
        "ami",
        "docker",
        "export",
        "checksums",
        "copy:us-east-1",
        "public:eu-central-1",
        "public:us-east-1",
        "notes",
        "github",
    }
    assert all(s.outcome is Outcome.SUCCEEDED for s in steps.values())
    assert steps["export"].started < steps["copy:us-east-1"].ended  # export and copy overlapped
    assert steps["docker"].started < steps["ami"].ended  # docker built alongside the AMI
    manifest = result.manifest
    assert set(manifest.amis) == {"eu-central-1", "us-east-1"}
    assert sorted(manifest.public_amis) == sorted(manifest.amis.values())
    assert {d["public"] for d in manifest.extra["ami_details"].values()} == {True}

    # SHA256SUMS in the bucket and next to the manifest; every image checks with sha256sum -c
    s3 = __import__("boto3").client("s3", endpoint_url=moto_endpoint, region_name="eu-central-1")
    bucket = steps["export"].outputs["bucket"]
    sums = s3.get_object(Bucket=bucket, Key="ai_lab/7.1.0/SHA256SUMS")["Body"].read().decode()
    assert sums == result.paths.sums.read_text()
    ami = manifest.amis["eu-central-1"]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for image in manifest.vm_images:
        data = s3.get_object(Bucket=bucket, Key=image["key"])["Body"].read()
        assert data == image_bytes(ami, image["format"], SIZE)  # the release AMI's disk, also via a sibling
        assert image["sha256_hex"] == hashlib.sha256(data).hexdigest()
        assert image["sha256"] and image["checksum_type"] == "COMPOSITE"  # the composite is kept too
        (downloads / image["key"].rsplit("/", 1)[1]).write_bytes(data)
    (downloads / "SHA256SUMS").write_text(sums)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=downloads, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 3

    # the release on the stand-in: notes with plain digests and the check line, every asset attached
    release = github.releases[77]
    assert "sha256sum -c SHA256SUMS --ignore-missing" in release["body"]
    assert manifest.vm_images[0]["sha256_hex"] in release["body"]
    assert "releases/download/7.1.0/timeline.svg" in release["body"]
    names = {a["name"] for a in github.assets.values()}
    assert names == {
        "artifacts.md",
        "ami-manifest.json",
        "docker-manifest.json",
        "SHA256SUMS",
        "timeline.svg",
        "release-manifest.json",
    }
    assert result.paths.timeline.read_text().startswith("<?xml")
    on_disk = RunRecord.load(result.paths.record)
    assert on_disk.steps["github"].outcome is Outcome.SUCCEEDED

    # a re-run confirms everything against AWS and Docker's record and builds nothing again
    again = run_release(settings, release_request(github), builders=built.builders())
    assert built.calls.count("ami") == 1
    assert again.record.steps["export"].outcome is Outcome.REUSED
    rebuilt = {n for n, s in again.record.steps.items() if s.outcome is not Outcome.REUSED}
    assert rebuilt == {"docker"}  # the fake build left no image in Docker: the record is not trusted blindly


def test_create_vm_is_the_graph_without_docker_and_github(moto_endpoint: str, fake: MotoExportFake) -> None:
    seed_bucket_stack(moto_endpoint)
    settings = Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0")
    request = ReleaseRequest(
        export=ExportRequest(poll=FAST, part_size=5 * MIB), copy_regions=("us-west-2",), ami_wait=FAST
    )
    result = run_release(settings, request, builders=Built(moto_endpoint).builders())
    assert set(result.record.steps) == {"ami", "export", "checksums", "copy:us-west-2", "notes"}
    assert set(result.manifest.amis) == {"eu-central-1", "us-west-2"}
    assert sorted(i["format"] for i in result.manifest.vm_images) == ["VHD", "VMDK"]
    assert result.paths.notes.read_text().count("| `eu-central-1` |") == 1


def test_a_failed_branch_stops_the_others_and_reports_what_exists(moto_endpoint: str, fake: MotoExportFake) -> None:
    seed_bucket_stack(moto_endpoint)
    fake.config.duration = 30.0  # the export would take long: it must be stopped, not awaited
    settings = Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0")

    class Observer:
        def __init__(self) -> None:
            self.inventory: Any = None

        def __enter__(self) -> Observer:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def changed(self, record: Any) -> None:
            pass

        def left_behind(self, inventory: Any) -> None:
            self.inventory = inventory

    observer = Observer()
    built = Built(moto_endpoint, fail_docker=True, fake=fake)
    with pytest.raises(ReleaseFailed, match=r"docker: docker push exasol/ai-lab:7\.1\.0 failed") as info:
        run_release(settings, release_request(), builders=built.builders(), observer=observer)
    steps = info.value.record.steps
    assert steps["docker"].outcome is Outcome.FAILED
    assert steps["export"].outcome is Outcome.STOPPED  # its tasks keep running in AWS for the re-run
    assert steps["notes"].outcome is Outcome.SKIPPED
    kinds = {r.type for r in observer.inventory.resources}
    assert {"ami", "export-task"} <= kinds


def test_create_vm_cli_failure_shows_the_leftovers_and_the_cleanup_command(
    moto_endpoint: str, fake: MotoExportFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xal.release.pipeline as pipeline
    from xal.cli.main import run_cli

    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    built = Built(moto_endpoint)

    def failing_ami(settings: Settings, request: AmiBuildRequest) -> BuildManifest:
        manifest = built.ami(settings, request)
        fake.config.failures[(manifest.amis[settings.region], "VHD")] = "disk too large"
        return manifest

    monkeypatch.setattr(pipeline, "Builders", lambda: Builders(ami=failing_ami))
    monkeypatch.setenv("XAL_DEFAULT_PASSWORD", "Build-Secret-42")
    argv = ["create-vm", "--asset-id", "7.1.0", "--aws-endpoint-url", moto_endpoint, "--part-size-mib", "5"]
    argv += ["--poll-interval", "0.05", "--poll-max-interval", "0.2"]
    assert run_cli(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert "export failed" in err  # the step's line
    assert "AMIs (1)" in err and "Snapshots (1)" in err and "S3 objects (1)" in err  # VMDK made it
    assert f"resource(s) of asset-id '7.1.0' in regions eu-central-1; bucket s3://{bucket}" in err
    assert "these assets are kept (a re-run continues where this one stopped)" in err
    assert "To delete them: xal cleanup --asset-id 7.1.0" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: 1 release step(s) failed: export:") and "disk too large" in last
