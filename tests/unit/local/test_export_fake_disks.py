"""The ExportImage fake with a DiskSource: the object a task leaves is the file the source made for the
AMI that owns the disk; the task is active until the file is ready and fails with the source's error."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from xal.aws.session import AwsSessionFactory
from xal.config import Settings
from xal.local.moto_export import ExportFakeConfig, moto_export, seed_ami, seed_bucket_stack


def _export(ec2, ami: str, bucket: str, fmt: str) -> str:
    return ec2.export_image(
        ImageId=ami, DiskImageFormat=fmt, S3ExportLocation={"S3Bucket": bucket, "S3Prefix": "exports/"}
    )["ExportImageTaskId"]


def _status(ec2, task: str) -> dict:
    return ec2.describe_export_image_tasks(ExportImageTaskIds=[task])["ExportImageTasks"][0]


def test_a_task_waits_for_its_disk_and_leaves_the_file_the_source_made(moto_endpoint: str, tmp_path: Path) -> None:
    ready = threading.Event()
    asked: list[tuple[str, str]] = []

    def disks(ami_id: str, fmt: str) -> Path:
        asked.append((ami_id, fmt))
        ready.wait(30)
        path = tmp_path / f"{ami_id}.{fmt.lower()}"
        path.write_bytes(f"disk of {ami_id} as {fmt}".encode())
        return path

    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    ec2, s3 = factory.client("ec2"), factory.client("s3")
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    with moto_export(ExportFakeConfig(duration=0.0, disks=disks)):
        ami = seed_ami(moto_endpoint, "7.1.0")
        task = _export(ec2, ami, bucket, "vmdk")
        time.sleep(0.3)
        assert _status(ec2, task)["Status"] == "active"  # the duration is over, the disk is not
        ready.set()
        deadline = time.monotonic() + 30
        while _status(ec2, task)["Status"] == "active" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _status(ec2, task)["Status"] == "completed"
    assert asked == [(ami, "VMDK")]
    body = s3.get_object(Bucket=bucket, Key=f"exports/{task}.vmdk")["Body"].read()
    assert body == f"disk of {ami} as VMDK".encode()


def test_a_disk_that_cannot_be_made_fails_the_task_with_the_reason(moto_endpoint: str) -> None:
    def disks(ami_id: str, fmt: str) -> Path:
        raise RuntimeError(f"no local image of {ami_id}")

    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    ec2 = factory.client("ec2")
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    with moto_export(ExportFakeConfig(duration=0.0, disks=disks)):
        ami = seed_ami(moto_endpoint, "7.1.0")
        task = _export(ec2, ami, bucket, "raw")
        deadline = time.monotonic() + 30
        while _status(ec2, task)["Status"] == "active" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = _status(ec2, task)
    assert status["Status"] == "deleted"
    assert status["StatusMessage"] == f"ClientError: no local image of {ami}"


def test_ranged_gets_read_their_range_only(moto_endpoint: str) -> None:
    """A disk-sized object: a ranged GET reads its range from moto's buffer, not the object, and
    gives the same bytes and headers as moto's own; a plain GET still gives the whole object."""
    from moto.s3.models import s3_backends

    factory = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint))
    s3 = factory.client("s3")
    bucket = seed_bucket_stack(moto_endpoint)["VMBucketId"]
    block = bytes(range(256)) * 4096  # 1 MiB
    size = 64 * len(block)
    key = s3_backends["123456789012"]["aws"].put_object(bucket, "disk.raw", block * 64)
    reads: list[int] = []
    buffer_read = key._value_buffer.read

    def counted_read(n: int = -1) -> bytes:
        data = buffer_read(n)
        reads.append(len(data))
        return data

    key._value_buffer.read = counted_read
    asked = [(0, 99), (5, 5), (size - 10, size + 100)]

    def ranged() -> list[tuple[bytes, str]]:
        answers = [s3.get_object(Bucket=bucket, Key="disk.raw", Range=f"bytes={a}-{b}") for a, b in asked]
        return [(answer["Body"].read(), answer["ContentRange"]) for answer in answers]

    plain = ranged()
    assert max(reads) == size  # moto's own: the whole object for each range
    reads.clear()
    with moto_export():
        fast = ranged()
        assert reads == [100, 1, 10]  # only the ranges
        whole = s3.get_object(Bucket=bucket, Key="disk.raw")["Body"].read()
    assert fast == plain
    assert fast[0][0] == block[:100] and fast[2][0] == block[-10:]
    assert fast[2][1] == f"bytes {size - 10}-{size - 1}/{size}"
    assert whole == block * 64
