"""Release notes from the build manifests: Docker pull line, AMIs per region, VM images.

Everything comes from the manifests the release build wrote (``.xal/builds/<asset-id>/``):
the ami manifest holds the AMI per region (after ``xal release`` with name, public flag and
creation date) and, after ``xal export``, the VM images with size, S3's composite SHA-256 (after
``xal release`` also the plain SHA-256 that ``sha256sum -c SHA256SUMS`` checks) and CloudFront
URL; the docker manifest holds the pushed tags. When the release drew ``timeline.svg``, the notes
link it (as the release asset). No AWS call is made. The section is wrapped in HTML comment
markers so that updating a release replaces it instead of appending it a second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from xal import defaults
from xal.errors import NotFoundError, XalError
from xal.export.checksums import SUMS_FILE
from xal.export.rename import image_url
from xal.manifest import BuildManifest, default_manifest_path
from xal.naming import sums_key, validate_asset_id

log = logging.getLogger(__name__)

MARK_START = "<!-- xal:artifacts:start -->"
MARK_END = "<!-- xal:artifacts:end -->"
COPY_AMI_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html"
# the files a release run keeps next to the manifests (and attaches to the GitHub release)
TIMELINE_FILE = "timeline.svg"
RECORD_FILE = "release-manifest.json"
RELEASE_FILES = {SUMS_FILE: "text/plain", TIMELINE_FILE: "image/svg+xml", RECORD_FILE: "application/json"}


@dataclass(frozen=True)
class ReleaseManifests:
    asset_id: str
    ami: BuildManifest | None
    docker: BuildManifest | None
    paths: dict[str, Path]  # kind -> file, only for the manifests that exist


def load_manifests(
    asset_id: str, ami_manifest: Path | None = None, docker_manifest: Path | None = None
) -> ReleaseManifests:
    """The asset's ami and docker manifests (default paths unless given); at least one must exist."""

    validate_asset_id(asset_id)
    wanted = {
        "ami": ami_manifest or default_manifest_path(asset_id, "ami"),
        "docker": docker_manifest or default_manifest_path(asset_id, "docker"),
    }
    loaded: dict[str, BuildManifest] = {}
    missing = {kind: path for kind, path in wanted.items() if not path.is_file()}
    for kind, path in wanted.items():
        if kind in missing:
            continue
        try:
            manifest = BuildManifest.load(path)
        except (ValueError, TypeError) as exc:
            raise XalError(f"cannot read the {kind} manifest {path}: {exc}") from None
        if manifest.asset_id != asset_id:
            raise XalError(f"{path} is the manifest of asset-id {manifest.asset_id!r}, not {asset_id!r}")
        loaded[kind] = manifest
    if loaded:  # one part of the release is there: say which section the notes leave out
        for kind, path in missing.items():
            log.warning("no %s manifest at %s; the notes leave out its section", kind, path)
    else:
        raise NotFoundError(
            f"no build manifest for asset-id {asset_id} ({', '.join(str(p) for p in wanted.values())}); "
            "build the release first (xal build-ami / build-docker / export) or pass the manifest paths"
        )
    return ReleaseManifests(asset_id, loaded.get("ami"), loaded.get("docker"), {k: wanted[k] for k in loaded})


def human_size(size: int) -> str:
    """Decimal units, one decimal: 5,368,709,120 -> '5.4 GB'."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _pull_reference(docker: BuildManifest) -> str | None:
    tags = [t for t in docker.docker_tags if not t.endswith(":latest")] or docker.docker_tags
    return tags[0] if tags else None


def _checksum(image: dict[str, Any]) -> str:
    value = str(image.get("sha256") or "")
    if not value:
        return "n/a"
    if image.get("checksum_type", "COMPOSITE") == "COMPOSITE":
        return f"`{value}-{image.get('parts')}`"
    return f"`{value}`"


def verify_command(image: dict[str, Any]) -> str:
    """Shell line that prints a downloaded image's checksum the way the table shows it (base64)."""
    name = str(image["key"]).rsplit("/", 1)[-1]
    if image.get("checksum_type", "COMPOSITE") == "COMPOSITE":
        return (
            f"split -b {image['part_size']} --filter='openssl dgst -sha256 -binary' {name} "
            "| openssl dgst -sha256 -binary | base64"
        )
    return f"openssl dgst -sha256 -binary {name} | base64"


