"""Options shared by many commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xal.config import Settings, load_settings

AWS_PANEL = "AWS options"

AwsProfile = Annotated[
    str | None,
    typer.Option(
        "--aws-profile", help="AWS profile name (default: boto3's credential chain).", rich_help_panel=AWS_PANEL
    ),
]
Region = Annotated[
    str | None, typer.Option("--region", help="AWS region [default: eu-central-1].", rich_help_panel=AWS_PANEL)
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--aws-endpoint-url",
        help="Send every AWS call to this endpoint (a local emulator such as moto).",
        rich_help_panel=AWS_PANEL,
    ),
]
AssetId = Annotated[
    str | None,
    typer.Option("--asset-id", help="Identifies everything one release creates [default: the xal version]."),
]
LogLevel = Annotated[str | None, typer.Option("--log-level", help="normal | info | debug [default: normal].")]
Json = Annotated[bool | None, typer.Option("--json/--no-json", help="Print data as JSON on stdout.")]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="Settings file [default: ./xal.toml when present, or $XAL_CONFIG].")
]


def build_settings(config: Path | None = None, **cli: Any) -> Settings:
    """Settings from CLI values (None = not given) over env and config file; sets up logging."""
    from xal.console import setup_logging

    settings = load_settings(cli, config_file=config)
    setup_logging(settings.log_level)
    return settings
