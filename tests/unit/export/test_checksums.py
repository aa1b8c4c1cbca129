"""Full-object SHA-256 of exported images: ranged GETs against moto, the S3 Batch Operations job
against botocore's Stubber (moto has no s3control jobs), and SHA256SUMS."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.errors import XalError
from xal.export.checksums import (
    BATCH,
    RANGED_GET,
    FullChecksum,
    batch_sha256,
    full_checksums,
    parse_result_message,
    publish_sums,
    stream_sha256,
    sums_text,
)

MIB = 1024 * 1024


def test_ranged_gets_hash_the_whole_object_in_order(moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-central-1")
    s3.create_bucket(Bucket="xal-vm-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    data = bytes(range(256)) * (9 * MIB // 256) + b"tail"  # not a multiple of the range size
    s3.put_object(Bucket="xal-vm-bucket", Key="ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk", Body=data)
    ranges: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: ranges.append(params["headers"]["Range"]))
    digest = stream_sha256(s3, "xal-vm-bucket", "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk", range_size=MIB, workers=3)
    assert digest == hashlib.sha256(data).hexdigest()
    assert len(ranges) == 10 and "bytes=0-1048575" in ranges  # ranged, never the whole object at once


def test_full_checksums_in_the_emulator_stream_and_sums_publish(moto_endpoint: str, tmp_path: Path) -> None:
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0"))
    s3 = factory.client("s3")
    s3.create_bucket(Bucket="xal-vm-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    keys = [f"ai_lab/7.1.0/exasol-ai-lab-7.1.0.{ext}" for ext in ("vhd", "vmdk")]
    for key in keys:
        s3.put_object(Bucket="xal-vm-bucket", Key=key, Body=key.encode() * 1000)
    role = "arn:aws:iam::1:role/batch"  # given, but the endpoint is local: ranged GETs
    sums = full_checksums(factory, "7.1.0", "xal-vm-bucket", keys, batch_role_arn=role)
    assert [s.method for s in sums] == [RANGED_GET, RANGED_GET]
    text = sums_text(sums)
    assert text == "".join(
        f"{hashlib.sha256(k.encode() * 1000).hexdigest()}  {k.rsplit('/', 1)[1]}\n" for k in sorted(keys)
    )
    publish_sums(factory, "7.1.0", "xal-vm-bucket", text)
    assert s3.get_object(Bucket="xal-vm-bucket", Key="ai_lab/7.1.0/SHA256SUMS")["Body"].read().decode() == text


HEX = hashlib.sha256(b"image").hexdigest()


@pytest.mark.parametrize(
    "message",
    [
        HEX,
        json.dumps({"checksum_base64": __import__("base64").b64encode(bytes.fromhex(HEX)).decode()}),
        json.dumps({"checksum": {"hex": HEX.upper()}, "checksumAlgorithm": "SHA256"}),
    ],
)
def test_the_digest_is_found_in_a_result_message(message: str) -> None:
    assert parse_result_message(message) == HEX


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_batch_job_computes_full_object_sha256_in_s3() -> None:
    """The exact CreateJob/DescribeJob calls (validated against botocore's model) and the report read."""
    factory = AwsSessionFactory(Settings(asset_id="7.1.0"))
    s3, sts, control = factory.client("s3"), factory.client("sts"), factory.client("s3control")
    keys = ["ai_lab/7.1.0/exasol-ai-lab-7.1.0.vhd", "ai_lab/7.1.0/exasol-ai-lab-7.1.0.vmdk"]
    digests = {k: hashlib.sha256(k.encode()).hexdigest() for k in keys}
    prefix = "ai_lab/7.1.0/checksum-job"
    with Stubber(s3) as s3_stub, Stubber(sts) as sts_stub, Stubber(control) as control_stub:
        sts_stub.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::1:user/a"})
        s3_stub.add_response(
            "put_object",
            {"ETag": '"etag-1"'},
            {"Bucket": "b", "Key": f"{prefix}/manifest.csv", "Body": "".join(f"b,{k}\n" for k in keys).encode()},
        )
        control_stub.add_response(
            "create_job",
            {"JobId": "job-1"},
            {
                "AccountId": "123456789012",
                "ConfirmationRequired": False,
                "Operation": {
                    "S3ComputeObjectChecksum": {"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"}
                },
                "Report": {
                    "Bucket": "arn:aws:s3:::b",
                    "Format": "Report_CSV_20180820",
                    "Enabled": True,
                    "Prefix": prefix,
                    "ReportScope": "AllTasks",
                },
                "Manifest": {
                    "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                    "Location": {"ObjectArn": f"arn:aws:s3:::b/{prefix}/manifest.csv", "ETag": "etag-1"},
                },
                "ClientRequestToken": ANY,
                "Priority": 10,
                "RoleArn": "arn:aws:iam::123456789012:role/xal-checksums",
                "Description": ANY,
                "Tags": ANY,
            },
        )
        control_stub.add_response("describe_job", {"Job": {"Status": "Active"}}, {"AccountId": ANY, "JobId": "job-1"})
        control_stub.add_response("describe_job", {"Job": {"Status": "Complete"}}, {"AccountId": ANY, "JobId": "job-1"})
        report = {"Results": [{"TaskExecutionStatus": "succeeded", "Bucket": "b", "Key": f"{prefix}/results/r.csv"}]}
        s3_stub.add_response(
            "get_object",
            {"Body": _body(json.dumps(report).encode())},
            {"Bucket": "b", "Key": f"{prefix}/job-job-1/manifest.json"},
        )
        rows = "".join(f'b,{k},,succeeded,200,,"{{""checksum_hex"":""{digests[k]}""}}"\n' for k in keys)
        s3_stub.add_response(
            "get_object", {"Body": _body(rows.encode())}, {"Bucket": "b", "Key": f"{prefix}/results/r.csv"}
        )
        found = batch_sha256(
            factory, "7.1.0", "b", keys, "arn:aws:iam::123456789012:role/xal-checksums", sleep=lambda _s: None
        )
        control_stub.assert_no_pending_responses()
    assert found == digests


def test_a_failed_batch_job_says_why() -> None:
    factory = AwsSessionFactory(Settings(asset_id="7.1.0"))
    s3, sts, control = factory.client("s3"), factory.client("sts"), factory.client("s3control")
    with Stubber(s3) as s3_stub, Stubber(sts) as sts_stub, Stubber(control) as control_stub:
        sts_stub.add_response("get_caller_identity", {"Account": "123456789012"})
        s3_stub.add_response("put_object", {"ETag": '"e"'})
        control_stub.add_response("create_job", {"JobId": "job-2"})
        failed: dict[str, Any] = {
            "Job": {"Status": "Failed", "FailureReasons": [{"FailureReason": "AccessDenied on b"}]}
        }
        control_stub.add_response("describe_job", failed)
        with pytest.raises(XalError, match="job job-2 Failed: AccessDenied on b"):
            batch_sha256(factory, "7.1.0", "b", ["k"], "arn:aws:iam::1:role/r", sleep=lambda _s: None)
    assert FullChecksum("k", HEX, BATCH).method == BATCH


def test_when_the_batch_job_cannot_run_the_images_are_hashed_from_here(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xal.export.checksums as checksums

    def unavailable(*_args: Any, **_kw: Any) -> dict[str, str]:
        raise XalError("S3 Batch Operations job job-3 Failed: not available in this region")

    monkeypatch.setattr(checksums, "batch_sha256", unavailable)
    monkeypatch.setattr(Settings, "endpoint_is_local", property(lambda _self: False))  # as against AWS
    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint, asset_id="7.1.0"))
    s3 = factory.client("s3")
    s3.create_bucket(Bucket="xal-vm-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_object(Bucket="xal-vm-bucket", Key="ai_lab/7.1.0/x.raw", Body=b"disk")
    (found,) = full_checksums(factory, "7.1.0", "xal-vm-bucket", ["ai_lab/7.1.0/x.raw"], batch_role_arn="arn:r")
    assert (found.sha256, found.method) == (hashlib.sha256(b"disk").hexdigest(), RANGED_GET)
