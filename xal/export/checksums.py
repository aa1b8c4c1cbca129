"""Full-object SHA-256 of the exported images, and the ``SHA256SUMS`` file users check them with.

S3 records a *composite* SHA-256 for multipart objects (a hash of the part hashes), which
``sha256sum`` cannot check. The plain SHA-256 of the whole file is computed here without
downloading it to the build host's disk:

- **S3 Batch Operations, Compute checksum** (``S3ComputeObjectChecksum`` with ``ChecksumAlgorithm
  SHA256``, ``ChecksumType FULL_OBJECT``) computes it inside S3 for objects at rest; xal writes a
  CSV manifest of the images, creates the job (``s3control:CreateJob`` with the role S3 assumes),
  follows it (``DescribeJob``) and reads the digests from the completion report. Used when a batch
  role is configured and the endpoint is AWS itself.
- **Ranged GETs hashed in order** everywhere else (the emulator, no batch role, a job that cannot
  run in this region or account): several ranges
  are fetched at once and fed to one SHA-256 in order, so the memory is bounded by the ranges in
  flight and nothing touches the disk.

``SHA256SUMS`` (``<hex>  <file name>`` lines, the ``sha256sum -c`` format) is put next to the
images in the bucket and attached to the release.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from xal import naming
from xal.aws.errors import describe_error
from xal.aws.ledger import S3_OBJECT, Ledger
from xal.aws.session import AwsSessionFactory
from xal.errors import XalError

log = logging.getLogger(__name__)
MIB = 1024 * 1024
RANGE_SIZE = 16 * MIB
RANGE_WORKERS = 4
SUMS_FILE = naming.SUMS_FILE
BATCH = "s3-batch-operations"
RANGED_GET = "ranged-get"
_HEX = re.compile(r"\b[0-9a-f]{64}\b")
JOB_DONE = ("Complete",)
JOB_FAILED = ("Failed", "Cancelled")


@dataclass(frozen=True)
class FullChecksum:
    key: str
    sha256: str  # hex, as sha256sum prints it
    method: str  # BATCH or RANGED_GET


def stream_sha256(
    s3: Any,
    bucket: str,
    key: str,
    *,
    range_size: int = RANGE_SIZE,
    workers: int = RANGE_WORKERS,
    stop: threading.Event | None = None,
) -> str:
    """SHA-256 (hex) of an S3 object from parallel ranged GETs, hashed in order; no file is written."""
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    ranges = [(start, min(start + range_size, size) - 1) for start in range(0, size, range_size)]
    digest = hashlib.sha256()

    def fetch(first: int, last: int) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xal-sha256") as pool:
        window: deque[Future[bytes]] = deque()
        for first, last in ranges:  # keep at most 2 x workers ranges in memory
            window.append(pool.submit(fetch, first, last))
            if len(window) >= 2 * workers:
                digest.update(window.popleft().result())
            if stop is not None and stop.is_set():
                raise XalError(f"checksum of s3://{bucket}/{key} stopped")
        while window:
            digest.update(window.popleft().result())
    return digest.hexdigest()


def parse_result_message(message: str) -> str | None:
    """The SHA-256 (hex) in a Compute checksum task's ResultMessage: hex, or base64 of 32 bytes,
    in JSON or plain text (the report's exact shape is not pinned down by AWS's docs)."""
    values: list[str] = []
    try:
        data = json.loads(message)
    except ValueError:
        values = [message]
    else:
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                values.append(item)
    for value in values:
        if match := _HEX.search(value.lower()):
            return match.group(0)
    for value in values:
        for token in re.findall(r"[A-Za-z0-9+/]{43}=", value):
            try:
                raw = base64.b64decode(token, validate=True)
            except binascii.Error:
                continue
            if len(raw) == 32:
                return raw.hex()
    return None


def batch_sha256(
    factory: AwsSessionFactory,
    asset_id: str,
    bucket: str,
    keys: list[str],
    role_arn: str,
    *,
    poll: float = 15.0,
    timeout: float = 3 * 3600.0,
    sleep: Callable[[float], object] = time.sleep,
) -> dict[str, str]:
    """Full-object SHA-256 (hex) of ``keys`` computed by one S3 Batch Operations job."""
    s3 = factory.client("s3")
    account = factory.client("sts").get_caller_identity()["Account"]
    ledger = Ledger(asset_id, factory.settings.aws_endpoint_url)
    region = factory.settings.region
    prefix = f"{naming.s3_prefix(asset_id)}checksum-job/"
    manifest_key = f"{prefix}manifest.csv"
    body = "".join(f"{bucket},{key}\n" for key in keys).encode()
    ledger.record(S3_OBJECT, region, id=f"s3://{bucket}/{manifest_key}", bucket=bucket, key=manifest_key)
    etag = s3.put_object(Bucket=bucket, Key=manifest_key, Body=body)["ETag"].strip('"')
    token = hashlib.sha256(f"xal-checksum|{asset_id}|{etag}".encode()).hexdigest()[:64]
    control = factory.client("s3control")
    job = control.create_job(
        AccountId=account,
        ConfirmationRequired=False,
        Operation={"S3ComputeObjectChecksum": {"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"}},
        Report={
            "Bucket": f"arn:aws:s3:::{bucket}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": prefix.rstrip("/"),
            "ReportScope": "AllTasks",
        },
        Manifest={
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{manifest_key}", "ETag": etag},
        },
        ClientRequestToken=token,
        Priority=10,
        RoleArn=role_arn,
        Description=f"xal: full-object SHA-256 of the VM images of {asset_id}",
        Tags=[{"Key": k, "Value": v} for k, v in naming.asset_tags(asset_id).items()],
    )["JobId"]
    log.info("S3 Batch Operations job %s computes the SHA-256 of %d image(s)", job, len(keys))
    deadline = time.monotonic() + timeout
    while True:
        described = control.describe_job(AccountId=account, JobId=job)["Job"]
        status = described.get("Status")
        if status in JOB_DONE:
            break
        if status in JOB_FAILED:
            reasons = "; ".join(r.get("FailureReason", "") for r in described.get("FailureReasons") or [])
            raise XalError(f"S3 Batch Operations job {job} {status}: {reasons or 'no reason given'}")
        if time.monotonic() > deadline:
            raise XalError(f"S3 Batch Operations job {job} still {status} after {timeout:.0f} s")
        sleep(poll)
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}job-{job}/manifest.json")["Body"].read())
    found: dict[str, str] = {}
    for result in report.get("Results", []):
        text = s3.get_object(Bucket=result["Bucket"], Key=result["Key"])["Body"].read().decode()
        for row in csv.reader(io.StringIO(text)):
            if len(row) >= 7 and row[3].lower() == "succeeded":
                digest = parse_result_message(row[6])
                if digest:
                    found[row[1]] = digest
    missing = [k for k in keys if k not in found]
    if missing:
        raise XalError(f"S3 Batch Operations job {job} reported no SHA-256 for {', '.join(missing)}")
    return found


def full_checksums(
    factory: AwsSessionFactory,
    asset_id: str,
    bucket: str,
    keys: list[str],
    *,
    batch_role_arn: str | None = None,
    stop: threading.Event | None = None,
) -> list[FullChecksum]:
    """Full-object SHA-256 of each image: S3 Batch Operations when a role is given and the endpoint
    is AWS, otherwise - or when the job cannot run - parallel ranged GETs (all images at once)."""
    if batch_role_arn and not factory.settings.endpoint_is_local:
        try:
            digests = batch_sha256(factory, asset_id, bucket, keys, batch_role_arn)
        except Exception as exc:  # not available (region, permission, job failure): hash it from here instead
            log.warning("S3 Batch Operations checksums unavailable (%s); using ranged GETs", describe_error(exc))
        else:
            return [FullChecksum(k, digests[k], BATCH) for k in keys]
    s3 = factory.client("s3")
    with ThreadPoolExecutor(max_workers=max(1, len(keys)), thread_name_prefix="xal-image") as pool:
        digests = list(pool.map(lambda k: stream_sha256(s3, bucket, k, stop=stop), keys))
    return [FullChecksum(k, d, RANGED_GET) for k, d in zip(keys, digests, strict=True)]


def sums_text(checksums: list[FullChecksum]) -> str:
    """``sha256sum -c`` input: ``<hex>  <file name>`` per image (two spaces: binary-agnostic text mode)."""
    return "".join(f"{c.sha256}  {c.key.rsplit('/', 1)[-1]}\n" for c in sorted(checksums, key=lambda c: c.key))


def publish_sums(factory: AwsSessionFactory, asset_id: str, bucket: str, text: str) -> str:
    """Put ``SHA256SUMS`` next to the images (recorded in the ledger first); returns its key."""
    key = naming.sums_key(asset_id)
    Ledger(asset_id, factory.settings.aws_endpoint_url).record(
        S3_OBJECT, factory.settings.region, id=f"s3://{bucket}/{key}", bucket=bucket, key=key
    )
    factory.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=text.encode(),
        ContentType="text/plain; charset=utf-8",
        Tagging=urlencode(naming.asset_tags(asset_id)),
    )
    return key
