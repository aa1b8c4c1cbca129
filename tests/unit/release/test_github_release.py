"""`xal update-release` against a local GitHub REST stand-in (pytest-httpserver): exact requests,
idempotency, the token only in the Authorization header, errors as exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.unit.release.fakes import ASSET, REPO, TOKEN, FakeGitHub, write_manifests
from xal.cli.main import run_cli
from xal.errors import ExitCode
from xal.release import github_release
from xal.release.flows import GitHubTarget, update_release
from xal.release.notes import MARK_END, MARK_START

RELEASE = 4242
P_RELEASE = f"/repos/{REPO}/releases/{RELEASE}"
P_ASSETS = f"/repos/{REPO}/releases/{RELEASE}/assets"
P_UPLOAD = f"/uploads/repos/{REPO}/releases/{RELEASE}/assets"
NAMES = ["artifacts.md", "ami-manifest.json", "docker-manifest.json"]


@pytest.fixture
def github(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeGitHub:
    monkeypatch.setattr(github_release, "WRITE_INTERVAL", None)
    monkeypatch.setattr(github_release, "REQUEST_INTERVAL", None)
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path / "state"))
    fake = FakeGitHub(httpserver)
    monkeypatch.setenv("XAL_GITHUB_API_URL", fake.api_url)
    return fake


@pytest.fixture
def manifests(tmp_path: Path) -> dict[str, Path]:
    return write_manifests(tmp_path / "state")


def _cli(*args: str) -> int:
    return run_cli(["update-release", "--release-id", str(RELEASE), "--asset-id", ASSET, *args])


def _assert_token_only_in_authorization(fake: FakeGitHub) -> None:
    assert fake.requests
    for r in fake.requests:
        assert r.headers["Authorization"] in (f"token {TOKEN}", f"Bearer {TOKEN}")
        others = {k: v for k, v in r.headers.items() if k != "Authorization"}
        assert TOKEN not in json.dumps(others) + r.path + json.dumps(r.query) + r.body.decode(errors="replace")


def test_update_release_sends_exactly_these_requests(
    github: FakeGitHub, manifests: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.add_release(RELEASE, "Changes in 1.2.0\r\n", draft=True)
    assert os.environ["HTTPS_PROXY"] == "http://127.0.0.1:9"  # the guard is on; NO_PROXY lets 127.0.0.1 through

    assert _cli() == 0

    assert github.calls() == [
        ("GET", P_RELEASE),
        ("PATCH", P_RELEASE),
        ("GET", P_ASSETS),
        ("POST", P_UPLOAD),
        ("POST", P_UPLOAD),
        ("POST", P_UPLOAD),
    ]
    patch = github.requests[1]
    body = patch.json["body"]
    assert list(patch.json) == ["body"]  # name, tag, draft and prerelease are left alone
    assert body.startswith(f"Changes in 1.2.0\n\n{MARK_START}\n## Artifacts of AI-Lab 1.2.0\n")
    assert body.endswith(MARK_END)
    assert "docker pull exasol/ai-lab:1.2.0" in body and "| `us-east-1` | `ami-0bbb` |" in body
    uploads = github.requests[3:]
    assert [u.query for u in uploads] == [{"name": n, "label": n} for n in NAMES]
    assert [u.headers["Content-Type"] for u in uploads] == ["text/markdown", "application/json", "application/json"]
    assert uploads[0].body.decode() == body[len(f"Changes in 1.2.0\n\n{MARK_START}\n") : -len(MARK_END)]
    assert uploads[1].body == manifests["ami"].read_bytes()
    assert uploads[2].body == manifests["docker"].read_bytes()
    assert github.releases[RELEASE]["draft"] is True
    _assert_token_only_in_authorization(github)
    captured = capsys.readouterr()
    assert f"release {RELEASE} of {REPO}: notes updated" in captured.out
    assert TOKEN not in captured.out + captured.err


def test_running_twice_replaces_the_section_and_the_assets(
    github: FakeGitHub, manifests: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    github.add_release(RELEASE, "Changes in 1.2.0")
    keep = github.add_asset(RELEASE, "something-else.txt")
    assert _cli() == 0
    body_after_first = github.releases[RELEASE]["body"]
    first_ids = {a["name"]: i for i, a in github.assets.items()}
    github.requests.clear()

    assert _cli() == 0

    assert github.releases[RELEASE]["body"] == body_after_first
    assert body_after_first.count(MARK_START) == 1 and body_after_first.count(MARK_END) == 1
    assert github.calls() == [
        ("GET", P_RELEASE),
        ("GET", P_ASSETS),
        *[("DELETE", f"/repos/{REPO}/releases/assets/{first_ids[n]}") for n in NAMES],
        ("POST", P_UPLOAD),
        ("POST", P_UPLOAD),
        ("POST", P_UPLOAD),
    ]
    assert sorted(a["name"] for a in github.assets.values()) == sorted([*NAMES, "something-else.txt"])
    assert keep in github.assets
    _assert_token_only_in_authorization(github)


def test_new_manifests_replace_the_old_section(github: FakeGitHub, tmp_path: Path) -> None:
    github.add_release(RELEASE, f"Intro\n\n{MARK_START}\nold artifacts\n{MARK_END}\n\nOutro")
    write_manifests(tmp_path / "state", docker=False)
    result = update_release(
        RELEASE,
        ASSET,
        GitHubTarget(REPO, github.api_url),
        releases=github_release.GitHubReleases(TOKEN, REPO, github.api_url),
    )
    body = github.releases[RELEASE]["body"]
    assert body.startswith(f"Intro\n\n{MARK_START}\n## Artifacts of AI-Lab 1.2.0\n")
    assert body.endswith(f"{MARK_END}\n\nOutro")
    assert "old artifacts" not in body and "docker pull" not in body
    assert [a["name"] for a in result["assets"]] == ["artifacts.md", "ami-manifest.json"]
    assert result["body_updated"] is True


def test_repository_option_and_json_output(
    github: FakeGitHub, manifests: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.repo = "me/fork"
    github.add_release(RELEASE)
    assert _cli("--repository", "me/fork", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["repository"] == "me/fork" and data["body_updated"] is True
    assert [a["name"] for a in data["assets"]] == NAMES
    assert github.calls()[0] == ("GET", f"/repos/me/fork/releases/{RELEASE}")


def test_missing_token_fails_before_any_request(
    github: FakeGitHub, manifests: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli() == ExitCode.CREDENTIALS
    assert "error: no GitHub token: set GH_TOKEN or GITHUB_TOKEN" in capsys.readouterr().err
    assert github.requests == []


def test_missing_manifests_fail_before_any_request(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert _cli() == ExitCode.NOT_FOUND
    assert "error: no build manifest for asset-id 1.2.0" in capsys.readouterr().err
    assert github.requests == []


@pytest.mark.parametrize(
    ("status", "message", "code", "text"),
    [
        (404, "Not Found", ExitCode.NOT_FOUND, "wrong repository or release id"),
        (401, "Bad credentials", ExitCode.CREDENTIALS, "is invalid"),
        (403, "Resource not accessible by integration", ExitCode.CREDENTIALS, "needs contents: write"),
        (422, "Validation Failed", ExitCode.FAILED, "GitHub answered 422: Validation Failed"),
    ],
)
def test_github_errors_are_one_line_with_exit_codes(
    github: FakeGitHub,
    manifests: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    message: str,
    code: int,
    text: str,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.add_release(RELEASE)
    github.fail[("GET", P_RELEASE)] = (status, message)
    assert _cli() == code
    err = capsys.readouterr().err
    assert err.startswith(f"error: reading release {RELEASE} of {REPO}: GitHub answered {status}")
    assert text in err
    assert "Traceback" not in err and TOKEN not in err
    assert github.calls() == [("GET", P_RELEASE)]


def test_upload_failure_names_the_step(
    github: FakeGitHub, manifests: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github.add_release(RELEASE)
    github.fail[("POST", P_UPLOAD)] = (422, "already_exists")
    assert _cli() == ExitCode.FAILED
    assert f"error: uploading assets to release {RELEASE} of {REPO}: GitHub answered 422" in capsys.readouterr().err


def test_unreachable_github_is_exit_5(
    manifests: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(github_release, "TIMEOUT", 2)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("XAL_STATE_DIR", str(manifests["ami"].parents[2]))
    # port 9 on loopback: nothing listens, the connection is refused at once
    assert _cli("--github-api-url", "http://127.0.0.1:9") == ExitCode.UNREACHABLE
    assert "cannot reach GitHub" in capsys.readouterr().err
