"""The build manifest: one JSON file per asset that says what was built, from what, and where it is.

Like chef/bento's metadata file, it pins the source (git SHA and dirty flag, Packer version,
source AMI) to the results (AMI id per region, Docker image, later the exported VM images), so a
release can be audited and cleaned up without guessing.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 2)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = self.seconds
        return data

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path