def render_markdown(
    manifests: ReleaseManifests, cdn_domain: str | None = None, repository: str = defaults.GITHUB_REPOSITORY
) -> str:
    """The notes as markdown (what ``artifacts.md`` holds), without the markers."""
    lines = [f"## Artifacts of AI-Lab {manifests.asset_id}", ""]
    docker = manifests.docker
    reference = _pull_reference(docker) if docker else None
    if reference:
        lines += ["### Docker image", "", "```shell", f"docker pull {reference}", "```", ""]
    ami = manifests.ami
    if ami and ami.amis:
        lines += ["### Amazon Machine Images (AMI)", ""]
        details = ami.extra.get("ami_details") or {}
        if details:  # recorded by the release run: name, public flag, creation date
            lines += ["| Region | AMI ID | Name | Public | Created |", "| --- | --- | --- | --- | --- |"]
            for region, ami_id in sorted(ami.amis.items()):
                d = details.get(region) or {}
                public = "yes" if d.get("public", ami_id in ami.public_amis) else "no"
                lines.append(
                    f"| `{region}` | `{ami_id}` | `{d.get('name', 'n/a')}` | {public} | {d.get('created') or 'n/a'} |"
                )
        else:
            lines += ["| Region | AMI ID |", "| --- | --- |"]
            lines += [f"| `{region}` | `{ami_id}` |" for region, ami_id in sorted(ami.amis.items())]
        lines += [
            "",
            f"To launch the AI-Lab in another region, [copy the AMI]({COPY_AMI_DOC}) to that region first.",
            "",
        ]
    images = sorted(ami.vm_images if ami else [], key=lambda i: str(i.get("format")))
    if images and all(i.get("sha256_hex") for i in images):
        lines += _full_checksum_section(manifests.asset_id, images, cdn_domain, repository)
    elif images:
        lines += [
            "### VM images",
            "",
            "| Format | File | Size | SHA-256 (S3 composite) | Download |",
            "| --- | --- | --- | --- | --- |",
        ]
        for image in images:
            key = str(image["key"])
            url = image.get("url") or image_url(cdn_domain, key)
            if not url:
                log.warning("VM image %s has no download URL (no CloudFront domain); pass --cdn-domain", key)
            lines.append(
                f"| {image.get('format')} | `{key.rsplit('/', 1)[-1]}` | {human_size(int(image.get('size') or 0))} "
                f"| {_checksum(image)} | {url or 'not published'} |"
            )
        lines += [
            "",
            "The checksums are S3's composite SHA-256 (base64): the SHA-256 of the SHA-256 digests of the "
            "file's parts, followed by the number of parts. To check a download, compare with the output of:",
            "",
            "```shell",
            *[verify_command(i) for i in images],
            "```",
            "",
        ]
    if len(lines) == 2:
        raise NotFoundError(f"the manifests of asset-id {manifests.asset_id} record no artifacts yet")
    folder = next(iter(manifests.paths.values())).parent
    if (folder / TIMELINE_FILE).is_file():
        url = release_asset_url(repository, manifests.asset_id, TIMELINE_FILE)
        lines += ["### Timeline", "", f"How this release was built, step by step: [{TIMELINE_FILE}]({url})", ""]
    lines += python_packages_section(manifests)
    return "\n".join(lines).rstrip() + "\n"


