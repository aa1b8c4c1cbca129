"""Local command (xal.local): prepare the Debian images the rehearsal and the tests run on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xal.cli import options as o
from xal.config import Settings

PANEL = "Development"


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
    app.command("prepare-local", rich_help_panel=PANEL)(prepare_local)
