"""Stand-ins for the release tests: build manifests on disk and a GitHub REST API on pytest-httpserver.

``FakeGitHub`` answers the endpoints PyGithub uses for releases (get, patch, list/delete/upload
assets, create) from an in-memory state and records every request (method, path, query, JSON or
raw body, headers), so tests assert exactly what went over the wire.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_httpserver import HTTPServer

from xal.local.github_stand_in import GitHubStandIn
from xal.manifest import BuildManifest, GitInfo

ASSET = "1.2.0"
REPO = "exasol/ai-lab"
TOKEN = "ghp_fake-token-for-tests-0123456789"  # a fake, for the leak checks
MIB = 1024 * 1024


def write_manifests(
    state_dir: Path, asset_id: str = ASSET, *, docker: bool = True, urls: bool = True
) -> dict[str, Path]:
    """The ami manifest (AMI in two regions, VMDK + VHD) and the docker manifest of ``asset_id``."""
    folder = state_dir / "builds" / asset_id
    prefix = f"ai_lab/{asset_id}/exasol-ai-lab-{asset_id}"
    images = [
        {
            "asset_id": asset_id,
            "ami_id": "ami-0aaa",
            "format": fmt,
            "bucket": "xal-vm-bucket",
            "key": f"{prefix}.{fmt.lower()}",
            "size": size,
            "sha256": digest,
            "checksum_type": "COMPOSITE",
            "part_size": 512 * MIB,
            "parts": parts,
            "url": f"https://d111.cloudfront.net/{prefix}.{fmt.lower()}" if urls else None,
            "task_id": f"export-ami-{fmt.lower()}",
        }
        for fmt, size, digest, parts in (
            ("VMDK", 5_368_709_120, "q1Yf0yFlY4w4tX5uTz4T6yq1h8Cq0nO4m2Vv3bG0y1c=", 10),
            ("VHD", 8_600_000_000, "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=", 17),
        )
    ]
    ami = BuildManifest(
        asset_id=asset_id,
        kind="ami",
        git=GitInfo("0123abc", False),
        packer_version="1.11.2",
        started_at=1000.0,
        finished_at=2000.0,
        region="eu-central-1",
        amis={"eu-central-1": "ami-0aaa", "us-east-1": "ami-0bbb"},
        vm_images=images,
    )
    paths = {"ami": ami.write(folder / "ami-manifest.json")}
    if docker:
        manifest = BuildManifest(
            asset_id=asset_id,
            kind="docker",
            git=GitInfo("0123abc", False),
            packer_version="1.11.2",
            docker_image="sha256:feed",
            docker_tags=[f"exasol/ai-lab:{asset_id}", "exasol/ai-lab:latest"],
        )
        paths["docker"] = manifest.write(folder / "docker-manifest.json")
    return paths


class FakeGitHub(GitHubStandIn):
    """The GitHub stand-in of xal.local, answering on a pytest-httpserver."""

    def __init__(self, server: HTTPServer, repo: str = REPO) -> None:
        super().__init__(repo, server.url_for("").rstrip("/"))
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)
