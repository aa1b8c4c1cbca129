"""The run ledger: before xal asks AWS to create something, it appends the intent to a local file.

``<state_dir>/ledger/<asset-id>.jsonl`` holds one JSON object per line, appended with ``O_APPEND``
and ``fsync``'d before the create call is made. A SIGKILL or a power cut can at worst leave the
last line torn (it is skipped on reading); every earlier entry is intact. The ledger is never
rewritten: cleanup reads it, it does not edit it.

An entry names the resource type, the region, the id when it is known (a second ``created``
entry follows the create call with the id AWS returned), the asset-id, and the endpoint (so the
entries of an offline rehearsal against moto never send real-AWS cleanup looking in the wrong
place). Packer creates its resources itself; for a Packer build the ledger records the intent
(region, AMI name, copy regions) and the inventory finds the resources by tag, by AMI name, and
for the temporary security group and key pair Packer does not tag, through the tagged instance
that uses them (see :mod:`xal.assets.inventory`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from xal.naming import validate_asset_id
from xal.paths import state_dir

log = logging.getLogger(__name__)
INTENT = "intent"
CREATED = "created"
ENDED = "ended"  # the process that made the intent finished it (successfully or not)

# resource types, shared by the ledger, the inventory and cleanup
INSTANCE = "instance"
AMI = "ami"
SNAPSHOT = "snapshot"
VOLUME = "volume"
EXPORT_TASK = "export-task"
S3_OBJECT = "s3-object"
S3_UPLOAD = "s3-upload"
STACK = "stack"
KEY_PAIR = "key-pair"
SECURITY_GROUP = "security-group"
PACKER_BUILD = "packer-build"  # a ledger-only type: the intent of one Packer run
RESOURCE_TYPES = (INSTANCE, AMI, SNAPSHOT, VOLUME, EXPORT_TASK, S3_OBJECT, S3_UPLOAD, STACK, KEY_PAIR, SECURITY_GROUP)


def ledger_dir() -> Path:
    return state_dir() / "ledger"


@dataclass(frozen=True)
class Entry:
    asset_id: str
    type: str
    region: str
    id: str | None = None
    name: str | None = None
    phase: str = INTENT
    endpoint: str | None = None
    time: float = 0.0
    pid: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Entry:
        return cls(
            asset_id=str(raw["asset_id"]),
            type=str(raw["type"]),
            region=str(raw.get("region") or ""),
            id=raw.get("id"),
            name=raw.get("name"),
            phase=raw.get("phase", INTENT),
            endpoint=raw.get("endpoint"),
            time=float(raw.get("time", 0.0)),
            pid=int(raw.get("pid", 0)),
            detail=dict(raw.get("detail") or {}),
        )


class Ledger:
    """The append-only ledger of one asset for one endpoint (None = AWS itself)."""

    def __init__(self, asset_id: str, endpoint: str | None = None, directory: Path | None = None) -> None:
        self.asset_id = validate_asset_id(asset_id)
        self.endpoint = endpoint
        self.path = (directory or ledger_dir()) / f"{asset_id}.jsonl"

    def record(
        self,
        type: str,  # the resource type, as in the file
        region: str,
        *,
        id: str | None = None,
        name: str | None = None,
        phase: str = INTENT,
        **detail: Any,
    ) -> Entry:
        """Append one entry and fsync it; returns only once the entry is on disk."""
        entry = Entry(self.asset_id, type, region, id, name, phase, self.endpoint, time.time(), os.getpid(), detail)
        line = json.dumps(
            {k: v for k, v in entry.__dict__.items() if v not in (None, {})}, sort_keys=True, default=str
        ).encode()
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a writer was killed mid-line: never glue this entry to its torn line
            os.write(fd, line + b"\n")  # one write() with O_APPEND: lines of concurrent writers never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.path.parent)
        log.debug("ledger %s: %s %s %s %s", self.asset_id, phase, type, region, id or name or "")
        return entry

    def entries(self) -> list[Entry]:
        """Every entry of this asset recorded against this ledger's endpoint."""
        return [e for e in read_entries(self.path) if e.endpoint == self.endpoint]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems do not support fsync on directories
        pass
    finally:
        os.close(fd)


def read_entries(path: Path) -> list[Entry]:
    """The entries of one ledger file; a torn or unreadable line (a killed writer) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(Entry.of(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is incomplete or damaged; skipped", path, number)
    return entries


def ledger_files(pattern: str = "*", directory: Path | None = None) -> Iterator[Path]:
    """Ledger files whose asset-id matches the fnmatch ``pattern``."""
    folder = directory or ledger_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        if fnmatchcase(path.stem, pattern):
            yield path


def entries_for(pattern: str, endpoint: str | None, directory: Path | None = None) -> list[Entry]:
    """Entries of every asset matching ``pattern`` that were recorded against ``endpoint``."""
    return [
        e
        for path in ledger_files(pattern, directory)
        for e in read_entries(path)
        if e.endpoint == endpoint and fnmatchcase(e.asset_id, pattern)
    ]
