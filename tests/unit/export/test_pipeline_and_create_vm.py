"""Export flow against moto (with the ExportImage fake): rename, pre-flight, resume, publish,
copies and export-vm (create-vm is the release graph: tests/unit/release/test_pipeline.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xal import naming
from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import NotFoundError, XalError
from xal.export.create_vm import ExportVmRequest, export_vm
from xal.export.pipeline import ExportFailed, ExportRequest, export_images
from xal.export.preflight import check_amis, check_bucket, check_role, resolve_target
from xal.export.publish import make_ami_public
from xal.export.rename import composite_sha256, rename_export
from xal.export.tasks import FORMAT_TAG, PollPolicy
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
from xal.manifest import BuildManifest
from xal.naming import VmFormat

FAST = PollPolicy(initial=0.05, factor=1.5, maximum=0.2, timeout=30)


@pytest.fixture
def fake() -> Iterator[MotoExportFake]:
    with moto_export(ExportFakeConfig(object_size=6 * MIB)) as f:
        yield f


@pytest.fixture
def env(moto_endpoint: str, fake: MotoExportFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path / "state"))
    outputs = seed_bucket_stack(moto_endpoint)
    settings = Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0")
    return {
        "settings": settings,
        "factory": AwsSessionFactory(settings),
        "bucket": outputs["VMBucketId"],
        "endpoint": moto_endpoint,
        "fake": fake,
        "state": tmp_path / "state",
    }


def request(**kw: Any) -> ExportRequest:
    return ExportRequest(**{"poll": FAST, "part_size": 5 * MIB, **kw})


def keys(env: dict[str, Any]) -> list[str]:
    s3 = env["factory"].client("s3")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=env["bucket"]).get("Contents", []))


def test_rename_is_a_multipart_server_side_copy_with_sha256(env: dict[str, Any]) -> None:
    s3, bucket = env["factory"].client("s3"), env["bucket"]
    data = image_bytes("ami-1", "VMDK", 12 * MIB + 7)
    s3.put_object(Bucket=bucket, Key="ai_lab/7.1.0/export-ami-1.vmdk", Body=data)
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    image = rename_export(
        s3,
        bucket=bucket,
        source_key="ai_lab/7.1.0/export-ami-1.vmdk",
        asset_id="7.1.0",
        ami_id="ami-1",
        fmt=VmFormat.VMDK,
        task_id="export-ami-1",
        cdn_domain="d1.cloudfront.net",
        part_size=5 * MIB,
    )
    assert calls.count("UploadPartCopy") == 3
    assert "GetObject" not in calls  # never downloaded
    assert image.key == "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"
    assert (image.size, image.parts, image.part_size) == (len(data), 3, 5 * MIB)
    parts = [data[i : i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    assert image.sha256 == composite_sha256(parts)
    assert image.url == "https://d1.cloudfront.net/ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"
    assert keys(env) == ["ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"]
    tags = s3.get_object_tagging(Bucket=bucket, Key=image.key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == naming.asset_tags("7.1.0")


def test_preflight_errors_are_clear(env: dict[str, Any]) -> None:
    factory = env["factory"]
    with pytest.raises(NotFoundError, match="AMI ami-12345678 not found in eu-central-1"):
        check_amis(factory, ["ami-12345678"])
    with pytest.raises(NotFoundError, match="bucket no-such-bucket-xal does not exist"):
        check_bucket(factory, "no-such-bucket-xal")
    with pytest.raises(NotFoundError, match="IAM role nope does not exist"):
        check_role(factory, "nope")
    factory.client("s3").put_bucket_encryption(
        Bucket=env["bucket"],
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}]
        },
    )
    with pytest.raises(XalError, match="uses SSE-KMS"):
        check_bucket(factory, env["bucket"])
    target = resolve_target(factory)
    assert (target.role_name, target.cdn_domain) == ("vmimport", FAKE_CDN_DOMAIN)
    assert env["fake"].calls["ExportImage"] == 0


def test_preflight_rejects_encrypted_ami() -> None:
    from botocore.stub import Stubber

    factory = AwsSessionFactory(Settings())
    ec2 = factory.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_images",
            {
                "Images": [
                    {
                        "ImageId": "ami-1",
                        "State": "available",
                        "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"Encrypted": True}}],
                    }
                ]
            },
        )
        with pytest.raises(XalError, match="cannot export encrypted AMIs"):
            check_amis(factory, ["ami-1"])


def test_missing_bucket_stack_names_the_options(env: dict[str, Any], moto_endpoint: str) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, region="us-east-2"))
    with pytest.raises(NotFoundError, match=r"XAL-VM-BUCKET not found in us-east-2.*--bucket and --role-name"):
        resolve_target(factory)


def test_export_failure_then_resume_exports_only_what_is_missing(env: dict[str, Any]) -> None:
    ami = seed_ami(env["endpoint"], "7.1.0")
    env["fake"].config.failures[(ami, "VMDK")] = "ClientError: unsupported disk layout"
    with pytest.raises(ExportFailed, match=r"VMDK: export task .* ended deleted: ClientError: unsupported") as info:
        export_images(env["settings"], request())
    assert [i["format"] for i in info.value.result.images] == ["VHD"]
    manifest_path = env["state"] / "builds" / "7.1.0" / "ami-manifest.json"
    assert [i["format"] for i in json.loads(manifest_path.read_text())["vm_images"]] == ["VHD"]
    assert env["fake"].calls["ExportImage"] == 2

    env["fake"].config.failures.clear()
    result = export_images(env["settings"], request())
    assert env["fake"].calls["ExportImage"] == 3  # only VMDK again, with a new ClientToken (attempt 1)
    assert sorted(i["format"] for i in result.images) == ["VHD", "VMDK"]
    assert keys(env) == ["ai_lab/7.1.0/exasol-ai-lab-7.1.0.vhd", "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"]
    manifest = BuildManifest.load(manifest_path)
    assert manifest.amis == {"eu-central-1": ami}
    assert sorted(i["format"] for i in manifest.vm_images) == ["VHD", "VMDK"]


def test_one_ami_three_formats_export_at_once_from_sibling_amis(env: dict[str, Any]) -> None:
    """AWS (and the fake) refuse a second active task on one AMI; siblings on the same snapshots
    let all three formats run at once, then go away - the release AMI and its snapshots stay."""
    ami = seed_ami(env["endpoint"], "7.1.0")
    fake, ec2 = env["fake"], env["factory"].client("ec2")
    fake.config.duration = 1.0
    original = ec2.describe_images(ImageIds=[ami])["Images"][0]
    snapshot = original["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    result = export_images(env["settings"], request(formats=(VmFormat.VHD, VmFormat.VMDK, VmFormat.RAW)))

    assert fake.max_active["eu-central-1"] == 3  # all three formats were active together
    assert fake.calls["RegisterImage"] == 2  # the first format exports the release AMI itself
    assert sorted(i["format"] for i in result.images) == ["RAW", "VHD", "VMDK"]
    for image in result.images:  # each image is the release AMI's disk, recorded under the release AMI
        assert image["ami_id"] == ami
        data = image_bytes(ami, image["format"], 6 * MIB)
        assert image["sha256"] == composite_sha256([data[i : i + 5 * MIB] for i in range(0, len(data), 5 * MIB)])
    tasks = ec2.describe_export_image_tasks()["ExportImageTasks"]
    sources = {t["ImageId"] for t in tasks}
    assert ami in sources and len(sources) == 3
    for sibling, params in fake.registered.items():
        assert sibling in sources
        assert params["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snapshot  # the same disk
        assert (params["Architecture"], params["RootDeviceName"], params["BootMode"]) == (
            original["Architecture"],
            original["RootDeviceName"],
            original["BootMode"],
        )
    # tagged with the asset and its role, recorded in the ledger before RegisterImage
    entries = [json.loads(line) for line in (env["state"] / "ledger" / "7.1.0.jsonl").read_text().splitlines()]
    sibling_entries = [e for e in entries if e["type"] == "ami" and e.get("detail", {}).get("role") == "export-sibling"]
    order = [(e["phase"], e["name"]) for e in sibling_entries]
    for params in fake.registered.values():
        assert order.index(("intent", params["Name"])) < order.index(("created", params["Name"]))
        tags = {t["Key"]: t["Value"] for t in params["TagSpecifications"][0]["Tags"]}
        assert tags["exa_ai_lab_id"] == "7.1.0" and tags["exa_ai_lab_role"] == "export-sibling"
    # siblings deregistered once their tasks ended; the release AMI and its snapshot are untouched
    left = ec2.describe_images(Owners=["self"])["Images"]
    assert [i["ImageId"] for i in left] == [ami]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"


def test_without_siblings_the_formats_of_one_ami_run_one_after_the_other(env: dict[str, Any]) -> None:
    seed_ami(env["endpoint"], "7.1.0")
    env["fake"].config.duration = 0.3
    export_images(env["settings"], request(formats=(VmFormat.VHD, VmFormat.VMDK), siblings=False))
    assert env["fake"].max_active["eu-central-1"] == 1
    assert env["fake"].calls["RegisterImage"] == 0


def test_resume_adopts_an_active_task_instead_of_starting_a_twin(env: dict[str, Any]) -> None:
    ami = seed_ami(env["endpoint"], "7.1.0")
    env["fake"].config.duration = 4.0  # still active when checked, even on a busy CI machine
    with pytest.raises(ExportFailed, match="re-run the command to resume"):
        export_images(env["settings"], request(formats=(VmFormat.RAW,), poll=PollPolicy(0.05, 1.5, 0.2, 0.3)))
    ec2 = env["factory"].client("ec2")
    tasks = ec2.describe_export_image_tasks()["ExportImageTasks"]
    assert [t["Status"] for t in tasks] == ["active"]
    assert {"Key": FORMAT_TAG, "Value": "RAW"} in tasks[0]["Tags"]
    result = export_images(env["settings"], request(formats=(VmFormat.RAW,)))
    assert env["fake"].calls["ExportImage"] == 1
    assert result.runs[0].resumed
    assert result.images[0]["task_id"] == tasks[0]["ExportImageTaskId"]
    assert result.images[0]["ami_id"] == ami
    # a third run finds the final object and does nothing
    again = export_images(env["settings"], request(formats=(VmFormat.RAW,)))
    assert env["fake"].calls["ExportImage"] == 1
    assert again.images == result.images


def test_make_ami_public_in_every_region_and_copies(env: dict[str, Any]) -> None:
    from xal.export.publish import start_copies, wait_available

    factory = env["factory"]
    ami = seed_ami(env["endpoint"], "7.1.0")
    copies = start_copies(factory, "7.1.0", "eu-central-1", ami, ["us-east-1", "eu-central-1"])
    assert list(copies) == ["us-east-1"]
    assert start_copies(factory, "7.1.0", "eu-central-1", ami, ["us-east-1"]) == copies  # reused, not copied twice
    wait_available(factory, copies, FAST)
    public = make_ami_public(factory, "7.1.0")
    assert public == {"eu-central-1": [ami], "us-east-1": [copies["us-east-1"]]}
    for region, amis in public.items():
        image = factory.client("ec2", region).describe_images(ImageIds=amis)["Images"][0]
        assert image["Public"] is True
    with pytest.raises(NotFoundError, match=r"no AMI tagged exa_ai_lab_id=9\.9\.9"):
        make_ami_public(factory, "9.9.9", ["eu-central-1"])


def test_export_vm_images_a_running_instance(env: dict[str, Any]) -> None:
    ec2 = env["factory"].client("ec2")
    instance = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    result = export_vm(
        env["settings"],
        ExportVmRequest(instance_id=instance, export=request(formats=(VmFormat.VMDK,)), ami_wait=FAST),
    )
    image = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["Exasol-AI-Lab-7.1.0"]}])
    ami = image["Images"][0]
    assert {"Key": "exa_ai_lab_id", "Value": "7.1.0"} in ami["Tags"]
    assert result.images[0]["ami_id"] == ami["ImageId"]
    snap = ami["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snap_tags = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0].get("Tags", [])
    assert {"Key": "exa_ai_lab_id", "Value": "7.1.0"} in snap_tags
    with pytest.raises(XalError, match="exactly one of --instance-id and --stack-name"):
        export_vm(env["settings"], ExportVmRequest())


def test_several_amis_of_one_asset_are_refused(env: dict[str, Any]) -> None:
    a, b = seed_ami(env["endpoint"], "7.1.0"), seed_ami(env["endpoint"], "7.1.0")
    with pytest.raises(XalError, match=r"several AMIs are tagged exa_ai_lab_id=7\.1\.0"):
        export_images(env["settings"], request())
    with pytest.raises(XalError, match="would get the same key"):
        export_images(env["settings"], request(ami_ids=(a, b)))
