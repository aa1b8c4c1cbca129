"""Give an exported disk image its release name with a server-side multipart copy.

AWS writes ``ai_lab/<asset>/<task-id>.<fmt>``; releases link ``ai_lab/<asset>/exasol-ai-lab-<asset>.<fmt>``.
The images are larger than CopyObject's 5 GB limit, so the copy is a multipart upload whose parts
are ``UploadPartCopy`` ranges of the source: S3 copies the bytes internally, nothing is
downloaded (upstream downloaded and re-uploaded up to 100 GB here).

Checksum: the upload is created with ``ChecksumAlgorithm=SHA256`` so S3 computes a SHA-256 as it
writes. For multipart objects S3 only offers SHA-256 as a *composite* checksum (SHA-256 of the
concatenated part digests, reported as ``<base64>-<parts>``; full-object checksums exist only for
the CRC algorithms), so xal records that value together with the part size, which is all that is
needed to verify a downloaded file (:func:`composite_sha256`). When S3 returns the part digests
(real S3 does for UploadPartCopy with a checksum algorithm), xal recomputes the composite from
them and checks it against S3's value; moto 5.2 computes the final composite but returns no part
digests, so against moto only S3's own value is recorded (the tests recompute it from the bytes).
In no case does xal read the object's content.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from xal import defaults, naming
from xal.aws.errors import is_not_found
from xal.aws.ledger import S3_OBJECT, Ledger
from xal.errors import XalError

log = logging.getLogger(__name__)
MIB = 1024 * 1024
MIN_PART = defaults.MIN_PART_SIZE_MIB * MIB  # S3's minimum part size (except the last part)
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = defaults.PART_SIZE_MIB * MIB
META_AMI = "xal-source-ami"
META_TASK = "xal-export-task"


@dataclass(frozen=True)
class VmImage:
    """One released disk image, as recorded in the build manifest."""

    asset_id: str
    ami_id: str
    format: str
    bucket: str
    key: str
    size: int
    sha256: str  # base64, S3's ChecksumSHA256 without the "-<parts>" suffix
    checksum_type: str  # COMPOSITE for multipart objects
    part_size: int
    parts: int
    url: str | None
    task_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_url(cdn_domain: str | None, key: str) -> str | None:
    return f"https://{cdn_domain}/{quote(key)}" if cdn_domain else None


def part_size_for(size: int, preferred: int = DEFAULT_PART_SIZE) -> int:
    """A part size S3 accepts for an object of ``size`` bytes (>= 5 MiB, <= 10,000 parts)."""
    return max(MIN_PART, preferred, math.ceil(size / MAX_PARTS))


def composite_sha256(chunks: Iterable[bytes]) -> str:
    """S3's composite SHA-256 (base64, no suffix) of a file given as its parts, in order."""
    digests = b"".join(hashlib.sha256(c).digest() for c in chunks)
    return base64.b64encode(hashlib.sha256(digests).digest()).decode()


def file_composite_sha256(path: str, part_size: int) -> str:
    """Verify a downloaded image against the manifest: same result as S3's checksum for that part size."""

    def parts() -> Iterable[bytes]:
        with Path(path).open("rb") as f:
            while chunk := f.read(part_size):
                yield chunk

    return composite_sha256(parts())


def _strip(checksum: str) -> str:
    return checksum.split("-", 1)[0]  # base64 never contains '-'


def head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def existing_image(s3: Any, bucket: str, asset_id: str, ami_id: str, fmt: naming.VmFormat, cdn: str | None):
    """The final image when it exists and was made from ``ami_id`` (resume), else None."""
    key = naming.vm_image_key(asset_id, fmt)
    info = head(s3, bucket, key)
    if info is None or info.get("Metadata", {}).get(META_AMI) != ami_id or not info.get("ChecksumSHA256"):
        return None
    parts = _parts_of(info)
    return VmImage(
        asset_id=asset_id,
        ami_id=ami_id,
        format=fmt.value,
        bucket=bucket,
        key=key,
        size=info["ContentLength"],
        sha256=_strip(info["ChecksumSHA256"]),
        checksum_type="COMPOSITE",
        part_size=int(info.get("Metadata", {}).get("xal-part-size", 0)) or part_size_for(info["ContentLength"]),
        parts=parts,
        url=image_url(cdn, key),
        task_id=info.get("Metadata", {}).get(META_TASK),
    )


