"""`xal export` end to end: the CLI as a subprocess against a moto server that this test process
extends with ExportImage/DescribeExportImageTasks (xal.local.moto_export). No docker or packer.

Asserts the final S3 keys, their SHA-256 checksums (recomputed here from the bytes the fake
wrote), object and task tags, the build manifest and the JSON output; then resume and errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.xal_cli import run_xal
from xal.export.rename import composite_sha256
from xal.local.moto_export import (
    FAKE_CDN_DOMAIN,
    MIB,
    ExportFakeConfig,
    MotoExportFake,
    image_bytes,
    moto_export,
    seed_ami,
    seed_bucket_stack,
)

REGION = "eu-central-1"
SIZE = 12 * MIB  # more than two 5 MiB parts: the multipart copy is really exercised
FAST = ["--poll-interval", "0.1", "--poll-max-interval", "0.3", "--part-size-mib", "5"]


@pytest.fixture
def fake() -> Iterator[MotoExportFake]:
    with moto_export(ExportFakeConfig(duration=0.4, object_size=SIZE)) as f:
        yield f


def test_export_two_assets_cli(moto_endpoint: str, fake: MotoExportFake, xal_env: dict[str, str], tmp_path: Path):
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    amis = {asset: seed_ami(moto_endpoint, asset) for asset in ("7.1.0", "7.1.0-gpu")}
    common = ["--aws-endpoint-url", moto_endpoint, "--region", REGION, *FAST]

    result = run_xal("export", "--ami-id", amis["7.1.0"], "--ami-id", amis["7.1.0-gpu"], "--json", *common, env=xal_env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == [
        "ai_lab/7.1.0-gpu/exasol-ai-lab-7.1.0-gpu.vhd",
        "ai_lab/7.1.0-gpu/exasol-ai-lab-7.1.0-gpu.vmdk",
        "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vhd",
        "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk",
    ]  # the <task-id>.<fmt> sources are gone
    images = {(i["asset_id"], i["format"]): i for i in out["images"]}
    assert len(images) == 4
    tasks = {t["ExportImageTaskId"]: t for t in ec2.describe_export_image_tasks()["ExportImageTasks"]}
    for (asset, fmt), image in images.items():
        data = image_bytes(amis[asset], fmt, SIZE)
        expected = composite_sha256([data[i : i + 5 * MIB] for i in range(0, SIZE, 5 * MIB)])
        head = s3.head_object(Bucket=bucket, Key=image["key"], ChecksumMode="ENABLED")
        assert head["ContentLength"] == SIZE == image["size"]
        assert head["ChecksumSHA256"].split("-")[0] == expected == image["sha256"]
        assert image["parts"] == 3
        assert image["url"] == f"https://{FAKE_CDN_DOMAIN}/{image['key']}"
        object_tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=image["key"])["TagSet"]}
        assert object_tags == {"exa_ai_lab_id": asset, "exasol:project": "DataScienceSandbox", "exasol:owner": "moto"}
        task = tasks[image["task_id"]]
        assert task["Status"] == "completed"
        # the release AMI itself or, for the second format, its sibling (gone again: deregistered)
        assert {"Key": "exa_ai_lab_source_ami", "Value": amis[asset]} in task["Tags"]
        assert {"Key": "exa_ai_lab_id", "Value": asset} in task["Tags"]
        assert task["S3ExportLocation"] == {"S3Bucket": bucket, "S3Prefix": f"ai_lab/{asset}/"}

    for asset, ami in amis.items():
        manifest = json.loads(Path(out["manifests"][asset]).read_text())
        assert Path(out["manifests"][asset]) == Path(xal_env["XAL_STATE_DIR"]) / "builds" / asset / "ami-manifest.json"
        assert manifest["asset_id"] == asset
        assert manifest["amis"] == {REGION: ami}
        assert manifest["vm_images"] == sorted(
            (i for i in out["images"] if i["asset_id"] == asset), key=lambda i: i["format"]
        )

    # limits held: all four at once, each from its own AMI (the release AMI or its sibling; the fake
    # refuses a second active task per AMI), within the region's 5
    assert fake.max_active[REGION] == 4
    assert fake.calls["RegisterImage"] == 2
    assert fake.calls["ExportImage"] == 4

    # resume: a second run finds every final object and starts nothing
    again = run_xal("export", "--asset-id", "7.1.0", "--asset-id", "7.1.0-gpu", "--json", *common, env=xal_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(json.loads(again.stdout)["images"], key=lambda i: i["key"]) == sorted(
        out["images"], key=lambda i: i["key"]
    )
    assert fake.calls["ExportImage"] == 4


def test_export_errors_are_one_line(moto_endpoint: str, fake: MotoExportFake, xal_env: dict[str, str]) -> None:
    seed_ami(moto_endpoint, "7.2.0")
    args = ["export", "--asset-id", "7.2.0", "--aws-endpoint-url", moto_endpoint, *FAST]
    no_stack = run_xal(*args, env=xal_env)
    assert no_stack.returncode == 3
    assert "error: stack XAL-VM-BUCKET not found in eu-central-1" in no_stack.stderr
    no_bucket = run_xal(*args, "--bucket", "no-such-bucket-xal", "--role-name", "vmimport", env=xal_env)
    assert no_bucket.returncode == 3
    assert no_bucket.stderr.strip().splitlines()[-1].startswith("error: bucket no-such-bucket-xal does not exist")
    bad_format = run_xal(*args, "--format", "QCOW2", env=xal_env)
    assert bad_format.returncode == 2
    assert "unknown VM format" in bad_format.stderr
    for r in (no_stack, no_bucket, bad_format):
        assert "Traceback" not in r.stderr
    assert fake.calls["ExportImage"] == 0


def test_failed_task_fails_the_command_with_its_message(
    moto_endpoint: str, fake: MotoExportFake, xal_env: dict[str, str]
) -> None:
    seed_bucket_stack(moto_endpoint)
    ami = seed_ami(moto_endpoint, "7.3.0")
    fake.config.failures[(ami, "VMDK")] = "ClientError: Unknown OS / Missing OS files"
    result = run_xal("export", "--asset-id", "7.3.0", "--aws-endpoint-url", moto_endpoint, *FAST, env=xal_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 export(s) failed: 7.3.0 ")
    assert "ended deleted: ClientError: Unknown OS / Missing OS files" in last


def test_export_vm_and_make_ami_public_cli(moto_endpoint: str, fake: MotoExportFake, xal_env: dict[str, str]) -> None:
    seed_bucket_stack(moto_endpoint)
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    common = ["--asset-id", "dev-1", "--aws-endpoint-url", moto_endpoint]
    exported = run_xal("export-vm", "--instance-id", instance, "--format", "raw", "--json", *common, *FAST, env=xal_env)
    assert exported.returncode == 0, exported.stderr[-3000:]
    images: list[dict[str, Any]] = json.loads(exported.stdout)["images"]
    assert [i["key"] for i in images] == ["ai_lab/dev-1/exasol-ai-lab-dev-1.raw"]

    public = run_xal(
        "make-ami-public", "--in-region", REGION, "--in-region", "us-east-1", "--json", *common, env=xal_env
    )
    assert public.returncode == 0, public.stderr[-3000:]
    assert json.loads(public.stdout) == {REGION: [images[0]["ami_id"]]}
    assert ec2.describe_images(ImageIds=[images[0]["ami_id"]])["Images"][0]["Public"] is True
