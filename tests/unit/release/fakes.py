"""Stand-ins for the release tests: build manifests on disk and a GitHub REST API on pytest-httpserver.

``FakeGitHub`` answers the endpoints PyGithub uses for releases (get, patch, list/delete/upload
assets, create) from an in-memory state and records every request (method, path, query, JSON or
raw body, headers), so tests assert exactly what went over the wire.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

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


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeGitHub:
    server: HTTPServer
    repo: str = REPO
    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)  # asset id -> asset (with "release_id")
    uploads: dict[int, bytes] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (method, path) -> status, message
    next_id: int = 9000

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def api_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def add_release(self, release_id: int, body: str | None = "Changes in 1.2.0", *, draft: bool = False) -> None:
        self.releases[release_id] = {"id": release_id, "body": body, "draft": draft, "name": "1.2.0", "tag": "1.2.0"}

    def add_asset(self, release_id: int, name: str, data: bytes = b"old") -> int:
        self.next_id += 1
        self.assets[self.next_id] = {"id": self.next_id, "name": name, "release_id": release_id, "size": len(data)}
        return self.next_id

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    # -- JSON shapes ------------------------------------------------------------------------

    def _release_json(self, release_id: int) -> dict[str, Any]:
        r = self.releases[release_id]
        base = f"{self.api_url}/repos/{self.repo}/releases/{release_id}"
        return {
            "id": release_id,
            "url": base,
            "html_url": f"https://github.com/{self.repo}/releases/tag/{r['tag'] or 'untagged'}",
            "assets_url": f"{base}/assets",
            "upload_url": f"{self.api_url}/uploads/repos/{self.repo}/releases/{release_id}/assets{{?name,label}}",
            "tag_name": r["tag"],
            "target_commitish": r.get("target", "main"),
            "name": r["name"],
            "body": r["body"],
            "draft": r["draft"],
            "prerelease": False,
            "created_at": "2024-05-01T10:00:00Z",
            "published_at": None if r["draft"] else "2024-05-01T10:00:00Z",
            "assets": [self._asset_json(a) for a in self.assets if self.assets[a]["release_id"] == release_id],
        }

    def _asset_json(self, asset_id: int) -> dict[str, Any]:
        a = self.assets[asset_id]
        return {
            "id": asset_id,
            "url": f"{self.api_url}/repos/{self.repo}/releases/assets/{asset_id}",
            "name": a["name"],
            "label": a["name"],
            "size": a["size"],
            "state": "uploaded",
            "content_type": a.get("content_type", "application/octet-stream"),
            "browser_download_url": f"https://github.com/{self.repo}/releases/download/x/{a['name']}",
            "created_at": "2024-05-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "download_count": 0,
        }

    # -- routing ---------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        body = request.get_data()
        self.requests.append(Recorded(request.method, request.path, dict(request.args), dict(request.headers), body))
        if (request.method, request.path) in self.fail:
            status, message = self.fail[(request.method, request.path)]
            return self._json({"message": message}, status)
        repo = re.escape(self.repo)
        m = re.fullmatch(rf"/repos/{repo}/releases/(\d+)", request.path)
        if m and int(m[1]) in self.releases:
            rid = int(m[1])
            if request.method == "GET":
                return self._json(self._release_json(rid))
            if request.method == "PATCH":
                self.releases[rid].update({k: v for k, v in json.loads(body).items() if k in ("body", "name", "draft")})
                return self._json(self._release_json(rid))
        m = re.fullmatch(rf"/repos/{repo}/releases/(\d+)/assets", request.path)
        if m and request.method == "GET" and int(m[1]) in self.releases:
            rid = int(m[1])
            return self._json([self._asset_json(a) for a in self.assets if self.assets[a]["release_id"] == rid])
        m = re.fullmatch(rf"/repos/{repo}/releases/assets/(\d+)", request.path)
        if m and request.method == "DELETE" and int(m[1]) in self.assets:
            del self.assets[int(m[1])]
            return Response(status=204)
        m = re.fullmatch(rf"/uploads/repos/{repo}/releases/(\d+)/assets", request.path)
        if m and request.method == "POST" and int(m[1]) in self.releases:
            asset_id = self.add_asset(int(m[1]), request.args["name"], body)
            self.assets[asset_id]["content_type"] = request.headers.get("Content-Type")
            self.uploads[asset_id] = body
            return self._json(self._asset_json(asset_id), 201)
        if request.path == f"/repos/{self.repo}/releases" and request.method == "POST":
            data = json.loads(body)
            self.next_id += 1
            self.releases[self.next_id] = {
                "id": self.next_id,
                "body": data.get("body"),
                "draft": data.get("draft", False),
                "name": data.get("name"),
                "tag": data.get("tag_name"),
                "target": data.get("target_commitish"),
            }
            return self._json(self._release_json(self.next_id), 201)
        return self._json({"message": "Not Found"}, 404)

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")
