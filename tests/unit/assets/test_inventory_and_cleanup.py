"""Run ledger, asset inventory and cleanup: the library and the two commands, against an in-process moto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from xal.assets.cleanup import parse_age
from xal.assets.inventory import check_pattern, parse_types
from xal.aws import ledger as lg
from xal.aws.paging import pages
from xal.cli.main import run_cli
from xal.errors import UsageError
from xal.local.moto_export import ExportFakeConfig, MotoExportFake, moto_export, seed_ami, seed_bucket_stack

REGION = "eu-central-1"
TAG = "exa_ai_lab_id"


# -- ledger ------------------------------------------------------------------------------------------
def test_ledger_appends_and_reads_back(tmp_path: Path) -> None:
    ledger = lg.Ledger("7.1.0", None, tmp_path)
    ledger.record(lg.PACKER_BUILD, REGION, name="Exasol-AI-Lab-7.1.0", build="b1", ami_regions=["us-east-1"])
    ledger.record(lg.AMI, "us-east-1", id="ami-1", name="Exasol-AI-Lab-7.1.0", phase=lg.CREATED)
    lg.Ledger("7.1.0", "http://127.0.0.1:5000", tmp_path).record(lg.KEY_PAIR, REGION, name="k")
    entries = ledger.entries()
    assert [(e.type, e.region, e.id, e.phase) for e in entries] == [
        (lg.PACKER_BUILD, REGION, None, lg.INTENT),
        (lg.AMI, "us-east-1", "ami-1", lg.CREATED),
    ]  # the moto entry belongs to another endpoint
    assert entries[0].detail == {"build": "b1", "ami_regions": ["us-east-1"]}
    assert entries[0].pid == os.getpid()
    assert oct(ledger.path.stat().st_mode & 0o777) == "0o600"
    assert len(lg.entries_for("7.*", "http://127.0.0.1:5000", tmp_path)) == 1
    assert lg.entries_for("8.*", None, tmp_path) == []


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    ledger = lg.Ledger("a1", None, tmp_path)
    ledger.record(lg.KEY_PAIR, REGION, name="k1")
    with ledger.path.open("ab") as fh:
        fh.write(b'{"asset_id": "a1", "type": "key-p')  # a writer killed mid-line
    assert [e.name for e in ledger.entries()] == ["k1"]
    ledger.record(lg.KEY_PAIR, REGION, name="k2")  # the next entry starts on a line of its own
    assert [e.name for e in ledger.entries()] == ["k1", "k2"]


def test_ledger_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    """A writer killed at a random moment never damages the entries written before."""
    code = (
        "import sys; from pathlib import Path; from xal.aws.ledger import Ledger\n"
        "l = Ledger('k1', None, Path(sys.argv[1]))\n"
        "i = 0\n"
        "while True:\n"
        "    l.record('key-pair', 'eu-central-1', name=f'key-{i}', pad='x' * 3000); i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    path = tmp_path / "k1.jsonl"
    deadline = time.monotonic() + 20
    while (not path.exists() or path.stat().st_size < 50_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    names = [e.name for e in lg.read_entries(path)]
    assert len(names) > 10
    assert names == [f"key-{i}" for i in range(len(names))]


# -- small parsers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("12h", timedelta(hours=12)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "3", "3w", "d3", "-1d", "3 days"])
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid age"):
        parse_age(text)


def test_parse_types_and_patterns() -> None:
    assert parse_types(None) == lg.RESOURCE_TYPES
    assert parse_types(["amis,snapshot", "s3-objects"]) == (lg.AMI, lg.SNAPSHOT, lg.S3_OBJECT)
    with pytest.raises(UsageError, match="unknown resource type 'bucket'"):
        parse_types(["bucket"])
    assert check_pattern("7.*") == "7.*"
    for bad in ("", "a/b", "a b", "x" * 200):
        with pytest.raises(UsageError):
            check_pattern(bad)


def test_pages_stops_on_empty_and_repeated_tokens() -> None:
    calls: list[dict] = []
    responses = iter([{"Items": [1], "NextToken": "t1"}, {"Items": [2], "NextToken": ""}])

    def call(**kwargs):
        calls.append(kwargs)
        return next(responses)

    assert list(pages(call, "Items", Filter="f")) == [1, 2]
    assert calls == [{"Filter": "f"}, {"Filter": "f", "NextToken": "t1"}]

    def same(**_):
        return {"Items": [0], "NextToken": "again"}

    assert list(pages(same, "Items")) == [0, 0]  # a repeated token ends, it does not loop


# -- inventory and cleanup against moto ---------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[MotoExportFake]:
    with moto_export(ExportFakeConfig(duration=3600)) as f:
        yield f


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_cli(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _seed(endpoint: str, asset: str, bucket: str) -> dict[str, str]:
    """What a killed create-vm leaves: a tagged build instance with Packer's untagged group and key
    pair, an untagged AMI that only the ledger names, a tagged AMI with its snapshot, a volume, an
    active export task, a temporary stack, S3 objects and an unfinished multipart upload."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION)
    tags = [{"Key": TAG, "Value": asset}]
    ledger = lg.Ledger(asset, endpoint)
    ledger.record(lg.PACKER_BUILD, REGION, name=f"Exasol-AI-Lab-{asset}-x", build="b1", ami_regions=["us-east-1"])
    sg = ec2.create_security_group(GroupName=f"packer_{asset}", Description="Temporary group for Packer")["GroupId"]
    key = ec2.create_key_pair(KeyName=f"packer_{asset}")["KeyPairId"]
    instance = ec2.run_instances(
        ImageId="ami-785db401",
        MinCount=1,
        MaxCount=1,
        SecurityGroupIds=[sg],
        KeyName=f"packer_{asset}",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    untagged = ec2.create_image(InstanceId=instance, Name=f"Exasol-AI-Lab-{asset}-x")["ImageId"]
    ami = seed_ami(endpoint, asset)
    east = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    copy = east.copy_image(SourceRegion=REGION, SourceImageId=ami, Name=f"Exasol-AI-Lab-{asset}")["ImageId"]
    east.create_tags(Resources=[copy], Tags=tags)
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=[{"ResourceType": "volume", "Tags": tags}]
    )["VolumeId"]
    task = ec2.export_image(
        ImageId=ami,
        DiskImageFormat="VMDK",
        RoleName="vmimport",
        S3ExportLocation={"S3Bucket": bucket, "S3Prefix": f"ai_lab/{asset}/"},
        TagSpecifications=[{"ResourceType": "export-image-task", "Tags": tags}],
    )["ExportImageTaskId"]
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    stack = f"xal-ec2-{asset.replace('.', '-')}"
    cfn.create_stack(
        StackName=stack,
        TemplateBody='{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}',
        Tags=tags,
    )
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    s3.put_object(Bucket=bucket, Key=f"ai_lab/{asset}/exasol-ai-lab-{asset}.vmdk", Body=b"image")
    s3.put_object(Bucket=bucket, Key=f"ai_lab/{asset}/export-ami-1.vhd", Body=b"raw export")
    s3.create_multipart_upload(Bucket=bucket, Key=f"ai_lab/{asset}/exasol-ai-lab-{asset}.vhd")
    return {
        "instance": instance,
        "sg": sg,
        "key": key,
        "untagged_ami": untagged,
        "ami": ami,
        "copy": copy,
        "volume": volume,
        "task": task,
        "stack": stack,
    }


