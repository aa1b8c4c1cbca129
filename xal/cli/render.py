"""How command results look: JSON on stdout for ``--json``, rich tables otherwise.

Every command prints its result through these, so ``--json`` output has one shape (indented,
sorted keys) and tables one style.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import typer


def echo_json(data: Any, sort_keys: bool = True) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=sort_keys))


def print_rows(title: str, headers: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """A titled table on stdout."""
    from rich.table import Table

    from xal.console import out

    table = Table(*headers, title=title)
    for row in rows:
        table.add_row(*row)
    out().print(table)


def print_build_manifest(manifest: Any) -> None:
    """A build manifest (xal.manifest.BuildManifest) as a what/value table."""
    rows = [(f"AMI {region}", ami) for region, ami in sorted(manifest.amis.items())]
    if manifest.source_ami:
        rows.append(("source AMI", manifest.source_ami))
    rows += [
        (f"VM image {i['format']}", f"{i['key']} ({i['size']} bytes, sha256 {i['sha256']})") for i in manifest.vm_images
    ]
    if manifest.docker_image:
        rows += [("docker image", manifest.docker_image), ("tags", ", ".join(manifest.docker_tags))]
    rows += [
        ("git", f"{manifest.git.sha or 'n/a'}{' (dirty)' if manifest.git.dirty else ''}"),
        ("packer", manifest.packer_version),
    ]
    print_rows(f"{manifest.kind} build {manifest.asset_id} ({manifest.seconds} s)", ("what", "value"), rows)


def print_vm_images(images: list[dict[str, Any]], title: str) -> None:
    """Exported VM images (ExportResult.images / manifest vm_images entries)."""
    rows = (
        (i["asset_id"], i["format"], i["key"], f"{i['size']:,}", f"{i['sha256']}-{i['parts']}", i["url"] or "n/a")
        for i in images
    )
    print_rows(title, ("asset", "format", "key", "size", "sha256 (S3 composite)", "url"), rows)


def print_amis_and_images(manifest: Any) -> None:
    """What create-vm produced: the AMIs per region (public or not) and the VM images."""
    rows = (
        (region, ami, "yes" if ami in manifest.public_amis else "no") for region, ami in sorted(manifest.amis.items())
    )
    print_rows(f"AMIs of {manifest.asset_id}", ("region", "AMI", "public"), rows)
    print_vm_images(manifest.vm_images, f"VM images of {manifest.asset_id}")
