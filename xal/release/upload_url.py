"""Parse the upload URL GitHub gives a release into repository and release id.

The release workflow only knows the release through ``github.event.release.upload_url``, e.g.
``https://uploads.github.com/repos/exasol/ai-lab/releases/123456/assets{?name,label}``. GitHub
Enterprise uses ``https://HOST/api/uploads/repos/...``; both forms are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xal.errors import UsageError

_UPLOAD_URL = re.compile(
    r"https://[A-Za-z0-9.-]+(?::\d+)?(?:/api/uploads)?"
    r"/repos/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)"
    r"/releases/(?P<id>[0-9]+)/assets(?:\{\?name,label\})?"
)
EXAMPLE = "https://uploads.github.com/repos/OWNER/REPO/releases/ID/assets{?name,label}"


@dataclass(frozen=True)
class ReleaseRef:
    repository: str  # OWNER/REPO
    release_id: int


def parse_upload_url(url: str) -> ReleaseRef:
    """The repository and release id of a release's upload URL; UsageError naming the expected form."""
    match = _UPLOAD_URL.fullmatch(url.strip())
    if match is None or int(match["id"]) == 0:
        raise UsageError(f"malformed release upload URL {url!r}; expected {EXAMPLE}")
    return ReleaseRef(f"{match['owner']}/{match['name']}", int(match["id"]))
