"""A thin proxy over PyGithub for the few release calls xal makes, with errors mapped to XalError.

The token comes from ``GH_TOKEN`` or ``GITHUB_TOKEN`` and is registered as a secret, so it is
masked in every log line and error; PyGithub sends it only in the Authorization header. The API
URL is configurable (``XAL_GITHUB_API_URL``) so tests can point it at a local server.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from xal import defaults
from xal.errors import ExitCode, NotFoundError, XalError
from xal.secrets import register_secret, secret_from_env

if TYPE_CHECKING:
    from github.GitRelease import GitRelease

log = logging.getLogger(__name__)

ENV_API_URL = "XAL_GITHUB_API_URL"
ENV_REPOSITORY = "XAL_GITHUB_REPOSITORY"
# PyGithub's pauses between requests and between writes (GitHub's advice against secondary rate limits)
REQUEST_INTERVAL: float | None = 0.25
WRITE_INTERVAL: float | None = 1.0
TIMEOUT = 60


def github_token() -> str:
    token = secret_from_env("GH_TOKEN", "GITHUB_TOKEN")
    if not token:
        raise XalError("no GitHub token: set GH_TOKEN or GITHUB_TOKEN", ExitCode.CREDENTIALS)
    return token


@contextmanager
def github_errors(what: str) -> Iterator[None]:
    """Turn PyGithub and connection failures into one-line XalErrors."""
    import requests
    from github import GithubException

    try:
        yield
    except GithubException as exc:
        detail = exc.data.get("message") if isinstance(exc.data, dict) else None
        text = f"{what}: GitHub answered {exc.status}" + (f": {detail}" if detail else "")
        if exc.status == 401:
            raise XalError(f"{text} (the token in GH_TOKEN/GITHUB_TOKEN is invalid)", ExitCode.CREDENTIALS) from None
        if exc.status == 403:
            raise XalError(f"{text} (the token needs contents: write)", ExitCode.CREDENTIALS) from None
        if exc.status == 404:
            raise NotFoundError(f"{text} (wrong repository or release id, or no access)") from None
        raise XalError(text) from None
    except requests.exceptions.RequestException as exc:
        raise XalError(f"{what}: cannot reach GitHub: {type(exc).__name__}", ExitCode.UNREACHABLE) from None


class GitHubReleases:
    """Releases of one repository."""

    def __init__(
        self, token: str, repository: str = defaults.GITHUB_REPOSITORY, api_url: str = defaults.GITHUB_API_URL
    ) -> None:
        from github import Auth, Github

        register_secret(token)
        # PyGithub sets its logger to INFO, which prints every retried request; xal's debug level shows them
        logging.getLogger("github").setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self._github = Github(
            auth=Auth.Token(token),
            base_url=self.api_url,
            timeout=TIMEOUT,
            seconds_between_requests=REQUEST_INTERVAL,
            seconds_between_writes=WRITE_INTERVAL,
            user_agent="xal",
            lazy=True,  # get_repo builds the repository object without a request
        )
        self._repo = self._github.get_repo(repository)

    def get(self, release_id: int) -> GitRelease:
        with github_errors(f"reading release {release_id} of {self.repository}"):
            return self._repo.get_release(release_id).complete()

    def set_body(self, release: GitRelease, body: str) -> None:
        """PATCH only the body, so name, tag, draft and prerelease stay exactly as they are."""
        with github_errors(f"updating release {release.id} of {self.repository}"):
            self._github.requester.requestJsonAndCheck("PATCH", release.url, input={"body": body})

    def replace_assets(self, release: GitRelease, files: list[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
        """Upload each (name, data, content type) as an asset, deleting earlier assets of those names first."""
        names = {name for name, _, _ in files}
        uploaded = []
        with github_errors(f"uploading assets to release {release.id} of {self.repository}"):
            for asset in release.get_assets():
                if asset.name in names:
                    log.info("deleting the earlier asset %s (id %s)", asset.name, asset.id)
                    asset.delete_asset()
            for name, data, content_type in files:
                asset = release.upload_asset_from_memory(
                    io.BytesIO(data), len(data), name=name, content_type=content_type, label=name
                )
                uploaded.append({"name": asset.name, "size": asset.size, "url": asset.browser_download_url})
        return uploaded

    def create_draft(self, title: str, message: str, target_commitish: str, tag: str = "") -> GitRelease:
        with github_errors(f"creating a draft release in {self.repository}"):
            return self._repo.create_git_release(
                tag=tag,
                name=title,
                message=message,
                draft=True,
                target_commitish=target_commitish,
                make_latest="false",
            )
