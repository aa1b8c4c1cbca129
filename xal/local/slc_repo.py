"""A local stand-in for the script-languages-release repository, served to build containers.

The playbook clones that repository at a pinned tag. Offline (rehearsals, tests) GitHub is out
of reach, so a small bare repository with the same layout and a tag is served over git's "dumb"
HTTP protocol on the Docker bridge gateway: every container (the sshd stand-in instance and the
container Packer's docker builder starts) can reach it, nothing outside the host can.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xal.errors import XalError
from xal.local.bridge import docker_bridge_gateway

STAND_IN_TAG = "rehearsal-1.0"
REPO_NAME = "script-languages-release.git"


def _git(*args: str, cwd: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "xal",
        "GIT_AUTHOR_EMAIL": "xal@localhost",
        "GIT_COMMITTER_NAME": "xal",
        "GIT_COMMITTER_EMAIL": "xal@localhost",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise XalError(f"git {' '.join(args)} failed: {result.stderr.strip()}")


def make_bare_repo(root: Path, tag: str) -> Path:
    work, bare = root / "work", root / REPO_NAME
    work.mkdir(parents=True)
    (work / "README.md").write_text("Stand-in for exasol/script-languages-release (offline rehearsal).\n")
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "README.md", cwd=work)
    _git("commit", "-q", "-m", "stand-in", cwd=work)
    _git("tag", tag, cwd=work)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    _git("update-server-info", cwd=bare)  # what the dumb HTTP protocol reads
    return bare


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a log line."""


@contextmanager
def serve_stand_in_repo(tag: str = STAND_IN_TAG) -> Iterator[dict[str, str]]:
    """Serve the repository while the build runs; yields the playbook variables that select it."""
    with tempfile.TemporaryDirectory(prefix="xal-slc-") as tmp:
        make_bare_repo(Path(tmp), tag)
        handler = functools.partial(_QuietHandler, directory=tmp)
        server = http.server.ThreadingHTTPServer((docker_bridge_gateway(), 0), handler)
        thread = threading.Thread(target=server.serve_forever, name="xal-slc-repo", daemon=True)
        thread.start()
        host, port = server.server_address[:2]
        try:
            yield {
                "ai_lab_script_languages_repo": f"http://{host}:{port}/{REPO_NAME}",
                "ai_lab_script_languages_version": tag,
            }
        finally:
            server.shutdown()
            server.server_close()
