"""Development commands: inspect and prepare the local setup."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from xal.cli import options as o

PANEL = "Development"


def show_config(
    config: o.ConfigFile = None,
    aws_profile: o.AwsProfile = None,
    region: o.Region = None,
    aws_endpoint_url: o.EndpointUrl = None,
    asset_id: o.AssetId = None,
    log_level: o.LogLevel = None,
    json: o.Json = None,
) -> None:
    """Show the effective settings after merging options, XAL_* variables and xal.toml."""
    from xal.config import settings_as_dict

    settings = o.build_settings(
        config,
        aws_profile=aws_profile,
        region=region,
        aws_endpoint_url=aws_endpoint_url,
        asset_id=asset_id,
        log_level=log_level,
        json=json,
    )
    data = settings_as_dict(settings)
    if settings.json:
        typer.echo(jsonlib.dumps(data, indent=2))
        return
    from rich.table import Table

    from xal.console import out

    table = Table("setting", "value", title="xal settings")
    for key, value in data.items():
        table.add_row(key, "" if value is None else str(value))
    out().print(table)


def prepare_local(
    work_dir: Annotated[Path, typer.Option(help="Scratch folder for the image build.")] = Path(".xal/images"),
    log_level: o.LogLevel = None,
) -> None:
    """Build the local Debian images (base and sshd) used by the offline rehearsal and the tests.

    Images are bootstrapped from Debian packages with mmdebstrap (no registry needed) and carry the
    host's extra CA certificates; an image is rebuilt only when its recipe changes.
    """
    from xal.cli.progress import activity
    from xal.local.images import prepare_local_images

    settings = o.build_settings(None, log_level=log_level)
    for tag in prepare_local_images(settings, work_dir, activity):
        typer.echo(tag)


def register(app: typer.Typer) -> None:
    app.command("show-config", rich_help_panel=PANEL)(show_config)
    app.command("prepare-local", rich_help_panel=PANEL)(prepare_local)