def python_packages_section(manifests: ReleaseManifests) -> list[str]:
    """What pip installed into the JupyterLab virtualenv, from the builds' pins (one list when the
    AMI and the Docker image were built from the same ones)."""
    built = {
        kind: manifest.extra["python"]
        for kind, manifest in (("Docker image", manifests.docker), ("AMI and VM images", manifests.ami))
        if manifest is not None and manifest.extra.get("python")
    }
    lines: list[str] = []
    groups = _group_equal(built)
    for kinds, python in groups:
        index = python.get("extra_index_url") or ""
        heading = "### Python packages" + ("" if len(groups) == 1 else f" ({kinds})")
        source = f"PyPI, with the extra index {index} (torch's CPU build)" if index else "PyPI"
        lines += [heading, "", f"Installed into the JupyterLab virtualenv from {source}:", ""]
        lines += [f"- `{requirement}`" for requirement in python.get("requirements", [])]
        lines.append("")
    return lines


def _group_equal(built: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    groups: list[tuple[list[str], dict[str, Any]]] = []
    for kind, python in built.items():
        match = next((g for g in groups if g[1] == python), None)
        if match:
            match[0].append(kind)
        else:
            groups.append(([kind], python))
    return [(" and ".join(kinds), python) for kinds, python in groups]


def release_asset_url(repository: str, tag: str, name: str) -> str:
    """Where GitHub serves an asset of the release with ``tag`` (the release tag is the asset-id)."""
    return f"https://github.com/{repository}/releases/download/{quote(tag)}/{quote(name)}"


def _full_checksum_section(
    asset_id: str, images: list[dict[str, Any]], cdn_domain: str | None, repository: str
) -> list[str]:
    """The images with their plain SHA-256 and the one line that checks a download with sha256sum."""
    lines = ["### VM images", "", "| Format | File | Size | SHA-256 | Download |", "| --- | --- | --- | --- | --- |"]
    for image in images:
        key = str(image["key"])
        url = image.get("url") or image_url(cdn_domain, key)
        if not url:
            log.warning("VM image %s has no download URL (no CloudFront domain); pass --cdn-domain", key)
        lines.append(
            f"| {image.get('format')} | `{key.rsplit('/', 1)[-1]}` | {human_size(int(image.get('size') or 0))} "
            f"| `{image['sha256_hex']}` | {url or 'not published'} |"
        )
    sums = image_url(cdn_domain, sums_key(asset_id)) or release_asset_url(repository, asset_id, SUMS_FILE)
    return [
        *lines,
        "",
        f"To check a download, put [{SUMS_FILE}]({sums}) next to it and run:",
        "",
        "```shell",
        f"sha256sum -c {SUMS_FILE} --ignore-missing",
        "```",
        "",
    ]


def render_section(
    manifests: ReleaseManifests, cdn_domain: str | None = None, repository: str = defaults.GITHUB_REPOSITORY
) -> str:
    """The notes wrapped in the markers, as they go into the release body."""
    return f"{MARK_START}\n{render_markdown(manifests, cdn_domain, repository)}{MARK_END}"


def merge_into_body(body: str | None, section: str) -> str:
    """The release body with ``section`` in place of an earlier one, else appended after a blank line."""
    body = body or ""
    start = body.find(MARK_START)
    if start != -1:
        end = body.find(MARK_END, start)
        if end == -1:
            raise XalError(f"the release body has {MARK_START} but no {MARK_END}; fix the body by hand")
        return body[:start] + section + body[end + len(MARK_END) :]
    if not body.strip():
        return section
    return body.rstrip() + "\n\n" + section


def release_notes(
    asset_id: str,
    *,
    ami_manifest: Path | None = None,
    docker_manifest: Path | None = None,
    cdn_domain: str | None = None,
    repository: str = defaults.GITHUB_REPOSITORY,
) -> str:
    """The notes of an asset as markdown, from its manifests (``xal release-notes``)."""
    return render_markdown(load_manifests(asset_id, ami_manifest, docker_manifest), cdn_domain, repository)


def write_release_notes(out: Path, asset_id: str, **sources: Any) -> Path:
    """``release_notes`` written to ``out`` (folders created); returns the path."""
    text = release_notes(asset_id, **sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
