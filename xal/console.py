"""Output channels: data goes to stdout, logs and progress to stderr (so ``--json`` stays parseable)."""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING

from xal.secrets import RedactingFilter

if TYPE_CHECKING:
    from rich.console import Console

LEVELS = {"normal": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}


@cache
def out() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


@cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def setup_logging(level: str) -> None:
    """Rich log handler on stderr with secret redaction; third-party chatter stays at WARNING."""
    from rich.logging import RichHandler

    handler = RichHandler(console=err(), show_path=False, rich_tracebacks=False)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("xal").setLevel(LEVELS[level])
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
