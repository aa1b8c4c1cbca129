"""The build manifest: one JSON file per asset that says what was built, from what, and where it is.

Like chef/bento's metadata file, it pins the source (git SHA and dirty flag, Packer version,
source AMI) to the results (AMI id per region, Docker image, later the exported VM images), so a
release can be audited and cleaned up without guessing.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xal.paths import state_dir


@dataclass
class GitInfo:
    sha: str | None
    dirty: bool | None

    @classmethod
    def of(cls, directory: Path) -> GitInfo:
        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=False)

        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return cls(None, None)
        return cls(head.stdout.strip(), bool(git("status", "--porcelain").stdout.strip()))


@dataclass
class BuildManifest:
    asset_id: str
    kind: str  # "ami" or "docker"
    git: GitInfo
    packer_version: str
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    region: str | None = None
    source_ami: str | None = None
    amis: dict[str, str] = field(default_factory=dict)
    docker_image: str | None = None
    docker_tags: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    # exported disk images: asset_id, ami_id, format, bucket, key, size, sha256 (+ checksum_type,
    # part_size, parts), url, task_id - see xal.export.rename.VmImage
    vm_images: list[dict[str, Any]] = field(default_factory=list)
    public_amis: list[str] = field(default_factory=list)  # AMIs made public (launch permission "all")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 2)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = self.seconds
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildManifest:
        """Inverse of to_dict; unknown keys (from newer versions) are kept in ``extra``."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["git"] = GitInfo(**(data.get("git") or {"sha": None, "dirty": None}))
        unknown = {k: v for k, v in data.items() if k not in known and k != "seconds"}
        values["extra"] = {**unknown, **(data.get("extra") or {})}
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> BuildManifest:
        return cls.from_dict(json.loads(path.read_text()))

    def add_vm_image(self, image: dict[str, Any]) -> None:
        """Record an exported image, replacing an earlier record of the same format."""
        self.vm_images = [i for i in self.vm_images if i.get("format") != image.get("format")]
        self.vm_images.append(image)
        self.vm_images.sort(key=lambda i: str(i.get("format")))

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path


def default_manifest_path(asset_id: str, kind: str) -> Path:
    """Where a build of ``kind`` (ami, docker) records its manifest unless told otherwise."""
    return state_dir() / "builds" / asset_id / f"{kind}-manifest.json"