def _left(endpoint: str, asset: str, bucket: str) -> dict[str, list[str]]:
    """Everything of ``asset`` still in moto, looked up independently of xal."""
    left: dict[str, list[str]] = {}
    tag_filter = [{"Name": f"tag:{TAG}", "Values": [asset]}]
    for region in (REGION, "us-east-1"):
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region)
        live = [
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=tag_filter)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ]
        left.setdefault("instance", []).extend(live)
        images = ec2.describe_images(Owners=["self"])["Images"]
        left.setdefault("ami", []).extend(i["ImageId"] for i in images if asset in i["Name"])
        left.setdefault("snapshot", []).extend(
            s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=tag_filter)["Snapshots"]
        )
        left.setdefault("volume", []).extend(v["VolumeId"] for v in ec2.describe_volumes(Filters=tag_filter)["Volumes"])
        left.setdefault("security-group", []).extend(
            g["GroupId"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith("packer_")
        )
        left.setdefault("key-pair", []).extend(
            k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"] if asset in k["KeyName"]
        )
        left.setdefault("export-task", []).extend(
            t["ExportImageTaskId"]
            for t in ec2.describe_export_image_tasks()["ExportImageTasks"]
            if t["Status"] == "active" and {"Key": TAG, "Value": asset} in t["Tags"]
        )
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    left["s3-object"] = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"ai_lab/{asset}/").get("Contents", [])
    ]
    left["s3-upload"] = [
        u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if asset in u["Key"]
    ]
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    left["stack"] = [
        s["StackName"]
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackStatus"] != "DELETE_COMPLETE" and {"Key": TAG, "Value": asset} in s.get("Tags", [])
    ]
    return {k: v for k, v in left.items() if v}


