"""A local stand-in for the GitHub releases API, for the offline rehearsal and the tests.

PyGithub talks to it like to api.github.com (``XAL_GITHUB_API_URL`` / ``--github-api-url``): get
and patch a release, list, delete and upload assets (the upload URL points back here), create a
draft release. State lives in memory; every request is recorded (method, path, query, headers,
body) so tests can assert exactly what went over the wire, and a failure can be injected per
(method, path). :func:`serve_github` runs it on 127.0.0.1 on a free port (werkzeug, which moto's
server already brings), never anything beyond loopback.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import make_server

DEFAULT_REPOSITORY = "exasol/ai-lab"


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
class GitHubStandIn:
    """The releases of one repository (``repo``) as GitHub's REST API serves them."""

    repo: str = DEFAULT_REPOSITORY
    api_url: str = ""  # set once it is served
    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)  # asset id -> asset (with "release_id")
    uploads: dict[int, bytes] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (method, path) -> status, message
    next_id: int = 9000

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_release(
        self, release_id: int, body: str | None = "Changes in 1.2.0", *, draft: bool = False, tag: str = "1.2.0"
    ) -> None:
        self.releases[release_id] = {"id": release_id, "body": body, "draft": draft, "name": tag, "tag": tag}

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

    def handle(self, request: Request) -> Response:
        """Answer one request (the WSGI app of :func:`serve_github`, or a test server's handler)."""
        with self._lock:
            return self._handle(request)

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


@contextmanager
def serve_github(repo: str = DEFAULT_REPOSITORY) -> Iterator[GitHubStandIn]:
    """Serve a :class:`GitHubStandIn` on 127.0.0.1:<free port> for the duration of the block."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # its request log is not xal's output
    stand_in = GitHubStandIn(repo)

    @Request.application
    def app(request: Request) -> Response:
        return stand_in.handle(request)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    stand_in.api_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="xal-github-stand-in", daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        thread.join(timeout=10)
