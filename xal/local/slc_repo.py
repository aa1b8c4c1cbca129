"""A local stand-in for the script-languages-release repository, placed inside a target container.

The playbook clones that repository at a pinned tag. Offline (rehearsals, tests) GitHub is out
of reach, so a small bare repository with the same tag is created on the host and copied into
the container, and the playbook is pointed at it with a ``file://`` URL.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from xal.errors import XalError

REPO_IN_CONTAINER = "/srv/script-languages-release.git"
STAND_IN_TAG = "rehearsal-1.0"


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


def install_stand_in_repo(container: str, tag: str = STAND_IN_TAG) -> dict[str, str]:
    """Create the bare repository in ``container``; returns the playbook variables that select it."""
    with tempfile.TemporaryDirectory(prefix="xal-slc-") as tmp:
        work, bare = Path(tmp) / "work", Path(tmp) / "bare.git"
        work.mkdir()
        (work / "README.md").write_text("Stand-in for exasol/script-languages-release (offline rehearsal).\n")
        _git("init", "-q", "-b", "main", cwd=work)
        _git("add", "README.md", cwd=work)
        _git("commit", "-q", "-m", "stand-in", cwd=work)
        _git("tag", tag, cwd=work)
        _git("clone", "-q", "--bare", str(work), str(bare), cwd=Path(tmp))
        copy = subprocess.run(
            ["docker", "cp", str(bare), f"{container}:{REPO_IN_CONTAINER}"], capture_output=True, text=True, check=False
        )
        if copy.returncode != 0:
            raise XalError(f"copying the stand-in repository into {container} failed: {copy.stderr.strip()}")
    # readable by the user the playbook clones as, and trusted by git although root owns it
    trust = (
        f"chmod -R a+rX {REPO_IN_CONTAINER} && "
        f"printf '[safe]\\n\\tdirectory = {REPO_IN_CONTAINER}\\n' >> /etc/gitconfig"
    )
    result = subprocess.run(
        ["docker", "exec", container, "sh", "-c", trust], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise XalError(f"preparing the stand-in repository in {container} failed: {result.stderr.strip()}")
    return {"ai_lab_script_languages_repo": f"file://{REPO_IN_CONTAINER}", "ai_lab_script_languages_version": tag}
