"""``xal release-check``: a release may only be built from a tag that is the project's version and
that the changelog's newest entry names (upstream's ``check_release``), checked before anything is
built, so a mistyped tag never produces AMIs, images and a Docker push under the wrong name.
"""

from __future__ import annotations

import re
from pathlib import Path

from xal import __version__
from xal.errors import UsageError
from xal.paths import project_root

CHANGELOG = "CHANGELOG.md"
_HEADING = re.compile(r"^##\s+\[?v?(?P<version>[0-9][0-9A-Za-z.+-]*)\]?")


def newest_entry(text: str) -> str | None:
    """The version the first ``## <version>`` heading of a changelog names."""
    for line in text.splitlines():
        if match := _HEADING.match(line):
            return match["version"]
    return None


def check_release(tag: str, version: str = __version__, changelog: Path | None = None) -> str:
    """The version, when ``tag`` equals it and the changelog's newest entry names it; else UsageError."""
    path = changelog or project_root() / CHANGELOG
    if tag.startswith("v") and tag[1:] == version:
        raise UsageError(f"tag {tag!r} has a leading 'v'; release tags are the bare version {version!r}")
    if tag != version:
        raise UsageError(f"tag {tag!r} is not the project version {version!r} (xal/__init__.py)")
    try:
        newest = newest_entry(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no changelog at {path}") from None
    if newest != version:
        found = f"names {newest!r}" if newest else "has no '## <version>' entry"
        raise UsageError(f"the newest entry of {path.name} {found}, not {version!r}; add the release's changes first")
    return version