def test_show_cleanup_rerun_and_other_assets_untouched(moto_endpoint, fake, capsys) -> None:
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    mine = _seed(moto_endpoint, "7.1.0", bucket)
    other = seed_ami(moto_endpoint, "7.2.0")
    common = ["--aws-endpoint-url", moto_endpoint]

    code, out, _ = _cli(capsys, "show-aws-assets", "--asset-id", "7.1.0", "--format", "json", *common)
    assert code == 0
    data = json.loads(out)
    assert data["regions"] == [REGION, "us-east-1"]  # us-east-1 from the ledger's copy regions
    listed = {(r["type"], r["id"]) for r in data["resources"]}
    for type_, ident in [
        ("instance", mine["instance"]),
        ("security-group", mine["sg"]),
        ("key-pair", mine["key"]),
        ("ami", mine["untagged_ami"]),
        ("ami", mine["ami"]),
        ("ami", mine["copy"]),
        ("volume", mine["volume"]),
        ("export-task", mine["task"]),
        ("stack", mine["stack"]),
        ("s3-object", f"s3://{bucket}/ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"),
        ("s3-object", f"s3://{bucket}/ai_lab/7.1.0/export-ami-1.vhd"),
    ]:
        assert (type_, ident) in listed, (type_, ident)
    assert any(r["type"] == "s3-upload" for r in data["resources"])
    behind = set()  # the snapshots behind every AMI, the untagged one too
    for region, ami in ((REGION, mine["untagged_ami"]), (REGION, mine["ami"]), ("us-east-1", mine["copy"])):
        image = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=region).describe_images(ImageIds=[ami])
        behind |= {m["Ebs"]["SnapshotId"] for m in image["Images"][0]["BlockDeviceMappings"] if "Ebs" in m}
    assert behind and behind <= {r["id"] for r in data["resources"] if r["type"] == "snapshot"}
    by_id = {r["id"]: r for r in data["resources"]}
    assert by_id[mine["untagged_ami"]]["found_by"] == "name (ledger)"
    assert by_id[mine["sg"]]["found_by"] == f"instance {mine['instance']}"
    assert {r["asset_id"] for r in data["resources"]} == {"7.1.0"}

    code, out, _ = _cli(
        capsys, "show-aws-assets", "--asset-id", "7.*", "--type", "ami", "--format", "markdown", *common
    )
    assert code == 0
    assert "#### AMIs" in out and other in out and mine["ami"] in out and "Snapshots" not in out

    code, out, _ = _cli(capsys, "show-aws-assets", "--asset-id", "7.*", "--type", "ami", *common)
    assert code == 0
    assert "AMIs (4)" in out and "Snapshots" not in out  # (ids are folded to the test's narrow console)
    assert f"4 resource(s) of asset-id '7.*' in regions {REGION}, us-east-1" in out
    assert "delete with: xal cleanup --asset-id <id> [--dry-run]  (ids: 7.1.0, 7.2.0)" in out

    # dry run changes nothing
    code, out, _ = _cli(capsys, "cleanup", "--asset-id", "7.1.0", "--dry-run", *common)
    assert code == 0
    assert "would delete" in out and "dry run, nothing changed" in out
    assert set(_left(moto_endpoint, "7.1.0", bucket)) >= {"instance", "ami", "stack", "s3-object", "export-task"}

    code, out, err = _cli(capsys, "cleanup", "--asset-id", "7.1.0", *common)
    assert code == 0, err
    assert f"deleted  instance {mine['instance']}" in out
    assert _left(moto_endpoint, "7.1.0", bucket) == {}
    # the permanent stack, the bucket and the other asset are untouched
    cfn = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION)
    assert cfn.describe_stacks(StackName="XAL-VM-BUCKET")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    assert ec2.describe_images(ImageIds=[other])["Images"][0]["State"] == "available"

    # re-run: nothing left to do, success
    code, out, _ = _cli(capsys, "cleanup", "--asset-id", "7.1.0", "--json", *common)
    assert code == 0
    summary = json.loads(out)["summary"]
    assert summary["deleted"] == summary["failed"] == 0


