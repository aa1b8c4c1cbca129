"""Development commands: inspect and prepare the local setup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal.cli import options as o
from xal.cli.render import echo_json, print_rows
from xal.config import Settings

PANEL = "Development"


@o.command
def show_config(settings: Annotated[Settings, o.SETTINGS]) -> None:
    """Show the effective settings after merging options, XAL_* variables and xal.toml."""
    from xal.config import settings_as_dict

    data = settings_as_dict(settings)
    if settings.json:
        echo_json(data, sort_keys=False)
        return
    print_rows("xal settings", ("setting", "value"), ((k, "" if v is None else str(v)) for k, v in data.items()))


@o.command
def prepare_local(
    settings: Annotated[Settings, o.LOG_ONLY],
    work_dir: Annotated[Path, typer.Option(help="Scratch folder for the image build.")] = Path(".xal/images"),
) -> None:
    """Build the local Debian images (base and sshd) used by the offline rehearsal and the tests.

    Images are bootstrapped from Debian packages with mmdebstrap (no registry needed) and carry the
    host's extra CA certificates; an image is rebuilt only when its recipe changes.
    """
    from xal.cli.progress import activity
    from xal.local.images import prepare_local_images

    for tag in prepare_local_images(settings, work_dir, activity):
        typer.echo(tag)


def register(app: typer.Typer) -> None:
    app.command("show-config", rich_help_panel=PANEL)(show_config)
    app.command("prepare-local", rich_help_panel=PANEL)(prepare_local)