def _parts_of(info: dict[str, Any]) -> int:
    etag = str(info.get("ETag", "")).strip('"')
    return int(etag.rsplit("-", 1)[1]) if "-" in etag else 1


def rename_export(
    s3: Any,
    *,
    bucket: str,
    source_key: str,
    asset_id: str,
    ami_id: str,
    fmt: naming.VmFormat,
    task_id: str | None,
    cdn_domain: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    workers: int = 8,
    ledger: Ledger | None = None,
) -> VmImage:
    """Copy ``source_key`` to the release name (multipart, server-side), verify, delete the source."""
    final_key = naming.vm_image_key(asset_id, fmt)
    source = head(s3, bucket, source_key)
    if source is None:
        raise XalError(f"exported file s3://{bucket}/{source_key} not found")
    size = source["ContentLength"]
    if size == 0:
        raise XalError(f"exported file s3://{bucket}/{source_key} is empty")
    psize = part_size_for(size, part_size)
    ranges = [(n + 1, off, min(off + psize, size) - 1) for n, off in enumerate(range(0, size, psize))]
    if ledger is not None:
        region = s3.meta.region_name
        ledger.record(
            S3_OBJECT, region, id=f"s3://{bucket}/{final_key}", bucket=bucket, key=final_key, source=source_key
        )
    upload = s3.create_multipart_upload(
        Bucket=bucket,
        Key=final_key,
        ChecksumAlgorithm="SHA256",
        ContentType="application/octet-stream",
        Metadata={META_AMI: ami_id, META_TASK: task_id or "", "xal-part-size": str(psize)},
        Tagging=urlencode(naming.asset_tags(asset_id)),
    )
    upload_id = upload["UploadId"]
    log.info("copying s3://%s/%s to %s in %d parts", bucket, source_key, final_key, len(ranges))

    def copy_part(part: tuple[int, int, int]) -> dict[str, Any]:
        number, first, last = part
        result = s3.upload_part_copy(
            Bucket=bucket,
            Key=final_key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": bucket, "Key": source_key},
            CopySourceRange=f"bytes={first}-{last}",
            CopySourceIfMatch=source["ETag"],  # the source must not change under the copy
        )["CopyPartResult"]
        entry = {"PartNumber": number, "ETag": result["ETag"]}
        if result.get("ChecksumSHA256"):
            entry["ChecksumSHA256"] = result["ChecksumSHA256"]
        return entry

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ranges)))) as pool:
            parts = list(pool.map(copy_part, ranges))
        s3.complete_multipart_upload(Bucket=bucket, Key=final_key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=final_key, UploadId=upload_id)
        raise

    final = head(s3, bucket, final_key)
    if final is None or final["ContentLength"] != size:
        got = None if final is None else final["ContentLength"]
        raise XalError(f"copy of {source_key} to {final_key} has {got} bytes, expected {size}; source kept")
    checksum = final.get("ChecksumSHA256")
    if not checksum:
        raise XalError(f"S3 returned no SHA-256 checksum for s3://{bucket}/{final_key}; source kept")
    if all("ChecksumSHA256" in p for p in parts):
        expected = base64.b64encode(
            hashlib.sha256(b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in parts)).digest()
        ).decode()
        if _strip(checksum) != expected:
            raise XalError(f"checksum of {final_key} ({checksum}) does not match its parts ({expected}); source kept")
    s3.delete_object(Bucket=bucket, Key=source_key)
    return VmImage(
        asset_id=asset_id,
        ami_id=ami_id,
        format=fmt.value,
        bucket=bucket,
        key=final_key,
        size=size,
        sha256=_strip(checksum),
        checksum_type="COMPOSITE",
        part_size=psize,
        parts=len(parts),
        url=image_url(cdn_domain, final_key),
        task_id=task_id,
    )