def test_keep_released_and_older_than(moto_endpoint, fake, capsys) -> None:
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    mine = _seed(moto_endpoint, "8.0.0", bucket)
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    ec2.modify_image_attribute(ImageId=mine["ami"], LaunchPermission={"Add": [{"Group": "all"}]})
    common = ["--asset-id", "8.0.0", "--aws-endpoint-url", moto_endpoint]

    code, out, _ = _cli(capsys, "cleanup", "--older-than", "3d", *common)
    assert code == 0
    deleted = [line for line in out.splitlines() if line.strip().startswith("deleted")]
    # only the multipart upload: moto reports every upload as initiated in 2010
    assert len(deleted) == 1 and "s3-upload" in deleted[0]
    assert "newer than --older-than" in out

    code, out, err = _cli(capsys, "cleanup", "--keep-released", *common)
    assert code == 0, err
    left = _left(moto_endpoint, "8.0.0", bucket)
    assert left["ami"] == [mine["ami"]]  # the public AMI (its snapshot too) ...
    assert left["s3-object"] == ["ai_lab/8.0.0/exasol-ai-lab-8.0.0.vmdk"]  # ... and the final image stay
    assert set(left) == {"ami", "s3-object"}
    image = ec2.describe_images(ImageIds=[mine["ami"]])["Images"][0]
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert f"kept  snapshot {snapshot}" in out
    assert "released (--keep-released)" in out


def test_bad_inputs_have_clear_messages_and_codes(moto_endpoint, capsys, tmp_path) -> None:
    common = ["--aws-endpoint-url", moto_endpoint]
    code, _, err = _cli(capsys, "cleanup", "--asset-id", "no-such-asset", *common)
    assert code == 3
    assert "error: nothing tagged exa_ai_lab_id=no-such-asset in eu-central-1" in err
    code, _, err = _cli(capsys, "show-aws-assets", "--asset-id", "9.*", *common)
    assert code == 3
    assert "error: no AWS resources match asset-id '9.*' in eu-central-1" in err
    code, _, err = _cli(capsys, "cleanup", "--asset-id", "7.*", *common)
    assert code == 2 and "characters '*' are not allowed" in err
    code, _, err = _cli(capsys, "cleanup", "--asset-id", "7.1.0", "--older-than", "3w", *common)
    assert code == 2 and "invalid age '3w'" in err
    code, _, err = _cli(capsys, "show-aws-assets", "--format", "yaml", *common)
    assert code == 2 and "unknown format 'yaml'" in err
    code, _, err = _cli(capsys, "show-aws-assets", "--asset-id", "a/b", *common)
    assert code == 2 and "invalid asset-id pattern" in err
    code, _, err = _cli(capsys, "show-aws-assets", "--type", "bucket", *common)
    assert code == 2 and "unknown resource type" in err
    # an asset with a ledger but nothing left is not an error
    lg.Ledger("done-1", moto_endpoint).record(lg.KEY_PAIR, REGION, name="gone")
    code, out, _ = _cli(capsys, "cleanup", "--asset-id", "done-1", *common)
    assert code == 0 and "nothing left" in out
    assert "Traceback" not in err


def test_failed_deletion_names_the_resource(moto_endpoint, capsys, monkeypatch) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    group = ec2.create_security_group(
        GroupName="sg-x",
        Description="d",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": TAG, "Value": "f1"}]}],
    )["GroupId"]
    from botocore.exceptions import ClientError

    from xal.assets import cleanup as c

    def refuse(self, r):
        return self.call(
            r,
            lambda: (_ for _ in ()).throw(
                ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DeleteSecurityGroup")
            ),
        )

    monkeypatch.setattr(c._Deleter, "security_group", refuse)
    code, out, err = _cli(capsys, "cleanup", "--asset-id", "f1", "--aws-endpoint-url", moto_endpoint)
    assert code == 1
    assert f"failed  security-group {group} (sg-x) in eu-central-1: UnauthorizedOperation: no" in out
    assert f"error: 1 deletion(s) failed: security-group {group} (eu-central-1): UnauthorizedOperation" in err


def test_export_records_intent_before_the_call(moto_endpoint, fake, tmp_path) -> None:
    """The ledger has the export task (and the rename target) even though the run is cut short."""
    from xal.config import Settings
    from xal.export.pipeline import ExportRequest, export_images
    from xal.export.tasks import PollPolicy

    seed_bucket_stack(moto_endpoint)
    seed_ami(moto_endpoint, "9.0.0")
    fake.config.duration = 0.0
    settings = Settings(aws_endpoint_url=moto_endpoint, asset_id="9.0.0")
    export_images(settings, ExportRequest(poll=PollPolicy(initial=0.05, maximum=0.1)))
    entries = lg.Ledger("9.0.0", moto_endpoint).entries()
    kinds = [(e.type, e.phase) for e in entries]
    assert kinds.count((lg.EXPORT_TASK, lg.INTENT)) == 2
    assert kinds.count((lg.EXPORT_TASK, lg.CREATED)) == 2
    assert kinds.count((lg.S3_OBJECT, lg.INTENT)) == 2
    assert all(e.id for e in entries if e.phase == lg.CREATED)
    first_intent = next(i for i, e in enumerate(entries) if e.type == lg.EXPORT_TASK)
    assert entries[first_intent].phase == lg.INTENT  # intent first, id after the call


