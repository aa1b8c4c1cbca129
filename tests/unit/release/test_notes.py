"""Release notes from the manifests, the upload-URL parser and `xal release-notes`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.release.fakes import ASSET, write_manifests
from xal.cli.main import run_cli
from xal.errors import ExitCode, NotFoundError, UsageError, XalError
from xal.export.rename import file_composite_sha256
from xal.manifest import BuildManifest
from xal.release.notes import (
    MARK_END,
    MARK_START,
    human_size,
    load_manifests,
    merge_into_body,
    release_notes,
    render_section,
    verify_command,
)
from xal.release.upload_url import ReleaseRef, parse_upload_url

EXPECTED = """\
## Artifacts of AI-Lab 1.2.0

### Docker image

```shell
docker pull exasol/ai-lab:1.2.0
```

### Amazon Machine Images (AMI)

| Region | AMI ID |
| --- | --- |
| `eu-central-1` | `ami-0aaa` |
| `us-east-1` | `ami-0bbb` |

To launch the AI-Lab in another region, [copy the AMI](https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html) to that region first.

### VM images

| Format | File | Size | SHA-256 (S3 composite) | Download |
| --- | --- | --- | --- | --- |
| VHD | `exasol-ai-lab-1.2.0.vhd` | 8.6 GB | `Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=-17` | https://d111.cloudfront.net/ai_lab/1.2.0/exasol-ai-lab-1.2.0.vhd |
| VMDK | `exasol-ai-lab-1.2.0.vmdk` | 5.4 GB | `q1Yf0yFlY4w4tX5uTz4T6yq1h8Cq0nO4m2Vv3bG0y1c=-10` | https://d111.cloudfront.net/ai_lab/1.2.0/exasol-ai-lab-1.2.0.vmdk |

The checksums are S3's composite SHA-256 (base64): the SHA-256 of the SHA-256 digests of the file's parts, followed by the number of parts. To check a download, compare with the output of:

