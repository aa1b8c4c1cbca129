"""Config command (xal.config): the effective settings."""

from __future__ import annotations

from typing import Annotated

import typer

from xal.cli import options as o
from xal.cli.render import echo_json, print_rows
from xal.config import Settings, settings_as_dict

PANEL = "Development"


@o.command
def show_config(settings: Annotated[Settings, o.SETTINGS]) -> None:
    """Show the effective settings after merging options, XAL_* variables and xal.toml."""
    data = settings_as_dict(settings)
    if settings.json:
        echo_json(data, sort_keys=False)
        return
    print_rows("xal settings", ("setting", "value"), ((k, "" if v is None else str(v)) for k, v in data.items()))


def register(app: typer.Typer) -> None:
    app.command("show-config", rich_help_panel=PANEL)(show_config)