def test_ledger_ids_find_untagged_groups_and_instances(moto_endpoint, capsys) -> None:
    """A run killed between a create call and its tagging: the ids in the ledger are enough."""
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    group = ec2.create_security_group(GroupName="dev-x", Description="d")["GroupId"]
    instance = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ledger = lg.Ledger("dev-x", moto_endpoint)
    ledger.record(lg.SECURITY_GROUP, REGION, id=group, name="dev-x", phase=lg.CREATED)
    ledger.record(lg.INSTANCE, REGION, id=instance, phase=lg.CREATED)
    code, out, _ = _cli(
        capsys, "show-aws-assets", "--asset-id", "dev-x", "--format", "json", "--aws-endpoint-url", moto_endpoint
    )
    assert code == 0
    found = {(r["type"], r["id"], r["found_by"]) for r in json.loads(out)["resources"]}
    assert found == {("security-group", group, "id (ledger)"), ("instance", instance, "id (ledger)")}
    code, _, err = _cli(capsys, "cleanup", "--asset-id", "dev-x", "--aws-endpoint-url", moto_endpoint)
    assert code == 0, err
    assert (
        ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
        == "terminated"
    )
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"]


def test_a_killed_export_leaves_a_sibling_that_show_and_cleanup_know(moto_endpoint, fake, capsys) -> None:
    """A sibling AMI shares the release AMI's snapshot: listed as a sibling, deleted by cleanup, and
    the shared snapshot stays with the (kept, public) release AMI."""
    from xal.aws.session import AwsSessionFactory
    from xal.config import Settings
    from xal.export.siblings import ensure_siblings
    from xal.naming import VmFormat

    seed_bucket_stack(moto_endpoint)
    ami = seed_ami(moto_endpoint, "8.1.0")
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]})
    image = ec2.describe_images(ImageIds=[ami])["Images"][0]
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, asset_id="8.1.0"))
    sibling = ensure_siblings(factory, "8.1.0", REGION, image, [VmFormat.VMDK])[VmFormat.VMDK]  # then killed
    common = ["--asset-id", "8.1.0", "--aws-endpoint-url", moto_endpoint]

    code, out, _ = _cli(capsys, "show-aws-assets", "--format", "json", *common)
    assert code == 0
    found = {(r["type"], r["id"]): r for r in json.loads(out)["resources"]}
    assert found[("ami", sibling)]["detail"].startswith(f"export sibling of {ami}")
    assert found[("snapshot", snapshot)]["refs"] == {"ami": ami}  # the release AMI's, not the sibling's

    code, out, err = _cli(capsys, "cleanup", "--keep-released", *common)
    assert code == 0, err
    assert f"deleted  ami {sibling}" in out
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [ami]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"


def test_show_lists_download_urls_snapshot_progress_and_stack_resources(moto_endpoint, fake, capsys) -> None:
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    mine = _seed(moto_endpoint, "8.2.0", bucket)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    s3.put_object(Bucket=bucket, Key="ai_lab/8.2.0/SHA256SUMS", Body=b"0" * 64 + b"  exasol-ai-lab-8.2.0.vmdk\n")
    code, out, _ = _cli(
        capsys, "show-aws-assets", "--asset-id", "8.2.0", "--aws-endpoint-url", moto_endpoint, "--format", "json"
    )
    assert code == 0
    found = {(r["type"], r["id"]): r for r in json.loads(out)["resources"]}
    image = found[("s3-object", f"s3://{bucket}/ai_lab/8.2.0/exasol-ai-lab-8.2.0.vmdk")]
    assert image["refs"]["url"] == "https://d111111abcdef8.cloudfront.net/ai_lab/8.2.0/exasol-ai-lab-8.2.0.vmdk"
    sums = found[("s3-object", f"s3://{bucket}/ai_lab/8.2.0/SHA256SUMS")]
    assert sums["released"] and sums["refs"]["url"].endswith("/ai_lab/8.2.0/SHA256SUMS")
    raw = found[("s3-object", f"s3://{bucket}/ai_lab/8.2.0/export-ami-1.vhd")]
    assert "url" not in raw["refs"] and not raw["released"]  # an export's raw output is not for download
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name=REGION)
    snap = ec2.describe_images(ImageIds=[mine["ami"]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    volume = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["VolumeId"]
    assert f"100% done, volume {volume}" in found[("snapshot", snap)]["detail"]
    stack = found[("stack", mine["stack"])]
    assert stack["refs"]["resources"].startswith("AWS::SQS::Queue ")