```shell
split -b 536870912 --filter='openssl dgst -sha256 -binary' exasol-ai-lab-1.2.0.vhd | openssl dgst -sha256 -binary | base64
split -b 536870912 --filter='openssl dgst -sha256 -binary' exasol-ai-lab-1.2.0.vmdk | openssl dgst -sha256 -binary | base64
```
"""  # noqa: E501


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XAL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


# -- upload URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        (
            "https://uploads.github.com/repos/exasol/ai-lab/releases/123456/assets{?name,label}",
            ("exasol/ai-lab", 123456),
        ),
        ("https://uploads.github.com/repos/exasol/ai-lab/releases/7/assets", ("exasol/ai-lab", 7)),
        ("  https://uploads.github.com/repos/me/my.fork_2/releases/42/assets\n", ("me/my.fork_2", 42)),
        ("https://git.example.com/api/uploads/repos/org/lab/releases/5/assets{?name,label}", ("org/lab", 5)),
    ],
)
def test_upload_url_gives_repository_and_release_id(url: str, ref: tuple[str, int]) -> None:
    assert parse_upload_url(url) == ReleaseRef(*ref)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "123456",
        "http://uploads.github.com/repos/exasol/ai-lab/releases/1/assets",  # not https
        "https://uploads.github.com/repos/exasol/ai-lab/releases/latest/assets",
        "https://uploads.github.com/repos/exasol/ai-lab/releases/0/assets",
        "https://uploads.github.com/repos/exasol/releases/1/assets",
        "https://uploads.github.com/repos/exasol/ai-lab/releases/1/assets?name=x;rm -rf /",
        "https://api.github.com/repos/exasol/ai-lab/releases/1",
    ],
)
def test_malformed_upload_url_is_a_usage_error_showing_the_expected_form(url: str) -> None:
    with pytest.raises(
        UsageError, match=r"malformed release upload URL .*expected https://uploads\.github\.com/repos/"
    ):
        parse_upload_url(url)


# -- notes ------------------------------------------------------------------------------------


def test_notes_from_the_manifests(state: Path) -> None:
    write_manifests(state)
    assert release_notes(ASSET) == EXPECTED


def test_notes_without_docker_manifest_leave_out_the_pull_line(state: Path) -> None:
    write_manifests(state, docker=False)
    text = release_notes(ASSET)
    assert "docker pull" not in text
    assert "| `us-east-1` | `ami-0bbb` |" in text


def test_missing_urls_come_from_cdn_domain_or_say_not_published(state: Path) -> None:
    write_manifests(state, urls=False)
    assert "| not published |" in release_notes(ASSET)
    with_cdn = release_notes(ASSET, cdn_domain="dx.cloudfront.net")
    assert "https://dx.cloudfront.net/ai_lab/1.2.0/exasol-ai-lab-1.2.0.vmdk |" in with_cdn


def test_no_manifest_is_not_found_and_a_foreign_one_is_refused(state: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no build manifest for asset-id 1\.2\.0"):
        load_manifests(ASSET)
    paths = write_manifests(tmp_path / "other", "2.0.0")
    with pytest.raises(XalError, match=r"manifest of asset-id '2\.0\.0', not '1\.2\.0'"):
        load_manifests(ASSET, ami_manifest=paths["ami"])
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(XalError, match="cannot read the ami manifest"):
        load_manifests(ASSET, ami_manifest=broken)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (1500, "1.5 kB"), (5_368_709_120, "5.4 GB"), (10**13, "10000.0 GB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


# -- idempotent merge -------------------------------------------------------------------------


def test_section_is_appended_once_and_then_replaced(state: Path) -> None:
    write_manifests(state)
    section = render_section(load_manifests(ASSET))
    assert section.startswith(MARK_START + "\n") and section.endswith(MARK_END)
    first = merge_into_body("Changes in 1.2.0\n", section)
    assert first == "Changes in 1.2.0\n\n" + section
    assert merge_into_body(first, section) == first
    edited = first + "\n\nEdited by hand after the section."
    newer = f"{MARK_START}\nnew artifacts\n{MARK_END}"
    assert merge_into_body(edited, newer) == f"Changes in 1.2.0\n\n{newer}\n\nEdited by hand after the section."
    assert merge_into_body(None, section) == section
    assert merge_into_body("", section) == section


def test_start_marker_without_end_marker_is_refused() -> None:
    with pytest.raises(XalError, match="no <!-- xal:artifacts:end -->"):
        merge_into_body(f"text {MARK_START} truncated", "x")


# -- the verification command -----------------------------------------------------------------


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("split")), reason="needs openssl and split")
@pytest.mark.parametrize("size", [12 * 1024 * 1024 + 7, 5 * 1024 * 1024, 100])
def test_verify_command_reproduces_the_composite_checksum(tmp_path: Path, size: int) -> None:
    part_size = 5 * 1024 * 1024
    image = tmp_path / "exasol-ai-lab-1.2.0.vmdk"
    image.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    entry = {"key": "ai_lab/1.2.0/exasol-ai-lab-1.2.0.vmdk", "part_size": part_size, "checksum_type": "COMPOSITE"}
    result = subprocess.run(
        ["bash", "-c", verify_command(entry)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == file_composite_sha256(str(image), part_size)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_prints_or_writes_the_notes(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifests(state)
    assert run_cli(["release-notes", "--asset-id", ASSET]) == 0
    assert capsys.readouterr().out == EXPECTED
    out = tmp_path / "notes" / "artifacts.md"
    assert run_cli(["release-notes", "--asset-id", ASSET, "--out", str(out)]) == 0
    assert out.read_text() == EXPECTED
    assert capsys.readouterr().out == ""


def test_cli_without_manifests_exits_not_found(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["release-notes", "--asset-id", "9.9.9"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "error: no build manifest for asset-id 9.9.9" in err
    assert "Traceback" not in err


def test_notes_of_a_release_run_show_ami_details_plain_sha256_and_the_timeline(state: Path) -> None:
    """After `xal release`: each AMI's name, public flag and creation date; the plain SHA-256 with the
    one-line sha256sum check; the link to timeline.svg as the release asset."""
    from xal.manifest import BuildManifest

    paths = write_manifests(state)
    manifest = BuildManifest.load(paths["ami"])
    manifest.extra["ami_details"] = {
        "eu-central-1": {
            "id": "ami-0aaa",
            "name": "Exasol-AI-Lab-1.2.0",
            "public": True,
            "created": "2026-12-01T10:00:00Z",
        },
        "us-east-1": {"id": "ami-0bbb", "name": "Exasol-AI-Lab-1.2.0", "public": False, "created": None},
    }
    for image in manifest.vm_images:
        image["sha256_hex"] = f"{image['format'].lower():0>64}"
    manifest.write(paths["ami"])
    (paths["ami"].parent / "timeline.svg").write_text("<svg/>")
    text = release_notes(ASSET)
    assert "| `eu-central-1` | `ami-0aaa` | `Exasol-AI-Lab-1.2.0` | yes | 2026-12-01T10:00:00Z |" in text
    assert "| `us-east-1` | `ami-0bbb` | `Exasol-AI-Lab-1.2.0` | no | n/a |" in text
    assert f"| `{'vmdk':0>64}` |" in text and "composite" not in text
    assert "[SHA256SUMS](https://d111.cloudfront.net/ai_lab/1.2.0/SHA256SUMS)" not in text  # no CDN given here
    assert "sha256sum -c SHA256SUMS --ignore-missing" in text
    assert "https://github.com/exasol/ai-lab/releases/download/1.2.0/SHA256SUMS" in text
    assert "[timeline.svg](https://github.com/exasol/ai-lab/releases/download/1.2.0/timeline.svg)" in text
    with_cdn = release_notes(ASSET, cdn_domain="dx.cloudfront.net")
    assert "[SHA256SUMS](https://dx.cloudfront.net/ai_lab/1.2.0/SHA256SUMS)" in with_cdn


def test_notes_list_the_python_packages_the_builds_installed(state: Path) -> None:
    paths = write_manifests(state)
    python = {"requirements": ["jupyterlab==4.6.6", "exasol-notebook-connector[ibis]==3.1.0"], "extra_index_url": ""}
    for kind in ("ami", "docker"):
        manifest = BuildManifest.load(paths[kind])
        manifest.extra["python"] = {**python, "extra_index_url": "https://download.pytorch.org/whl/cpu"}
        manifest.write(paths[kind])
    notes = release_notes(ASSET)
    section = notes[notes.index("### Python packages") :]
    assert section.splitlines()[:6] == [
        "### Python packages",  # one list: both editions were built from the same pins
        "",
        "Installed into the JupyterLab virtualenv from PyPI, with the extra index "
        "https://download.pytorch.org/whl/cpu (torch's CPU build):",
        "",
        "- `jupyterlab==4.6.6`",
        "- `exasol-notebook-connector[ibis]==3.1.0`",
    ]

    docker = BuildManifest.load(paths["docker"])
    docker.extra["python"] = python  # built without the extra index: two lists, each named
    docker.write(paths["docker"])
    notes = release_notes(ASSET)
    assert "### Python packages (Docker image)\n\nInstalled into the JupyterLab virtualenv from PyPI:" in notes
    assert "### Python packages (AMI and VM images)" in notes
